"""The app's configuration: one validated object read once from app settings / environment."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# The well-known Azurite development account (public, documented by Microsoft): only ever used locally.
AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
)
# Used only when SSU_MODE=local and no key is set: links signed with it are worthless outside this machine.
LOCAL_SIGNING_KEY = "local-development-signing-key-not-a-secret-0123456789"

ENV_PREFIX = "SSU_"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


class _PlatformNamesOnly(PydanticBaseSettingsSource):
    """The environment, where a field with a platform name of its own (e.g. WEBSITE_AUTH_ENABLED) is read under
    that name only: `populate_by_name` would also read SSU_<FIELD>, which an operator could set."""

    def __init__(self, settings_cls: type[BaseSettings], environment: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._environment = environment

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole environment at once

    def __call__(self) -> dict[str, Any]:
        aliased = {name for name, field in self.settings_cls.model_fields.items() if field.validation_alias}
        return {key: value for key, value in self._environment().items() if key not in aliased}


class Settings(BaseSettings):
    """Every setting the app reads. Names are the app settings / environment variables with the SSU_ prefix."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments (tests, scripts) may name any field; the environment names platform fields as the platform does.
        return (
            init_settings,
            _PlatformNamesOnly(settings_cls, env_settings),
            _PlatformNamesOnly(settings_cls, dotenv_settings),
            file_secret_settings,
        )

    mode: Literal["local", "azure"] = "local"

    # Storage: a connection string (Azurite locally) or, in Azure, the table endpoint reached with managed identity.
    storage_connection_string: SecretStr | None = None
    table_endpoint: str | None = None
    blob_endpoint: str | None = None
    # In Azure: where the outbox's wake-ups go (the account of the host's AzureWebJobsStorage, whose queue trigger
    # reads them). Without it nothing is woken: mail waits for the timer.
    queue_endpoint: str | None = Field(None, pattern=r"^https?://\S+$")
    attachments_container: str = Field("attachments", pattern=r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
    managed_identity_client_id: str | None = None
    table_prefix: str = Field("ssu", pattern=r"^[A-Za-z][A-Za-z0-9]{0,30}$")
    storage_timeout_seconds: float = Field(5.0, gt=0, le=60)

    # Cases and links.
    reference_prefix: str = Field("SSU", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    public_base_url: str = Field("http://localhost:7071", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    signing_key: SecretStr | None = None
    # The key that signed before the current one: links it signed still verify while every new one uses the new key.
    signing_key_previous: SecretStr | None = None
    confirmation_link_hours: int = Field(72, ge=1, le=24 * 30)
    form_token_hours: int = Field(12, ge=1, le=72)
    registry_cache_seconds: float = Field(60.0, ge=0, le=3600)
    max_body_bytes: int = Field(1_048_576, ge=1024)

    # Outbound mail.
    shared_mailbox: str = Field("ssu@bits.example", pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    mail_sender_name: str = Field("Bits SSU", pattern=r"^[^\r\n<>\"]{1,80}$")
    mail_transport: Literal["local", "graph"] = "local"
    mail_local_dir: Path = Path(".local/mail")
    outbox_schedule: str = "0 */1 * * * *"
    outbox_max_attempts: int = Field(8, ge=1, le=50)
    outbox_retry_base_seconds: float = Field(30.0, ge=0)
    outbox_retry_max_seconds: float = Field(3600.0, ge=0)
    outbox_max_age_hours: float = Field(48.0, gt=0, le=24 * 30)  # a mail not sent by then fails, visibly
    outbox_concurrency: int = Field(16, ge=1, le=128)
    # The Storage queue whose messages wake the queue-triggered dispatcher (`outbox_wake`) once a request has
    # queued mail. Named after the table prefix, so that apps (and tests) sharing a storage account do not wake each
    # other; room is left for the host's "-poison" suffix.
    outbox_queue: str = Field(
        default_factory=lambda data: f"{str(data.get('table_prefix', 'ssu')).lower()}-outbox-wake",
        pattern=r"^[a-z0-9](?:-?[a-z0-9])+$",
        min_length=3,
        max_length=56,
    )
    daily_cap_per_recipient: int = Field(200, ge=1)
    suppress_after_bounces: int = Field(3, ge=1, le=100)

    # Inbound mail.
    mailbox: Literal["local", "graph"] = "local"
    mailbox_processed_folder: str = Field("SSU behandlet", min_length=1, max_length=100)
    mailbox_failed_folder: str = Field("SSU avvist", min_length=1, max_length=100)
    graph_notification_client_state: SecretStr | None = None
    decision_token_days: int = Field(30, ge=1, le=365)
    # SHA-256 hashes (hex) of each source's alert API keys; two per source let a key be rotated without a gap.
    alert_keys: dict[
        Literal["NAV", "ALTINN", "DIGDIR"],
        Annotated[list[Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]], Field(max_length=2)],
    ] = Field(default_factory=dict)
    deadlines_schedule: str = "0 */5 * * * *"
    security_escalation_minutes: int = Field(60, ge=1, le=24 * 60)
    security_escalation_roles: list[str] = Field(default_factory=lambda: ["support", "approver"])
    security_reminder_hours: int = Field(12, ge=1, le=71)
    # Office hours to first response and to resolution, by process, or process:severity for error reports.
    response_targets: dict[str, list[float]] = Field(
        default_factory=lambda: {
            "A": [16.0, 80.0],
            "C:critical": [1.0, 8.0],
            "C:high": [2.0, 16.0],
            "C:medium": [8.0, 40.0],
            "C:low": [16.0, 80.0],
            "C": [8.0, 40.0],
            "D": [8.0, 40.0],
            "E": [40.0, 400.0],
        }
    )
    target_reminder_minutes: int = Field(60, ge=0, le=24 * 60)
    # Retention of personal data (core/retention.py): days a closed case keeps its personal data, counted from its
    # last activity (when it closed, or a message written to it later), by process, or process:kind. Why these:
    # - A (onboarding, 1095 = 3 years): a rejected, withdrawn or offboarded company's contacts are needed as long as
    #   a claim about the agreement can be made (foreldelsesloven § 2: three years).
    # - B (notices, 365): the status page shows 90 days; a year covers the sources' follow-up of the year's incidents.
    # - C (error reports, 730): reports are followed up and audited a year or two later (recurring faults, reviews).
    # - C:security_breach (1825 = 5 years): GDPR art. 33(5) requires breaches to be documented for the supervisory
    #   authority, and DORA/Finanstilsynet reviews go back years.
    # - D (questions, 180): nothing follows up an answered question after half a year.
    # - E (change requests, 730): a decision is revisited when the next change to the same part is assessed.
    # GDPR art. 5(1)(e) (storage limitation) is the rule; these are the periods its purposes need. Every process
    # must have one: a process left out would keep personal data for ever.
    retention_days: dict[str, int] = Field(
        default_factory=lambda: {
            "A": 1095,
            "B": 365,
            "C": 730,
            "C:security_breach": 1825,
            "D": 180,
            "E": 730,
        }
    )
    # A submission whose address was never confirmed: anyone can type someone else's name and address into a form.
    # Its confirmation link lives SSU_CONFIRMATION_LINK_HOURS (72 by default; a contact update's link 7 days): 30
    # days after its last activity nobody can take it further, so what it says about a person goes. It must outlive
    # every such link (8 days at least, and longer than SSU_CONFIRMATION_LINK_HOURS: checked below).
    retention_unconfirmed_days: int = Field(30, ge=8, le=3650)
    # A message held for Bits (set aside as unreadable, or from a sender who may not write where it asks): Bits acts
    # on it within days, and what it takes goes into a case, kept by that case's rule. 90 days after its last event
    # (a quarter: holidays, and the follow-up of a forged sender) it is deleted whole.
    retention_held_days: int = Field(90, ge=1, le=3650)
    retention_schedule: str = "0 30 2 * * *"
    alert_reminder_hours: int = Field(24, ge=1, le=24 * 14)
    require_dmarc: bool | None = None  # None: required in Azure, not locally
    # Whose Authentication-Results we believe: the authserv-ids of our receiving servers. Exchange Online stamps its
    # header without an authserv-id; "exchange-online" names that form. Only the topmost header is ever read.
    trusted_authserv_ids: list[str] = Field(default_factory=lambda: ["exchange-online"])
    graph_notification_url: str | None = Field(None, pattern=r"^https://\S+$")
    subscription_schedule: str = "0 0 */6 * * *"
    mailbox_schedule: str = "0 */1 * * * *"
    mailbox_batch_size: int = Field(200, ge=1, le=2000)
    mailbox_concurrency: int = Field(32, ge=1, le=128)

    # /api/health: past these figures it answers 503 (the availability test and alerts watch it).
    # Mail is normally sent within a minute (woken at once, the timer every minute; retries wait at most an hour
    # but only after a failure): a due mail waiting 15 minutes means the dispatcher is stuck or the transport down.
    health_outbox_max_minutes: float = Field(15.0, gt=0, le=24 * 60)
    # The mailbox is polled every minute: ten minutes without a successful poll is ten missed runs, not one slow one.
    health_poll_max_minutes: float = Field(10.0, gt=0, le=24 * 60)
    # The keeper renews the Graph subscription 24 hours before it expires, every 6 hours: with under 12 hours left
    # at least two renewals have failed, and half a day remains to fix it before notifications stop.
    health_subscription_min_hours: float = Field(12.0, ge=0, le=24 * 7)
    # Telemetry (adapters/telemetry.py): "azure" exports spans, logs and metrics to Application Insights (the
    # connection string is the platform's own setting; in Azure both are set by infra/), "console" prints them
    # (a developer's look), "off" sends nothing. Unset: azure where a connection string is set, else off.
    telemetry: Literal["off", "console", "azure"] | None = None
    applicationinsights_connection_string: SecretStr | None = Field(
        None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )
    mail_aliases: dict[str, str] = Field(
        default_factory=lambda: {
            "varsel": "B",
            "notice": "B",
            "feil": "C",
            "error": "C",
            "sikkerhet": "C-security",
            "security": "C-security",
            "sporsmal": "D",
            "question": "D",
            "endring": "E",
            "change": "E",
            "innmelding": "A",
            "registration": "A",
        }
    )
    attachment_max_bytes: int = Field(10 * 1024 * 1024, ge=0)
    attachment_types: list[str] = Field(
        default_factory=lambda: [
            "application/pdf",
            "image/png",
            "image/jpeg",
            "text/plain",
            "text/csv",
            "application/json",
            "application/xml",
            "text/xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ]
    )

    # Anonymous submissions (forms and JSON): at most this many per hour per client IP, per recipient address and
    # per organisation number; beyond it the answer is 429 with Retry-After.
    rate_limit_per_ip: int = Field(30, ge=1)
    rate_limit_per_recipient: int = Field(5, ge=1)
    set_aside_notices_per_hour: int = Field(10, ge=0)  # mails to Bits about unreadable messages (all are recorded)
    rate_limit_per_organisation: int = Field(20, ge=1)

    # Staff sign-in. App Service Authentication sets WEBSITE_AUTH_ENABLED=True where it runs (the dev host too); only
    # then is the X-MS-CLIENT-PRINCIPAL header the platform's word and not a client's. Read from that platform
    # variable alone: no app setting of ours can make the app believe a client's header.
    platform_auth_enabled: bool = Field(False, validation_alias="WEBSITE_AUTH_ENABLED")

    # Microsoft Graph (mail_transport=graph).
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_auth: Literal["managed_identity", "client_secret", "certificate"] = "managed_identity"
    graph_tenant_id: str | None = None
    graph_client_id: str | None = None
    graph_client_secret: SecretStr | None = None
    graph_certificate_path: Path | None = None
    graph_timeout_seconds: float = Field(30.0, gt=0, le=120)
    committee_members: list[str] = Field(default_factory=list)  # the expert committee (fagutvalg), by email
    change_assessment_days: int = Field(14, ge=1, le=90)
    change_defer_days: int = Field(90, ge=1, le=730)
    terms_reminder_days: int = Field(14, ge=1, le=120)
    long_token_days: int = Field(400, ge=30, le=1100)  # tokens of steps that can come months later
    onboarding_reminder_days: int = Field(5, ge=1, le=60)  # working days a step may wait before a reminder
    agreement_url: str = "https://www.bits.no/ssu/tilknytningsavtale.pdf"
    dpa_url: str = "https://www.bits.no/ssu/databehandleravtale.pdf"
    default_terms_version: str = "1.0"
    default_terms_url: str = "https://www.bits.no/ssu/vilkar-1.0.pdf"
    graph_batch_size: int = Field(20, ge=1, le=20)  # mails per JSON $batch request; 1 = one sendMail per mail

    @field_validator("alert_keys")
    @classmethod
    def _one_source_per_key(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        # A key listed for two sources would let one act as the other (the key decides the source).
        owner: dict[str, str] = {}
        for source, hashes in value.items():
            for digest in hashes:
                other = owner.setdefault(digest.lower(), source)
                if other != source:
                    raise ValueError(
                        f"{ENV_PREFIX}ALERT_KEYS gives the same key hash to {other} and {source}: "
                        "each source needs a key of its own"
                    )
        return value

    @field_validator("retention_days")
    @classmethod
    def _every_process_has_a_period(cls, value: dict[str, int]) -> dict[str, int]:
        for key, days in value.items():
            if not re.fullmatch(r"[A-E](:[a-z_]+)?", key):
                raise ValueError(f"not a process or process:kind: {key!r}")
            if not 1 <= days <= 3650:
                raise ValueError(f"{key}: {days} days is outside 1-3650")
        missing = sorted({"A", "B", "C", "D", "E"} - set(value))
        if missing:
            raise ValueError(f"no retention period for {', '.join(missing)}: its personal data would be kept for ever")
        return value

    @field_validator("committee_members")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address or any(ch.isspace() for ch in address):
                raise ValueError(f"not an email address: {address!r}")
        return [address.strip().casefold() for address in value]

    @model_validator(mode="after")
    def _unconfirmed_outlive_their_links(self) -> Settings:
        if self.retention_unconfirmed_days * 24 <= self.confirmation_link_hours:
            _missing("RETENTION_UNCONFIRMED_DAYS", "more days than SSU_CONFIRMATION_LINK_HOURS lets a link live")
        return self

    @model_validator(mode="after")
    def _azure_needs_real_configuration(self) -> Settings:
        if self.mode == "azure":
            if not self.table_endpoint and not self.storage_connection_string:
                _missing("TABLE_ENDPOINT", "the table endpoint, e.g. https://<account>.table.core.windows.net")
            if not self.blob_endpoint and not self.storage_connection_string:
                _missing("BLOB_ENDPOINT", "the blob endpoint, e.g. https://<account>.blob.core.windows.net")
            if self.signing_key is None or len(self.signing_key.get_secret_value()) < 32:
                _missing("SIGNING_KEY", "a random secret of at least 32 characters")
            for name, key in (("SIGNING_KEY", self.signing_key), ("SIGNING_KEY_PREVIOUS", self.signing_key_previous)):
                if key is not None and key.get_secret_value() == LOCAL_SIGNING_KEY:
                    _missing(name, "not the public local development key: anyone could sign links with it")
            if not self.public_base_url.startswith("https://"):
                _missing("PUBLIC_BASE_URL", "the app's https:// address")
        if self.mailbox == "graph" and (
            self.graph_notification_client_state is None
            or len(self.graph_notification_client_state.get_secret_value()) < 16
        ):
            _missing("GRAPH_NOTIFICATION_CLIENT_STATE", "a random secret of at least 16 characters (SSU_MAILBOX=graph)")
        if self.mail_transport == "graph" or self.mailbox == "graph":
            if self.graph_auth == "managed_identity" and self.mode != "azure":
                _missing("GRAPH_AUTH", "client_secret or certificate outside Azure")
            if self.graph_auth in ("client_secret", "certificate"):
                for name in ("graph_tenant_id", "graph_client_id"):
                    if not getattr(self, name):
                        _missing(name.upper(), f"required when SSU_GRAPH_AUTH={self.graph_auth}")
            if self.graph_auth == "client_secret" and self.graph_client_secret is None:
                _missing("GRAPH_CLIENT_SECRET", "required when SSU_GRAPH_AUTH=client_secret")
            if self.graph_auth == "certificate" and self.graph_certificate_path is None:
                _missing("GRAPH_CERTIFICATE_PATH", "required when SSU_GRAPH_AUTH=certificate")
        return self

    @property
    def effective_signing_key(self) -> bytes:
        if self.signing_key is not None:
            return self.signing_key.get_secret_value().encode()
        return LOCAL_SIGNING_KEY.encode()

    @property
    def verification_keys(self) -> tuple[bytes, ...]:
        """The keys a signed link may carry: the current one, then the previous one while it is being retired."""
        previous = () if self.signing_key_previous is None else (self.signing_key_previous.get_secret_value().encode(),)
        return (self.effective_signing_key, *previous)

    @property
    def dmarc_required(self) -> bool:
        return self.mode == "azure" if self.require_dmarc is None else self.require_dmarc

    @property
    def mail_domain(self) -> str:
        return self.shared_mailbox.rsplit("@", 1)[1]

    @property
    def connection_string(self) -> str | None:
        if self.storage_connection_string is not None:
            return self.storage_connection_string.get_secret_value()
        if self.mode == "local" and not self.table_endpoint and not self.blob_endpoint and not self.queue_endpoint:
            return AZURITE_CONNECTION_STRING
        return None


def _missing(name: str, what: str) -> None:
    raise ValueError(f"{ENV_PREFIX}{name} is missing or malformed: {what}")


def load_settings() -> Settings:
    """Read and validate the settings; a problem raises SettingsError naming the setting."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "".join(str(part) for part in err["loc"])
            name = f"{ENV_PREFIX}{loc.upper()}" if loc else "settings"
            if loc.upper().startswith("WEBSITE_"):
                name = loc.upper()  # a platform setting (read under its own name): named as the platform names it
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("Invalid configuration: " + "; ".join(problems)) from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()
