"""A dev host killed in the middle of an alert's fan-out, the registry changed by the import CLI, the host started
again and the alert posted again: every current recipient gets the alert exactly once, nothing is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

from functions.composition import build_services
from functions.core.model import Organisation, Process
from functions.core.services import Services
from functions.core.settings import Settings
from functions.devhost.azurite import PROJECT_ROOT, Azurite
from tests.conftest import load_demo_registry, start_devhost
from tests.e2e.helpers import MAINTENANCE, dispatch, outbox_mails
from tests.integration.test_fanout_resume import company, organisation_numbers

COMPANIES = 300  # with the demo's three recipients: seven chunks, a fan-out of about a second on the dev host
MANY = [company(n) for n in organisation_numbers(330_000_000, COMPANIES)]
JOINING = [company(n) for n in organisation_numbers(300_000_000, 3)]  # sort first: every position moves
ALERT = {**MAINTENANCE, "source_alert_id": "NAV-RELIABILITY-FANOUT"}


def import_registry(env: dict[str, str], path: Path, organisations: list[Organisation]) -> None:
    """Through the registry import CLI, as an operator adds or disconnects companies."""
    body = {"organisations": [o.model_dump(mode="json") for o in organisations]}
    path.write_text(json.dumps(body), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "functions.registry_import", str(path)],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


async def queued_so_far(watcher: Services) -> tuple[str, int] | None:
    cases = await watcher.store.cases(Process.NOTIFICATION)
    if not cases:
        return None
    return cases[0].reference, len(await watcher.store.mails(cases[0].reference))


async def kill_mid_fan_out(host_pid: int, watcher: Services, total: int) -> tuple[str, int]:
    """Kill the host as soon as its first chunk is stored; returns the alert and how many of its mails are stored."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = await queued_so_far(watcher)
        if found and found[1] > 0:
            os.kill(host_pid, signal.SIGKILL)
            await asyncio.sleep(0.3)  # a chunk in flight when it died may still commit
            found = await queued_so_far(watcher)
            assert found is not None and 0 < found[1] < total, f"killed mid fan-out, not after it: {found}"
            return found
        await asyncio.sleep(0.005)
    raise AssertionError("the fan-out never started")


async def test_a_fan_out_killed_mid_way_resumes_after_a_restart_whatever_changed(
    azurite: Azurite, tmp_path: Path
) -> None:
    first = start_devhost(tmp_path, {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string})
    env = first.env
    watcher = build_services(
        Settings(storage_connection_string=azurite.connection_string, table_prefix=env["SSU_TABLE_PREFIX"])
    )
    try:
        load_demo_registry(env)
        import_registry(env, tmp_path / "many.json", MANY)
        total = COMPANIES + 3  # the demo's two technical contacts for uføre in production, and Bits
        async with httpx.AsyncClient(timeout=60) as client:
            posting = asyncio.create_task(
                client.post(f"{first.url}/api/alerts", json=ALERT, headers={"X-Api-Key": "nav-key-one"})
            )
            reference, stored = await kill_mid_fan_out(first.process.pid, watcher, total)
            first.process.wait(timeout=10)
            try:
                answer = await posting
            except httpx.HTTPError:
                pass  # the host died under the request, as it should
            else:
                raise AssertionError(f"the killed host answered: {answer.status_code}")

        # Meanwhile three companies join, one whose mail was stored leaves, and one whose mail was not.
        stored_to = {r.mail.to for r in await watcher.store.mails(reference)}
        left_after = next(o for o in MANY if o.contacts[0].email in stored_to)
        left_before = next(o for o in reversed(MANY) if o.contacts[0].email not in stored_to)
        gone = [company(o.organisation_number, connected=False) for o in (left_after, left_before)]
        import_registry(env, tmp_path / "changes.json", [*JOINING, *gone])

        second = start_devhost(tmp_path, {k: env[k] for k in ("SSU_STORAGE_CONNECTION_STRING", "SSU_TABLE_PREFIX")})
        try:
            again = httpx.post(f"{second.url}/api/alerts", json=ALERT, headers={"X-Api-Key": "nav-key-one"}, timeout=60)
            assert again.status_code == 200 and again.json()["id"] == reference, again.text
            dispatch(second)
            sent = Counter(str(m["To"]) for m in outbox_mails(second, reference))
        finally:
            second.stop()
    finally:
        if first.process.poll() is None:
            first.process.kill()
        await watcher.close()

    assert set(sent.values()) == {1}, "nothing doubled"
    expected = {
        "teknisk@demo-forsikring.example",
        "api@fjordtrygd.example",
        "support@bits.example",
        *(o.contacts[0].email for o in [*MANY, *JOINING] if o not in (left_after, left_before)),
        left_after.contacts[0].email,  # queued before it left: it was due when the alert went out
    }
    assert set(sent) == expected, "nothing lost: every recipient now, and the one queued before it left"
    assert stored < total
