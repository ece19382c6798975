"""The services a workflow works with: the ports (storage, mail, registry, clock) and the few helpers every process
uses to link and compose mail. Built by the composition root (`functions/composition.py`), never here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import telemetry
from .clock import Clock
from .inbound import Mailbox
from .links import links_in_language, with_language
from .mail import Letter, MailRecord, MailTransport, OutgoingMail, compose_mail
from .model import Case, CaseEvent
from .outbox import RetryPolicy
from .registry import Registry
from .rendering import Renderer
from .settings import Settings
from .signing import sign
from .store import (
    AttachmentStore,
    CaseStore,
    DeliveryLimits,
    MailsFor,
    RateLimits,
    RegistryStore,
    StateStore,
    StorageAccount,
    StorageUnavailable,
    StoredCase,
)


class Wakeup(Protocol):
    """Wakes the outbox dispatcher at once (a message on a Storage queue in Azure and Azurite), so that mail a request
    queued goes out within seconds instead of at the timer's next tick; the timer stays as the safety net."""

    def mail_queued(self) -> None:
        """A transaction that queued mail has committed. Never raises and never waits: a wake-up that cannot be
        sent is logged, and the timer sends the mail."""

    async def close(self) -> None:
        """Send what is still pending, then release the client."""


class NoWakeup:
    """No wake-up: the timer alone sends (fakes, scripts)."""

    def mail_queued(self) -> None:
        return None

    async def close(self) -> None:
        return None


class WakingCaseStore:
    """A CaseStore that wakes the dispatcher after each write that queued mail, and tells telemetry which case the
    operation under way is about and which mails it queued: one place for every process.

    A write whose outcome is unknown (storage timed out) wakes it too: the mail may be stored, and a wake-up that
    finds nothing due costs one query. A write refused outright (a conflict, a duplicate) wrote nothing."""

    def __init__(self, store: CaseStore, wakeup: Wakeup) -> None:
        self._store = store
        self._wakeup = wakeup

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)  # everything that queues no mail: as the store does it

    async def create_case(self, case: Case, event: CaseEvent, mails: MailsFor, *args: Any, **kwargs: Any) -> Case:
        built: list[Sequence[OutgoingMail]] = []

        def noted(allocated: Case) -> Sequence[OutgoingMail]:
            telemetry.note_case(allocated)  # the write that opens it, and all after, name the case
            built.append(mails(allocated))  # built again when a reference was taken meanwhile: the last one counts
            return built[-1]

        with self._waking(lambda: bool(built and built[-1])):
            created = await self._store.create_case(case, event, noted, *args, **kwargs)
        _queued(built[-1] if built else ())
        return created

    async def transition(
        self,
        stored: StoredCase,
        case: Case,
        event: CaseEvent,
        mails: Sequence[OutgoingMail] = (),
        *args: Any,
        **kwargs: Any,
    ) -> StoredCase:
        telemetry.note_case(case)
        with self._waking(lambda: bool(mails)):
            written = await self._store.transition(stored, case, event, mails, *args, **kwargs)
        _queued(mails)
        return written

    async def append(
        self, reference: str, event: CaseEvent, mails: Sequence[OutgoingMail] = (), *args: Any, **kwargs: Any
    ) -> None:
        telemetry.note_case(reference=reference)
        with self._waking(lambda: bool(mails)):
            await self._store.append(reference, event, mails, *args, **kwargs)
        _queued(mails)

    async def resend_failed(self, record: MailRecord, *args: Any, **kwargs: Any) -> None:
        with self._waking(lambda: True):
            await self._store.resend_failed(record, *args, **kwargs)

    @contextmanager
    def _waking(self, queued_mail: Callable[[], bool]) -> Iterator[None]:
        try:
            yield
        except StorageUnavailable:
            if queued_mail():
                self._wakeup.mail_queued()
            raise
        if queued_mail():
            self._wakeup.mail_queued()


