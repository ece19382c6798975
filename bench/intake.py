"""Email intake throughput: the shared corpus from the local inbox into Azurite (parse, route, store, queue the
acknowledgement), with a 2 MB attachment and an undecodable message mixed in.

Target: at least 110 messages/s on this machine.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from common import ROOT, azurite

from functions.catalogue import CATALOGUE
from functions.composition import build_services
from functions.core.settings import Settings
from functions.intake.workflow import poll_mailbox
from functions.registry_import import parse_registry_file

N = 500


def big_attachment_message() -> bytes:
    message = EmailMessage()
    message["From"] = "Tore Teknisk <teknisk@demo-forsikring.example>"
    message["To"] = "ssu@bits.example"
    message["Subject"] = "Logg fra feilsituasjon i produksjon"
    message["Message-ID"] = "<big-attachment@demo-forsikring.example>"
    message.set_content("Hei, vedlagt er loggen fra i natt.")
    message.add_attachment(b"x" * 2_000_000, maintype="text", subtype="plain", filename="logg.txt")
    return message.as_bytes()


async def run(connection_string: str, mail_dir: Path) -> None:
    settings = Settings(
        storage_connection_string=connection_string,
        table_prefix="i" + uuid.uuid4().hex[:10],
        mail_local_dir=mail_dir,
        mailbox_batch_size=1000,
    )
    services = build_services(settings)
    await services.registry_store.save_registry(parse_registry_file(ROOT / "data" / "demo-registry.json"))
    await services.storage.ensure_tables()
    start = time.perf_counter()
    report = await poll_mailbox(services, services.mailbox, CATALOGUE)
    elapsed = time.perf_counter() - start
    total = sum(report.outcomes.values())
    queued = len(await services.store.due_mails(services.clock.now(), 10_000))
    await services.close()
    at_a_time = settings.mailbox_concurrency
    print(f"intake from the local inbox into Azurite ({total} messages, one poll, {at_a_time} at a time):")
    print(f"  {total} messages in {elapsed:.2f} s = {total / elapsed:.0f} messages/s (target >= 110)")
    print(f"  outcomes: {report.outcomes}; acknowledgements queued: {queued}")
    big = (mail_dir / "processed" / "zz-big-attachment.eml").exists()
    broken = (mail_dir / "failed" / "aa-undecodable.eml.reason.txt").read_text().strip()
    print(f"  2 MB attachment processed: {big}; undecodable message: {broken}")


def main() -> None:
    with azurite() as storage, tempfile.TemporaryDirectory() as tmp:
        mail_dir = Path(tmp) / "mail"
        corpus = Path(tmp) / "corpus"
        subprocess.run(
            [
                sys.executable,
                str(ROOT.parent / "shared" / "bench" / "gen_eml_corpus.py"),
                "--n",
                str(N),
                "--out",
                str(corpus),
            ],
            check=True,
            capture_output=True,
        )
        inbox = mail_dir / "inbox"
        inbox.mkdir(parents=True)
        for path in corpus.glob("*.eml"):
            shutil.copy(path, inbox / path.name)
        # Sorted first, so that a stall on it would hold up everything behind it.
        (inbox / "aa-undecodable.eml").write_bytes(b"\x00\x01 not a message")
        (inbox / "zz-big-attachment.eml").write_bytes(big_attachment_message())
        asyncio.run(run(storage.connection_string, mail_dir))


if __name__ == "__main__":
    main()
