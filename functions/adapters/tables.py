"""Azure Table Storage adapter (azure.data.tables.aio): the case store, its outbox and the organisation registry.

Layout of the `cases` table, one partition per process and year (e.g. `D-2026`), so that a case, its events and
its mails share a partition and every change to a case is one entity-group transaction:

    counter                          the last sequence number used in this partition (ETag-guarded)
    case|<reference>                 the case
    event|<reference>|<time>|<rand>  its audit trail, in time order
    mail|<reference>|<mail id>       each mail's delivery state (the id is derived from purpose and recipient,
                                     so queuing the same mail twice is a conflict, never a second send)
    outbox|<due time>|<reference>|<mail id>
                                     a pending mail (the rendered letter), sorted by when it is due; a dispatcher
                                     claims it by moving it (ETag-guarded) to the time its lease runs out, with
                                     its name in LeaseOwner, so that no one else reads it as due meanwhile
    failed|<reference>|<mail id>     a mail that failed for good, with its letter, until Bits sends it again
    inbound|<key>                    an input already processed (an email, by the hash of its Message-ID), written in
                                     the same transaction as its effect: processing it again conflicts, changes nothing

The `meta` table lists the partitions that exist, so the dispatcher and the case lists read known partitions
by key range and never scan the table. The `registry` table holds organisations, data sources and Bits; the
`registry` partition of the cases table holds Bits' edits of them (`SSU-REG-<organisation number>`: each edit's
event, the mails that tell the company's contacts, its one-time marker), as the `held` partition holds held mail.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from ..core.mail import MailRecord, OutgoingMail
from ..core.model import (
    HELD_PARTITION,
    REGISTRY_PARTITION,
    Bits,
    Case,
    CaseEvent,
    DataSource,
    DecisionToken,
    Organisation,
    Process,
    format_reference,
    parse_reference,
    partition_of,
)
from ..core.registry import Registry
from ..core.settings import Settings
from ..core.store import (
    AlreadyProcessed,
    AlreadyQueued,
    Backlog,
    ConcurrentUpdate,
    MailsFor,
    StorageUnavailable,
    StoredCase,
    StoredToken,
)

log = logging.getLogger(__name__)

CASES, META, REGISTRY = "cases", "meta", "registry"
_CHUNK = 60_000  # a binary property holds at most 64 KiB
_MAX_CHUNKS = 14  # keeps a mail entity well under the 1 MiB entity limit
_TIME_KEY = "%Y%m%dT%H%M%S%f"
_CREATE_ATTEMPTS = 25


class TableStorage:
    """One service client per process, shared by every table; counts HTTP round trips for the benchmarks."""

    def __init__(self, settings: Settings, credential: Any | None = None) -> None:
        self.round_trips = 0
        options: dict[str, Any] = {
            "retry_total": 2,
            "retry_backoff_factor": 0.2,
            "connection_timeout": settings.storage_timeout_seconds,
            "read_timeout": settings.storage_timeout_seconds,
            "raw_request_hook": self._count_round_trip,
        }
        connection_string = settings.connection_string
        if connection_string:
            self._service = TableServiceClient.from_connection_string(connection_string, **options)
        else:
            from azure.identity.aio import ManagedIdentityCredential

            assert settings.table_endpoint is not None
            credential = credential or ManagedIdentityCredential(client_id=settings.managed_identity_client_id)
            self._service = TableServiceClient(endpoint=settings.table_endpoint, credential=credential, **options)
        self._prefix = settings.table_prefix
        self._tables: dict[str, TableClient] = {}
        self._ready = False
        self._ready_lock = asyncio.Lock()

    def _count_round_trip(self, _request: Any) -> None:
        self.round_trips += 1

    def table(self, name: str) -> TableClient:
        client = self._tables.get(name)
        if client is None:
            client = self._tables[name] = self._service.get_table_client(f"{self._prefix}{name}")
        return client

    async def ensure_tables(self) -> None:
        """Create the tables once per process (a no-op when they exist)."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            with storage_errors():
                for name in (CASES, META, REGISTRY):
                    with suppress(ResourceExistsError):
                        await self._service.create_table(f"{self._prefix}{name}")
            self._ready = True

    async def ping(self) -> bool:
        try:
            with storage_errors():
                await self.ensure_tables()
                async for _ in self.table(META).query_entities("PartitionKey eq 'ping'", results_per_page=1):
                    break
            return True
        except StorageUnavailable:
            return False

    async def close(self) -> None:
        for client in self._tables.values():
            await client.close()
        await self._service.close()


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn the SDK's transport and server errors into StorageUnavailable; client errors pass through."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StorageUnavailable(str(exc)) from exc
    except HttpResponseError as exc:
        if exc.status_code is None or exc.status_code >= 500:
            raise StorageUnavailable(str(exc)) from exc
        raise
    except (TimeoutError, AzureError, OSError) as exc:
        if isinstance(exc, HttpResponseError):
            raise
        raise StorageUnavailable(str(exc)) from exc


def _time_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_TIME_KEY)


_partition_of = partition_of


def _case_entity(partition: str, case: Case) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": f"case|{case.reference}",
        "Kind": "case",
        "Body": case.model_dump_json(),
        "Status": case.status,
        "OrganisationNumber": case.organisation_number,
        "UpdatedAt": case.updated_at,
    }


def _event_entity(partition: str, reference: str, event: CaseEvent) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": f"event|{reference}|{_time_key(event.at)}|{uuid.uuid4().hex[:8]}",
        "Kind": "event",
        "Body": event.model_dump_json(),
    }


def _mail_state_entity(partition: str, mail: OutgoingMail, status: str, due_at: datetime) -> dict[str, Any]:
    return {
        "PartitionKey": partition,
        "RowKey": f"mail|{mail.reference}|{mail.mail_id}",
        "Kind": "mail",
        "Purpose": mail.purpose,
        "To": mail.to,
        "Subject": mail.subject,
        "MessageId": mail.message_id,
        "Status": status,
        "Attempts": 0,
        "DueAt": due_at,
    }


def _outbox_entity(
    partition: str,
    mail: OutgoingMail,
    due_at: datetime,
    attempts: int,
    *,
    unsure: bool = False,
    lease_owner: str = "",
    last_error: str = "",
) -> dict[str, Any]:
    """A pending mail, keyed by when it is due. A claimed one is keyed by when its lease runs out (it is due again
    then, to be reconciled) and names its holder; `Unsure` marks one that an earlier hand-off may have sent."""
    content = json.dumps(
        {
            "text": mail.text,
            "html": mail.html,
            "sender": mail.sender,
            "sender_name": mail.sender_name,
            "created_at": mail.created_at.isoformat(),
            "in_reply_to": mail.in_reply_to,
            "reply_to": mail.reply_to,
        },
        ensure_ascii=False,
    ).encode()
    chunks = [content[i : i + _CHUNK] for i in range(0, len(content), _CHUNK)]
    if len(chunks) > _MAX_CHUNKS:
        raise ValueError(f"mail {mail.purpose} for {mail.reference} is too large to queue ({len(content)} bytes)")
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": f"outbox|{_time_key(due_at)}|{mail.reference}|{mail.mail_id}",
        "Kind": "outbox",
        "Reference": mail.reference,
        "Purpose": mail.purpose,
        "To": mail.to,
        "Subject": mail.subject,
        "MessageId": mail.message_id,
        "Attempts": attempts,
        "DueAt": due_at,
        "QueuedAt": mail.created_at,
        "ContentChunks": len(chunks),
    }
    for i, chunk in enumerate(chunks):
        entity[f"Content{i}"] = chunk
    if last_error:
        entity["LastError"] = last_error[:1000]
    if unsure:
        entity["Unsure"] = True
    if lease_owner:
        entity["LeaseOwner"] = lease_owner[:200]
    return entity


