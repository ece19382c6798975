"""Microsoft Graph adapter: one msgraph-sdk client per process, and the mail transport that sends our MIME as it is.

`msgraph` is imported here lazily, on the first Graph call: it is large and would slow every cold start.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .mail import OutgoingMail, PermanentSendError, TransientSendError
from .settings import Settings

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


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
    """Sends each mail through `POST /users/{mailbox}/sendMail` as base64 MIME, so our headers survive."""

    name = "graph"

    def __init__(self, graph: GraphClient, mailbox: str) -> None:
        self._graph = graph
        self._mailbox = mailbox

    async def send(self, mail: OutgoingMail) -> None:
        import httpx
        from kiota_abstractions.api_error import APIError
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        client = await self._graph.client()
        builder = client.users.by_user_id(self._mailbox).send_mail
        request = RequestInformation(Method.POST, builder.url_template, builder.path_parameters)
        request.headers.try_add("Accept", "application/json")
        request.set_stream_content(base64.b64encode(mail.mime()), "text/plain")
        try:
            await client.request_adapter.send_no_response_content_async(request, {"XXX": ODataError})
        except APIError as exc:
            status = exc.response_status_code or 0
            # 401/403 are retried too: an expired token or an access policy still spreading must not fail every mail.
            if status in (401, 403, 408, 429) or status >= 500:
                raise TransientSendError(f"Graph answered {status}", retry_after(exc.response_headers)) from exc
            raise PermanentSendError(f"Graph answered {status}: {_odata_message(exc)}") from exc
        except httpx.HTTPError as exc:
            raise TransientSendError(f"Graph unreachable: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self._graph.close()


def retry_after(headers: dict[str, str] | None) -> float | None:
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
