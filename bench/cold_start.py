"""Cold start: what importing function_app (what the host indexes) costs next to a bare `import azure.functions`.

Target: at most 2x, and msgraph not imported before the first Graph call.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from common import ROOT

RUNS = 15


def median_seconds(code: str) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={"PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    interpreter = median_seconds("pass")
    bare = median_seconds("import azure.functions")
    app = median_seconds("import function_app")
    check = "import sys, function_app; print('msgraph' in sys.modules)"
    msgraph = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True)
    print(f"cold start ({RUNS} runs each, median wall time of a fresh interpreter):")
    print(f"  python -c pass               {interpreter * 1000:7.1f} ms")
    print(f"  import azure.functions       {bare * 1000:7.1f} ms")
    print(f"  import function_app          {app * 1000:7.1f} ms")
    print(f"  ratio app / azure.functions  {app / bare:7.2f}x (target <= 2.0)")
    net = (app - interpreter) / (bare - interpreter)
    print(f"  ratio without interpreter    {net:7.2f}x")
    print(f"  msgraph imported at index    {msgraph.stdout.strip()} (target False)")


if __name__ == "__main__":
    main()
