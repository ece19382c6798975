"""Shared pieces of the benchmarks: Azurite, the dev host, and percentiles."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from functions.devhost.azurite import Azurite, free_port, start_azurite, wait_for_port  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values_ms: list[float]) -> str:
    return (
        f"n={len(values_ms)} p50={percentile(values_ms, 50):.1f} ms p95={percentile(values_ms, 95):.1f} ms "
        f"mean={statistics.fmean(values_ms):.1f} ms max={max(values_ms):.1f} ms"
    )


@contextmanager
def azurite() -> Iterator[Azurite]:
    instance = start_azurite()
    try:
        yield instance
    finally:
        instance.stop()


@contextmanager
def devhost(storage: Azurite, mail_dir: Path, *, queues: bool = True) -> Iterator[str]:
    """The dev host as `make run` starts it, timers off; `queues=False` also leaves the queue trigger off (the outbox
    then sends nothing by itself: a benchmark of the request alone)."""
    port = free_port()
    # The schedules the example settings give: the host refuses a timer whose %SETTING% is not set, as Azure's would.
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    env = {
        **os.environ,
        **{k: v for k, v in example.items() if k.endswith("_SCHEDULE") and k not in os.environ},
        "SSU_STORAGE_CONNECTION_STRING": storage.connection_string,
        "SSU_TABLE_PREFIX": "b" + uuid.uuid4().hex[:10],
        "SSU_MAIL_LOCAL_DIR": str(mail_dir),
        "SSU_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        # One client posting hundreds of times for one address and company: far over the production rate limits.
        **{f"SSU_RATE_LIMIT_PER_{kind}": "1000000" for kind in ("IP", "RECIPIENT", "ORGANISATION")},
    }
    subprocess.run(
        [sys.executable, "-m", "functions.registry_import", "data/demo-registry.json"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "functions.devhost", "--port", str(port), "--no-timers"]
        + ([] if queues else ["--no-queues"]),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
