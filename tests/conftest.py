"""Shared fixtures: a real Azurite for the whole run, per-test table prefixes, services, and a dev host over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.composition import build_services
from functions.core.services import Services
from functions.core.settings import Settings
from functions.devhost.azurite import PROJECT_ROOT, Azurite, free_port, start_azurite, wait_for_port
from functions.registry_import import parse_registry_file
from tests.graph_stub import GraphStub

DEMO_REGISTRY = PROJECT_ROOT / "data" / "demo-registry.json"
NOTIFICATION_SECRET = "client-state-for-the-tests-0123456789"
ALERT_KEYS = {"NAV": ["nav-key-one", "nav-key-two"], "ALTINN": ["altinn-key"]}  # two for NAV: rotation
# The suite posts hundreds of forms from 127.0.0.1, many for the same addresses and companies: far over the
# production limits. Tests of the limits start their own dev host with low ones (tests/e2e/test_rate_limits.py).
TEST_RATE_LIMIT = 100_000


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    instance = start_azurite()
    yield instance
    instance.stop()


def unique_prefix() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def settings(azurite: Azurite, tmp_path: Path) -> Settings:
    return Settings(
        storage_connection_string=azurite.connection_string,
        table_prefix=unique_prefix(),
        mail_local_dir=tmp_path / "mail",
        outbox_retry_base_seconds=0,
        rate_limit_per_ip=TEST_RATE_LIMIT,
        rate_limit_per_recipient=TEST_RATE_LIMIT,
        rate_limit_per_organisation=TEST_RATE_LIMIT,
    )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    built = build_services(settings)
    await built.registry_store.save_registry(parse_registry_file(DEMO_REGISTRY))
    yield built
    await built.close()


# The timers' schedule settings of local.settings.example.json (its queue name is not taken: each test's host has its
# own, after its table prefix).
TIMER_SCHEDULES = {
    name: value
    for name, value in json.loads((PROJECT_ROOT / "local.settings.example.json").read_text(encoding="utf-8"))[
        "Values"
    ].items()
    if name.endswith("_SCHEDULE")
}


@dataclass
class DevHostProcess:
    url: str
    mail_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_devhost(tmp: Path, extra_env: dict[str, str], *, queues: bool = False) -> DevHostProcess:
    """The dev host in its own process, as `make run` starts it, on a free port. Without timers; and without queue
    triggers unless `queues`: a test sends mail by dispatching, so that no run of the woken dispatcher holds a lease
    on a mail the test is waiting for."""
    port = free_port()
    mail_dir = tmp / "mail"
    prefix = unique_prefix()
    env = {
        **TIMER_SCHEDULES,  # the host refuses a timer whose %SETTING% is not set, as Azure's would
        **os.environ,
        "SSU_TABLE_PREFIX": prefix,
        # A queue of its own, whatever a developer's local.settings.json names: hosts on one Azurite never wake
        # each other's dispatchers.
        "SSU_OUTBOX_QUEUE": f"{prefix.lower()}-outbox-wake",
        "SSU_MAIL_LOCAL_DIR": str(mail_dir),
        "SSU_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SSU_OUTBOX_RETRY_BASE_SECONDS": "0",
        **{f"SSU_RATE_LIMIT_PER_{kind}": str(TEST_RATE_LIMIT) for kind in ("IP", "RECIPIENT", "ORGANISATION")},
        "SSU_GRAPH_NOTIFICATION_CLIENT_STATE": NOTIFICATION_SECRET,
        "SSU_ALERT_KEYS": json.dumps(
            {source: [hashlib.sha256(k.encode()).hexdigest() for k in keys] for source, keys in ALERT_KEYS.items()}
        ),
        **extra_env,
    }
    if "SSU_STORAGE_CONNECTION_STRING" in env:
        # The queue trigger's storage is the app's own, whatever a developer's local.settings.json names.
        env.setdefault("AzureWebJobsStorage", env["SSU_STORAGE_CONNECTION_STRING"])
    log = (tmp / "devhost.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions.devhost",
            "--port",
            str(port),
            "--no-timers",
            *([] if queues else ["--no-queues"]),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=60)
    except TimeoutError:
        process.kill()
        raise
    return DevHostProcess(f"http://127.0.0.1:{port}", mail_dir, env, process)


def load_demo_registry(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "functions.registry_import", str(DEMO_REGISTRY)],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def devhost(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHostProcess]:
    """One dev host for the e2e tests, on Azurite with the demo registry; tests tell their cases apart by reference."""
    host = start_devhost(
        tmp_path_factory.mktemp("devhost"), {"SSU_STORAGE_CONNECTION_STRING": azurite.connection_string}
    )
    load_demo_registry(host.env)
    yield host
    host.stop()


class FakeClock:
    """A clock the test moves by hand (set `at`)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def graph_stub() -> AsyncIterator[GraphStub]:
    stub = GraphStub()
    await stub.start()
    yield stub
    await stub.stop()
