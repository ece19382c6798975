"""A form POST through the dev host against Azurite: stored case + queued acknowledgement, latency and round trips.

Targets: p50 <= 15 ms, p95 <= 40 ms, at most 2 storage round trips per submission.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import httpx
from common import azurite, devhost, summary

WARMUP, RUNS = 30, 400
QUESTION = {
    "organisation_number": "310000019",
    "name": "Frida Fagerli",
    "email": "fag@demo-forsikring.example",
    "subject": "Hvordan tolke uføregrad?",
    "question": "Hvilket felt viser gjeldende uføregrad når vedtaket er endret tilbake i tid?",
    "service": "ufore",
    "environment": "production",
    "category": "data_interpretation",
    "website": "",
}


def main() -> None:
    with (
        azurite() as storage,
        tempfile.TemporaryDirectory() as tmp,
        devhost(storage, Path(tmp), queues=False) as url,  # the request alone: no dispatcher woken meanwhile
        httpx.Client(base_url=url) as client,
    ):

        def post() -> float:
            # A fresh form each time (not timed): its token is good for one submission.
            page = client.get("/api/questions")
            match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert match
            form = {**QUESTION, "csrf_token": match.group(1)}
            start = time.perf_counter()
            response = client.post("/api/questions", data=form)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 303, response.text
            return elapsed

        for _ in range(WARMUP):
            post()
        before = client.get("/admin/metrics").json()["storage_round_trips"]
        latencies = [post() for _ in range(RUNS)]
        after = client.get("/admin/metrics").json()["storage_round_trips"]
        client.get("/.auth/login/aad", params={"as": "support@bits.example"})  # the case API is for Bits' staff
        cases = client.get("/api/cases", params={"process": "D"}).json()["cases"]
    print("form POST -> stored case + queued acknowledgement and Bits notice (dev host, Azurite, sequential):")
    print(f"  latency {summary(latencies)} (targets p50 <= 15 ms, p95 <= 40 ms)")
    print(f"  storage round trips per submission: {(after - before) / RUNS:.2f} (target <= 2)")
    print(f"  cases stored: {len(cases)} of {WARMUP + RUNS} posted")


if __name__ == "__main__":
    main()
