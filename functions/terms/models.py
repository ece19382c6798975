"""A new version of the terms, as Bits publishes it (form or JSON, behind the function key)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from ..core.fields import EmailAddress, LongText, PersonName, Title

Version = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[\w.\-]+$")]
HttpsLink = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https://[^\s<>\"]+$")]


class TermsVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PersonName  # who at Bits publishes it
    email: EmailAddress
    title: Title
    version: Version
    effective_date: date
    summary: LongText  # what changed
    document_url: HttpsLink
    language: Literal["nb", "en"] = "nb"