def _mail_ops(partition: str, mails: Sequence[OutgoingMail], now: datetime) -> list[tuple[Any, ...]]:
    ops: list[tuple[Any, ...]] = []
    for mail in mails:
        ops.append(("create", _mail_state_entity(partition, mail, "pending", now)))
        ops.append(("create", _outbox_entity(partition, mail, now, 0)))
    return ops


def _token_ops(partition: str, reference: str, tokens: Sequence[DecisionToken]) -> list[tuple[Any, ...]]:
    return [
        (
            "create",
            {
                "PartitionKey": partition,
                "RowKey": f"token|{t.token}",
                "Reference": reference,
                "Body": t.model_dump_json(),
            },
        )
        for t in tokens
    ]


def _use_token_op(partition: str, used: StoredToken) -> tuple[Any, ...]:
    entity = {"PartitionKey": partition, "RowKey": f"token|{used.token.token}", "Body": used.token.model_dump_json()}
    return (
        "update",
        entity,
        {"mode": UpdateMode.MERGE, "etag": used.etag, "match_condition": MatchConditions.IfNotModified},
    )


def _marker_ops(partition: str, reference: str, markers: Sequence[str]) -> list[tuple[Any, ...]]:
    return [("create", {"PartitionKey": partition, "RowKey": f"inbound|{m}", "Reference": reference}) for m in markers]


def _record_from_outbox(entity: TableEntity) -> MailRecord:
    content = json.loads(b"".join(bytes(entity[f"Content{i}"]) for i in range(int(entity["ContentChunks"]))))
    mail = OutgoingMail(
        reference=entity["Reference"],
        purpose=entity["Purpose"],
        to=entity["To"],
        subject=entity["Subject"],
        message_id=entity["MessageId"],
        text=content["text"],
        html=content["html"],
        sender=content["sender"],
        sender_name=content["sender_name"],
        created_at=datetime.fromisoformat(content["created_at"]),
        in_reply_to=content["in_reply_to"],
        reply_to=content["reply_to"],
    )
    owner = str(entity.get("LeaseOwner") or "")
    return MailRecord(
        mail=mail,
        status="pending",
        attempts=int(entity["Attempts"]),
        due_at=entity["DueAt"],
        last_error=str(entity.get("LastError") or ""),
        store_key={
            "PartitionKey": entity["PartitionKey"],
            "RowKey": entity["RowKey"],
            "etag": str(entity.metadata["etag"]),
        },
        # A lease that is read back ran out before its holder settled the mail: what happened is unknown.
        unsure=bool(entity.get("Unsure")) or bool(owner),
        lease_owner=owner,
        lease_until=entity["DueAt"] if owner else None,
    )


_BATCH_OPS = 100  # the service's limit of operations in one transaction
_BATCH_BYTES = 3_000_000  # well under the service's 4 MiB limit of a transaction's payload


def _payload_bytes(ops: list[tuple[Any, ...]]) -> int:
    return sum(len(v) for op in ops for v in op[1].values() if isinstance(v, bytes | str))


@dataclass
class _Creation:
    """A new case waiting to be written, and the future its writer resolves."""

    case: Case
    event: CaseEvent
    mails: MailsFor
    markers: tuple[str, ...]
    tokens: tuple[DecisionToken, ...]
    done: asyncio.Future[Case]


def _take_batch(queue: list[_Creation]) -> list[_Creation]:
    """The oldest waiting cases that surely fit in one transaction (a case queues at most a few mails). Two with a
    marker in common (the same submission sent twice at once) never share one: a transaction that names a row twice
    fails whole (InvalidDuplicateRow), so the second waits for the next, which finds the marker written."""
    batch: list[_Creation] = []
    ops = 1  # the counter
    markers: set[str] = set()
    for creation in list(queue):
        estimate = 2 + len(creation.markers) + len(creation.tokens) + 2 * 4
        if batch and ops + estimate > _BATCH_OPS:
            break
        if markers.intersection(creation.markers):
            continue
        queue.remove(creation)
        batch.append(creation)
        ops += estimate
        markers.update(creation.markers)
    return batch


def _fail_all(batch: list[_Creation], exc: BaseException) -> None:
    for creation in batch:
        if not creation.done.done():
            creation.done.set_exception(exc)


def _counter_op(partition: str, counter: _Counter, seq: int) -> tuple[Any, ...]:
    entity = {"PartitionKey": partition, "RowKey": "counter", "Kind": "counter", "Last": seq}
    if counter.etag is None:
        return ("create", entity)
    options = {"mode": UpdateMode.REPLACE, "etag": counter.etag, "match_condition": MatchConditions.IfNotModified}
    return ("update", entity, options)


class _Counter:
    def __init__(self, last: int, etag: str | None) -> None:
        self.last = last
        self.etag = etag


