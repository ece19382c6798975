"""The alert API's body (process B): what NAV, Altinn or Digdir announce."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ..core.fields import LongText, OrganisationNumber, Title
from ..core.privacy import mask_identity_numbers

Component = Literal["ufore-api", "aap-api", "altinn-consent", "maskinporten", "nav-api-portal"]
# Which services a component carries: an outage of a shared component touches both.
SERVICES_OF: dict[str, tuple[str, ...]] = {
    "ufore-api": ("ufore",),
    "aap-api": ("aap",),
    "altinn-consent": ("ufore", "aap"),
    "maskinporten": ("ufore", "aap"),
    "nav-api-portal": ("ufore", "aap"),
}


def _no_identity_number(value: str) -> str:
    # An identifier or a link is refused, not masked, when it holds an identity number: a masked link is a broken
    # one, and a masked source_alert_id would no longer be the key that makes posting an alert twice harmless.
    if mask_identity_numbers(value)[1]:
        raise PydanticCustomError("identity_number", "the value seems to hold a national identity number")
    return value


SourceAlertId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$"),
    AfterValidator(_no_identity_number),
]
Link = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^https://[^\s<>\"]+$"), AfterValidator(_no_identity_number)
]


class AlertIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source_alert_id": "NAV-2026-117",
                    "kind": "maintenance",
                    "environments": ["production"],
                    "components": ["ufore-api"],
                    "severity": "medium",
                    "title": "Planlagt vedlikehold av uføre-API",
                    "description": "API-et er utilgjengelig i vedlikeholdsvinduet.",
                    "starts_at": "2026-12-03T22:00:00+01:00",
                    "ends_at": "2026-12-04T02:00:00+01:00",
                }
            ]
        },
    )

    source_alert_id: SourceAlertId
    kind: Literal["incident", "maintenance", "change"]
    environments: list[Literal["test", "production"]] = Field(
        min_length=1, max_length=2, json_schema_extra={"uniqueItems": True}
    )
    components: list[Component] = Field(min_length=1, max_length=5, json_schema_extra={"uniqueItems": True})
    severity: Literal["low", "medium", "high", "critical"]
    title: Title
    description: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    title_en: Title | None = None
    description_en: Annotated[str, StringConstraints(min_length=1, max_length=5000)] | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(None, validate_default=True)
    action_required: LongText | None = None
    action_deadline: AwareDatetime | None = None
    link: Link | None = None
    notify_security: bool = False
    organisation_number: OrganisationNumber | None = None  # one company only, when the alert concerns it alone

    @field_validator("environments", "components")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError("repeated", "a value is given twice")
        return value

    @field_validator("ends_at")
    @classmethod
    def _ends_after_it_starts(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None and info.data.get("kind") == "maintenance":
            raise PydanticCustomError("ends_at_required", "ends_at is required for maintenance")
        starts = info.data.get("starts_at")
        if value is not None and isinstance(starts, datetime) and value <= starts:
            raise PydanticCustomError("ends_before_start", "ends_at must be after starts_at")
        return value

    def services(self) -> list[str]:
        return sorted({s for c in self.components for s in SERVICES_OF[c]})


class AlertUpdate(BaseModel):
    """A new revision: only the fields that change."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Annotated[str, StringConstraints(min_length=1, max_length=5000)] | None = None
    title_en: Title | None = None
    description_en: Annotated[str, StringConstraints(min_length=1, max_length=5000)] | None = None
    severity: Literal["low", "medium", "high", "critical"] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    action_required: LongText | None = None
    action_deadline: AwareDatetime | None = None
    link: Link | None = None


class AlertClosing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["resolved", "completed", "cancelled"]
    text: LongText
