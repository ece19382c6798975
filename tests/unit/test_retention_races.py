"""What may happen while the retention sweep runs. A file is named by its content and stored once, so a message that
brings the same file while the sweep runs finds it stored: the sweep, which read which cases list the file before that
message, must not delete it from under the new case (a stored-again file is kept: the delete is conditional)."""

from __future__ import annotations

from datetime import datetime

import pytest

from functions.core.retention import erase_expired
from tests.fakes import clock_of, fake_services
from tests.unit.test_retention import FILE_HASH, blobs, closed_question


async def test_a_file_brought_again_while_the_sweep_runs_is_not_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    services = fake_services()
    old = await closed_question(services, "Gammelt")
    clock_of(services).advance(days=services.settings.retention_days["D"] + 1)
    delete = services.blobs.delete
    fresh: list[str] = []

    async def racing(name: str, unless_stored_since: datetime | None = None) -> bool:
        # The same file arrives now, on a new case: the store already holds it, so it is only stored again.
        fresh.append(await closed_question(services, "Nytt, samme vedlegg"))
        return await delete(name, unless_stored_since=unless_stored_since)

    monkeypatch.setattr(services.blobs, "delete", racing)
    assert (await erase_expired(services)).erased == [old]
    assert fresh, "the new case came while the sweep ran"
    assert FILE_HASH in blobs(services), f"{fresh[0]} lists the file: it must still be there"
