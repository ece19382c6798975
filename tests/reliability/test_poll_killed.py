"""The mailbox under a real fault: the dev host SIGKILLed in the middle of a poll, then a new host on the same
storage and mailbox polls again. Every message ends up in exactly one case; none is lost, none opens two."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path

import httpx

from functions.devhost.azurite import Azurite
from tests.conftest import DevHostProcess, load_demo_registry, start_devhost
from tests.e2e.helpers import cases_by_message, poll

MESSAGES = 120


def question_mail(n: int, run: str) -> tuple[str, bytes]:
    message_id = f"<poll-{run}-{n}@kunde{n}.example>"
    raw = (
        f"From: Kunde {n} <kunde{n}@kunde{n}.example>\r\nTo: ssu@bits.example\r\n"
        f"Subject: Spørsmål nummer {n} om uføregrad\r\nMessage-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Hei, hvilket felt gjelder for sak {n}?\r\n"
    ).encode()
    return message_id, raw


def test_a_host_killed_mid_poll_loses_no_message_and_opens_no_case_twice(azurite: Azurite, tmp_path: Path) -> None:
    env = {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string}
    first = start_devhost(tmp_path, env)
    load_demo_registry(first.env)
    run = uuid.uuid4().hex[:8]
    inbox = first.mail_dir / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    ids = []
    for n in range(MESSAGES):
        message_id, raw = question_mail(n, run)
        ids.append(message_id)
        (inbox / f"q{n:03d}.eml").write_bytes(raw)

    # Poll in the background and kill the host once some, not all, messages are taken in.
    threading.Thread(target=_poll_quietly, args=(first,), daemon=True).start()
    processed = first.mail_dir / "processed"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(processed.glob("*.eml"))) < 5:
        time.sleep(0.01)
    first.process.kill()
    first.process.wait(timeout=10)
    left = len(list(inbox.glob("*.eml")))
    assert 0 < left < MESSAGES, f"the kill came mid-poll ({left} of {MESSAGES} messages left)"

    (tmp_path / "again").mkdir()
    second = start_devhost(
        tmp_path / "again",
        {**env, "SSU_TABLE_PREFIX": first.env["SSU_TABLE_PREFIX"], "SSU_MAIL_LOCAL_DIR": str(first.mail_dir)},
    )
    try:
        for _ in range(5):
            poll(second)
            if not list(inbox.glob("*.eml")):
                break
        assert not list(inbox.glob("*.eml")), "every message was taken in"
        assert not list((first.mail_dir / "failed").glob("*.eml")), "none was set aside"
        cases = cases_by_message(second)
        opened = [message_id for message_id in ids if message_id in cases]
        assert opened == ids, f"{len(ids) - len(opened)} messages opened no case"
        references = [cases[message_id]["case"]["reference"] for message_id in ids]
        assert len(set(references)) == MESSAGES, "no message opened two cases, no two messages share one"
        for message_id in ids:
            body = cases[message_id]
            received = [e for e in body["events"] if e["kind"] == "received"]
            assert len(received) == 1, (message_id, received)
            purposes = [m["purpose"] for m in body["mails"]]
            assert len(purposes) == len(set(purposes)), (message_id, purposes)
    finally:
        second.stop()


def _poll_quietly(host: DevHostProcess) -> None:
    with suppress(httpx.HTTPError):  # the host is killed under it: that is the point
        httpx.post(f"{host.url}/admin/functions/mailbox_poll", timeout=120)
