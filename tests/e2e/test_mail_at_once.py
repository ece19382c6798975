"""At once: a mail a request queued goes out within seconds, the dispatcher woken through the outbox queue (the dev
host runs the queue trigger as the Functions host does); the timer is the safety net when the wake-up cannot go."""

from __future__ import annotations

import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import httpx

from functions.devhost.azurite import Azurite, free_port
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import QUESTION, dispatch, outbox_mails


def mails_within(host: DevHostProcess, reference: str, seconds: float) -> list[EmailMessage]:
    """The case's mails in the outbox folder as soon as there are any, waiting at most `seconds` (no dispatch)."""
    deadline = time.monotonic() + seconds
    while not (found := outbox_mails(host, reference)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def ask(host: DevHostProcess) -> str:
    body = {**QUESTION, "email": f"spor-{uuid.uuid4().hex[:8]}@demo-forsikring.example"}
    asked = httpx.post(f"{host.url}/api/questions", json=body, timeout=30)
    assert asked.status_code == 201, asked.text
    return str(asked.json()["reference"])


def test_a_question_s_first_mail_goes_out_on_its_own_within_seconds(azurite: Azurite, tmp_path: Path) -> None:
    # A dev host with no timers (--no-timers) but its queue triggers: only the wake-up through the queue can send this.
    host = start_devhost(tmp_path, {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string}, queues=True)
    try:
        load_demo_registry(host.env)
        reference = ask(host)
        mails = mails_within(host, reference, seconds=10)
        assert [str(m["Subject"]) for m in mails] == [f"[{reference}] Bekreft e-postadressen din"], mails
    finally:
        host.stop()


def test_a_wake_up_that_cannot_be_sent_fails_no_request_and_the_timer_sends_the_mail(
    azurite: Azurite, tmp_path: Path
) -> None:
    # The queue service unreachable (nothing listens there), tables and blobs fine.
    unreachable = azurite.connection_string.replace(f":{azurite.queue_port}/", f":{free_port()}/")
    assert unreachable != azurite.connection_string
    host = start_devhost(tmp_path, {"SSU_STORAGE_CONNECTION_STRING": unreachable})
    try:
        load_demo_registry(host.env)
        reference = ask(host)
        log = tmp_path / "devhost.log"
        deadline = time.monotonic() + 20
        while b"outbox wake-up not sent" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"outbox wake-up not sent" in log.read_bytes(), log.read_text(errors="replace")[-2000:]
        assert outbox_mails(host, reference) == []  # no wake-up went out, so nothing sent it yet
        dispatch(host)  # what the timer runs every minute
        [mail] = outbox_mails(host, reference)
        assert "Bekreft e-postadressen" in str(mail["Subject"])
    finally:
        host.stop()
