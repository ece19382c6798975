"""The outbox dispatcher moving queued mails to the local transport (.eml files), against Azurite.

Target: at least 200 mails/s.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from common import azurite

from functions.composition import build_services
from functions.core.mail import OutgoingMail
from functions.core.model import Case, CaseEvent, Channel, Process
from functions.core.outbox import dispatch_outbox
from functions.core.settings import Settings

CASES, MAILS_PER_CASE = 500, 2


async def run(connection_string: str, mail_dir: Path) -> None:
    settings = Settings(
        storage_connection_string=connection_string,
        table_prefix="o" + uuid.uuid4().hex[:10],
        mail_local_dir=mail_dir,
    )
    services = build_services(settings)
    now = services.clock.now()

    def mails(case: Case) -> list[OutgoingMail]:
        return [
            services.compose(
                reference=case.reference,
                purpose=f"acknowledgement-{i}",
                to=f"person{i}.{case.reference.lower()}@demo-forsikring.example",
                template="question_received",
                language="nb",
                case=case,
                case_link="http://localhost:7071/api/case-page/x",
                organisation_name="Demo Forsikring ASA",
                identity_numbers_removed=0,
            )
            for i in range(MAILS_PER_CASE)
        ]

    draft = Case(
        process=Process.QUESTION,
        kind="question",
        status="new",
        organisation_number="310000019",
        submitter_name="Bench",
        submitter_email="fag@demo-forsikring.example",
        submitter_verified=True,
        title="Benchmark",
        created_at=now,
        updated_at=now,
    )
    event = CaseEvent(at=now, actor="bench", channel=Channel.API, kind="received", public=True, summary="bench")
    for _ in range(CASES):
        await services.store.create_case(draft, event, mails)
    total = CASES * MAILS_PER_CASE
    start = time.perf_counter()
    report = await dispatch_outbox(
        services.store,
        services.transport,
        services.clock,
        services.retry_policy,
        limits=services.limits,  # as the timer runs it: suppressions and the daily cap are checked
        daily_cap=settings.daily_cap_per_recipient,
        limit=total,
    )
    elapsed = time.perf_counter() - start
    files = len(list((mail_dir / "outbox").glob("*.eml")))
    await services.close()
    print("outbox_dispatch -> local transport (.eml files), Azurite:")
    print(f"  {report.sent} mails in {elapsed:.2f} s = {report.sent / elapsed:.0f} mails/s (target >= 200)")
    print(f"  files written: {files}, retried {report.retried}, failed {report.failed}")


def main() -> None:
    with azurite() as storage, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(storage.connection_string, Path(tmp)))


if __name__ == "__main__":
    main()
