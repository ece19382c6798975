"""The shared mailbox through Microsoft Graph: a delta query on the inbox, each message's MIME, and a move afterwards.

- The delta link is kept in Table Storage and only moved on when every message of the round was settled, so a
  message left for later (storage down, Graph throttling) is seen again on the next poll.
- Immutable ids (`Prefer: IdType="ImmutableId"`), so an id stays valid after the message is moved.
- Processing never looks at read/unread: people read this mailbox too. Settled messages leave the inbox (to the
  processed or failed folder), which is what keeps them from being processed again.
- Graph calls per message: its MIME (`$value`) and its move; the delta pages are shared by all messages.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..core.inbound import InboxItem
from ..core.mail import TransientSendError
from ..core.store import StateStore
from .graph import GraphClient

log = logging.getLogger(__name__)

DELTA_STATE = "mailbox-delta"
IMMUTABLE_IDS = 'IdType="ImmutableId"'


class MailboxThrottled(TransientSendError):
    """Graph asked us to slow down (429) or failed (5xx): stop this round, try again on the next poll."""


class GraphMailbox:
    name = "graph"

    def __init__(self, graph: GraphClient, mailbox: str, state: StateStore, processed: str, failed: str) -> None:
        self.graph = graph
        self._graph = graph
        self._mailbox = mailbox
        self._state = state
        self._folder_names = {True: processed, False: failed}
        self._folder_ids: dict[bool, str] = {}
        self._folder_lock = asyncio.Lock()  # settles run concurrently: look the folder up (or create it) once
        self._next_delta: str | None = None
        self._round_complete = True

    @property
    def failed_folder(self) -> str:
        return self._folder_names[False]

    def _user(self, client: Any) -> Any:
        return client.users.by_user_id(self._mailbox)

    async def fetch(self, limit: int) -> list[InboxItem]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        client = await self._graph.client()
        stored = await self._state.get(DELTA_STATE)
        delta = self._user(client).mail_folders.by_mail_folder_id("inbox").messages.delta
        if stored and stored.get("link"):
            delta = delta.with_url(stored["link"])
        config: RequestConfiguration[Any] = RequestConfiguration()
        config.headers.add("Prefer", IMMUTABLE_IDS)
        config.headers.add("Prefer", f"odata.maxpagesize={min(limit, 100)}")
        ids: list[str] = []
        self._next_delta, self._round_complete = None, True
        while True:
            page = await _call(delta.get(request_configuration=config))
            for message in page.value or []:
                removed = (message.additional_data or {}).get("@removed")
                if message.id and not removed:
                    ids.append(message.id)
            if page.odata_next_link and len(ids) < limit:
                delta = delta.with_url(page.odata_next_link)
                continue
            if page.odata_next_link:
                # More than one poll's worth: keep where we are and carry on from here next time.
                self._next_delta = page.odata_next_link
            else:
                self._next_delta = page.odata_delta_link
            break
        if len(ids) > limit:
            self._round_complete = False  # the rest come again next time: the delta link stays where it was
        items: list[InboxItem] = []
        for message_id in ids[:limit]:
            try:
                raw = await _call(self._user(client).messages.by_message_id(message_id).content.get())
            except MailboxThrottled:
                self._round_complete = False
                break
            items.append(InboxItem(message_id, raw or b""))
        return items

    async def settle(self, item: InboxItem, processed: bool, reason: str) -> None:
        from msgraph.generated.users.item.messages.item.move.move_post_request_body import MovePostRequestBody

        client = await self._graph.client()
        folder = await self._folder(processed)
        try:
            await _call(
                self._user(client).messages.by_message_id(item.id).move.post(MovePostRequestBody(destination_id=folder))
            )
        except MailboxThrottled:
            self._round_complete = False
            raise
        if not processed:
            log.warning("mailbox: message %s moved to %s: %s", item.id[-12:], self._folder_names[False], reason)

    async def checkpoint(self, complete: bool) -> None:
        """After a round: move the delta link on only when every message of the round was settled."""
        if complete and self._round_complete and self._next_delta:
            await self._state.put(DELTA_STATE, {"link": self._next_delta})

    async def _folder(self, processed: bool) -> str:
        if processed in self._folder_ids:
            return self._folder_ids[processed]
        async with self._folder_lock:
            if processed not in self._folder_ids:
                self._folder_ids[processed] = await self._find_or_create_folder(processed)
        return self._folder_ids[processed]

    async def _find_or_create_folder(self, processed: bool) -> str:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.models.mail_folder import MailFolder
        from msgraph.generated.users.item.mail_folders.mail_folders_request_builder import (
            MailFoldersRequestBuilder,
        )

        client = await self._graph.client()
        name = self._folder_names[processed]
        query = MailFoldersRequestBuilder.MailFoldersRequestBuilderGetQueryParameters(
            filter=f"displayName eq '{name}'", select=["id", "displayName"]
        )
        found = await _call(self._user(client).mail_folders.get(RequestConfiguration(query_parameters=query)))
        folders = found.value if found and found.value else []
        if folders and folders[0].id:
            folder_id = str(folders[0].id)
        else:
            created = await _call(self._user(client).mail_folders.post(MailFolder(display_name=name)))
            folder_id = str(created.id)
        return folder_id

    async def close(self) -> None:
        await self._graph.close()


async def _call(awaitable: Any) -> Any:
    """Await a Graph call; throttling and server errors become MailboxThrottled (with Retry-After)."""
    import httpx
    from kiota_abstractions.api_error import APIError

    from .graph import retry_after

    try:
        return await awaitable
    except APIError as exc:
        status = exc.response_status_code or 0
        if status == 429 or status >= 500:
            raise MailboxThrottled(f"Graph answered {status}", retry_after(exc.response_headers)) from exc
        raise
    except httpx.HTTPError as exc:
        raise MailboxThrottled(f"Graph unreachable: {type(exc).__name__}") from exc
