"""A local HTTP server that plays Microsoft Graph for the adapter tests: records requests, answers as scripted."""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from functions.devhost.azurite import free_port


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class GraphStub:
    """`script` holds the answers to give, in order (status, headers, json); when empty, sendMail gets 202."""

    requests: list[Recorded] = field(default_factory=list)
    script: deque[tuple[int, dict[str, str], dict[str, Any] | None]] = field(default_factory=deque)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1.0"

    def sent_mime(self) -> list[bytes]:
        return [base64.b64decode(r.body) for r in self.requests if r.path.endswith("/sendMail") and r.method == "POST"]

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

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), body))
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
            return web.Response(status=202)
        return web.json_response({"error": {"code": "NotFound", "message": request.path}}, status=404)


class StaticToken:
    """A credential for the stub: the real SDK asks it for a token like it asks Entra ID."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("stub-token", 4_102_444_800)

    async def close(self) -> None:
        return None
