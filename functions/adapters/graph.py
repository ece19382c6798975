"""Microsoft Graph adapter: one msgraph-sdk client per process, and the mail transport that sends our MIME as it is.

`msgraph` is imported here lazily, on the first Graph call: it is large and would slow every cold start.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from ..core.mail import NotStarted, OutgoingMail, PermanentSendError, TransientSendError
from ..core.settings import Settings

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SEND_CONCURRENCY = 4  # sendMail / $batch requests at once, per process
LOOKUP_CONCURRENCY = 2  # Sent Items lookups at once, per process: only mails whose outcome is unknown need one
log = logging.getLogger(__name__)


def graph_credential(settings: Settings) -> Any:
    """The async credential the settings ask for: the managed identity in Azure, a secret or certificate elsewhere."""
    from azure.identity.aio import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential

    if settings.graph_auth == "managed_identity":
        return ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
    assert settings.graph_tenant_id and settings.graph_client_id
    if settings.graph_auth == "client_secret":
        assert settings.graph_client_secret is not None
        return ClientSecretCredential(
            settings.graph_tenant_id, settings.graph_client_id, settings.graph_client_secret.get_secret_value()
        )
    assert settings.graph_certificate_path is not None
    return CertificateCredential(
        settings.graph_tenant_id, settings.graph_client_id, str(settings.graph_certificate_path)
    )


class GraphClient:
    """Builds the GraphServiceClient once, on first use, without the SDK's own retry handler.

    Retries belong to the outbox (which honours Retry-After without holding up the other mails), so a throttled
    or failing call comes straight back to us instead of sleeping inside the SDK.
    """

    def __init__(self, settings: Settings, credential: Any | None = None) -> None:
        self._settings = settings
        self._credential = credential
        self._client: GraphServiceClient | None = None
        self._http: Any = None
        self._lock = asyncio.Lock()

    async def client(self) -> GraphServiceClient:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = self._build()
        return self._client

    def _build(self) -> GraphServiceClient:
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from kiota_http.kiota_client_factory import KiotaClientFactory
        from kiota_http.middleware import RetryHandler
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph_core import GraphClientFactory

        settings = self._settings
        credential = self._credential or graph_credential(settings)
        host = urlsplit(settings.graph_base_url).hostname or "graph.microsoft.com"
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
        middleware = [m for m in KiotaClientFactory.get_default_middleware(None) if not isinstance(m, RetryHandler)]
        http = httpx.AsyncClient(timeout=httpx.Timeout(settings.graph_timeout_seconds, connect=5.0))
        self._http = GraphClientFactory.create_with_custom_middleware(middleware, client=http)
        adapter = GraphRequestAdapter(auth, client=self._http)
        adapter.base_url = settings.graph_base_url.rstrip("/")
        return GraphServiceClient(request_adapter=adapter)

    async def close(self) -> None:
        """Idempotent: the transport and the mailbox share one client, and both close it."""
        http, credential = self._http, self._credential
        self._http, self._credential, self._client = None, None, None
        if http is not None:
            await http.aclose()
        if credential is not None and hasattr(credential, "close"):
            await credential.close()


class GraphTransport:
    """Sends our MIME as it is (base64, `text/plain`) to `POST /users/{mailbox}/sendMail`, so our headers survive.

    Several mails go as one JSON `$batch` of up to `batch_size` (Graph's limit is 20) sendMail requests: a fan-out
    to 500 recipients is 25 HTTP requests, not 500. Each mail gets its own outcome from its item in the batch
    response. In a batch a non-JSON body is carried base64-encoded, as Graph's JSON batching rules ask, so the
    item body is the base64 of the base64 MIME text. `msgraph_core`'s BatchRequestItem cannot carry such a body
    (it parses every body as JSON), so the batch document is built here and sent through the SDK's request adapter,
    which still does the authentication. `batch_size = 1` sends one plain sendMail per mail.
    """

    name = "graph"

    def __init__(self, graph: GraphClient, mailbox: str, batch_size: int = 20) -> None:
        self._graph = graph
        self._mailbox = mailbox
        self._batch_size = max(1, min(batch_size, 20))
        # Exchange serves about four concurrent requests per mailbox; more only earns 429s (which cost nothing but
        # a wait). Sends and Sent Items lookups queue apart: a send never waits behind lookups, which can be slow
        # and many after an incident, while its claim runs out.
        self._send_gate = asyncio.Semaphore(SEND_CONCURRENCY)
        self._lookup_gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def send_many(
        self, mails: Sequence[OutgoingMail], start_within: float | None = None
    ) -> list[Exception | None]:
        size = self._batch_size
        groups = [mails[start : start + size] for start in range(0, len(mails), size)]
        loop = asyncio.get_running_loop()
        deadline = None if start_within is None else loop.time() + start_within
        results = await asyncio.gather(*(self._send_group(group, deadline) for group in groups))
        return [outcome for result in results for outcome in result]

    async def _send_group(self, group: Sequence[OutgoingMail], deadline: float | None) -> list[Exception | None]:
        async with self._send_gate:
            # Checked once the gate is ours, right before the request: waiting for the gate may have taken the time
            # the caller's claim had left, and past it another dispatcher may be sending these very mails.
            if deadline is not None and asyncio.get_running_loop().time() > deadline:
                return [NotStarted("not started before the claim's deadline")] * len(group)
            return await self._send_group_now(group)

    async def _send_group_now(self, group: Sequence[OutgoingMail]) -> list[Exception | None]:
        try:
            if len(group) == 1:
                await self._send_one(group[0])
                return [None]
            return await self._send_batch(group)
        except Exception as exc:  # the whole request failed: every mail in it shares the outcome
            return [_send_error(exc)] * len(group)

    async def _send_one(self, mail: OutgoingMail) -> None:
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        client = await self._graph.client()
        builder = client.users.by_user_id(self._mailbox).send_mail
        request = RequestInformation(Method.POST, builder.url_template, builder.path_parameters)
        request.headers.try_add("Accept", "application/json")
        request.set_stream_content(base64.b64encode(mail.mime()), "text/plain")
        # Kiota's error map: "XXX" stands for every 4xx and 5xx status, all read as Graph's OData error.
        await client.request_adapter.send_no_response_content_async(request, {"XXX": ODataError})

    async def _send_batch(self, group: Sequence[OutgoingMail]) -> list[Exception | None]:
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        client = await self._graph.client()
        url = f"/users/{quote(self._mailbox, safe='@')}/sendMail"
        items = [
            {
                "id": str(index),
                "method": "POST",
                "url": url,
                "headers": {"Content-Type": "text/plain"},
                "body": base64.b64encode(base64.b64encode(mail.mime())).decode("ascii"),
            }
            for index, mail in enumerate(group)
        ]
        request = RequestInformation(Method.POST, "{+baseurl}/$batch", {})
        request.headers.try_add("Accept", "application/json")
        request.set_stream_content(json.dumps({"requests": items}).encode(), "application/json")
        raw = await client.request_adapter.send_primitive_async(request, "bytes", {"XXX": ODataError})
        answers = {str(r.get("id")): r for r in json.loads(raw or b"{}").get("responses", [])}
        outcomes: list[Exception | None] = []
        for index in range(len(group)):
            answer = answers.get(str(index))
            if answer is None:
                outcomes.append(
                    TransientSendError("Graph's batch answer has no response for this mail", maybe_sent=True)
                )
                continue
            status = int(answer.get("status") or 0)
            if 200 <= status < 300:
                outcomes.append(None)
            else:
                body = answer.get("body")
                message = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
                outcomes.append(_status_error(status, answer.get("headers"), str(message)))
        return outcomes

    async def was_sent(self, mail: OutgoingMail) -> bool | None:
        """Look for the mail in the mailbox's Sent Items by its Message-ID (sendMail saves what it sends there, with
        our Message-ID as its internetMessageId): `GET /users/{mailbox}/mailFolders/sentitems/messages?$filter=
        internetMessageId eq '<id>'&$select=id`. None when Graph cannot answer now (down, no access); raises a
        throttled TransientSendError (with Graph's Retry-After) on 429, so that the outbox waits and counts no
        attempt."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.item.mail_folders.item.messages.messages_request_builder import (
            MessagesRequestBuilder,
        )

        client = await self._graph.client()
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            filter=f"internetMessageId eq '{_odata_string(mail.message_id)}'", select=["id"]
        )
        sent_items = client.users.by_user_id(self._mailbox).mail_folders.by_mail_folder_id("sentitems").messages
        async with self._lookup_gate:
            try:
                found = await sent_items.get(RequestConfiguration(query_parameters=query))
            except Exception as exc:
                error = _send_error(exc)
                if isinstance(error, TransientSendError) and error.throttled:
                    raise TransientSendError(
                        f"Sent Items lookup throttled: {error}", error.retry_after, throttled=True
                    ) from exc
                log.warning("graph: Sent Items lookup for %s failed: %s", mail.reference, error)
                return None
        return bool(found and found.value)

    async def close(self) -> None:
        await self._graph.close()