def _queued(mails: Sequence[OutgoingMail]) -> None:
    for mail in mails:
        telemetry.count(
            "ssu.mail.queued",
            purpose=telemetry.purpose_family(mail.purpose),
            process=telemetry.case_fields(reference=mail.reference).get("ssu.process"),
        )


@dataclass
class RegistryCache:
    """The registry is small (a few hundred organisations): read it whole and keep it for a short while."""

    store: RegistryStore
    ttl_seconds: float
    _value: Registry | None = None
    _read_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> Registry:
        if self._value is None or time.monotonic() - self._read_at > self.ttl_seconds:
            async with self._lock:
                if self._value is None or time.monotonic() - self._read_at > self.ttl_seconds:
                    self._value = await self.store.load_registry()
                    self._read_at = time.monotonic()
        return self._value

    def invalidate(self) -> None:
        self._value = None


@dataclass
class Services:
    settings: Settings
    storage: StorageAccount
    store: CaseStore
    registry_store: RegistryStore
    registry_cache: RegistryCache
    renderer: Renderer
    transport: MailTransport
    clock: Clock
    blobs: AttachmentStore
    mailbox: Mailbox
    limits: DeliveryLimits
    state: StateStore
    rate_limits: RateLimits  # anonymous submissions (web/rate_limit.py; core/cases.py for emailed confirmations)
    wakeup: Wakeup = field(default_factory=NoWakeup)  # the dispatcher, at once (the store calls it; see above)

    async def registry(self) -> Registry:
        return await self.registry_cache.get()

    @property
    def retry_policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(
            s.outbox_max_attempts,
            s.outbox_retry_base_seconds,
            s.outbox_retry_max_seconds,
            max_age_seconds=s.outbox_max_age_hours * 3600,
        )

    def link(self, path: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/api/{path.lstrip('/')}"

    def case_page_link(self, reference: str, language: str = "nb", *, receipt: bool = False) -> str:
        """The submitter's signed link to the case page, opening in `language` (`lang` is outside the signature:
        the page checks `k` alone, so the reader may switch language on it). A `receipt` link is the one the form's
        sender gets at once, before anyone knows whose the address is: it shows what was sent and where the case
        stands, but neither Bits' answers nor the box to write in; those need the link we mail."""
        payload = {"r": reference, "p": "receipt"} if receipt else {"r": reference}
        token = sign(self.settings.effective_signing_key, "case-page", payload)
        return with_language(self.link(f"case-page/{reference}?k={token}"), language)

    def compose(
        self,
        *,
        reference: str,
        purpose: str,
        to: str,
        template: str,
        language: str,
        in_reply_to: str | None = None,
        reply_to: str | None = None,
        token: str | None = None,
        **context: Any,
    ) -> OutgoingMail:
        """Render a templated email for one recipient, ready to queue; in an English mail every link to our pages
        opens the English page. `token` goes in the subject: give it only on a mail that asks its recipient to
        decide (a receipt that merely allows a reply command carries its token in `reply_to` alone)."""
        # Bits' notices link the case in the workspace (templates/base/bits_footer.*); a page behind staff sign-in.
        context.setdefault("workspace_link", self.link(f"bits/cases/{reference}"))
        letter: Letter = self.renderer.letter(template, language, reference, **context)
        letter = links_in_language(letter, self.link(""), language)
        if token:
            letter = Letter(f"{letter.subject} #{token}", letter.text, letter.html)
        return compose_mail(
            reference=reference,
            purpose=purpose,
            sender_name=self.settings.mail_sender_name,
            sender=self.settings.shared_mailbox,
            to=to,
            letter=letter,
            created_at=self.clock.now(),
            domain=self.settings.mail_domain,
            key=self.settings.effective_signing_key,
            in_reply_to=in_reply_to,
            reply_to=reply_to,
        )

    async def close(self) -> None:
        await self.wakeup.close()
        await self.transport.close()
        await self.storage.close()
        await self.blobs.close()
        await self.mailbox.close()
