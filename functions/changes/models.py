"""The change request form and API body (process E)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from ..core.fields import EmailAddress, LongText, OrganisationNumber, PersonName, Title

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_number: OrganisationNumber
    name: PersonName
    email: EmailAddress
    service: Literal["ufore", "aap", "both", "other"]
    change_type: Literal["data_element", "api", "consent_text", "terms", "other"]
    title: Title
    description: LongText
    need_and_benefit: LongText
    urgency: Literal["low", "normal", "high"]
    products_affected: ShortText | None = None
    legal_impact: ShortText | None = None
    language: Literal["nb", "en"] = "nb"
