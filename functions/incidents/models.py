"""The error report form and API body (process C)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..core.fields import EmailAddress, LongText, OrganisationNumber, PersonName, Title
from ..core.privacy import MASK

Component = Literal["ufore-api", "aap-api", "altinn-consent", "maskinporten", "nav-api-portal"]
Severity = Literal["low", "medium", "high", "critical"]


class ErrorReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_number: OrganisationNumber
    name: PersonName
    email: EmailAddress
    environment: Literal["test", "production"]
    component: Component
    occurred_at: AwareDatetime | datetime
    http_status: int | None = Field(None, ge=100, le=599)
    correlation_id: str | None = Field(None, max_length=200, pattern=r"^[A-Za-z0-9._:\-]+$")
    endpoint: str | None = Field(None, max_length=300, pattern=r"^[^\s<>\"]+$")
    customers_affected: int | None = Field(None, ge=0, le=10_000_000)
    severity: Severity
    title: Title
    description: LongText
    language: Literal["nb", "en"] = "nb"

    @field_validator("occurred_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        return _in_the_past(value)


def _in_the_past(value: datetime) -> datetime:
    """A time that has happened; a form's datetime-local has no zone, and is Norwegian time."""
    aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("Europe/Oslo"))
    if aware > datetime.now(aware.tzinfo):
        raise PydanticCustomError("future", "must not be in the future")
    return aware


class SecurityBreach(BaseModel):
    """A security breach discovered by a data consumer: urgent, and never held back."""

    model_config = ConfigDict(extra="forbid")

    organisation_number: OrganisationNumber
    name: PersonName
    email: EmailAddress
    phone: str = Field(min_length=5, max_length=30, pattern=r"^\+?[0-9 ()\-]{5,30}$")
    occurred_at: AwareDatetime | datetime
    discovered_at: AwareDatetime | datetime
    breach_type: list[Literal["confidentiality", "integrity", "availability"]] = Field(min_length=1)
    data_categories: Title
    persons_affected: int | Literal["unknown"]
    description: LongText
    containment: LongText
    datatilsynet_notified_at: AwareDatetime | datetime | None = None
    finanstilsynet_notified_at: AwareDatetime | datetime | None = None
    language: Literal["nb", "en"] = "nb"

    @field_validator("persons_affected", mode="before")
    @classmethod
    def _not_an_identity_number(cls, value: object) -> object:
        # The body was masked before validation, and a number that is an identity number became the marker: the
        # count is refused by that name (once, not by each of the union's types).
        if value == MASK:
            raise PydanticCustomError("identity_number", "persons_affected seems to be a national identity number")
        return value

    @field_validator("persons_affected", mode="before")
    @classmethod
    def _unknown_in_norwegian(cls, value: object) -> object:
        return "unknown" if isinstance(value, str) and value.strip().lower() in ("ukjent", "unknown", "") else value

    @field_validator("breach_type", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value  # a form with one box ticked sends one value

    @field_validator("occurred_at", "discovered_at", "datatilsynet_notified_at", "finanstilsynet_notified_at")
    @classmethod
    def _past_norwegian_time(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _in_the_past(value)

    @field_validator("discovered_at")
    @classmethod
    def _discovered_after_it_happened(cls, value: datetime, info: ValidationInfo) -> datetime:
        occurred = info.data.get("occurred_at")
        if isinstance(occurred, datetime) and value < occurred:
            raise PydanticCustomError("discovered_before_occurred", "discovered_at is before occurred_at")
        return value
