"""A template compiled once for a bulk campaign renders exactly what Jinja renders.

Bulk launches fill plain templates (text and placeholders) without running Jinja's code;
whatever a team lead writes, every row must read as it would have from Jinja itself —
escaping in the HTML part, missing placeholders, attributes, filters and conditions.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from hde_core.services import rendering
from hde_core.services.rendering import CompiledTemplate

TICKET = SimpleNamespace(id=42, subject="Заказ <готов>", body="Строка 1\nСтрока 2", _secret="x")
CONTEXT: dict[str, Any] = {
    "ticket": TICKET,
    "contact": {"name": "Анна & Co", "email": "anna@example.com"},
    "agent": SimpleNamespace(login="lead"),
    "order_id": "A-17",
    "amount": 1500,
    "nothing": None,
    "safe": Markup("<b>bold</b>"),
    "row": {"Имя": "Анна", "order_id": "A-17"},
}

TEMPLATES = [
    "Здравствуйте, {{ contact.name }}! Заказ {{ order_id }} на {{ amount }} ₽.",
    "{{ ticket.subject }} #{{ ticket.id }}\n{{ ticket.body }}\n",
    "{{ agent.login }} {{ safe }} {{ nothing }}",
    "{{ missing }} and {{ contact.missing }} and {{ ticket.id.real }}",
    "{{ ticket._secret }}",  # the sandbox refuses private attributes
    "{{ contact.items }}",  # a dict's method, as Jinja shows it
    "{{ order_id | upper }} {% if amount > 1000 %}крупный{% endif %}",
    "{% for k in row %}{{ k }};{% endfor %}",
    "{{ range }}",  # a Jinja global, not in the context
    "Без подстановок",
    "",
]


@pytest.mark.parametrize("autoescape", [False, True])
@pytest.mark.parametrize("source", TEMPLATES)
def test_compiled_template_renders_what_jinja_renders(source: str, autoescape: bool) -> None:
    expected = rendering._env(autoescape).from_string(source).render(**CONTEXT)
    assert CompiledTemplate(source, autoescape).render(CONTEXT) == expected


def test_the_html_part_escapes_a_clients_text() -> None:
    html = rendering.compiled("Клиент: {{ contact.name }} {{ x }}", True).render(
        {"contact": {"name": "<script>alert(1)</script>"}, "x": "a & b"}
    )
    assert html == "Клиент: &lt;script&gt;alert(1)&lt;/script&gt; a &amp; b"


names = st.sampled_from(["a", "b", "contact", "ticket", "unknown"])
attrs = st.sampled_from(["name", "id", "subject", "missing", "upper"])
placeholder = st.one_of(
    names.map(lambda n: "{{ " + n + " }}"),
    st.tuples(names, attrs).map(lambda p: "{{ " + p[0] + "." + p[1] + " }}"),
)
text = st.text(alphabet="ab <>&\"'\nЖ{}%#", max_size=6).filter(
    lambda t: "{{" not in t and "{%" not in t and "{#" not in t
)
values = st.one_of(st.text(max_size=5), st.integers(), st.none())


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.one_of(text, placeholder), max_size=6),
    a=values,
    b=values,
    autoescape=st.booleans(),
)
def test_any_plain_template_renders_what_jinja_renders(
    pieces: list[str], a: Any, b: Any, autoescape: bool
) -> None:
    source = "".join(pieces)
    try:
        expected = rendering._env(autoescape).from_string(source).render(**CONTEXT, a=a, b=b)
    except Exception as exc:  # noqa: BLE001 - the same template must fail the same way
        with pytest.raises(type(exc)):
            CompiledTemplate(source, autoescape).render({**CONTEXT, "a": a, "b": b})
        return
    assert CompiledTemplate(source, autoescape).render({**CONTEXT, "a": a, "b": b}) == expected
