"""A local HTTP server that plays Microsoft Graph for the adapter tests: records requests, answers as scripted."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from functions.devhost.azurite import free_port


@dataclass
class Recorded:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class StubMessage:
    id: str
    raw: bytes
    seq: int
    folder: str = "inbox"


@dataclass
class GraphStub:
    """`script` holds the answers to give, in order (status, headers, json), before the stub's own behaviour:
    sendMail is accepted (and saved in Sent Items, which answers a lookup by internetMessageId); a mailbox (delta,
    $value, move, folders) and subscriptions are played."""

    requests: list[Recorded] = field(default_factory=list)
    script: deque[tuple[int, dict[str, str], dict[str, Any] | None]] = field(default_factory=deque)
    port: int = 0
    page_size: int = 2
    messages: dict[str, StubMessage] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=dict)  # id -> display name
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    sent_items: dict[str, str] = field(default_factory=dict)  # Sent Items: internetMessageId -> message id
    late: list[float] = field(default_factory=list)  # delays of the next sendMail/$batch answers, after accepting
    lookup_delay: float = 0.0  # seconds each Sent Items lookup takes (a slow mailbox after an incident)
    _runner: web.AppRunner | None = None

    def fail(self, suffix: str, status: int, headers: dict[str, str], skip: int = 0) -> None:
        """Answer `status` to the next request whose path ends with `suffix`, after letting `skip` of them pass."""
        self.failures.append({"suffix": suffix, "status": status, "headers": headers, "skip": skip})

    def answer_late(self, seconds: float, times: int = 1) -> None:
        """Accept the next `times` sendMail or $batch requests (the mails are sent and in Sent Items), then answer
        only after `seconds`: after the client has given up waiting."""
        self.late.extend([seconds] * times)

    def _accept(self, raw: bytes) -> None:
        """Send it, as sendMail does: and save it in Sent Items, under its Message-ID."""
        self.sent.append(raw)
        message_id = BytesHeaderParser().parsebytes(raw)["Message-ID"]
        if message_id:
            self.sent_items.setdefault(str(message_id).strip(), f"AAMkSent{len(self.sent):04d}")

    def deliver(self, raw: bytes) -> str:
        seq = len(self.messages) + 1
        message_id = f"AAMkImmutable{seq:04d}"
        self.messages[message_id] = StubMessage(message_id, raw, seq)
        return message_id

    def in_folder(self, name: str) -> list[str]:
        folder_id = next((i for i, n in self.folders.items() if n == name), name)
        return [m.id for m in self.messages.values() if m.folder == folder_id]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1.0"

    def sent_mime(self) -> list[bytes]:
        """Every MIME message accepted, whether it came in its own sendMail or as an item of a JSON $batch."""
        return list(self.sent)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _failure(self, path: str) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        for rule in self.failures:
            if path.endswith(rule["suffix"]):
                if rule["skip"]:
                    rule["skip"] -= 1
                    return None
                self.failures.remove(rule)
                return (
                    rule["status"],
                    rule["headers"],
                    {"error": {"code": "Stubbed", "message": f"stubbed {rule['status']}"}},
                )
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, CIMultiDict(request.headers), body))
        failure = self._failure(request.path)
        if failure:
            status, headers, error = failure
            return web.json_response(error, status=status, headers=headers)
        if self.script:
            status, headers, payload = self.script.popleft()
            if payload is None and status >= 400:
                payload = {"error": {"code": "Stubbed", "message": f"stubbed {status}"}}
            return (
                web.json_response(payload, status=status, headers=headers)
                if payload
                else web.Response(status=status, headers=headers)
            )
        if request.path.endswith("/sendMail"):
            self._accept(base64.b64decode(body, validate=True))
            await self._maybe_late()
            return web.Response(status=202)
        if request.path.endswith("/$batch"):
            response = self._batch(json.loads(body))
            await self._maybe_late()
            return response
        if self.lookup_delay and request.path.endswith("/mailFolders/sentitems/messages"):
            await asyncio.sleep(self.lookup_delay)
        return self._mailbox(request, body)

    async def _maybe_late(self) -> None:
        if self.late:
            await asyncio.sleep(self.late.pop(0))

    def _batch(self, batch: dict[str, Any]) -> web.Response:
        """JSON batching as Graph does it: at most 20 items, each answered on its own; a non-JSON body is base64."""
        items = batch["requests"]
        if len(items) > 20:
            return web.json_response({"error": {"code": "BadRequest", "message": "at most 20 requests"}}, status=400)
        responses = []
        for item in items:
            failure = self._failure(item["url"])
            if failure:
                status, headers, error = failure
                responses.append({"id": item["id"], "status": status, "headers": headers, "body": error})
            elif item["method"] == "POST" and item["url"].endswith("/sendMail"):
                assert item["headers"]["Content-Type"] == "text/plain"
                self._accept(base64.b64decode(base64.b64decode(item["body"], validate=True), validate=True))
                responses.append({"id": item["id"], "status": 202, "headers": {}, "body": None})
            else:
                responses.append(
                    {"id": item["id"], "status": 404, "headers": {}, "body": {"error": {"code": "NotFound"}}}
                )
        return web.json_response({"responses": responses})

    def _mailbox(self, request: web.Request, body: bytes) -> web.Response:
        path, query = request.path, request.query
        base = f"http://127.0.0.1:{self.port}"
        if path.endswith(("/mailFolders/inbox/messages/delta", "/mailFolders/inbox/messages/delta()")):
            since = int(query.get("$deltatoken", "0"))
            offset = int(query.get("$skiptoken", "0"))
            fresh = [m for m in self.messages.values() if m.folder == "inbox" and m.seq > since]
            page = fresh[offset : offset + self.page_size]
            value: list[dict[str, Any]] = [{"id": m.id} for m in page]
            if offset == 0 and since:
                value += [
                    {"id": m.id, "@removed": {"reason": "deleted"}}
                    for m in self.messages.values()
                    if m.folder != "inbox" and m.seq > since - 1
                ]
            result: dict[str, Any] = {"value": value}
            if offset + self.page_size < len(fresh):
                result["@odata.nextLink"] = f"{base}{path}?$deltatoken={since}&$skiptoken={offset + self.page_size}"
            else:
                top = max([m.seq for m in self.messages.values()] or [0])
                result["@odata.deltaLink"] = f"{base}{path}?$deltatoken={top}"
            return web.json_response(result)
        parts = path.split("/")
        if path.endswith("/$value") and "messages" in parts:
            message = self.messages.get(parts[-2])
            return web.Response(body=message.raw, content_type="message/rfc822") if message else _not_found(path)
        if path.endswith("/move"):
            message = self.messages.get(parts[-2])
            if message is None:
                return _not_found(path)
            message.folder = {k.lower(): v for k, v in json.loads(body).items()}["destinationid"]
            return web.json_response({"id": message.id}, status=201)
        if path.endswith("/mailFolders/sentitems/messages") and request.method == "GET":
            # Only the query the transport makes: `$filter=internetMessageId eq '<id>'` (quotes doubled), `$select=id`.
            match = re.fullmatch(r"internetMessageId eq '((?:[^']|'')*)'", query.get("$filter", ""))
            if match is None or query.get("$select") != "id":
                return web.json_response({"error": {"code": "BadRequest", "message": "unexpected query"}}, status=400)
            wanted = match.group(1).replace("''", "'")
            return web.json_response({"value": [{"id": i} for m, i in self.sent_items.items() if m == wanted]})
        if path.endswith("/mailFolders") and request.method == "GET":
            wanted = query.get("$filter", "").split("'")[1] if "'" in query.get("$filter", "") else ""
            found = [{"id": i, "displayName": n} for i, n in self.folders.items() if n == wanted]
            return web.json_response({"value": found})
        if path.endswith("/mailFolders") and request.method == "POST":
            name = json.loads(body)["displayName"]
            folder_id = f"folder-{len(self.folders) + 1}"
            self.folders[folder_id] = name
            return web.json_response({"id": folder_id, "displayName": name}, status=201)
        if path.endswith("/subscriptions") and request.method == "POST":
            created = {**json.loads(body), "id": f"sub-{len(self.subscriptions) + 1}"}
            self.subscriptions[created["id"]] = created
            return web.json_response(created, status=201)
        if "/subscriptions/" in path and request.method == "PATCH":
            existing = self.subscriptions.get(parts[-1])
            if existing is None:
                return _not_found(path)
            existing.update(json.loads(body))
            return web.json_response(existing)
        return _not_found(path)


def _not_found(path: str) -> web.Response:
    return web.json_response({"error": {"code": "NotFound", "message": path}}, status=404)


class StaticToken:
    """A credential for the stub: the real SDK asks it for a token like it asks Entra ID."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("stub-token", 4_102_444_800)

    async def close(self) -> None:
        return None
