"""Graph calls per processed message when the shared mailbox is read through Graph (a local server plays Graph).

Target: at most 2 calls per message beyond the delta pages (its MIME and its move).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from common import ROOT, azurite

from functions.adapters.graph import GraphClient
from functions.adapters.graph_mailbox import GraphMailbox
from functions.catalogue import CATALOGUE
from functions.composition import build_services
from functions.core.settings import Settings
from functions.intake.workflow import poll_mailbox
from functions.registry_import import parse_registry_file
from tests.graph_stub import GraphStub, StaticToken

N = 100


async def run(connection_string: str, corpus: Path) -> None:
    stub = GraphStub(page_size=50)
    await stub.start()
    settings = Settings(
        storage_connection_string=connection_string,
        table_prefix="g" + uuid.uuid4().hex[:10],
        graph_base_url=stub.base_url,
    )
    services = build_services(settings)
    await services.registry_store.save_registry(parse_registry_file(ROOT / "data" / "demo-registry.json"))
    graph = GraphClient(settings, credential=StaticToken())
    mailbox = GraphMailbox(graph, settings.shared_mailbox, services.state, "SSU behandlet", "SSU avvist")
    for path in sorted(corpus.glob("*.eml")):
        stub.deliver(path.read_bytes())
    report = await poll_mailbox(services, mailbox, CATALOGUE)
    processed = sum(report.outcomes.values())
    paths = [r.path for r in stub.requests]
    delta = sum(p.endswith(("/delta", "/delta()")) for p in paths)
    mime = sum(p.endswith("/$value") for p in paths)
    moves = sum(p.endswith("/move") for p in paths)
    folders = sum(p.endswith("/mailFolders") for p in paths)
    await mailbox.close()
    await services.close()
    await stub.stop()
    print(f"Graph calls for {processed} messages read through the Graph mailbox (pages of 50):")
    print(f"  delta pages {delta}, $value {mime}, move {moves}, folder lookups/creations {folders}")
    per_message = (mime + moves) / processed
    print(f"  per message beyond the delta pages: {per_message:.2f} (target <= 2; folders once per process)")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    with azurite() as storage, tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        generator = ROOT.parent / "shared" / "bench" / "gen_eml_corpus.py"
        subprocess.run(
            [sys.executable, str(generator), "--n", str(N), "--out", str(corpus)], check=True, capture_output=True
        )
        asyncio.run(run(storage.connection_string, corpus))


if __name__ == "__main__":
    main()
