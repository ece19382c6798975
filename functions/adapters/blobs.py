"""Blob Storage adapter (azure.storage.blob.aio): attachments and other content too large for a table entity."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from ..core.settings import Settings
from .tables import storage_errors


class BlobStore:
    """One container client per process. Names are content-addressed, so writing the same content twice is a no-op."""

    def __init__(self, settings: Settings) -> None:
        from azure.storage.blob.aio import BlobServiceClient

        options: dict[str, Any] = {
            "retry_total": 2,
            "connection_timeout": settings.storage_timeout_seconds,
            "read_timeout": max(settings.storage_timeout_seconds, 30),
        }
        if settings.connection_string:
            self._service = BlobServiceClient.from_connection_string(settings.connection_string, **options)
        else:
            from azure.identity.aio import ManagedIdentityCredential

            assert settings.blob_endpoint is not None
            credential = ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
            self._service = BlobServiceClient(settings.blob_endpoint, credential=credential, **options)
        self._container = self._service.get_container_client(
            f"{settings.table_prefix.lower()}-{settings.attachments_container}"
        )
        self._ready = False
        self._lock = asyncio.Lock()

    async def _ensure_container(self) -> None:
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                with suppress(ResourceExistsError):
                    await self._container.create_container()
                self._ready = True

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        from azure.storage.blob import ContentSettings

        with storage_errors():
            await self._ensure_container()
            try:
                await self._container.upload_blob(
                    name, data, overwrite=False, content_settings=ContentSettings(content_type=content_type)
                )
            except ResourceExistsError:
                # Stored before: touching it moves its Last-Modified to now, which a retention sweep under way
                # reads (`delete`'s condition) and then keeps the file for the case that brought it again.
                await self._container.get_blob_client(name).set_blob_metadata({"stored": "again"})

    async def get(self, name: str) -> bytes:
        with storage_errors():
            downloader = await self._container.download_blob(name)
            return bytes(await downloader.readall())

    async def delete(self, name: str, unless_stored_since: datetime | None = None) -> bool:
        with storage_errors():
            await self._ensure_container()
            try:
                # Conditional on the server's own Last-Modified: no read-then-delete window.
                await self._container.delete_blob(
                    name, delete_snapshots="include", if_unmodified_since=unless_stored_since
                )
            except ResourceNotFoundError:
                return True
            except ResourceModifiedError:
                return False
            return True

    async def close(self) -> None:
        await self._container.close()
        await self._service.close()