class TableCaseStore:
    """The CaseStore port on Table Storage."""

    def __init__(self, storage: TableStorage, reference_prefix: str) -> None:
        self._storage = storage
        self._prefix = reference_prefix
        self._counters: dict[str, _Counter] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._queues: dict[str, list[_Creation]] = {}
        self._known_partitions: set[str] = set()

    @property
    def _cases(self) -> TableClient:
        return self._storage.table(CASES)

    # -- creating ---------------------------------------------------------------------------------------------

    async def create_case(
        self,
        case: Case,
        event: CaseEvent,
        mails: MailsFor,
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
    ) -> Case:
        year = case.created_at.astimezone(UTC).year
        partition = f"{case.process.value}-{year}"
        future = asyncio.get_running_loop().create_future()
        creation = _Creation(case, event, mails, tuple(markers), tuple(tokens), future)
        with storage_errors():
            await self._storage.ensure_tables()
            await self._remember_partition(partition)
        queue = self._queues.setdefault(partition, [])
        queue.append(creation)
        # Group commit: whoever holds the partition's lock writes the waiting cases together, one counter update
        # and one transaction for up to _BATCH_OPS operations. Alone, a case is one transaction of its own.
        async with self._locks.setdefault(partition, asyncio.Lock()):
            while not creation.done.done():
                batch = _take_batch(queue)
                if not batch:
                    break
                try:
                    await self._commit(partition, year, batch)
                except BaseException:
                    # Cancelled (or worse) mid-write: the others in the batch must not wait forever.
                    _fail_all(batch, StorageUnavailable("the write was interrupted"))
                    raise
        if not creation.done.done():
            raise StorageUnavailable("the case was not written")
        return creation.done.result()

    async def _commit(self, partition: str, year: int, batch: list[_Creation]) -> None:
        """Write a batch of new cases with consecutive references; every creation's future is resolved."""
        for _ in range(_CREATE_ATTEMPTS):
            counter = self._counters.get(partition) or await self._read_counter_safely(partition, batch)
            if counter is None:
                return
            numbered: list[tuple[_Creation, Case, list[tuple[Any, ...]]]] = []
            seq = counter.last
            for creation in batch:
                reference = format_reference(self._prefix, creation.case.process, year, seq + 1)
                case = creation.case.model_copy(update={"reference": reference})
                try:
                    ops = [
                        ("create", _case_entity(partition, case)),
                        ("create", _event_entity(partition, reference, creation.event)),
                        *_mail_ops(partition, creation.mails(case), case.created_at),
                        *_marker_ops(partition, reference, creation.markers),
                        *_token_ops(partition, reference, creation.tokens),
                    ]
                except Exception as exc:  # this case cannot be written (e.g. a mail too large): it fails alone
                    creation.done.set_exception(exc)
                    continue
                seq += 1
                numbered.append((creation, case, ops))
            if not numbered:
                return
            ops = [_counter_op(partition, counter, seq)] + [op for _, _, case_ops in numbered for op in case_ops]
            if len(numbered) > 1 and (len(ops) > _BATCH_OPS or _payload_bytes(ops) > _BATCH_BYTES):
                for creation, _, _ in numbered:  # too much for one transaction: one case at a time
                    await self._commit(partition, year, [creation])
                return
            try:
                with storage_errors():
                    result = await self._cases.submit_transaction(ops)
            except TableTransactionError as exc:
                if exc.status_code not in (409, 412):
                    _fail_all(batch, exc)
                    return
                self._counters.pop(partition, None)
                if len(numbered) > 1:
                    # Which one conflicted is not reliably reported: write them one by one to find out.
                    for creation, _, _ in numbered:
                        await self._commit(partition, year, [creation])
                    return
                try:
                    with storage_errors():
                        await self._raise_if_processed(partition, numbered[0][0].markers)
                except Exception as processed:
                    _fail_all(batch, processed)
                    return
                # Another instance took this number: read the counter again and take the next.
                await asyncio.sleep(random.uniform(0, 0.02))
                continue
            except Exception as exc:
                _fail_all(batch, exc)
                return
            self._counters[partition] = _Counter(seq, result[0]["etag"])
            for creation, case, _ in numbered:
                creation.done.set_result(case)
            return
        _fail_all(batch, ConcurrentUpdate(f"no reference could be allocated in {partition}"))

    async def _read_counter_safely(self, partition: str, batch: list[_Creation]) -> _Counter | None:
        try:
            with storage_errors():
                return await self._read_counter(partition)
        except Exception as exc:
            _fail_all(batch, exc)
            return None

    async def _raise_if_processed(self, partition: str, markers: Sequence[str]) -> None:
        for marker in markers:
            try:
                entity = await self._cases.get_entity(partition, f"inbound|{marker}")
            except ResourceNotFoundError:
                continue
            raise AlreadyProcessed(str(entity["Reference"]), marker)

    async def _read_counter(self, partition: str) -> _Counter:
        try:
            entity = await self._cases.get_entity(partition, "counter")
        except ResourceNotFoundError:
            return _Counter(0, None)
        return _Counter(int(entity["Last"]), entity.metadata["etag"])

    async def _remember_partition(self, partition: str) -> None:
        if partition in self._known_partitions:
            return
        await self._storage.table(META).upsert_entity({"PartitionKey": "partition", "RowKey": f"cases|{partition}"})
        self._known_partitions.add(partition)

    async def _partitions(self, process: Process | None = None) -> list[str]:
        await self._storage.ensure_tables()
        low = f"cases|{process.value}-" if process else "cases|"
        high = f"cases|{process.value}-~" if process else "cases|~"
        query = "PartitionKey eq 'partition' and RowKey ge @low and RowKey lt @high"
        entities = self._storage.table(META).query_entities(query, parameters={"low": low, "high": high})
        return [e["RowKey"].split("|", 1)[1] async for e in entities]

    # -- reading ----------------------------------------------------------------------------------------------

    async def load(self, reference: str) -> StoredCase | None:
        if parse_reference(reference) is None:
            return None
        with storage_errors():
            await self._storage.ensure_tables()
            try:
                entity = await self._cases.get_entity(_partition_of(reference), f"case|{reference}")
            except ResourceNotFoundError:
                return None
        return StoredCase(Case.model_validate_json(entity["Body"]), str(entity.metadata["etag"]))

    async def events(self, reference: str) -> list[CaseEvent]:
        rows = await self._range(_partition_of(reference), f"event|{reference}|")
        return [CaseEvent.model_validate_json(e["Body"]) for e in rows]

    async def held_events(self) -> list[tuple[str, CaseEvent]]:
        rows = await self._range(HELD_PARTITION, "event|")
        return [(e["RowKey"].split("|")[1], CaseEvent.model_validate_json(e["Body"])) for e in rows]

    async def mails(self, reference: str) -> list[MailRecord]:
        rows = await self._range(_partition_of(reference), f"mail|{reference}|")
        return [
            MailRecord(
                mail=OutgoingMail(
                    reference, e["Purpose"], e["To"], e["Subject"], e["MessageId"], "", "", "", "", e["DueAt"]
                ),
                status=e["Status"],
                attempts=int(e.get("Attempts", 0)),
                due_at=e.get("DueAt"),
                sent_at=e.get("SentAt"),
                last_error=e.get("LastError", ""),
            )
            for e in rows
        ]

    async def cases(self, process: Process | None = None, status: str | None = None) -> list[Case]:
        with storage_errors():
            partitions = await self._partitions(process)
            found: list[Case] = []
            for partition in sorted(partitions):
                query = "PartitionKey eq @p and RowKey ge 'case|' and RowKey lt 'case}'"
                params: dict[str, Any] = {"p": partition}
                if status:
                    query += " and Status eq @s"
                    params["s"] = status
                async for e in self._cases.query_entities(query, parameters=params):
                    found.append(Case.model_validate_json(e["Body"]))
        return found

    async def _range(self, partition: str, prefix: str) -> list[Any]:
        with storage_errors():
            await self._storage.ensure_tables()
            query = "PartitionKey eq @p and RowKey ge @low and RowKey lt @high"
            params = {"p": partition, "low": prefix, "high": prefix + "~"}
            return [e async for e in self._cases.query_entities(query, parameters=params)]

    # -- changing ---------------------------------------------------------------------------------------------

    async def transition(
        self,
        stored: StoredCase,
        case: Case,
        event: CaseEvent,
        mails: Sequence[OutgoingMail] = (),
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
        use_token: StoredToken | None = None,
    ) -> StoredCase:
        partition = _partition_of(case.reference)
        ops: list[tuple[Any, ...]] = [
            (
                "update",
                _case_entity(partition, case),
                {"mode": UpdateMode.REPLACE, "etag": stored.etag, "match_condition": MatchConditions.IfNotModified},
            ),
            ("create", _event_entity(partition, case.reference, event)),
            *_mail_ops(partition, mails, case.updated_at),
            *_marker_ops(partition, case.reference, markers),
            *_token_ops(partition, case.reference, tokens),
            *([_use_token_op(partition, use_token)] if use_token else []),
        ]
        result = await self._submit_change(partition, case.reference, ops, markers)
        return StoredCase(case, str(result[0]["etag"]))

    async def append(
        self,
        reference: str,
        event: CaseEvent,
        mails: Sequence[OutgoingMail] = (),
        markers: Sequence[str] = (),
        tokens: Sequence[DecisionToken] = (),
    ) -> None:
        partition = _partition_of(reference)
        if partition in (HELD_PARTITION, REGISTRY_PARTITION):
            with storage_errors():
                await self._storage.ensure_tables()
                await self._remember_partition(partition)  # so that the outbox finds the mail that tells Bits
        ops: list[tuple[Any, ...]] = [
            ("create", _event_entity(partition, reference, event)),
            *_mail_ops(partition, mails, event.at),
            *_marker_ops(partition, reference, markers),
            *_token_ops(partition, reference, tokens),
        ]
        await self._submit_change(partition, reference, ops, markers)

    async def _submit_change(
        self, partition: str, reference: str, ops: list[tuple[Any, ...]], markers: Sequence[str]
    ) -> list[Any]:
        with storage_errors():
            try:
                return list(await self._cases.submit_transaction(ops))
            except TableTransactionError as exc:
                if exc.status_code == 412:
                    raise ConcurrentUpdate(reference) from exc
                if exc.status_code == 409:
                    await self._raise_if_processed(partition, markers)
                    raise AlreadyQueued(reference) from exc
                raise

    async def load_token(self, reference: str, token: str) -> StoredToken | None:
        if parse_reference(reference) is None:
            return None
        with storage_errors():
            await self._storage.ensure_tables()
            # A query, not a point read by key: the key would put the token (a credential) in the request's path,
            # which the Azure SDK's tracing records as the dependency's URL; a query's values it redacts.
            params = {"p": _partition_of(reference), "k": f"token|{token}"}
            rows = self._cases.query_entities("PartitionKey eq @p and RowKey eq @k", parameters=params)
            found = [e async for e in rows]
        if not found:
            return None
        entity = found[0]
        if entity.get("Reference") != reference:
            return None  # a token of another case in the same partition decides nothing here
        return StoredToken(DecisionToken.model_validate_json(entity["Body"]), str(entity.metadata["etag"]))

    async def tokens(self, reference: str) -> list[DecisionToken]:
        if parse_reference(reference) is None:
            return []
        with storage_errors():
            await self._storage.ensure_tables()
            # Tokens share the partition of their process and year: the case's own are those naming it.
            query = "PartitionKey eq @p and RowKey ge 'token|' and RowKey lt 'token}' and Reference eq @r"
            params = {"p": _partition_of(reference), "r": reference}
            rows = [e async for e in self._cases.query_entities(query, parameters=params)]
        return [DecisionToken.model_validate_json(e["Body"]) for e in rows]

    async def remember_messages(self, references: dict[str, str]) -> None:
        rows = [{"PartitionKey": "message", "RowKey": key, "Reference": ref} for key, ref in references.items()]
        with storage_errors():
            await self._storage.ensure_tables()
            await _upsert_in_batches(self._storage.table(META), rows)

    async def message_reference(self, key: str) -> str | None:
        with storage_errors():
            await self._storage.ensure_tables()
            try:
                entity = await self._storage.table(META).get_entity("message", key)
            except ResourceNotFoundError:
                return None
        return str(entity["Reference"])

    # -- the outbox -------------------------------------------------------------------------------------------

    async def due_mails(self, now: datetime, limit: int) -> list[MailRecord]:
        with storage_errors():
            partitions = await self._partitions()
            high = f"outbox|{_time_key(now)}~"
            query = "PartitionKey eq @p and RowKey ge 'outbox|' and RowKey lt @high"
            due: list[MailRecord] = []
            for partition in partitions:
                entities = self._cases.query_entities(query, parameters={"p": partition, "high": high})
                async for e in entities:
                    due.append(_record_from_outbox(e))
                    if len(due) >= limit:
                        return due
        return due

    async def claim_mails(self, records: Sequence[MailRecord], owner: str, until: datetime) -> list[MailRecord]:
        """Each claim moves the pending row to `outbox|<until>|…` with the holder's name, in one transaction per
        partition of up to _CLAIM_BATCH mails, guarded by the ETag each row was read with: of two dispatchers that
        read the same rows, one claims them and the other's transaction fails (404/412). Then the rows are tried
        one by one, so that the mails no one else took are still claimed."""
        by_partition: dict[str, list[MailRecord]] = {}
        for record in records:
            by_partition.setdefault(record.store_key["PartitionKey"], []).append(record)
        groups = [
            (partition, group[i : i + _CLAIM_BATCH])
            for partition, group in by_partition.items()
            for i in range(0, len(group), _CLAIM_BATCH)
        ]
        claimed = await asyncio.gather(*(self._claim(p, g, owner, until) for p, g in groups))
        return [record for group in claimed for record in group]

    async def _claim(
        self, partition: str, records: Sequence[MailRecord], owner: str, until: datetime
    ) -> list[MailRecord]:
        ops: list[tuple[Any, ...]] = []
        placed: list[tuple[MailRecord, dict[str, Any], int]] = []  # the record, its new row, the op that wrote it
        for record in records:
            row = _outbox_entity(
                partition,
                record.mail,
                until,
                record.attempts,
                unsure=record.unsure,
                lease_owner=owner,
                last_error=record.last_error,
            )
            ops += _replace_pending_ops(record, row)
            placed.append((record, row, len(ops) - 1))
        if len(records) > 1 and _payload_bytes(ops) > _BATCH_BYTES:
            half = len(records) // 2
            return [
                *await self._claim(partition, records[:half], owner, until),
                *await self._claim(partition, records[half:], owner, until),
            ]
        with storage_errors():
            try:
                result = await self._cases.submit_transaction(ops)
            except TableTransactionError as exc:
                if exc.status_code not in (404, 409, 412):
                    raise
                if len(records) == 1:
                    return []  # someone else took it (or settled it) since it was read
                result = None
        if result is None:
            # Someone claimed or settled some of them: one read finds the rows still as they were, and those are
            # claimed together (a race lost again, or no one to blame, falls back to one at a time).
            unchanged = await self._unchanged(partition, records)
            if 0 < len(unchanged) < len(records):
                return await self._claim(partition, unchanged, owner, until)
            if not unchanged:
                return []
            alone = await asyncio.gather(*(self._claim(partition, [r], owner, until) for r in records))
            return [r for one in alone for r in one]
        return [
            replace(
                record,
                due_at=until,
                lease_owner=owner,
                lease_until=until,
                store_key={"PartitionKey": partition, "RowKey": row["RowKey"], "etag": str(result[index]["etag"])},
            )
            for record, row, index in placed
        ]

    async def _unchanged(self, partition: str, records: Sequence[MailRecord]) -> list[MailRecord]:
        """The records whose pending row is still as it was read (same key, same ETag): one range query, since the
        rows of one partition that due_mails read together lie next to each other."""
        keys = sorted(r.store_key["RowKey"] for r in records)
        query = "PartitionKey eq @p and RowKey ge @low and RowKey le @high"
        params = {"p": partition, "low": keys[0], "high": keys[-1]}
        with storage_errors():
            rows = self._cases.query_entities(query, parameters=params, select=["RowKey"])
            etags = {e["RowKey"]: str(e.metadata["etag"]) async for e in rows}
        return [r for r in records if etags.get(r.store_key["RowKey"]) == r.store_key["etag"]]

    async def record_sent(self, record: MailRecord, now: datetime) -> None:
        await self._settle(record, _sent_state(record, now))

    async def record_sent_many(self, records: Sequence[MailRecord], now: datetime) -> int:
        """Settle sent mails _SETTLE_BATCH to a transaction: a crash or a storage stall leaves at most that many
        per transaction in doubt (and those are reconciled, never blindly sent again).

        Returns how many were settled; one settled elsewhere in the meantime is skipped, not an error.
        """
        by_partition: dict[str, list[MailRecord]] = {}
        for record in records:
            by_partition.setdefault(record.store_key["PartitionKey"], []).append(record)
        settled = 0
        for group in by_partition.values():
            for i in range(0, len(group), _SETTLE_BATCH):
                chunk = group[i : i + _SETTLE_BATCH]
                ops = [op for r in chunk for op in _settle_ops(r, _sent_state(r, now))]
                with storage_errors():
                    try:
                        await self._cases.submit_transaction(ops)
                        settled += len(chunk)
                        continue
                    except TableTransactionError as exc:
                        if exc.status_code not in (404, 412):
                            raise
                for record in chunk:  # someone settled one of them: do the rest one by one
                    with suppress(ConcurrentUpdate):
                        await self.record_sent(record, now)
                        settled += 1
        return settled

    async def record_retry(
        self,
        record: MailRecord,
        now: datetime,
        next_at: datetime,
        error: str,
        counts: bool = True,
        unsure: bool = False,
    ) -> None:
        attempts = record.attempts + (1 if counts else 0)
        partition = record.store_key["PartitionKey"]
        again = _outbox_entity(partition, record.mail, next_at, attempts, unsure=unsure, last_error=error)
        state = {"Status": "pending", "Attempts": attempts, "LastError": error[:1000], "DueAt": next_at}
        ops = [*_replace_pending_ops(record, again), ("update", {**_mail_state_key(record), **state}, _MERGE)]
        await self._submit_settle(record, ops)

    async def record_failed(self, record: MailRecord, now: datetime, error: str, event: CaseEvent) -> None:
        partition = record.store_key["PartitionKey"]
        attempts = record.attempts + 1
        state = {"Status": "failed", "FailedAt": now, "Attempts": attempts, "LastError": error[:1000]}
        # The letter is kept beside the failure, so that Bits can send it again (resend_failed).
        kept = _outbox_entity(partition, record.mail, now, attempts, last_error=error)
        kept |= {"RowKey": _failed_key(record.mail.reference, record.mail.mail_id), "Kind": "failed", "FailedAt": now}
        extra = [("create", _event_entity(partition, record.mail.reference, event)), ("upsert", kept, _REPLACE)]
        await self._settle(record, state, extra)

    async def failed_mails(self, limit: int = 200) -> list[MailRecord]:
        """Read without their letters, over every known partition; at most _FAILED_READ rows are read in all (a
        failed mail is rare, and waits here only until Bits sends it again), the newest `limit` of them kept."""
        query = "PartitionKey eq @p and RowKey ge 'failed|' and RowKey lt 'failed}'"
        columns = ["PartitionKey", "RowKey", "Reference", "Purpose", "To", "Subject", "MessageId", "Attempts"]
        columns += ["LastError", "FailedAt", "QueuedAt"]
        found: list[MailRecord] = []
        with storage_errors():
            for partition in await self._partitions():
                rows = self._cases.query_entities(query, parameters={"p": partition}, select=columns)
                async for e in rows:
                    found.append(_failed_from_row(e))
                    if len(found) >= _FAILED_READ:
                        break
                if len(found) >= _FAILED_READ:
                    break
        found.sort(key=lambda r: r.failed_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return found[:limit]

    async def failed_mail(self, reference: str, mail_id: str) -> MailRecord | None:
        try:
            partition = _partition_of(reference)  # a case's, a held message's or a registry trail's
        except ValueError:
            return None
        if not _MAIL_ID.fullmatch(mail_id):
            return None
        with storage_errors():
            await self._storage.ensure_tables()
            try:
                entity = await self._cases.get_entity(partition, _failed_key(reference, mail_id))
            except ResourceNotFoundError:
                return None
        record = _record_from_outbox(entity)
        record.status, record.failed_at = "failed", entity.get("FailedAt")
        return record

    async def resend_failed(
        self, record: MailRecord, now: datetime, event: CaseEvent, markers: Sequence[str] = ()
    ) -> None:
        """One transaction: the failed entry goes (only if unchanged since read), the mail is pending again and due
        now with no attempts used (the outbox would fail one out of attempts at once) and `Unsure`, so that the
        dispatcher asks the transport whether it went before it sends it (a failure after "it may have been sent"
        is not sent twice), its state says so, and the event and markers are written."""
        reference, partition = record.mail.reference, record.store_key["PartitionKey"]
        key = record.store_key
        state = {"Status": "pending", "Attempts": 0, "LastError": "", "DueAt": now}
        # The markers first: a form sent again fails on its marker (AlreadyProcessed), not on the entry it removed.
        ops: list[tuple[Any, ...]] = [
            *_marker_ops(partition, reference, markers),
            ("delete", {"PartitionKey": partition, "RowKey": key["RowKey"]}, _if_unchanged(record)),
            ("create", _outbox_entity(partition, record.mail, now, 0, unsure=True)),
            ("update", {**_mail_state_key(record), **state}, _MERGE),
            ("create", _event_entity(partition, reference, event)),
        ]
        try:
            await self._submit_change(partition, reference, ops, markers)
        except TableTransactionError as exc:
            if exc.status_code == 404:  # sent again by someone else since it was read
                raise ConcurrentUpdate(reference) from exc
            raise

    async def backlog(self, limit: int = 1000) -> Backlog:
        query = "PartitionKey eq @p and RowKey ge 'outbox|' and RowKey lt 'outbox}'"
        count, oldest = 0, None
        with storage_errors():
            for partition in await self._partitions():
                rows = self._cases.query_entities(query, parameters={"p": partition}, select=["QueuedAt", "DueAt"])
                async for e in rows:
                    if count >= limit:
                        return Backlog(count, oldest, more=True)
                    count += 1
                    queued = e.get("QueuedAt") or e.get("DueAt")  # rows queued before QueuedAt was kept
                    if isinstance(queued, datetime) and (oldest is None or queued < oldest):
                        oldest = queued
        return Backlog(count, oldest)

    # -- retention ---------------------------------------------------------------------------------------------

    async def erase_personal_data(
        self,
        stored: StoredCase,
        case: Case,
        event: CaseEvent,
        erase_event: Callable[[CaseEvent], CaseEvent],
        marker: str,
    ) -> StoredCase:
        """Every row of the case rewritten in place or deleted, in transactions of at most _ERASE_BATCH rows; each
        also touches the case row under the ETag the previous one left (a merge of nothing, which only moves the
        ETag), so that nothing is erased once the case changed, and the case itself is replaced last; then what was
        added meanwhile is erased too."""
        reference = case.reference
        partition = _partition_of(reference)
        ops = await self._erasure_ops(partition, reference, erase_event, marker)
        etag = await self._submit_guarded(reference, partition, stored.etag, ops)
        final = [
            ("update", _case_entity(partition, case), {"mode": UpdateMode.REPLACE, **_etag_is(etag)}),
            ("create", _event_entity(partition, reference, event)),
        ]
        result = await self._submit_erasure(reference, final)
        etag = str(result[0]["etag"])
        # `append` writes no case row, so the guard above does not see a row added after the read: what landed
        # meanwhile is erased now (from here on intake takes nothing in under the erased case).
        late = await self._erasure_ops(partition, reference, erase_event, marker)
        etag = await self._submit_guarded(reference, partition, etag, late)
        return StoredCase(case, etag)

    async def _erasure_ops(
        self, partition: str, reference: str, erase_event: Callable[[CaseEvent], CaseEvent], marker: str
    ) -> list[tuple[Any, ...]]:
        """The operations that erase what of the case's rows is not erased yet."""
        by_reference = "PartitionKey eq @p and RowKey ge @low and RowKey lt @high and Reference eq @r"
        ops: list[tuple[Any, ...]] = []
        for row in await self._range(partition, f"event|{reference}|"):
            event = CaseEvent.model_validate_json(row["Body"])
            erased = erase_event(event)
            if erased != event:
                ops.append(("update", {**_key(row), "Body": erased.model_dump_json()}, _MERGE))
        for row in await self._range(partition, f"mail|{reference}|"):
            state = {"To": marker, "Subject": marker, "LastError": marker if row.get("LastError") else ""}
            if row.get("Status") == "pending":
                state["Status"] = "failed"  # its letter goes below: it is never sent, and never reads as waiting
            if any(row.get(k, "") != v for k, v in state.items()):
                ops.append(("update", {**_key(row), **state}, _MERGE))
        ops += [("delete", _key(row)) for row in await self._range(partition, f"failed|{reference}|")]
        with storage_errors():
            for low in ("outbox|", "token|"):
                params = {"p": partition, "low": low, "high": low[:-1] + "}", "r": reference}
                rows = self._cases.query_entities(by_reference, parameters=params, select=["PartitionKey", "RowKey"])
                ops += [("delete", _key(row)) async for row in rows]
        return ops

    async def _submit_guarded(self, reference: str, partition: str, etag: str, ops: list[tuple[Any, ...]]) -> str:
        """`ops` in transactions of at most _ERASE_BATCH, each touching the case row under `etag`; the ETag left."""
        case_key = {"PartitionKey": partition, "RowKey": f"case|{reference}"}
        for start in range(0, len(ops), _ERASE_BATCH):
            guard = ("update", case_key, {"mode": UpdateMode.MERGE, **_etag_is(etag)})
            result = await self._submit_erasure(reference, [guard, *ops[start : start + _ERASE_BATCH]])
            etag = str(result[0]["etag"])
        return etag

    async def forget_held(self, reference: str) -> int:
        keys = [
            _key(row)
            for low in ("event|", "mail|", "failed|")
            for row in await self._range(HELD_PARTITION, f"{low}{reference}|")
        ]
        by_reference = "PartitionKey eq @p and RowKey ge 'outbox|' and RowKey lt 'outbox}' and Reference eq @r"
        with storage_errors():
            rows = self._cases.query_entities(
                by_reference, parameters={"p": HELD_PARTITION, "r": reference}, select=["PartitionKey", "RowKey"]
            )
            keys += [_key(row) async for row in rows]
            for start in range(0, len(keys), 100):  # a transaction holds at most 100 operations
                batch = keys[start : start + 100]
                try:
                    await self._cases.submit_transaction([("delete", k) for k in batch])
                except TableTransactionError as exc:
                    if exc.status_code != 404:
                        raise
                    for k in batch:  # a row gone meanwhile (a letter sent and settled): the rest one by one
                        with suppress(ResourceNotFoundError):
                            await self._cases.delete_entity(k["PartitionKey"], k["RowKey"])
        return len(keys)

    async def _submit_erasure(self, reference: str, ops: list[tuple[Any, ...]]) -> list[Any]:
        with storage_errors():
            try:
                return list(await self._cases.submit_transaction(ops))
            except TableTransactionError as exc:
                if exc.status_code in (404, 412):  # the case changed, or a letter was settled meanwhile
                    raise ConcurrentUpdate(reference) from exc
                raise

    async def _settle(self, record: MailRecord, state: dict[str, Any], extra: Sequence[tuple[Any, ...]] = ()) -> None:
        await self._submit_settle(record, [*_settle_ops(record, state), *extra])

    async def _submit_settle(self, record: MailRecord, ops: list[tuple[Any, ...]]) -> None:
        with storage_errors():
            try:
                await self._cases.submit_transaction(ops)
            except TableTransactionError as exc:
                if exc.status_code in (404, 412):
                    # Another dispatcher settled (or claimed) this mail first.
                    raise ConcurrentUpdate(record.mail.reference) from exc
                raise


_CLAIM_BATCH = 20  # mails claimed in one transaction (two operations each); one Graph $batch
_SETTLE_BATCH = 10  # sent mails settled in one transaction (two operations each)
_FAILED_READ = 5000  # failed mails read at most to list the newest of them
_MERGE: dict[str, Any] = {"mode": UpdateMode.MERGE}
_REPLACE: dict[str, Any] = {"mode": UpdateMode.REPLACE}
_MAIL_ID = re.compile(r"[0-9a-f]{24}")


_ERASE_BATCH = 98  # rows erased in one transaction, beside the case row that guards it (100 at most)


def _key(row: TableEntity) -> dict[str, str]:
    return {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]}


