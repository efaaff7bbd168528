"""Rendering of notification templates and message placeholders (Jinja2, sandboxed).

Templates are written by team leads, so they run in Jinja's sandbox. The HTML
part of an email is rendered with autoescaping on, so a client's name or a
ticket body can never inject markup; the text part is rendered as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

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


_PRINT = re.compile(r"\{\{(.*?)\}\}", re.S)


@dataclass(frozen=True)
class SyntaxProblem:
    """What is wrong with a template, in words a team lead can act on (issue 16.4)."""

    line: int
    error: str
    #: A placeholder that names a column the way a person writes it (``{{ Номер заказа }}``)
    #: and the way to write it instead (``{{ row["Номер заказа"] }}``); None otherwise.
    placeholder: str | None = None
    fix: str | None = None


def syntax_problem(source: str) -> SyntaxProblem | None:
    """None if ``source`` compiles; else what is wrong. Checked before anything else (the
    list, the recipients) so that a typo is explained, never raised as a traceback."""
    try:
        check_template_syntax(source)
        return None
    except TemplateSyntaxError as exc:
        line, error = exc.lineno or 1, exc.message or ""
    for match in _PRINT.finditer(source):
        inner = match.group(1).strip()
        if not inner or any(ch in inner for ch in "\"'[]()|{}"):
            continue
        try:
            check_template_syntax(match.group(0))
        except TemplateSyntaxError:
            return SyntaxProblem(line, error, match.group(0), f'{{{{ row["{inner}"] }}}}')
    return SyntaxProblem(line, error)


def template_variables(source: str) -> set[str]:
    """Top-level names a template uses (``{{ ticket.subject }}`` → ``ticket``)."""
    return set(meta.find_undeclared_variables(_env(False).parse(source)))


#: A piece of a plain template: literal text, or the path of a placeholder (``ticket.id``).
_Part = str | tuple[str, ...]


def _plain_parts(tree: nodes.Template) -> list[_Part] | None:
    """The template as text and placeholders, or None if it uses anything else (filters,
    conditions, loops, calls…)."""

    def path(node: nodes.Node) -> tuple[str, ...] | None:
        if isinstance(node, nodes.Name) and node.ctx == "load":
            return (node.name,)
        if isinstance(node, nodes.Getattr) and node.ctx == "load":
            base = path(node.node)
            return None if base is None else (*base, node.attr)
        return None

    parts: list[_Part] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
            elif (found := path(node)) is not None:
                parts.append(found)
            else:
                return None
    return parts


class CompiledTemplate:
    """A template compiled once and rendered for many rows (bulk campaigns).

    A template made of text and placeholders only (by far the most common) is filled in
    directly, with the sandbox's own attribute lookup and the same escaping, which is
    several times faster than running Jinja's generated code; anything else, or a
    placeholder that is not in the context, goes through Jinja unchanged.
    """

    def __init__(self, source: str, autoescape: bool) -> None:
        env = _env(autoescape)
        self._env = env
        self._template = env.from_string(source)
        self._parts = _plain_parts(env.parse(source))
        self._autoescape = autoescape

    def render(self, context: Mapping[str, Any]) -> str:
        values = self._values(context)
        if values is None:
            return self._template.render(**context)
        if self._autoescape:
            return _filled(values, escape)
        return _filled(values, str)

    def _values(self, context: Mapping[str, Any]) -> list[tuple[_Part, Any]] | None:
        """Each part with its value, or None when Jinja must render (not plain, or a
        placeholder missing from the context)."""
        if self._parts is None:
            return None
        out: list[tuple[_Part, Any]] = []
        for part in self._parts:
            if type(part) is str:
                out.append((part, None))
                continue
            value = context.get(part[0], _MISSING)
            for attr in part[1:]:
                if value is _MISSING:
                    break
                if type(value) is dict and attr not in _DICT_ATTRIBUTES:
                    value = value.get(attr, _MISSING)  # what the sandbox's lookup finds
                    continue
                value = self._env.getattr(value, attr)
                if isinstance(value, Undefined):
                    value = _MISSING
            if value is _MISSING:
                return None  # Jinja's own rules for the missing
            out.append((part, value))
        return out


def _filled(values: list[tuple[_Part, Any]], show: Callable[[Any], str]) -> str:
    """The template's text with each placeholder's value shown by ``show``."""
    return "".join(p if type(p) is str else str(show(v)) for p, v in values)


def render_text_and_html(source: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The text and the (escaped) HTML rendering of one template, in one pass when plain."""
    text_template, html_template = compiled(source, False), compiled(source, True)
    values = text_template._values(context)
    if values is None:
        return text_template.render(context), html_template.render(context)
    return _filled(values, str), _filled(values, escape)


_MISSING: Any = object()
#: ``{{ d.items }}`` is the dict's method for Jinja, not the key "items".
_DICT_ATTRIBUTES = frozenset(dir(dict))


@lru_cache(maxsize=64)
def compiled(source: str, autoescape: bool = False) -> CompiledTemplate:
    return CompiledTemplate(source, autoescape)


def render_text(source: str, context: Mapping[str, Any]) -> str:
    return _env(False).from_string(source).render(**context)


def html_email(rendered: str) -> str:
    """An email's HTML part around an already escaped body."""
    # Escaped content keeps its line breaks visible in mail clients.
    body = str(rendered).replace("\n", "<br>\n")
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family: sans-serif; font-size: 14px;">{body}</body></html>'
    )


def _render_html(source: str, context: Mapping[str, Any]) -> str:
    return html_email(_env(True).from_string(source).render(**context))


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
