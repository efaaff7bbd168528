"""The text a client actually wrote: quoted history and signatures cut from a reply.

No library does this for Russian mail clients (``mail-parser-reply`` and
``email-reply-parser`` know English and a few western languages), so this is a
small rule set, one rule per client habit, each with a test
(tests/mailin/test_quotes.py):

- an attribution line that opens the quoted history: Gmail "On … wrote:" (also
  split over two lines), "… написал(а):" / "пишет:", Gmail-ru / Yandex / Mail.ru
  "<date>, <name> <address>:" lines;
- Outlook's "-----Original Message-----" / "-----Исходное сообщение-----" or a
  "From:/От:" block followed by "Sent:/Отправлено:/Date:/Дата:";
- ``>`` quoted lines;
- a signature after the "-- " separator, and "Sent from my iPhone" style lines.

The full original is always kept beside the stripped text; when the rules would
leave nothing, the original is shown.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^.{0,300}\b(написал|написала|написал\(а\)|пишет)\s*:\s*$", re.IGNORECASE),
    # Gmail-ru, Yandex, Mail.ru: a line with a date or time that ends "<address>:"
    re.compile(r"^.{0,200}\d{1,2}[:.]\d{2}.{0,200}<[^<>\s@]+@[^<>\s]+>\s*:\s*$"),
    re.compile(r"^\s*-{2,}\s*(Original Message|Исходное сообщение|Пересылаемое сообщение)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{5,}\s*(Forwarded message|Пересланное сообщение)\s*-{5,}\s*$", re.IGNORECASE),
]  # fmt: skip
_HEADER_FROM = re.compile(r"^\s*\*?(From|От|Кому|To)\*?\s*:", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(Sent|Date|Отправлено|Дата|To|Кому|Subject|Тема)\*?\s*:", re.IGNORECASE
)
_OUTLOOK_RULE = re.compile(r"^\s*_{10,}\s*$")
_SIGNATURE = re.compile(r"^(-- ?|--|__)\s*$")
_SENT_FROM = re.compile(
    r"^\s*(Sent from my \w+|Отправлено с (моего )?\w+|Отправлено из мобильной .{0,60}"
    r"|Get Outlook for \w+)\s*$",
    re.IGNORECASE,
)


def _opens_history(lines: list[str], i: int) -> bool:
    line = lines[i]
    if any(rule.match(line) for rule in _ATTRIBUTION):
        return True
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    # "On Mon, 7 Dec 2026 at 10:15, HDE <support@hde.example>\nwrote:" (Gmail wraps)
    if (
        line.strip()
        and nxt.strip()
        and any(rule.match(f"{line} {nxt}") for rule in _ATTRIBUTION[:2])
    ):
        return True
    if _OUTLOOK_RULE.match(line) and any(_HEADER_FROM.match(x) for x in lines[i + 1 : i + 3]):
        return True
    return bool(_HEADER_FROM.match(line) and _HEADER_NEXT.match(nxt))


def strip_reply(text: str) -> str:
    """The reply without quoted history, quotes and signature; the text itself when the
    rules would leave nothing."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _opens_history(lines, i) or _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">") or _SENT_FROM.match(line):
            continue
        kept.append(line.rstrip())
    result = "\n".join(kept).strip()
    return result or text.strip()


class _HtmlText(HTMLParser):
    """HTML → plain text: paragraphs and breaks become lines, blockquotes become ``>``
    lines (so :func:`strip_reply` drops them), scripts and styles vanish."""

    BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "hr"})
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0
        self.skip = 0

    def _newline(self) -> None:
        if self.lines[-1].strip() or len(self.lines) == 1:
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag in self.BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
        elif tag in self.BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        words = " ".join(data.split())
        if not words:
            return
        if not self.lines[-1]:
            self.lines[-1] = "> " * self.quote + words
        else:
            self.lines[-1] += " " + words


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return "\n".join(line for line in parser.lines).strip()
