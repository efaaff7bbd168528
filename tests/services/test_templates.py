"""R11 templates (sync, upsert, gone, only APPROVED), the team lead's WhatsApp settings,
and R13 cost estimates — over real HTTP against the Cloud API simulator."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from sqlalchemy import select

from hde_core.db.models import AuditEvent, Channel, WaTemplate
from hde_core.entrypoints.http import build_http_app
from hde_core.errors import InputError, NotFound, Refused, UsageError
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_wa_data import DEFAULT_TEMPLATES
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services import pricing
from hde_core.services.templates import (
    filter_template_rows,
    render_template_preview,
    set_sync_interval,
    sync_due_templates,
    sync_templates,
    template_rows,
)
from hde_core.services.wa_settings import get_wa_settings, update_wa_settings
from tests.channels.wa_helpers import Sim, provision_meta
from tests.services.helpers import provision_email
from tests.staff import seed_staff


@pytest.fixture
def world(app, tmp_path):
    server = HttpServer(build_http_app(app), "127.0.0.1", free_port()).start()
    provision_meta(app, tmp_path, server.url, settings='default_template = "hde_first_contact:ru"')
    sim = Sim(f"{server.url}/sim/meta")
    sim.config(template_page_size=3)
    yield sim
    server.stop()


def stored(app, name="wa"):
    with app.db.reader() as s:
        channel = s.scalar(select(Channel).where(Channel.name == name))
        rows = s.scalars(select(WaTemplate).where(WaTemplate.channel_id == channel.id)).all()
        return channel, {(t.name, t.language): t for t in rows}


def test_sync_stores_every_page_with_parameters_and_body(app, world, clock):
    (report,) = sync_templates(app, "wa", actor="lead")
    assert (report.ok, report.total, report.created) == (True, 9, 9)
    channel, rows = stored(app)
    assert channel.templates_synced_at == clock.now()
    first = rows[("hde_first_contact", "ru")]
    assert (first.category, first.status, first.parameter_format) == (
        "UTILITY",
        "APPROVED",
        "POSITIONAL",
    )
    assert first.param_names == ["1", "2"]
    assert first.body_text.startswith("Здравствуйте, {{1}}!")
    assert rows[("order_update", "ru")].param_names == ["customer_name", "order_id"]
    assert rows[("feedback_request", "ru")].status == "PAUSED"
    # provisioned settings.default_template is resolved once the sync brought it in
    assert report.default_resolved == "hde_first_contact:ru"
    assert channel.default_template_id == first.id
    with app.db.reader() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.event == "templates_synced"))
        assert (event.actor, event.data["created"]) == ("lead", 9)


def test_a_second_sync_updates_in_place_and_reports_status_changes(app, world):
    sync_templates(app, "wa")
    world.template_status("hde_first_contact", "en", "PAUSED")
    (report,) = sync_templates(app, "wa")
    assert (report.created, report.updated, report.unchanged) == (0, 1, 8)
    assert report.status_changes == ["hde_first_contact (en): APPROVED → PAUSED"]
    _, rows = stored(app)
    assert len(rows) == 9 and rows[("hde_first_contact", "en")].status == "PAUSED"


def test_templates_gone_at_the_provider_are_deleted_unless_referenced(app, world):
    sync_templates(app, "wa")  # hde_first_contact:ru becomes the default
    keep = [t for t in DEFAULT_TEMPLATES if t["name"] not in ("hde_first_contact", "hello_world")]
    world.post("/_control/templates", {"templates": copy.deepcopy(keep)})
    (report,) = sync_templates(app, "wa")
    assert (report.marked_gone, report.deleted) == (1, 2)
    channel, rows = stored(app)
    assert rows[("hde_first_contact", "ru")].status == "DELETED"  # kept: it is the default
    assert ("hello_world", "en_US") not in rows and ("hde_first_contact", "en") not in rows
    # a default that is no longer APPROVED makes the channel unready (no_default_template)
    assert not get_wa_settings(app, "wa").ready


def test_a_refused_sync_changes_nothing_and_says_why(app, world, tmp_path):
    sync_templates(app, "wa")
    provision_meta(
        app,
        tmp_path,
        world.base.rsplit("/sim/", 1)[0],
        name="wa",
        settings='default_template = "x:y"',
    )
    with app.db.transaction() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "wa"))
        channel.credentials_enc = app.secrets.encrypt_json(
            {**app.secrets.decrypt_json(channel.credentials_enc), "access_token": "expired-1"}
        )
    (report,) = sync_templates(app, "wa")
    assert not report.ok and "access token" in report.error
    assert len(stored(app)[1]) == 9


def test_only_wa_business_channels_have_templates(app, world, tmp_path):
    provision_email(app, tmp_path, "smtp://127.0.0.1:2525")
    with pytest.raises(UsageError):
        sync_templates(app, "email")


def test_periodic_sync_runs_when_the_interval_has_passed(app, world, clock):
    assert [r.channel for r in sync_due_templates(app)] == ["wa"]
    assert sync_due_templates(app) == []  # synced just now
    clock.advance(minutes=61)
    assert [r.channel for r in sync_due_templates(app)] == ["wa"]
    set_sync_interval(app, 240, "lead")
    clock.advance(minutes=61)
    assert sync_due_templates(app) == []


def test_preview_fills_parameters_and_keeps_missing_ones_visible(app, world):
    sync_templates(app, "wa")
    _, rows = stored(app)
    text = render_template_preview(rows[("hde_first_contact", "ru")], {"1": "Анна"})
    assert text.startswith("Здравствуйте, Анна! По вашему обращению №{{2}}")


def test_list_puts_the_default_first_and_filters_approved(app, world):
    sync_templates(app, "wa")
    rows = template_rows(app, "wa")
    assert rows[0]["name"] == "hde_first_contact" and rows[0]["default"]
    approved = template_rows(app, "wa", approved_only=True)
    assert {r["status"] for r in approved} == {"APPROVED"} and len(approved) == 5


def test_filter_keeps_rows_matching_every_picked_column_and_the_name(app, world):
    sync_templates(app, "wa")
    rows = template_rows(app, "wa")
    assert filter_template_rows(rows, {"status": []}) == rows  # nothing picked: all
    approved = filter_template_rows(rows, {"status": ["APPROVED"]})
    assert approved and {r["status"] for r in approved} == {"APPROVED"}
    assert len(approved) < len(rows)
    both = filter_template_rows(rows, {"status": ["APPROVED"], "language": ["ru"]}, " ORDER ")
    assert [(r["name"], r["language"]) for r in both] == [("order_update", "ru")]
    assert filter_template_rows(rows, {"channel": ["other"]}) == []


# -- the team lead's settings (R11, R12) --------------------------------------------------


def test_settings_show_the_per_recipient_pacing_the_dispatcher_keeps(app, world):
    from hde_core.dispatch.channels import sendable_channel

    def both():
        with app.db.transaction() as s:
            channel = s.scalar(select(Channel).where(Channel.name == "wa"))
            kept = sendable_channel(s, channel.id, channel.created_at).per_recipient
        return get_wa_settings(app, "wa").per_recipient_interval, kept

    assert both() == (None, None)  # provisioned with 0: no pacing, and the summary says so
    for setting, expected in (("2.5", 2.5), (None, 6.0)):  # None: the provider's default
        with app.db.transaction() as s:
            channel = s.scalar(select(Channel).where(Channel.name == "wa"))
            settings = {k: v for k, v in (channel.settings or {}).items()}
            settings.pop("per_recipient_interval", None)
            if setting is not None:
                settings["per_recipient_interval"] = setting
            channel.settings = settings
        assert both() == (expected, expected)


def test_settings_record_who_acknowledged_and_the_mapping(app, world, clock):
    sync_templates(app, "wa")
    result = update_wa_settings(
        app,
        "wa",
        "lead",
        acknowledge_rules=True,
        default_template="order_update:ru",
        params={"customer_name": "{{ contact.name }}", "order_id": "{{ ticket.fields.order_id }}"},
        send_after_template=True,
    )
    assert (result.rules_acknowledged_by, result.rules_acknowledged_at) == ("lead", clock.now())
    assert result.default_template == "order_update:ru" and result.send_after_template
    assert result.unmapped_params == [] and result.ready
    with app.db.reader() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.event == "settings_changed").order_by(AuditEvent.id)
        ).all()[-1]
        assert event.actor == "lead" and len(event.data["changes"]) == 5


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("autumn_sale:ru", Refused),  # PENDING
        ("old_greeting:ru", Refused),  # REJECTED
        ("feedback_request:ru", Refused),  # PAUSED
        ("no_such:ru", NotFound),
        ("no-language", UsageError),
    ],
)
def test_only_an_approved_template_can_be_the_default(app, world, ref, error):
    sync_templates(app, "wa")
    before = get_wa_settings(app, "wa").default_template
    with pytest.raises(error):
        update_wa_settings(app, "wa", "lead", default_template=ref, acknowledge_rules=True)
    after = get_wa_settings(app, "wa")
    assert (
        after.default_template == before and after.rules_acknowledged_at is None
    )  # nothing half-done


@pytest.mark.parametrize(
    ("params", "error"),
    [({"3": "{{ ticket.id }}"}, InputError), ({"1": "{{ contact.name "}, InputError)],
)
def test_bad_parameter_mappings_are_refused(app, world, params, error):
    sync_templates(app, "wa")
    with pytest.raises(error):
        update_wa_settings(app, "wa", "lead", params=params)


# -- prices (R13) -------------------------------------------------------------------------


def test_estimate_uses_country_prices_then_the_default(app):
    seed_staff(app)
    pricing.set_price(app, "utility", "0.0200", "lead", country="RU", currency="USD")
    pricing.set_price(app, "utility", "0,0100", "lead")  # comma decimal accepted
    pricing.set_price(app, "marketing", "0.05", "lead", country="RU")
    with app.db.reader() as s:
        estimate = pricing.estimate_templates(
            s,
            [
                ("+79123456789", "UTILITY"),
                ("+79161234567", "utility"),
                ("+4915112345678", "utility"),  # DE → the * price
                ("+79123456789", "marketing"),
                ("+4915112345678", "authentication"),  # no price at all
            ],
        )
    assert (estimate.messages, estimate.unpriced) == (5, 1)
    assert estimate.totals == {"USD": Decimal("0.0200") * 2 + Decimal("0.0100") + Decimal("0.05")}
    ru = next(line for line in estimate.lines if (line.category, line.country) == ("utility", "RU"))
    assert (ru.messages, ru.cost) == (2, Decimal("0.0400"))


def test_estimate_for_a_channel_uses_its_default_template_category(app, world):
    sync_templates(app, "wa")
    pricing.set_price(app, "utility", "0.01", "lead")
    with app.db.reader() as s:
        channel = s.scalar(select(Channel).where(Channel.name == "wa"))
        estimate = pricing.estimate_default_templates(s, channel, ["+79123456789"] * 3)
    assert estimate.totals == {"USD": Decimal("0.03")}


@pytest.mark.parametrize(
    ("category", "price", "country", "currency"),
    [
        ("newsletter", "1", "*", "USD"),
        ("utility", "-1", "*", "USD"),
        ("utility", "abc", "*", "USD"),
        ("utility", "1", "RUS", "USD"),
        ("utility", "1", "*", "RUBLE"),
    ],
)
def test_bad_prices_are_refused_and_nothing_is_written(app, category, price, country, currency):
    seed_staff(app)
    with pytest.raises(InputError):
        pricing.set_price(app, category, price, "lead", country=country, currency=currency)
    assert pricing.list_prices(app) == []


def test_prices_can_be_changed_and_deleted(app):
    seed_staff(app)
    pricing.set_price(app, "utility", "0.01", "lead")
    pricing.set_price(app, "utility", "0.02", "lead", currency="eur")
    assert [(p["price"], p["currency"]) for p in pricing.list_prices(app)] == [("0.0200", "EUR")]
    assert pricing.delete_price(app, "utility", "lead")
    assert not pricing.delete_price(app, "utility", "lead")
