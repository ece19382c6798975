"""The Graph notification endpoint through the dev host: validation handshake, clientState, fast acknowledgement."""

from __future__ import annotations

import time

import httpx

from tests.conftest import NOTIFICATION_SECRET, DevHostProcess


def url(host: DevHostProcess) -> str:
    return f"{host.url}/api/mailbox/notifications"


def test_validation_handshake_echoes_the_token_as_plain_text(devhost: DevHostProcess) -> None:
    response = httpx.post(url(devhost), params={"validationToken": "Validation: token <b>x</b>"})
    assert response.status_code == 200
    assert response.text == "Validation: token <b>x</b>"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_notifications_with_the_right_client_state_are_acknowledged_fast(devhost: DevHostProcess) -> None:
    body = {
        "value": [
            {
                "subscriptionId": "sub-1",
                "clientState": NOTIFICATION_SECRET,
                "changeType": "created",
                "resource": "Users/x/Messages/AAMk1",
            }
        ]
    }
    start = time.perf_counter()
    response = httpx.post(url(devhost), json=body)
    elapsed = time.perf_counter() - start
    assert response.status_code == 202
    assert elapsed < 3.0


def test_wrong_client_state_and_broken_bodies_are_refused(devhost: DevHostProcess) -> None:
    forged = {"value": [{"subscriptionId": "sub-1", "clientState": "guess", "lifecycleEvent": "subscriptionRemoved"}]}
    assert httpx.post(url(devhost), json=forged).status_code == 403
    assert (
        httpx.post(url(devhost), content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    )
    assert httpx.post(url(devhost), json={"value": []}).status_code == 400
    assert httpx.post(url(devhost), content=b"x" * 1_100_000).status_code == 413
