"""`make run`: Azurite with data under .local/, the demo registry loaded, and the dev host on port 7071."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from .azurite import PROJECT_ROOT, start_azurite
from .server import load_local_settings


def main() -> None:
    azurite = start_azurite(
        location=PROJECT_ROOT / ".local" / "azurite", table_port=10002, blob_port=10000, queue_port=10001
    )
    os.environ.setdefault("SSU_STORAGE_CONNECTION_STRING", azurite.connection_string)
    os.environ.setdefault("SSU_MAIL_LOCAL_DIR", str(PROJECT_ROOT / ".local" / "mail"))
    # Demo alert API keys, so that the API can be tried at once (never used outside `make run`).
    demo_keys = {"NAV": "demo-nav-key", "ALTINN": "demo-altinn-key", "DIGDIR": "demo-digdir-key"}
    os.environ.setdefault(
        "SSU_ALERT_KEYS", json.dumps({s: [hashlib.sha256(k.encode()).hexdigest()] for s, k in demo_keys.items()})
    )
    # A demo expert committee (business contacts of three demo companies), so change requests can be assessed.
    committee = ["fag@demo-forsikring.example", "kari.nordmann@fjordtrygd.example", "ingrid@nordlys-forsikring.example"]
    os.environ.setdefault("SSU_COMMITTEE_MEMBERS", json.dumps(committee))
    # The dev host reads local.settings.json (Core Tools' file, git-ignored); without one, the committed example's
    # settings, so that a fresh checkout runs: the host refuses timers whose %SETTING% is not set.
    if not (PROJECT_ROOT / "local.settings.json").exists():
        load_local_settings(PROJECT_ROOT / "local.settings.example.json")
    for folder in ("inbox", "outbox", "processed", "failed"):
        (Path(os.environ["SSU_MAIL_LOCAL_DIR"]) / folder).mkdir(parents=True, exist_ok=True)
    try:
        from functions.registry_import import import_registry

        count = asyncio.run(import_registry(PROJECT_ROOT / "data" / "demo-registry.json"))
        print(f"Loaded {count} demo registry entries.")
        print("Serving http://localhost:7071/api/questions  (mail appears in .local/mail/outbox/)")
        print("Bits staff sign in at http://localhost:7071/.auth/login/aad  (then /api/bits)")
        subprocess.run([sys.executable, "-m", "functions.devhost", "--port", "7071"], check=False)
    except KeyboardInterrupt:  # Ctrl-C ends `make run`; Azurite is stopped below
        print()
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
