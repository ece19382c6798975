"""The README's settings table lists exactly the settings the code reads."""

from __future__ import annotations

import re

from functions.core.settings import ENV_PREFIX, Settings
from functions.devhost.azurite import PROJECT_ROOT


def environment_name(name: str) -> str:
    """The variable a field is read from: its platform name when it has one (WEBSITE_AUTH_ENABLED), else SSU_<NAME>."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"{ENV_PREFIX}{name.upper()}"


def test_readme_lists_every_setting() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    read_by_code = {environment_name(name) for name in Settings.model_fields}
    assert documented == read_by_code
