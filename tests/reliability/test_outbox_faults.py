"""The outbox under real faults: two dev hosts dispatching at once, a host SIGKILLed mid-dispatch, Azurite paused
(SIGSTOP/SIGCONT) while sent mails are settled. Nothing lost, nothing sent twice, every failure ends visibly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from functions.adapters.tables import TableCaseStore, TableStorage
from functions.composition import build_services
from functions.core.services import Services
from functions.core.settings import Settings
from functions.devhost.azurite import PROJECT_ROOT, Azurite, free_port, start_azurite, wait_for_port
from functions.registry_import import parse_registry_file
from tests.conftest import DEMO_REGISTRY, TIMER_SCHEDULES, unique_prefix
from tests.integration.test_outbox import queue_question

# The dev host as `make run` starts it, except that the local transport also notes every mail it writes in a
# journal (one line per send, appended), and may take its time per mail: the .eml files alone cannot show a mail
# written twice, since a second write replaces the first.
COUNTING_HOST = """
import os, sys, time
from functions.adapters import local_mail
journal, pause = os.environ["OUTBOX_FAULTS_JOURNAL"], float(os.environ.get("OUTBOX_FAULTS_PAUSE", "0"))
write = local_mail.LocalTransport._write
def noted(self, mail):
    write(self, mail)
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (mail.message_id + "\\n").encode())
    os.close(fd)
    time.sleep(pause)
local_mail.LocalTransport._write = noted
sys.argv = ["devhost", "--port", sys.argv[1], "--no-timers"]
from functions.devhost.__main__ import main
main()
"""
AFTER_LEASE_DAYS = 11 / (24 * 60)  # a claim holds a mail for 10 minutes (functions/core/outbox.py LEASE)
Host = tuple[subprocess.Popen[bytes], str]


class Setup:
    """One storage (a table prefix on an Azurite) and one mail server (a mail folder, a journal) for several hosts."""

    def __init__(self, azurite: Azurite, tmp: Path) -> None:
        self.azurite = azurite
        self.tmp = tmp
        self.prefix = unique_prefix()
        self.mail_dir = tmp / "mail"
        self.journal = tmp / "journal"
        self.settings = Settings(
            storage_connection_string=azurite.connection_string, table_prefix=self.prefix, mail_local_dir=self.mail_dir
        )

    def sends(self) -> Counter[str]:
        text = self.journal.read_text() if self.journal.exists() else ""
        return Counter(text.split())

    def start_host(self, name: str, pause: float = 0.0, storage_timeout: float = 5.0) -> Host:
        port = free_port()
        env = {
            **os.environ,
            **TIMER_SCHEDULES,  # the host refuses a timer whose %SETTING% is not set, as Azure's would
            "SSU_STORAGE_CONNECTION_STRING": self.azurite.connection_string,
            "SSU_TABLE_PREFIX": self.prefix,
            "SSU_MAIL_LOCAL_DIR": str(self.mail_dir),
            "SSU_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "SSU_STORAGE_TIMEOUT_SECONDS": str(storage_timeout),
            "OUTBOX_FAULTS_JOURNAL": str(self.journal),
            "OUTBOX_FAULTS_PAUSE": str(pause),
            # All the mails here go to one address: the daily cap is not under test, and a killed host keeps the
            # places it had reserved under it (README, the daily cap), which would hold the rest until tomorrow.
            "SSU_DAILY_CAP_PER_RECIPIENT": "100000",
        }
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-c", COUNTING_HOST, str(port)], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
        )
        return process, f"http://127.0.0.1:{port}"


@contextmanager
def hosts(setup: Setup, *specs: dict[str, float]) -> Iterator[list[Host]]:
    """Dev hosts on the setup's storage and mail server, started together; killed at the end."""
    started = [setup.start_host(f"host{i}", **spec) for i, spec in enumerate(specs)]
    try:
        for _, url in started:
            wait_for_port(int(url.rsplit(":", 1)[1]), timeout=60)
        yield started
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@asynccontextmanager
async def storage(setup: Setup) -> AsyncIterator[Services]:
    """The test's own view of the storage. Its writes wake no dispatcher (the bare table store, not the one that
    puts a message on the outbox queue): each test decides which dispatchers run, and when."""
    services = build_services(setup.settings)
    await services.registry_store.save_registry(parse_registry_file(DEMO_REGISTRY))
    assert isinstance(services.storage, TableStorage)
    quiet = replace(services, store=TableCaseStore(services.storage, setup.settings.reference_prefix))
    try:
        yield quiet
    finally:
        await services.close()


