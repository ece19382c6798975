"""Start and stop Azurite (the storage emulator, from node_modules) for `make run`, the tests and the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from functions.core.settings import AZURITE_CONNECTION_STRING

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Azurite:
    process: subprocess.Popen[bytes]
    table_port: int
    blob_port: int
    queue_port: int

    @property
    def connection_string(self) -> str:
        ports = {10002: self.table_port, 10000: self.blob_port, 10001: self.queue_port}
        text = AZURITE_CONNECTION_STRING
        for default, port in ports.items():
            text = text.replace(f":{default}/", f":{port}/")
        return text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_azurite(
    location: Path | None = None,
    table_port: int | None = None,
    blob_port: int | None = None,
    queue_port: int | None = None,
) -> Azurite:
    """In memory when `location` is None (tests); otherwise data is kept in `location` (make run). Tables, blobs and
    queues (the outbox's wake-ups) are served."""
    if not AZURITE_BIN.exists():
        raise FileNotFoundError(f"{AZURITE_BIN} is missing: run `npm ci` (make does it for you)")
    table_port = table_port or free_port()
    blob_port = blob_port or free_port()
    queue_port = queue_port or free_port()
    args = [
        str(AZURITE_BIN),
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--tableHost",
        "127.0.0.1",
        "--tablePort",
        str(table_port),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(blob_port),
        "--queueHost",
        "127.0.0.1",
        "--queuePort",
        str(queue_port),
    ]
    if location is None:
        args.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    azurite = Azurite(process, table_port, blob_port, queue_port)
    try:
        wait_for_port(table_port)
        wait_for_port(queue_port)
    except TimeoutError:
        azurite.stop()
        raise
    return azurite
