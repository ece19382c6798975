"""Field types that the processes' forms and API bodies share, with error types the form layer translates."""

from __future__ import annotations

import re
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from .identifiers import is_valid_organisation_number

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029]")


def _organisation_number(value: str) -> str:
    compact = value.replace(" ", "")
    if not is_valid_organisation_number(compact):
        raise PydanticCustomError("organisation_number", "not a valid organisation number (9 digits, MOD11)")
    return compact


def _email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise PydanticCustomError("email", "not a valid email address") from None


def _one_line(value: str) -> str:
    if _LINE_BREAK.search(value) or _CONTROL.search(value):
        raise PydanticCustomError("one_line", "must be a single line without control characters")
    return value


def _text(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("control_characters", "contains control characters")
    return value.replace("\r\n", "\n")


# The schema hints (pattern, format, examples) describe in the OpenAPI document what the validators accept.
_SINGLE_LINE = r"^[^\r\n\x00-\x1f\x7f\u2028\u2029]*$"
OrganisationNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_organisation_number),
    Field(json_schema_extra={"pattern": r"^[0-9 ]{9,11}$", "examples": ["974760673"]}),
]
EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email", "examples": ["kari.nordmann@demo-forsikring.example"]}),
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": _SINGLE_LINE, "examples": ["Kari Nordmann"]}),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=200),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": _SINGLE_LINE, "examples": ["Feil i svar fra uføre-API-et"]}),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
    AfterValidator(_text),
    Field(json_schema_extra={"examples": ["Vi får 500 fra /api/v1/uforegrad siden i morges."]}),
]
