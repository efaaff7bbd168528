"""Secrets at rest and passwords (SPEC §6)."""

import pytest

from hde_core.errors import ConfigError
from hde_core.security.crypto import SecretBox, mask
from hde_core.security.passwords import hash_password, verify_password


def test_credentials_round_trip_and_are_not_readable():
    box = SecretBox("a-long-enough-secret-key")
    token = box.encrypt_json({"token": "123:SECRET"})
    assert "SECRET" not in token
    assert box.decrypt_json(token) == {"token": "123:SECRET"}


def test_another_key_cannot_decrypt():
    token = SecretBox("a-long-enough-secret-key").encrypt("x")
    with pytest.raises(ConfigError):
        SecretBox("another-long-secret-key!").decrypt(token)


def test_short_key_is_refused():
    with pytest.raises(ConfigError):
        SecretBox("short")


def test_mask_never_shows_the_secret():
    assert mask("123456:ABCDEFGHIJKLMNOP") == "••••MNOP"
    assert mask("short") == "••••"
    assert mask(None) == ""


def test_password_hash_is_argon2_and_verifies():
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "wrong")