async def queue(services: Services, count: int) -> list[str]:
    return list(await asyncio.gather(*(queue_question(services) for _ in range(count))))


async def dispatch(client: httpx.AsyncClient, url: str) -> int:
    response = await client.post(f"{url}/admin/functions/outbox_dispatch", json={"input": ""}, timeout=120)
    return response.status_code


async def advance_past_leases(client: httpx.AsyncClient, url: str) -> None:
    response = await client.post(f"{url}/admin/clock", json={"advance_days": AFTER_LEASE_DAYS})
    assert response.status_code == 200


async def statuses(services: Services, references: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for reference in references:
        found.update(m.status for m in await services.store.mails(reference))
    return found


async def wait_for_sends(setup: Setup, at_least: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while sum(setup.sends().values()) < at_least:
        assert time.monotonic() < deadline, "the host sent too little"
        await asyncio.sleep(0.01)


async def test_two_hosts_dispatching_at_once_send_each_mail_once(azurite: Azurite, tmp_path: Path) -> None:
    setup = Setup(azurite, tmp_path)
    async with storage(setup) as services:
        references = await queue(services, 200)
        with hosts(setup, {"pause": 0.002}, {"pause": 0.002}) as [(_, first), (_, second)]:
            async with httpx.AsyncClient() as client:
                assert list(await asyncio.gather(dispatch(client, first), dispatch(client, second))) == [202, 202]
        sends = setup.sends()
        assert len(sends) == 200 and set(sends.values()) == {1}, f"sent twice: {sum(sends.values()) - len(sends)}"
        assert await statuses(services, references) == {"sent": 200}


async def test_a_host_killed_mid_dispatch_leaves_nothing_to_send_twice(azurite: Azurite, tmp_path: Path) -> None:
    setup = Setup(azurite, tmp_path)
    async with storage(setup) as services:
        references = await queue(services, 200)
        with hosts(setup, {"pause": 0.01}, {}) as [(doomed, doomed_url), (_, survivor)]:
            async with httpx.AsyncClient() as client:
                running = asyncio.create_task(dispatch(client, doomed_url))
                await wait_for_sends(setup, 70)
                doomed.send_signal(signal.SIGKILL)
                await asyncio.gather(running, return_exceptions=True)
                cut = sum(setup.sends().values())
                assert cut < 200, "the host was killed before it had sent everything"
                await advance_past_leases(client, survivor)
                assert await dispatch(client, survivor) == 202
        sends = setup.sends()
        assert len(sends) == 200 and set(sends.values()) == {1}, f"sent twice: {sum(sends.values()) - len(sends)}"
        assert await statuses(services, references) == {"sent": 200}


async def test_azurite_paused_while_settling_fails_no_run_and_doubles_nothing(tmp_path: Path) -> None:
    own = start_azurite()  # paused below: an Azurite of its own, not the one the other tests share
    try:
        setup = Setup(own, tmp_path)
        async with storage(setup) as services:
            references = await queue(services, 120)
            with hosts(setup, {"pause": 0.01, "storage_timeout": 0.5}) as [(_, url)]:
                async with httpx.AsyncClient() as client:
                    running = asyncio.create_task(dispatch(client, url))
                    await wait_for_sends(setup, 30)
                    own.process.send_signal(signal.SIGSTOP)
                    try:
                        await asyncio.sleep(2.0)
                    finally:
                        own.process.send_signal(signal.SIGCONT)
                    assert await running == 202, "the run ends without an error, whatever it could not settle"
                    before = await statuses(services, references)
                    assert before["pending"] > 0, "storage paused: some sent mails were left unsettled"
                    await advance_past_leases(client, url)
                    assert await dispatch(client, url) == 202
            sends = setup.sends()
            assert len(sends) == 120 and set(sends.values()) == {1}, f"sent twice: {sum(sends.values()) - len(sends)}"
            assert await statuses(services, references) == {"sent": 120}
    finally:
        own.stop()
