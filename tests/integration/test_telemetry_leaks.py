"""What reaches telemetry that must not (a decision token in a Table Storage dependency's URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from functions.devhost.azurite import PROJECT_ROOT, Azurite
from tests.conftest import unique_prefix
from tests.integration.telemetry_leak_probe import TOKEN


def test_a_decision_token_looked_up_never_reaches_a_span(azurite: Azurite, tmp_path: Path) -> None:
    out = tmp_path / "spans.json"
    probe = [sys.executable, "-m", "tests.integration.telemetry_leak_probe", azurite.connection_string]
    done = subprocess.run(
        [*probe, unique_prefix(), str(out)], cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    spans = json.loads(out.read_text(encoding="utf-8"))
    assert any("devstoreaccount1" in str(s["attributes"]) for s in spans), "the lookup was traced"
    leaked = [s["attributes"].get("url.full") for s in spans if TOKEN in json.dumps(s)]
    assert leaked == []
