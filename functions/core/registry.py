"""The organisation registry as one in-memory snapshot: data consumers, data sources and Bits, with the lookups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .model import Bits, Contact, DataSource, Organisation


@dataclass(frozen=True)
class Recipient:
    """One person who must hear about something, and on whose behalf."""

    organisation_number: str
    contact: Contact


@dataclass
class Registry:
    """Everything the processes need to know about who is who. Lookups are dictionary reads."""

    organisations: dict[str, Organisation] = field(default_factory=dict)
    sources: dict[str, DataSource] = field(default_factory=dict)
    bits: Bits | None = None
    _by_email: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _by_domain: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for org in self.organisations.values():
            for contact in org.contacts:
                email = contact.email.casefold()
                _add(self._by_email, email, org.organisation_number)
                _add(self._by_domain, email.rsplit("@", 1)[-1], org.organisation_number)

    @classmethod
    def of(cls, organisations: Iterable[Organisation], sources: Iterable[DataSource], bits: Bits | None) -> Registry:
        return cls({o.organisation_number: o for o in organisations}, {s.key: s for s in sources}, bits)

    def organisation(self, organisation_number: str) -> Organisation | None:
        return self.organisations.get(organisation_number)

    def organisations_of_contact(self, email: str) -> list[Organisation]:
        return [self.organisations[n] for n in self._by_email.get(email.casefold(), [])]

    def organisations_of_domain(self, domain: str) -> list[Organisation]:
        return [self.organisations[n] for n in self._by_domain.get(domain.casefold(), [])]

    def is_contact_of(self, email: str, organisation_number: str) -> bool:
        return organisation_number in self._by_email.get(email.casefold(), [])

    def language_of(self, email: str) -> str:
        """The language a person reads: theirs where the registry knows them (Bits, a source, a company), else nb."""
        wanted = email.casefold()
        people = [*(self.bits.contacts if self.bits else [])]
        people += [c for s in self.sources.values() for c in s.contacts]
        people += [c for o in self.organisations_of_contact(wanted) for c in o.contacts]
        return next((c.language for c in people if c.email.casefold() == wanted), "nb")

    def roles_of(self, email: str) -> set[str]:
        """Every role the address holds, at any company or source (not at Bits)."""
        wanted = email.casefold()
        contacts = [c for o in self.organisations_of_contact(wanted) for c in o.contacts]
        contacts += [c for s in self.sources.values() for c in s.contacts]
        return {role for c in contacts if c.email.casefold() == wanted for role in c.roles}

    def source_of_contact(self, email: str) -> DataSource | None:
        """NAV, Altinn or Digdir when the address is one of their registered contacts."""
        wanted = email.casefold()
        return next((s for s in self.sources.values() if any(c.email.casefold() == wanted for c in s.contacts)), None)

    def who_must_hear(self, environment: str, service: str, roles: Iterable[str]) -> list[Recipient]:
        """Contacts with one of `roles` at every organisation connected to `environment` that uses `service`."""
        wanted = set(roles)
        return [
            Recipient(org.organisation_number, contact)
            for org in sorted(self.organisations.values(), key=lambda o: o.organisation_number)
            if environment in org.environments and service in org.services
            for contact in org.contacts
            if wanted.intersection(contact.roles)
        ]

    def bits_contacts(self, role: str) -> list[Contact]:
        return self.bits.with_role(role) if self.bits else []


def _add(index: dict[str, list[str]], key: str, value: str) -> None:
    values = index.setdefault(key, [])
    if value not in values:
        values.append(value)
