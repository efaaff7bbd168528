"""What template messages will cost (R13), from the team lead's price table.

Template messages are paid per message by category (marketing, utility,
authentication) and by the recipient's country. The ``prices`` table holds one
price per category and country (ISO code, from the E.164 number via
``phonenumbers``), with ``*`` as the default for every other country. Before a
bulk run the team lead sees how many template messages it will send and their
estimated cost (the bulk engine calls :func:`estimate_default_templates`); a
message with no matching price is counted as *unpriced* rather than guessed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Price, WaTemplate
from hde_core.domain.roles import Permission
from hde_core.errors import InputError
from hde_core.services import audit
from hde_core.services.authz import authorize

CATEGORIES = ("marketing", "utility", "authentication", "service")
DEFAULT_COUNTRY = "*"


def country_of(phone: str) -> str | None:
    """ISO country of an E.164 number (``+79123456789`` → ``RU``), or None."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number) or None


@dataclass(frozen=True)
class UnitPrice:
    price: Decimal
    currency: str
    country: str  # the row that matched: a country code or "*"


PriceTable = dict[tuple[str, str], UnitPrice]


def price_table(session: Session) -> PriceTable:
    return {
        (p.category, p.country): UnitPrice(Decimal(p.price), p.currency, p.country)
        for p in session.scalars(select(Price))
    }


def unit_price(table: PriceTable, category: str, country: str | None) -> UnitPrice | None:
    category = category.lower()
    if country and (category, country) in table:
        return table[(category, country)]
    return table.get((category, DEFAULT_COUNTRY))


@dataclass
class CostLine:
    category: str
    country: str
    messages: int
    unit_price: Decimal | None
    currency: str | None

    @property
    def cost(self) -> Decimal | None:
        return None if self.unit_price is None else self.unit_price * self.messages


@dataclass
class Estimate:
    """How many template messages, and what they cost per currency."""

    messages: int = 0
    unpriced: int = 0
    lines: list[CostLine] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "unpriced": self.unpriced,
            "totals": {k: str(v) for k, v in self.totals.items()},
            "lines": [
                {
                    "category": line.category,
                    "country": line.country,
                    "messages": line.messages,
                    "unit_price": None if line.unit_price is None else str(line.unit_price),
                    "currency": line.currency,
                    "cost": None if line.cost is None else str(line.cost),
                }
                for line in self.lines
            ],
        }


def estimate_templates(session: Session, items: Iterable[tuple[str, str]]) -> Estimate:
    """Cost of template messages given as ``(recipient phone E.164, category)`` pairs."""
    table = price_table(session)
    counts: Counter[tuple[str, str]] = Counter()
    for phone, category in items:
        counts[(category.lower(), country_of(phone) or "??")] += 1
    estimate = Estimate()
    for (category, country), n in sorted(counts.items()):
        unit = unit_price(table, category, country if country != "??" else None)
        line = CostLine(
            category, country, n, unit.price if unit else None, unit.currency if unit else None
        )
        estimate.lines.append(line)
        estimate.messages += n
        if unit is None:
            estimate.unpriced += n
        else:
            estimate.totals[unit.currency] = (
                estimate.totals.get(unit.currency, Decimal(0)) + unit.price * n
            )
    return estimate


def default_template_category(session: Session, channel: Channel) -> str | None:
    if channel.default_template_id is None:
        return None
    template = session.get(WaTemplate, channel.default_template_id)
    return template.category.lower() if template else None


def estimate_default_templates(
    session: Session, channel: Channel, phones: Iterable[str]
) -> Estimate:
    """Before a bulk run: the recipients whose window is closed get the channel's default
    template; pass their phones (eligible rows with action ``template_then_*``)."""
    category = default_template_category(session, channel)
    if category is None:
        return Estimate()
    return estimate_templates(session, ((p, category) for p in phones))


# -- the price table ----------------------------------------------------------------------


def list_prices(app: App) -> list[dict[str, Any]]:
    with app.db.reader() as session:
        rows = session.scalars(select(Price).order_by(Price.category, Price.country))
        return [
            {
                "category": p.category,
                "country": p.country,
                "price": str(p.price),
                "currency": p.currency,
                "updated_at": p.updated_at.isoformat() if p.updated_at else None,
            }
            for p in rows
        ]


def _check(category: str, country: str, currency: str | None = None) -> tuple[str, str]:
    category = category.strip().lower()
    country = country.strip().upper() or DEFAULT_COUNTRY
    if category not in CATEGORIES:
        raise InputError("pricing.bad_category", category=category, known=", ".join(CATEGORIES))
    if country != DEFAULT_COUNTRY and (len(country) != 2 or not country.isalpha()):
        raise InputError("pricing.bad_country", country=country)
    if currency is not None and (len(currency) != 3 or not currency.isalpha()):
        raise InputError("pricing.bad_currency", currency=currency)
    return category, country


def set_price(
    app: App,
    category: str,
    price: str | Decimal,
    actor: str,
    country: str = DEFAULT_COUNTRY,
    currency: str = "USD",
) -> None:
    """Create or change one price; the change is audited."""
    currency = currency.strip().upper()
    category, country = _check(category, country, currency)
    try:
        value = Decimal(str(price).replace(",", "."))
    except InvalidOperation as exc:
        raise InputError("pricing.bad_price", price=str(price)) from exc
    if not value.is_finite() or value < 0:
        raise InputError("pricing.bad_price", price=str(price))
    now = app.clock.now()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.CHANNEL_SETTINGS)
        row = session.scalar(
            select(Price).where(Price.category == category, Price.country == country)
        )
        before = None if row is None else f"{row.price} {row.currency}"
        if row is None:
            row = Price(category=category, country=country, price=value, currency=currency)
            session.add(row)
        row.price = value
        row.currency = currency
        row.updated_at = now
        audit.record(
            session,
            audit.Event.SETTINGS_CHANGED,
            actor,
            at=now,
            setting="price",
            category=category,
            country=country,
            before=before,
            after=f"{value} {currency}",
        )


def delete_price(app: App, category: str, actor: str, country: str = DEFAULT_COUNTRY) -> bool:
    category, country = _check(category, country)
    with app.db.transaction() as session:
        authorize(session, actor, Permission.CHANNEL_SETTINGS)
        row = session.scalar(
            select(Price).where(Price.category == category, Price.country == country)
        )
        if row is None:
            return False
        session.delete(row)
        audit.record(
            session,
            audit.Event.SETTINGS_CHANGED,
            actor,
            setting="price",
            category=category,
            country=country,
            before=f"{row.price} {row.currency}",
            after=None,
        )
        return True