def _etag_is(etag: str) -> dict[str, Any]:
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def _failed_key(reference: str, mail_id: str) -> str:
    return f"failed|{reference}|{mail_id}"


def _failed_from_row(e: TableEntity) -> MailRecord:
    """A failed mail as listed: what it was and why it failed, without the letter."""
    queued = e.get("QueuedAt") or e["FailedAt"]
    mail = OutgoingMail(e["Reference"], e["Purpose"], e["To"], e["Subject"], e["MessageId"], "", "", "", "", queued)
    return MailRecord(
        mail=mail,
        status="failed",
        attempts=int(e.get("Attempts", 0)),
        last_error=str(e.get("LastError") or ""),
        failed_at=e.get("FailedAt"),
        store_key={"PartitionKey": e["PartitionKey"], "RowKey": e["RowKey"], "etag": str(e.metadata["etag"])},
    )


def _sent_state(record: MailRecord, now: datetime) -> dict[str, Any]:
    return {"Status": "sent", "SentAt": now, "Attempts": record.attempts + 1, "LastError": ""}


def _mail_state_key(record: MailRecord) -> dict[str, str]:
    partition = record.store_key["PartitionKey"]
    return {"PartitionKey": partition, "RowKey": f"mail|{record.mail.reference}|{record.mail.mail_id}"}