def _odata_string(value: str) -> str:
    return value.replace("'", "''")


def _send_error(exc: Exception) -> Exception:
    """What a failed Graph request means for the mails in it."""
    import httpx
    from kiota_abstractions.api_error import APIError

    if isinstance(exc, APIError):
        return _status_error(exc.response_status_code or 0, exc.response_headers, _odata_message(exc))
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientSendError(f"Graph unreachable: {type(exc).__name__}")  # the request never went out
    if isinstance(exc, httpx.HTTPError):
        # The request went out and no answer came back (a read timeout, a connection dropped): Graph may have
        # accepted it, so the outbox looks in Sent Items before it sends the mail again.
        return TransientSendError(f"Graph did not answer: {type(exc).__name__}", maybe_sent=True)
    return exc


def _status_error(status: int, headers: Any, message: str) -> Exception:
    # 401/403 are retried too: an expired token or an access policy still spreading must not fail every mail.
    if status in (401, 403, 408, 429) or status >= 500 or status == 0:
        # A bad gateway or a gateway timeout (the front end lost the back end's answer), or a batch item without
        # a status, says nothing about whether Graph took the mail.
        unknown = status in (0, 502, 504)
        return TransientSendError(
            f"Graph answered {status}", retry_after(headers), throttled=status == 429, maybe_sent=unknown
        )
    return PermanentSendError(f"Graph answered {status}: {message[:300]}")


def retry_after(headers: Any) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _odata_message(exc: Exception) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "message", "") or exc)[:300]
