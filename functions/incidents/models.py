"""The error report form and API body (process C)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from ..core.fields import EmailAddress, LongText, OrganisationNumber, PersonName, Title

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
        from zoneinfo import ZoneInfo

        from pydantic_core import PydanticCustomError

        # A form's datetime-local has no zone: it is Norwegian time.
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("Europe/Oslo"))
        if aware > datetime.now(aware.tzinfo):
            raise PydanticCustomError("future", "must not be in the future")
        return aware