def _if_unchanged(record: MailRecord) -> dict[str, Any]:
    return {"etag": record.store_key["etag"], "match_condition": MatchConditions.IfNotModified}


def _replace_pending_ops(record: MailRecord, row: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Put `row` in place of the pending entry, only if no one changed the entry since it was read. A transaction
    may touch a row once: when the new row has the same key, it replaces the entry instead."""
    key = record.store_key
    if row["RowKey"] == key["RowKey"]:
        return [("update", row, {"mode": UpdateMode.REPLACE, **_if_unchanged(record)})]
    return [
        ("delete", {"PartitionKey": key["PartitionKey"], "RowKey": key["RowKey"]}, _if_unchanged(record)),
        ("create", row),
    ]


def _settle_ops(record: MailRecord, state: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Remove the pending entry (only if no one else changed it) and record the mail's new state."""
    key = record.store_key
    return [
        ("delete", {"PartitionKey": key["PartitionKey"], "RowKey": key["RowKey"]}, _if_unchanged(record)),
        ("update", {**_mail_state_key(record), **state}, _MERGE),
    ]


class TableRegistryStore:
    """The RegistryStore port: organisations, data sources and Bits, one small partition each."""

    def __init__(self, storage: TableStorage) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(REGISTRY)

    async def load_registry(self) -> Registry:
        with storage_errors():
            await self._storage.ensure_tables()
            orgs, sources, bits = await asyncio.gather(
                self._bodies("organisation"), self._bodies("source"), self._bodies("bits")
            )
        return Registry.of(
            [Organisation.model_validate_json(b) for b in orgs],
            [DataSource.model_validate_json(b) for b in sources],
            Bits.model_validate_json(bits[0]) if bits else None,
        )

    async def _bodies(self, partition: str) -> list[str]:
        entities = self._table.query_entities("PartitionKey eq @p", parameters={"p": partition})
        return [e["Body"] async for e in entities]

    async def save_registry(self, registry: Registry) -> int:
        rows: list[dict[str, Any]] = [
            {"PartitionKey": "organisation", "RowKey": o.organisation_number, "Body": o.model_dump_json()}
            for o in registry.organisations.values()
        ]
        rows += [
            {"PartitionKey": "source", "RowKey": s.key, "Body": s.model_dump_json()} for s in registry.sources.values()
        ]
        if registry.bits:
            rows.append({"PartitionKey": "bits", "RowKey": "bits", "Body": registry.bits.model_dump_json()})
        with storage_errors():
            await self._storage.ensure_tables()
            await _upsert_in_batches(self._table, rows)
        return len(rows)

    async def get_organisation(self, organisation_number: str) -> Organisation | None:
        with storage_errors():
            await self._storage.ensure_tables()
            try:
                entity = await self._table.get_entity("organisation", organisation_number)
            except ResourceNotFoundError:
                return None
        return Organisation.model_validate_json(entity["Body"])

    async def put_organisation(self, organisation: Organisation) -> None:
        row = {"PartitionKey": "organisation", "RowKey": organisation.organisation_number}
        with storage_errors():
            await self._storage.ensure_tables()
            await self._table.upsert_entity({**row, "Body": organisation.model_dump_json()}, mode=UpdateMode.REPLACE)

    async def update_organisation(
        self, organisation_number: str, change: Callable[[Organisation], Organisation]
    ) -> Organisation | None:
        with storage_errors():
            await self._storage.ensure_tables()
            for _ in range(10):
                try:
                    entity = await self._table.get_entity("organisation", organisation_number)
                except ResourceNotFoundError:
                    return None
                changed = change(Organisation.model_validate_json(entity["Body"]))
                row = {"PartitionKey": "organisation", "RowKey": organisation_number, "Body": changed.model_dump_json()}
                try:
                    await self._table.update_entity(
                        row,
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return changed
                except HttpResponseError as exc:  # 412: someone changed it since we read it
                    if exc.status_code != 412:
                        raise
        raise ConcurrentUpdate(organisation_number)


async def _upsert_in_batches(table: TableClient, rows: list[dict[str, Any]]) -> None:
    """Upsert rows in transactions of up to 100 per partition (the service's limit)."""
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_partition.setdefault(row["PartitionKey"], []).append(row)
    for part in by_partition.values():
        for i in range(0, len(part), 100):
            await table.submit_transaction([("upsert", r, {"mode": UpdateMode.REPLACE}) for r in part[i : i + 100]])


class TableStateStore:
    """Small named pieces of operational state (a delta link, a subscription) as JSON in the meta table."""

    def __init__(self, storage: TableStorage) -> None:
        self._storage = storage

    async def get(self, name: str) -> dict[str, Any] | None:
        with storage_errors():
            await self._storage.ensure_tables()
            try:
                entity = await self._storage.table(META).get_entity("state", name)
            except ResourceNotFoundError:
                return None
        value = json.loads(entity["Body"])
        return value if isinstance(value, dict) else None

    async def put(self, name: str, value: dict[str, Any]) -> None:
        with storage_errors():
            await self._storage.ensure_tables()
            entity = {"PartitionKey": "state", "RowKey": name, "Body": json.dumps(value)}
            await self._storage.table(META).upsert_entity(entity, mode=UpdateMode.REPLACE)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _address_key(address: str) -> str:
    # Row keys may not hold '/', '\\', '#' or '?', which addresses can: key by a hash, keep the address as a property.
    return hashlib.sha256(address.casefold().encode()).hexdigest()[:32]


# A delivery status code (RFC 3463, e.g. 5.1.1) is kept as digits and dots only: the report's text is not ours.
_DSN_STATUS = re.compile(r"[^0-9.]")

# Dispatchers reserving for one address at once retry on the count's ETag; this many tries is far more than
# a few overlapping runs of three groups each need.
SENT_COUNT_TRIES = 30


class TableDeliveryLimits:
    """Loop and bounce protection for outgoing mail: addresses suppressed after repeated permanent bounces (visible
    and reversible), and how many mails each address got today (for the daily cap)."""

    def __init__(self, storage: TableStorage) -> None:
        self._storage = storage

    @property
    def _meta(self) -> TableClient:
        return self._storage.table(META)

    async def suppressed(self) -> set[str]:
        with storage_errors():
            await self._storage.ensure_tables()
            rows = self._meta.query_entities("PartitionKey eq 'bounces' and Suppressed eq true")
            return {str(e["Address"]) async for e in rows}

    async def suppressions(self) -> list[dict[str, Any]]:
        with storage_errors():
            await self._storage.ensure_tables()
            rows = self._meta.query_entities("PartitionKey eq 'bounces'")
            return [
                {
                    "address": e["Address"],
                    "permanent_bounces": int(e.get("Count", 0)),
                    "suppressed": bool(e.get("Suppressed", False)),
                    "last_bounce_at": _iso(e.get("LastAt")),
                    "first_bounce_at": _iso(e.get("FirstAt") or e.get("LastAt")),
                    "last_status": str(e.get("LastStatus") or ""),
                    "last_reference": str(e.get("LastReference") or ""),
                }
                async for e in rows
            ]

    async def record_bounce(
        self, address: str, at: datetime, suppress_after: int, status: str = "", reference: str = ""
    ) -> bool:
        """Count a permanent bounce; returns True when the address is (now) suppressed."""
        key = _address_key(address)
        with storage_errors():
            await self._storage.ensure_tables()
            for _ in range(5):
                try:
                    entity = await self._meta.get_entity("bounces", key)
                except ResourceNotFoundError:
                    entity = None
                count = int(entity["Count"]) + 1 if entity else 1
                row = {
                    "PartitionKey": "bounces",
                    "RowKey": key,
                    "Address": address.casefold(),
                    "Count": count,
                    "FirstAt": (entity.get("FirstAt") or entity.get("LastAt")) if entity else at,
                    "LastAt": at,
                    "LastStatus": _DSN_STATUS.sub("", status)[:20],
                    "LastReference": reference[:40],
                    "Suppressed": count >= suppress_after,
                }
                try:
                    await _create_or_replace(self._meta, row, entity)
                    return count >= suppress_after
                except (ResourceExistsError, HttpResponseError) as exc:
                    if isinstance(exc, HttpResponseError) and exc.status_code not in (409, 412):
                        raise
        raise ConcurrentUpdate(f"bounce count for {key}")

    async def lift(self, address: str, by: str, at: datetime, by_id: str = "") -> bool:
        """Lift a suppression (and forget the bounces), recording who lifted it; False when the address was not
        listed. The record is written before the row goes: a lift is never without its record."""
        key = _address_key(address)
        with storage_errors():
            await self._storage.ensure_tables()
            try:
                entity = await self._meta.get_entity("bounces", key)
            except ResourceNotFoundError:
                return False
            # Newest first in key order: the row key counts down from a far future time.
            newest_first = f"{10**13 - int(at.timestamp() * 1000):013d}-{key}"
            record = {
                "PartitionKey": "suppression-lifts",
                "RowKey": newest_first,
                "Address": entity["Address"],
                "Count": int(entity.get("Count", 0)),
                "LiftedBy": by.casefold(),
                "LiftedById": by_id,
                "LiftedAt": at,
            }
            await self._meta.upsert_entity(record, mode=UpdateMode.REPLACE)
            await self._meta.delete_entity("bounces", key)
        return True

    async def lifts(self) -> list[dict[str, Any]]:
        with storage_errors():
            await self._storage.ensure_tables()
            found: list[dict[str, Any]] = []
            async for e in self._meta.query_entities("PartitionKey eq 'suppression-lifts'", results_per_page=100):
                found.append(
                    {
                        "address": e["Address"],
                        "permanent_bounces": int(e.get("Count", 0)),
                        "lifted_by": e["LiftedBy"],
                        "lifted_by_id": e.get("LiftedById", ""),
                        "lifted_at": _iso(e.get("LiftedAt")),
                    }
                )
                if len(found) == 100:  # the latest hundred; older ones stay in the table
                    break
            return found

    async def sent_today(self, day: str) -> dict[str, int]:
        with storage_errors():
            await self._storage.ensure_tables()
            rows = self._meta.query_entities("PartitionKey eq @p", parameters={"p": f"sent|{day}"})
            return {str(e["Address"]): int(e["Count"]) async for e in rows}

    async def reserve_sent(self, day: str, address: str, wanted: int, cap: int) -> int:
        return await self._change_sent(day, address, lambda count: max(0, min(wanted, cap - count)))

    async def release_sent(self, day: str, address: str, count: int) -> None:
        await self._change_sent(day, address, lambda stored: -min(count, stored))

    async def forget_sent_before(self, day: str) -> int:
        query = "PartitionKey ge 'sent|' and PartitionKey lt @before"
        with storage_errors():
            await self._storage.ensure_tables()
            params = {"before": f"sent|{day}"}
            rows = self._meta.query_entities(query, parameters=params, select=["PartitionKey", "RowKey"])
            by_day: dict[str, list[str]] = {}
            async for row in rows:
                by_day.setdefault(row["PartitionKey"], []).append(row["RowKey"])
            for partition, keys in by_day.items():
                for start in range(0, len(keys), 100):  # a transaction holds at most 100 operations
                    ops = [("delete", {"PartitionKey": partition, "RowKey": k}) for k in keys[start : start + 100]]
                    await self._meta.submit_transaction(ops)
        return sum(len(keys) for keys in by_day.values())

    async def _change_sent(self, day: str, address: str, change: Callable[[int], int]) -> int:
        """Add `change(stored count)` to the day's count for the address, ETag-guarded (two dispatchers reserving
        at once both land, neither overwrites the other); returns what was added."""
        key, address = _address_key(address), address.casefold()
        with storage_errors():
            await self._storage.ensure_tables()
            for attempt in range(SENT_COUNT_TRIES):
                try:
                    entity = await self._meta.get_entity(f"sent|{day}", key)
                except ResourceNotFoundError:
                    entity = None
                stored = int(entity["Count"]) if entity else 0
                delta = change(stored)
                if delta == 0:
                    return 0
                row = {"PartitionKey": f"sent|{day}", "RowKey": key, "Address": address, "Count": stored + delta}
                try:
                    await _create_or_replace(self._meta, row, entity)
                    return delta
                except (ResourceExistsError, HttpResponseError) as exc:
                    if isinstance(exc, HttpResponseError) and exc.status_code not in (409, 412):
                        raise
                # Lost the race to another dispatcher: read the new count and try again, a little apart.
                await asyncio.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise ConcurrentUpdate(f"sent count for {key}")


async def _create_or_replace(table: TableClient, row: dict[str, Any], read: TableEntity | None) -> None:
    """Write `row` where `read` (the entity as read, or None) was: created if there was none, else replaced only if
    unchanged since (ETag). A lost race raises (409 or 412), and the caller reads again."""
    if read is None:
        await table.create_entity(row)
    else:
        await table.update_entity(
            row, mode=UpdateMode.REPLACE, etag=read.metadata["etag"], match_condition=MatchConditions.IfNotModified
        )
