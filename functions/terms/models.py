"""A new version of the terms as Bits publishes it (form, JSON or a VILKÅR email), and the rules it must meet.

Who publishes is not part of the body: it is the signed-in admin (or the sender of the VILKÅR email), so that no one
can publish in someone else's name. The effective date must lie after today by the app's clock: validate with
`context={"today": ...}` (see `validate_terms`); without it the workflow still refuses a date that is not ahead.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ..core.fields import LongText, Title
from ..web.forms import field_errors

# Up to three numbers of up to three digits, no leading zeros: 1, 2.0, 2.1.3. "2" and "2.0" are the same version.
VERSION_PATTERN = r"^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){0,2}$"
_VERSION = re.compile(VERSION_PATTERN)


def _version(value: str) -> str:
    if not _VERSION.fullmatch(value):
        raise PydanticCustomError("terms_version", "a version is numbers with dots, e.g. 2.0 or 2.1.3")
    return value


Version = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=11),
    AfterValidator(_version),
    Field(json_schema_extra={"pattern": VERSION_PATTERN, "examples": ["2.0", "2.1.3"]}),
]
HttpsLink = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https://[^\s<>\"]+$")]


def version_key(version: str) -> str:
    """The version as compared: trailing zero parts dropped, so that 2, 2.0 and 2.0.0 are one version."""
    parts = version.strip().split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)


class TermsVersion(BaseModel):
    """What every connected company receives: the version, when it takes effect, what changed, where to read it."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    version: Version
    effective_date: date
    summary: LongText  # what changed
    document_url: HttpsLink
    language: Literal["nb", "en"] = "nb"  # of the publisher's page and receipt; each company reads its own

    @field_validator("effective_date")
    @classmethod
    def _ahead(cls, value: date, info: ValidationInfo) -> date:
        today = (info.context or {}).get("today")
        if isinstance(today, date) and value <= today:
            raise PydanticCustomError("terms_not_ahead", "the effective date must be after today")
        return value

    def content(self) -> dict[str, Any]:
        """What the companies read, as compared between a preview and its publication (not the page language)."""
        return self.model_dump(mode="json", exclude={"language"})


# Messages of the terms' own rules, (nb, en); every other field error is the forms' usual one.
MESSAGES: dict[str, tuple[str, str]] = {
    "terms_version": (
        "Skriv versjonen som tall med punktum mellom, for eksempel 2.0 eller 2.1.3.",
        "Write the version as numbers separated by dots, e.g. 2.0 or 2.1.3.",
    ),
    "terms_not_ahead": (
        "Datoen må være etter i dag. Virksomhetene må få tid til å akseptere før vilkårene gjelder.",
        "The date must be after today. The companies need time to accept before the terms take effect.",
    ),
}


def terms_message(kind: str, language: str) -> str:
    nb, en = MESSAGES[kind]
    return en if language == "en" else nb


def validate_terms(data: dict[str, Any], today: date, language: str) -> tuple[TermsVersion | None, dict[str, str]]:
    """The version, or the errors by field in the publisher's language (nothing is published with any error)."""
    try:
        return TermsVersion.model_validate(data, context={"today": today}), {}
    except ValidationError as exc:
        errors = field_errors(exc, language)
        for err in exc.errors():
            if err["type"] in MESSAGES:
                errors[".".join(str(p) for p in err["loc"])] = terms_message(err["type"], language)
        return None, errors
