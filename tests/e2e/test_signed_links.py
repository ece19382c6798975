"""Signed links under attack: malformed and non-ASCII tokens get a 4xx on every signed-link endpoint and the CSRF
check, never a 500; a link signed with the previous key still works while the new key signs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from functions.core.signing import sign
from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import QUESTION, form_token

MALFORMED = ["æøå.å", "x" * 5000, "....", "%00", "a.b.c", "\u202e.\u202e", "eyJyIjoxfQ.ÆØÅ"]
SIGNED_LINKS = [
    "/api/case-page/SSU-D-2026-0001?k={t}",
    "/api/confirm?t={t}",
    "/api/terms-accept?k={t}",
    "/api/registry/contacts/confirm?k={t}",
    "/api/onboarding/production/confirm?k={t}",
    "/api/status/feed.atom?org=310000019&k={t}",
    "/api/status/maintenance.ics?org=310000019&k={t}",
]


@pytest.mark.parametrize("path", SIGNED_LINKS)
def test_a_malformed_token_is_a_4xx_on_every_signed_link(devhost: DevHostProcess, path: str) -> None:
    for token in MALFORMED:
        url = devhost.url + path.format(t=quote(token))
        for method in ("GET", "POST"):
            answer = httpx.request(method, url)
            assert answer.status_code != 500, (method, path, token)
            assert 400 <= answer.status_code < 500 or answer.status_code == 405, (method, path, token, answer.text)


def test_a_non_ascii_csrf_token_or_cookie_is_refused_not_a_crash(devhost: DevHostProcess) -> None:
    with httpx.Client() as client:
        good = form_token(client, devhost.url)
        cookie = client.cookies.get("ssu_form") or ""
        form = {k: str(v) for k, v in QUESTION.items()}
        for token, sent_cookie in (("æøå.å", cookie), (good, "ÆØÅ"), (good, "ÆØÅ." + cookie)):
            answer = httpx.post(
                f"{devhost.url}/api/questions",
                data={**form, "csrf_token": token},
                headers={b"cookie": f"ssu_form={sent_cookie}".encode()},
            )
            assert 400 <= answer.status_code < 500, answer.text


def test_links_signed_with_the_previous_key_still_verify(azurite: Azurite, tmp_path: Path) -> None:
    old, new = "the-old-signing-key-0123456789-abcdef", "the-new-signing-key-0123456789-abcdef"
    host = start_devhost(
        tmp_path,
        {
            "SSU_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "SSU_SIGNING_KEY": new,
            "SSU_SIGNING_KEY_PREVIOUS": old,
        },
    )
    load_demo_registry(host.env)
    try:
        feed = "/api/status/feed.atom?org=310000019&k={k}"
        signed_old = sign(old.encode(), "status-feed", {"o": "310000019"})
        signed_other = sign(b"a-key-nobody-configured-0123456789", "status-feed", {"o": "310000019"})
        assert httpx.get(host.url + feed.format(k=signed_old)).status_code == 200
        assert httpx.get(host.url + feed.format(k=signed_other)).status_code == 403
    finally:
        host.stop()
