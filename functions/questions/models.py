"""The question form and API body (process D)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..core.fields import EmailAddress, LongText, OrganisationNumber, PersonName, Title

Category = Literal["documentation", "data_interpretation", "consent", "maskinporten", "test_data", "terms", "other"]


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_number: OrganisationNumber
    name: PersonName
    email: EmailAddress
    subject: Title
    question: LongText
    service: Literal["ufore", "aap", "other"]
    environment: Literal["test", "production", "both"]
    category: Category
    language: Literal["nb", "en"] = "nb"
