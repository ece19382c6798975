"""Import an organisation registry (JSON as in data/demo-registry.json, or CSV with one row per contact).

    python -m functions.registry_import data/demo-registry.json
    python -m functions.registry_import companies.csv

Idempotent: every entry is upserted by its key, so importing the same file twice changes nothing.
CSV columns: organisation_number, legal_name, status, services, environments, contact_name, contact_email,
contact_roles, contact_language (lists separated by spaces or '|'). CSV carries companies only.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .core.identifiers import is_valid_organisation_number
from .core.model import Bits, Contact, DataSource, Organisation
from .core.registry import Registry


class RegistryFileError(ValueError):
    """The file cannot be imported; the message says where and why."""


def parse_registry_file(path: Path) -> Registry:
    try:
        if path.suffix.lower() == ".csv":
            registry = _from_csv(path)
        else:
            registry = _from_json(json.loads(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise RegistryFileError(f"{path}: {exc}") from None
    for org in registry.organisations.values():
        if not is_valid_organisation_number(org.organisation_number):
            raise RegistryFileError(f"{path}: {org.organisation_number} is not a valid organisation number")
    return registry


def _from_json(data: dict[str, Any]) -> Registry:
    return Registry.of(
        [Organisation.model_validate(o) for o in data.get("organisations", [])],
        [DataSource.model_validate(s) for s in data.get("sources", [])],
        Bits.model_validate(data["bits"]) if data.get("bits") else None,
    )


def _split(value: str) -> list[str]:
    return [v for v in value.replace("|", " ").replace(",", " ").split() if v]


def _from_csv(path: Path) -> Registry:
    orgs: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            number = (row.get("organisation_number") or "").strip()
            if not number:
                raise RegistryFileError(f"{path}:{line}: organisation_number is empty")
            org = orgs.setdefault(
                number,
                {
                    "organisation_number": number,
                    "legal_name": row.get("legal_name", "").strip(),
                    "status": row.get("status", "").strip() or "registered",
                    "services": _split(row.get("services", "")),
                    "environments": _split(row.get("environments", "")),
                    "contacts": [],
                },
            )
            if row.get("contact_email"):
                org["contacts"].append(
                    Contact(
                        name=row.get("contact_name", "").strip(),
                        email=row["contact_email"].strip(),
                        roles=_split(row.get("contact_roles", "")),
                        language=(row.get("contact_language") or "nb").strip(),
                    )
                )
    return Registry.of([Organisation.model_validate(o) for o in orgs.values()], [], None)


async def import_registry(path: Path, *, az_cli: bool = False) -> int:
    from .composition import build_services
    from .core.settings import get_settings

    registry = parse_registry_file(path)
    credential = None
    if az_cli:
        from azure.identity.aio import AzureCliCredential

        credential = AzureCliCredential()
    services = build_services(get_settings(), storage_credential=credential)
    try:
        return await services.registry_store.save_registry(registry)
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--az-cli", action="store_true", help="reach Azure storage as the user signed in with az login")
    args = parser.parse_args()
    try:
        count = asyncio.run(import_registry(args.file, az_cli=args.az_cli))
    except RegistryFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"imported {count} registry entries from {args.file}")


if __name__ == "__main__":
    main()
