"""Signed but hostile webhooks, on every provider's route (issue 15.5, 15.6, 14.6).

The receiver never answers 5xx to a body it can never store (the provider would
redeliver it for days): an out-of-range timestamp, a deeply nested body, wrong
types — 400, or 200 and ignored where the provider would retry for ever (Meta,
360dialog, Green-API). A NUL character in a client's text is stored without it.
A property test posts arbitrary JSON values in every field of documented payloads.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hde_core.channels.base import hmac_sha256_hex
from hde_core.channels.wa_webhooks import signature_header
from hde_core.db.models import ContactIdentity, InboundMessage, PendingStatus
from tests.channels.messengers import fixture, messengers
from tests.channels.wa_helpers import APP_SECRET, D360_SECRET, provision_360, provision_meta
from tests.channels.wa_helpers import fixture as meta_fixture

#: Channel → what a malformed signed body is answered with (docs/adding-a-provider.md).
MALFORMED_STATUS = {"telegram": 400, "viber": 400, "whatsapp": 200, "wa": 200, "wa360": 200}

#: Channel → a documented inbound payload (its text, its timestamp field path).
INBOUND: dict[str, tuple[Any, tuple[str, ...], tuple[str, ...]]] = {
    "telegram": (
        fixture("telegram", "update_start"),
        ("message", "text"),
        ("message", "date"),
    ),
    "viber": (fixture("viber", "message"), ("message", "text"), ("timestamp",)),
    "whatsapp": (
        fixture("greenapi", "incoming_text"),
        ("messageData", "textMessageData", "textMessage"),
        ("timestamp",),
    ),
}


_WA_PATHS = (
    ("entry", 0, "changes", 0, "value", "messages", 0, "text", "body"),
    ("entry", 0, "changes", 0, "value", "messages", 0, "timestamp"),
)
INBOUND["wa"] = (meta_fixture("inbound_text.json"), *_WA_PATHS)
INBOUND["wa360"] = (meta_fixture("inbound_text.json"), *_WA_PATHS)


def put(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(payload)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@pytest.fixture
def world(app, tmp_path):
    with messengers(app, tmp_path) as info:
        provision_meta(app, tmp_path, info["url"])
        provision_360(app, tmp_path, info["url"])
        yield info


def headers_for(info: dict[str, Any], channel: str, body: bytes) -> dict[str, str]:
    if channel == "telegram":
        return {"X-Telegram-Bot-Api-Secret-Token": f"tg-secret-{info['n']}"}
    if channel == "viber":
        return {"X-Viber-Content-Signature": hmac_sha256_hex(info["viber_token"], body)}
    if channel == "whatsapp":
        return {"Authorization": f"Bearer ga-secret-{info['n']}"}
    if channel == "wa":
        return {"X-Hub-Signature-256": signature_header(APP_SECRET, body)}
    return {"X-HDE-Webhook-Token": D360_SECRET}


def post(
    info: dict[str, Any], channel: str, body: bytes | Any, content_type: str = "application/json"
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{info['url']}/webhooks/{channel}",
        content=raw,
        headers={"Content-Type": content_type, **headers_for(info, channel, raw)},
        timeout=20,
    )


def count(app, model) -> int:
    with app.db.reader() as s:
        return s.scalar(select(func.count()).select_from(model))


CHANNELS = sorted(INBOUND)


@pytest.mark.parametrize("channel", CHANNELS)
def test_documented_inbound_is_accepted_on_every_route(app, world, channel):
    payload, _, _ = INBOUND[channel]
    assert post(world, channel, payload).status_code == 200
    assert count(app, InboundMessage) == 1


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("stamp", [99999999999999999999, -1, "soon", True, 10**400])
def test_an_out_of_range_timestamp_is_malformed_not_a_500(app, world, channel, stamp):
    payload, _, when = INBOUND[channel]
    raw = json.dumps(put(payload, when, "__STAMP__")).replace('"__STAMP__"', json.dumps(stamp))
    response = post(world, channel, raw.encode())
    assert response.status_code == MALFORMED_STATUS[channel], response.text
    assert count(app, InboundMessage) == 0 and count(app, ContactIdentity) == 0


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_deeply_nested_body_is_malformed_not_a_500(app, world, channel):
    depth = 50_000
    body = ('{"a":' * depth + "1" + "}" * depth).encode()
    assert post(world, channel, body).status_code == MALFORMED_STATUS[channel]
    assert count(app, InboundMessage) == 0


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_signed_body_that_is_not_json_content_is_415(app, world, channel):
    payload, _, _ = INBOUND[channel]
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        assert post(world, channel, payload, content_type).status_code == 415
    assert post(world, channel, payload, "application/json; charset=utf-8").status_code == 200
    assert count(app, InboundMessage) == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_nul_character_in_the_text_is_stored_without_it(app, world, channel):
    """PostgreSQL stores no NUL: refusing would make the provider redeliver for ever."""
    payload, text_path, _ = INBOUND[channel]
    body = put(payload, text_path, "hello\u0000 world")
    assert post(world, channel, body).status_code == 200
    assert post(world, channel, body).status_code == 200  # redelivery: still one message
    with app.db.reader() as s:
        (text,) = s.scalars(select(InboundMessage.text)).all()
    assert text == "hello world"


def test_impossible_channel_names_are_404_not_500(world):
    for path in ("tg%00", "%00", "a%0Ab", "x" * 300):
        assert httpx.get(f"{world['url']}/webhooks/{path}").status_code == 404
        assert httpx.post(f"{world['url']}/webhooks/{path}", json={}).status_code == 404


@pytest.mark.parametrize("chat_id", [None, {"$gt": 1}, 1.5, "abc", True, "", 10**20])
def test_a_telegram_chat_id_must_be_an_integer(app, world, chat_id):
    update = fixture("telegram", "update_start")
    update["message"]["chat"]["id"] = chat_id
    assert post(world, "telegram", update).status_code == 400
    assert count(app, ContactIdentity) == 0


def test_a_status_for_an_unknown_message_is_kept_once(app, world):
    body = meta_fixture("status_delivered.json")
    for _ in range(3):
        assert post(world, "wa", body).status_code == 200
    assert count(app, PendingStatus) == 1
    assert post(world, "wa", meta_fixture("status_read.json")).status_code == 200
    assert count(app, PendingStatus) == 2  # another status of it is news


def test_a_green_api_group_message_is_not_the_client_writing(app, world):
    """R3: in a group ``sender`` is the member's own chat, but only ``chatId`` counts."""
    body = fixture("greenapi", "incoming_text")
    body["senderData"]["chatId"] = "120363043968066561@g.us"
    body["senderData"]["sender"] = "79123456789@c.us"
    assert post(world, "whatsapp", body).status_code == 200
    assert count(app, InboundMessage) == 0 and count(app, ContactIdentity) == 0


