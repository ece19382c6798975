"""Bits' JSON export of a case never holds a decision token that still decides (a credential): not in
the tokens' list, not in a mail's purpose or subject, not in an event."""

from __future__ import annotations

import azure.functions as func

from functions.changes import workflow as changes
from functions.core.model import Channel
from functions.web.staff import StaffMember
from functions.workspace.case_export import case_export
from tests.fakes import fake_services
from tests.unit.test_process_workflows import BITS, PROVEN_ASKER, change_request, decide

STAFF = StaffMember(BITS, "Bits support", "00000000-0000-0000-0000-000000000001", frozenset({"support"}))


async def test_the_export_holds_no_live_decision_token() -> None:
    services = fake_services()
    case = await changes.submit_change_request(services, change_request(), Channel.API, proof=PROVEN_ASKER)
    await decide(services, changes.HANDLE_DECISION, case.reference, BITS, changes.COMPLETE)
    live = [t.token for t in await services.store.tokens(case.reference) if t.used_at is None]
    assert live, "the approvers' tokens decide by reply"
    req = func.HttpRequest(
        "GET", f"/api/bits/cases/{case.reference}/export", body=b"", route_params={"reference": case.reference}
    )
    exported = (await case_export(req, services, STAFF)).get_body().decode()
    assert [t for t in live if t in exported] == []
