"""Signed, expiring tokens for links and forms (HMAC-SHA256 over a small JSON payload, bound to a purpose)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, body: str) -> str:
    return _b64(hmac.new(key, f"{purpose}.{body}".encode(), hashlib.sha256).digest())


def sign(key: bytes, purpose: str, payload: dict[str, Any], expires_at: datetime | None = None) -> str:
    """A token that only `verify` with the same key and purpose accepts, until `expires_at`."""
    data = dict(payload)
    if expires_at is not None:
        data["exp"] = int(expires_at.timestamp())
    body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(key, purpose, body)}"


def verify(keys: bytes | Sequence[bytes], purpose: str, token: str, now: datetime) -> dict[str, Any] | None:
    """The payload of a valid, unexpired token for `purpose` signed with one of `keys` (the current key and the one
    before it, while links it signed are still out there); None for anything else, however malformed."""
    if not isinstance(token, str) or len(token) > 4096 or not token.isascii():
        return None  # compare_digest refuses non-ASCII text: such a token is simply not ours
    body, _, mac = token.partition(".")
    if not body or not mac:
        return None
    candidates = (keys,) if isinstance(keys, bytes) else tuple(keys)
    if not any(hmac.compare_digest(mac, _mac(key, purpose, body)) for key in candidates):
        return None
    try:
        data = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict):
        return None
    exp = data.pop("exp", None)
    if exp is not None and now.timestamp() > exp:
        return None
    return data
