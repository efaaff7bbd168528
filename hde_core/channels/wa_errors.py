"""WhatsApp Business errors (Meta Cloud API, and 360dialog passing it through).

:data:`META_ERRORS` is the Graph/Cloud API error table of ``shared/PROVIDERS.md`` §1
(plus the codes issue 15 found unmapped). It is read by
:meth:`hde_core.channels.errors.ErrorTable.classify` for the answer to a send call
*and* for a ``failed`` status webhook (``statuses[].errors[].code``): a code means
the same thing whichever way it arrives.

Answers without a Graph code are looked up as ``http_<status>``; any other 4xx is
an invalid request, anything else transient (capped by the retry policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hde_core.channels.errors import Classified, ErrorRule, ErrorTable, rows
from hde_core.domain.outcomes import ErrorClass

E = ErrorClass
_TRANSIENT = ErrorRule(E.TRANSIENT)
_AUTH = ErrorRule(E.AUTH)
_UNREACHABLE = ErrorRule(E.NOT_REACHABLE)
_INVALID = ErrorRule(E.INVALID_REQUEST)
_TEMPLATE = ErrorRule(E.TEMPLATE_REJECTED)

#: Graph/Cloud API error codes → what we do (PROVIDERS.md §1, issue 15).
META_ROWS = rows(
    # throughput and rate limits: wait, then try again
    (130429, ErrorRule(E.RATE_LIMITED, pause=5.0)),  # Cloud API throughput reached
    (131056, ErrorRule(E.RATE_LIMITED, pause=6.0, channel_wide=False)),  # pair rate limit
    (131048, ErrorRule(E.RATE_LIMITED, pause=60.0)),  # spam rate limit (quality)
    (4, ErrorRule(E.RATE_LIMITED, pause=60.0)),  # app API-call rate limit
    (80007, ErrorRule(E.RATE_LIMITED, pause=60.0)),  # WABA rate limit
    (133016, ErrorRule(E.RATE_LIMITED, pause=60.0)),  # register/deregister rate limit
    # Meta chose not to deliver (per-user marketing limit): hours, this recipient only
    (131049, ErrorRule(E.TRANSIENT, pause=6 * 3600.0, channel_wide=False)),
    # temporary trouble at Meta: backoff, capped by the retry policy
    (1, _TRANSIENT),
    (2, _TRANSIENT),
    (131000, _TRANSIENT),
    (131016, _TRANSIENT),
    (131057, _TRANSIENT),
    # outside the 24-hour window: hold until the client writes (R12)
    (131047, ErrorRule(E.WINDOW_CLOSED)),
    # the recipient cannot or will not receive
    (131026, _UNREACHABLE),  # not on WhatsApp, old app, ToS not accepted (not a refusal)
    (131050, ErrorRule(E.NOT_REACHABLE, stop=True)),  # stopped marketing messages: opt-out
    (131021, _UNREACHABLE),  # recipient is the sender
    (131030, _UNREACHABLE),  # not in the test allow-list
    (130472, _UNREACHABLE),  # part of an experiment
    (130497, _UNREACHABLE),  # country restricted
    # our request is wrong
    (33, _INVALID),  # invalid parameter value (e.g. a wrong number id)
    (100, _INVALID),
    (131008, _INVALID),
    (131009, _INVALID),
    (131051, _INVALID),
    (131052, _INVALID),
    (131053, _INVALID),
    (135000, _INVALID),  # generic user error
    # templates: missing, not approved, paused, wrong parameters
    (132000, _TEMPLATE),
    (132001, _TEMPLATE),
    (132005, _TEMPLATE),
    (132007, _TEMPLATE),
    (132008, _TEMPLATE),
    (132012, _TEMPLATE),
    (132015, _TEMPLATE),
    (132016, _TEMPLATE),
    (132018, _TEMPLATE),  # parameter with a new line, a tab or more than 4 spaces
    # the channel itself: token, permissions, account — stop the channel, keep the message
    (0, _AUTH),
    (3, _AUTH),
    (10, _AUTH),
    (104, _AUTH),
    (190, _AUTH),
    (368, _AUTH),
    (131005, _AUTH),  # access denied
    (131031, _AUTH),  # account locked
    (131037, _AUTH),  # display name not approved
    (131042, _AUTH),  # payment issue
    (131045, _AUTH),  # certificate
    (133010, _AUTH),  # number not registered
    # answers without a Graph error code, by HTTP status
    ("http_401", _AUTH),
    ("http_403", _AUTH),
    ("http_404", _AUTH),  # wrong api_base or phone number id: stop until it is fixed
    ("http_408", _TRANSIENT),
    ("http_429", ErrorRule(E.RATE_LIMITED, pause=5.0)),
) + (
    # ranges last: a listed code wins
    *rows(
        (range(132000, 133000), _TEMPLATE),
        (range(200, 300), _AUTH),  # permission not granted
    ),
)

META_ERRORS = ErrorTable(META_ROWS, retry_after=("header",))


@dataclass(frozen=True)
class GraphError:
    code: int | None
    text: str


def graph_error(body: Any, http_status: int, fallback_text: str = "") -> GraphError:
    """Code and plain text from a Graph error object (``{"error": {...}}``)."""
    err = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(err, Mapping):
        return error_entry(err, fallback_text)
    return GraphError(None, fallback_text or f"HTTP {http_status}")


def error_entry(err: Mapping[str, Any], fallback_text: str = "") -> GraphError:
    """One error object (the sync ``error`` or a webhook ``errors[]`` entry)."""
    code = err.get("code")
    message = str(err.get("message") or err.get("title") or "").strip()
    data = err.get("error_data")
    details = str(data.get("details") or "").strip() if isinstance(data, Mapping) else ""
    if not details and isinstance(err.get("details"), str):
        details = str(err["details"]).strip()  # 360dialog's legacy errors[]
    text = message if not details or details in message else f"{message}: {details}"
    if isinstance(code, bool):
        code = None
    try:
        number = int(code) if isinstance(code, int | str) else None
    except ValueError:
        number = None
    return GraphError(number, text or fallback_text)


def classify_graph(
    table: ErrorTable,
    err: GraphError,
    http_status: int,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> Classified:
    """A Graph error (or a bare HTTP status) through ``table``."""
    if err.code is not None:
        return table.classify(err.code, err.text, headers=headers, body=body)
    key = f"http_{http_status}"
    if not table.knows(key) and 400 <= http_status < 500:
        return Classified(_INVALID, key, err.text)
    return table.classify(key, err.text, headers=headers, body=body)
