"""Against Azurite: a message appended after erase_personal_data read the case's rows
and before its last transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.core.model import CaseEvent, Channel
from functions.core.retention import erase_expired
from functions.core.services import Services
from tests.integration.test_retention import NAME, PHONE, TEXT, closed_question, rows, text_of
from tests.unit.test_process_workflows import ASKER


async def test_a_message_appended_after_the_rows_were_read_is_not_left_under_an_erased_case(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`append` writes no case row: the ETag guard of erase_personal_data's transactions does not see an event (or a
    queued mail) written after its own read of the rows. The existing race test appends before that read."""
    reference = await closed_question(services)
    store: Any = services.store._store  # type: ignore[attr-defined]
    submit = store._submit_erasure
    late = CaseEvent(
        at=datetime.now(UTC), actor=ASKER, channel=Channel.EMAIL, kind="message", public=True, summary=NAME
    ).model_copy(update={"data": {"message": TEXT}})
    raced: list[bool] = []

    async def racing(ref: str, ops: list[Any]) -> Any:
        if not raced:
            raced.append(True)
            await services.store.append(reference, late)  # the submitter writes again, just now
        return await submit(ref, ops)

    monkeypatch.setattr(store, "_submit_erasure", racing)
    now = datetime.now(UTC) + timedelta(days=services.settings.retention_days["D"], minutes=1)
    await erase_expired(services, now)
    monkeypatch.undo()
    assert raced == [True]
    await erase_expired(services, now + timedelta(days=1))  # a later run does not mend it either
    stored = text_of(await rows(services, reference))
    assert NAME not in stored and PHONE not in stored