# -- property: arbitrary JSON in every field ----------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaves(v, (*path, k))] or [path]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaves(v, (*path, i))] or [path]
    return [path]


TEMPLATES = [
    (channel, payload)
    for channel, payload in [
        *[(c, INBOUND[c][0]) for c in CHANNELS],
        ("wa", meta_fixture("status_failed_131026.json")),
        ("wa360", meta_fixture("status_failed_131047.json")),
        ("viber", fixture("viber", "failed")),
        ("viber", fixture("viber", "subscribed")),
        ("whatsapp", fixture("greenapi", "status_noAccount")),
        ("telegram", fixture("telegram", "update_blocked")),
    ]
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_arbitrary_json_in_any_field_never_gets_a_5xx(app, world, data):
    channel, template = data.draw(st.sampled_from(TEMPLATES))
    body = copy.deepcopy(template)
    paths = [p for p in leaves(body) if p]
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4, unique=True)):
        body = put(body, path, data.draw(JSON_VALUES))
    response = post(world, channel, body)
    assert response.status_code < 500, (channel, body, response.text)


def test_a_whatsapp_group_message_is_not_the_client_writing(app, world):
    """R3 on Meta: a message in a group carries ``group_id`` (Meta's group reference)."""
    body = meta_fixture("inbound_text.json")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["group_id"] = "120363043968066561"
    for channel in ("wa", "wa360"):
        assert post(world, channel, body).status_code == 200
    assert count(app, InboundMessage) == 0 and count(app, ContactIdentity) == 0


def test_a_telegram_group_message_is_not_the_client_writing(app, world):
    assert post(world, "telegram", fixture("telegram", "update_group_message")).status_code == 200
    assert count(app, InboundMessage) == 0 and count(app, ContactIdentity) == 0
