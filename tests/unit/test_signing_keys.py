"""Signing keys: Azure never signs with the public local key, and a key being retired still verifies its links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.core.settings import LOCAL_SIGNING_KEY, Settings
from functions.core.signing import sign, verify

AZURE: dict[str, Any] = {
    "mode": "azure",
    "table_endpoint": "https://acct.table.core.windows.net",
    "blob_endpoint": "https://acct.blob.core.windows.net",
    "public_base_url": "https://ssu.example",
}
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("field", ["signing_key", "signing_key_previous"])
def test_azure_mode_refuses_the_public_local_key(field: str) -> None:
    values: dict[str, Any] = {"signing_key": "a-real-secret-of-at-least-32-characters!!", field: LOCAL_SIGNING_KEY}
    with pytest.raises(ValueError, match="public local development key"):
        Settings(**AZURE, **values)


def test_azure_mode_takes_a_real_key() -> None:
    settings = Settings(**AZURE, signing_key="a-real-secret-of-at-least-32-characters!!")
    assert settings.verification_keys == (b"a-real-secret-of-at-least-32-characters!!",)


def test_a_link_signed_with_the_previous_key_verifies_while_new_ones_use_the_new_key() -> None:
    old, new = "the-old-key-of-at-least-32-characters-long", "the-new-key-of-at-least-32-characters-long"
    settings = Settings(**AZURE, signing_key=new, signing_key_previous=old)
    link = sign(old.encode(), "case-page", {"r": "SSU-D-2026-0001"})
    assert verify(settings.verification_keys, "case-page", link, NOW) == {"r": "SSU-D-2026-0001"}
    assert verify(settings.effective_signing_key, "case-page", link, NOW) is None, "new links use the new key"
    retired = Settings(**AZURE, signing_key=new)
    assert verify(retired.verification_keys, "case-page", link, NOW) is None, "once retired, it verifies nothing"


@pytest.mark.parametrize("token", ["æøå.å", "\u202e.\u202e", "a" * 5000, "", ".", "eyJ9.", "!!!.???"])
def test_a_malformed_token_is_simply_not_ours(token: str) -> None:
    assert verify((b"key", b"other"), "case-page", token, NOW) is None
