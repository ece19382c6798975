"""The Graph mailbox adapter with the real msgraph-sdk against a local server that plays Graph, over real Azurite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from functions.adapters.graph import GraphClient
from functions.adapters.graph_mailbox import DELTA_STATE, GraphMailbox
from functions.catalogue import CATALOGUE
from functions.core.services import Services
from functions.core.settings import Settings
from functions.intake.workflow import poll_mailbox
from tests.graph_stub import GraphStub, StaticToken

MAIL = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


@pytest.fixture
async def mailbox(services: Services, settings: Settings, graph_stub: GraphStub) -> AsyncIterator[GraphMailbox]:
    graph = GraphClient(settings.model_copy(update={"graph_base_url": graph_stub.base_url}), credential=StaticToken())
    box = GraphMailbox(graph, "ssu@bits.example", services.state, "SSU behandlet", "SSU avvist")
    yield box
    await box.close()


def message(n: int) -> bytes:
    return (
        f"From: Frida <fag@demo-forsikring.example>\r\nTo: ssu@bits.example\r\nSubject: Spørsmål {n}\r\n"
        f"Message-ID: <graph-{n}@demo-forsikring.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hei, spørsmål nummer {n}.\r\n"
    ).encode()


async def test_delta_pages_mime_and_delta_link(
    services: Services, mailbox: GraphMailbox, graph_stub: GraphStub
) -> None:
    ids = [graph_stub.deliver(message(n)) for n in range(5)]
    items = await mailbox.fetch(limit=50)
    assert [i.id for i in items] == ids
    assert items[0].raw == message(0)
    delta_calls = [r for r in graph_stub.requests if r.path.endswith(("/delta", "/delta()"))]
    assert len(delta_calls) == 3, "five messages, pages of two"
    assert all('IdType="ImmutableId"' in r.headers.get("Prefer", "") for r in delta_calls)
    for item in items:
        await mailbox.settle(item, processed=True, reason="ok")
    await mailbox.checkpoint(complete=True)
    state = await services.state.get(DELTA_STATE)
    assert state is not None and "$deltatoken=5" in state["link"]
    assert graph_stub.in_folder("SSU behandlet") == ids and graph_stub.in_folder("inbox") == []
    # One folder lookup and one creation, then the folder id is remembered; per message: $value and move.
    per_message = [r for r in graph_stub.requests if r.path.endswith(("/$value", "/move"))]
    assert len(per_message) == 2 * len(ids)
    assert len([r for r in graph_stub.requests if r.path.endswith("/mailFolders")]) == 2

    later = graph_stub.deliver(message(9))
    assert [i.id for i in await mailbox.fetch(limit=50)] == [later], "the next poll starts from the delta link"


async def test_throttling_keeps_the_delta_link_so_nothing_is_lost(
    services: Services, mailbox: GraphMailbox, graph_stub: GraphStub
) -> None:
    graph_stub.page_size = 10
    first, second = graph_stub.deliver(message(1)), graph_stub.deliver(message(2))
    graph_stub.fail("/$value", 429, {"Retry-After": "5"}, skip=1)  # the second message's MIME is throttled
    items = await mailbox.fetch(limit=50)
    assert [i.id for i in items] == [first]
    await mailbox.settle(items[0], processed=True, reason="ok")
    await mailbox.checkpoint(complete=True)
    assert await services.state.get(DELTA_STATE) is None, "the round was not complete"
    again = await mailbox.fetch(limit=50)
    assert [i.id for i in again] == [second], "the throttled message comes again; the settled one does not"


async def test_poll_through_graph_opens_cases_and_moves_messages(
    services: Services, mailbox: GraphMailbox, graph_stub: GraphStub
) -> None:
    graph_stub.deliver((MAIL / "outlook_nb_question.eml").read_bytes())
    graph_stub.deliver((MAIL / "broken.eml").read_bytes())
    graph_stub.deliver((MAIL / "mailing_list.eml").read_bytes())
    report = await poll_mailbox(services, mailbox, CATALOGUE)
    assert report.outcomes == {"new_case": 1, "quarantined": 1, "ignored": 1}
    assert len(graph_stub.in_folder("SSU behandlet")) == 2 and len(graph_stub.in_folder("SSU avvist")) == 1
    [case] = await services.store.cases()
    assert case.title == "Spørsmål om uføregrad og IFU"
    # Delivered again (a notification and the poll both saw it): still one case.
    graph_stub.deliver((MAIL / "outlook_nb_question.eml").read_bytes())
    again = await poll_mailbox(services, mailbox, CATALOGUE)
    assert again.outcomes == {"duplicate": 1}
    assert len(await services.store.cases()) == 1
