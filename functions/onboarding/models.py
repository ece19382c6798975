"""The onboarding forms and API bodies (process A): registration, and the request to connect to production."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..core.fields import EmailAddress, LongText, OrganisationNumber, PersonName, Title
from ..core.rendering import OSLO

Role = Literal["business", "technical", "security", "signatory"]
ROLES: tuple[Role, ...] = ("business", "technical", "security", "signatory")


def _phone(value: str) -> str:
    digits = value.replace(" ", "")
    if not (digits.lstrip("+").isdigit() and 8 <= len(digits.lstrip("+")) <= 15):
        raise PydanticCustomError("phone", "not a phone number")
    return value


Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=8, max_length=20),
    AfterValidator(_phone),
    Field(json_schema_extra={"pattern": r"^\+?[0-9 ]{8,20}$", "examples": ["+47 22 33 44 55"]}),
]


def _https_origin(value: str) -> str:
    shown = {"value": value if len(value) <= 80 else value[:79] + "…"}  # the person sees which line is wrong
    if value.lower().startswith("http://"):
        raise PydanticCustomError("https_required", "not https: {value}", shown)
    if not value.startswith("https://") or any(c in value for c in " <>\"'") or value.count("/") != 2:
        raise PydanticCustomError("https_origin", "not an https origin: {value}", shown)
    return value.rstrip("/")


def _not_before_today(value: date) -> date:
    """A go-live date is ahead (or today), in Norwegian time."""
    if value < datetime.now(OSLO).date():
        raise PydanticCustomError("date_past", "must not be in the past")
    return value


def _not_after_today(value: date) -> date:
    """A date something has already happened on (tests passed), in Norwegian time."""
    if value > datetime.now(OSLO).date():
        raise PydanticCustomError("date_future", "must not be in the future")
    return value


HttpsOrigin = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=253),
    AfterValidator(_https_origin),
    Field(json_schema_extra={"pattern": r"^https://[^/\s<>\"']+$", "examples": ["https://app.demo-forsikring.no"]}),
]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: PersonName
    email: EmailAddress
    phone: Phone
    language: Literal["nb", "en"] = "nb"


def _every_role(contacts: list[ContactIn]) -> list[ContactIn]:
    missing = [role for role in ROLES if not any(c.role == role for c in contacts)]
    if missing:
        raise PydanticCustomError("missing_roles", "missing roles: {missing}", {"missing": ", ".join(missing)})
    return contacts


Contacts = Annotated[list[ContactIn], Field(min_length=1, max_length=20), AfterValidator(_every_role)]


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_number: OrganisationNumber
    legal_name: Title
    contacts: Contacts
    services: list[Literal["ufore", "aap"]] = Field(min_length=1, max_length=2, json_schema_extra={"uniqueItems": True})
    supplier_organisation_number: OrganisationNumber | None = None
    supplier_name: PersonName | None = Field(None, validate_default=True)
    finans_norge_member: bool
    desired_go_live: Annotated[date, AfterValidator(_not_before_today)]
    comments: LongText | None = None
    language: Literal["nb", "en"] = "nb"

    @field_validator("services")
    @classmethod
    def _no_repeats(cls, services: list[str]) -> list[str]:
        if len(set(services)) != len(services):
            raise PydanticCustomError("repeated", "a value is given twice")
        return services

    @field_validator("supplier_name")
    @classmethod
    def _supplier_both_or_none(cls, name: str | None, info: ValidationInfo) -> str | None:
        # At a field, so that a form shows it there (the number comes first: a wrong one has its own message).
        if "supplier_organisation_number" in info.data and (name is None) != (
            info.data["supplier_organisation_number"] is None
        ):
            raise PydanticCustomError("supplier_incomplete", "give both the supplier's name and number")
        return name


def contact_rows(data: dict[str, Any]) -> dict[str, Any]:
    """A browser form's contact rows (`contacts.0.name`, …, one row per role, a "same person as above" box) as the
    JSON body's `contacts` list; the other fields as they are."""
    shaped: dict[str, Any] = {k: v for k, v in data.items() if not k.startswith("contacts.")}
    contacts: list[dict[str, Any]] = []
    for index, role in enumerate(ROLES):
        row = {f: data.get(f"contacts.{index}.{f}") for f in ("name", "email", "phone", "language")}
        if data.get(f"contacts.{index}.same") and contacts:
            row = {**contacts[-1]}
        contacts.append({**{k: v for k, v in row.items() if v not in (None, "")}, "role": role})
    shaped["contacts"] = contacts
    return shaped


def registration_from_browser(data: dict[str, Any]) -> dict[str, Any]:
    """The registration form's rows and check boxes, as the JSON body."""
    shaped = contact_rows(data)
    services = data.get("services", [])
    shaped["services"] = services if isinstance(services, list) else [services]
    shaped["finans_norge_member"] = data.get("finans_norge_member") in ("on", "true", "yes", True)
    return shaped


def _true(value: bool) -> bool:
    if value is not True:
        raise PydanticCustomError("must_be_true", "must be confirmed")
    return value


class ProductionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_number: OrganisationNumber
    name: PersonName
    email: EmailAddress
    integration_tests_passed_on: Annotated[date, AfterValidator(_not_after_today)]
    test_report_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    production_redirect_domains: list[HttpsOrigin] = Field(min_length=1, max_length=20)
    maskinporten_client_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")
    ]
    consent_text_confirmed: Annotated[bool, AfterValidator(_true)]
    notices_subscribed: bool
    language: Literal["nb", "en"] = "nb"


def production_from_browser(data: dict[str, Any]) -> dict[str, Any]:
    shaped = dict(data)
    domains = data.get("production_redirect_domains", "")
    lines = domains if isinstance(domains, list) else str(domains).replace(",", "\n").splitlines()
    shaped["production_redirect_domains"] = [d.strip() for d in lines if d.strip()]
    for box in ("consent_text_confirmed", "notices_subscribed"):
        shaped[box] = data.get(box) in ("on", "true", "yes", True)
    return shaped


class ContactUpdate(BaseModel):
    """A company's new list of contacts; it takes effect when an existing contact confirms it."""

    model_config = ConfigDict(extra="forbid")

    organisation_number: OrganisationNumber
    name: PersonName
    email: EmailAddress
    contacts: Contacts
    language: Literal["nb", "en"] = "nb"
