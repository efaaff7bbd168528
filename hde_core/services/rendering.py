"""Rendering of notification templates and message placeholders (Jinja2, sandboxed).

Templates are written by team leads, so they run in Jinja's sandbox. The HTML
part of an email is rendered with autoescaping on, so a client's name or a
ticket body can never inject markup; the text part is rendered as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

#: Tags an agent can insert into a ticket's subject or body (filled in when it is created).
TAGS = [
    "{{ contact.name }}",
    "{{ ticket.id }}",
    "{{ ticket.subject }}",
    "{{ ticket.department }}",
    "{{ agent.login }}",
]


@cache
def _env(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=autoescape)


def check_template_syntax(source: str) -> None:
    """Raise ``jinja2.TemplateSyntaxError`` if the template cannot be compiled."""
    _env(False).parse(source)


def template_variables(source: str) -> set[str]:
    """Top-level names a template uses (``{{ ticket.subject }}`` → ``ticket``)."""
    return set(meta.find_undeclared_variables(_env(False).parse(source)))


def render_text(source: str, context: Mapping[str, Any]) -> str:
    return _env(False).from_string(source).render(**context)


def _render_html(source: str, context: Mapping[str, Any]) -> str:
    rendered = _env(True).from_string(source).render(**context)
    # Escaped content keeps its line breaks visible in mail clients.
    body = Markup("<br>\n").join(Markup(rendered).split("\n"))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family: sans-serif; font-size: 14px;">{body}</body></html>'
    )


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(
    subject_source: str, body_source: str, context: Mapping[str, Any]
) -> RenderedEmail:
    subject = " ".join(render_text(subject_source, context).split())  # one line, no CR/LF
    return RenderedEmail(
        subject=subject,
        text=render_text(body_source, context),
        html=_render_html(body_source, context),
    )
