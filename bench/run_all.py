"""Run every benchmark and print its figures (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in ("cold_start.py", "form_post.py", "outbox_dispatch.py", "intake.py", "graph_calls.py", "alert_fanout.py"):
    print(f"== {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], cwd=HERE, check=True)
