"""Run every benchmark and print its figures (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCRIPTS = (
    "cold_start.py",
    "form_post.py",
    "outbox_dispatch.py",
    "mail_latency.py",
    "intake.py",
    "graph_calls.py",
    "alert_fanout.py",
)
for script in SCRIPTS:
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], cwd=HERE, check=True)
