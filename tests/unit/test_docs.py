"""The README's settings table lists exactly the settings the code reads."""

from __future__ import annotations

import re

from functions.core.settings import ENV_PREFIX, Settings
from functions.devhost.azurite import PROJECT_ROOT


def test_readme_lists_every_setting() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(SSU_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    read_by_code = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert documented == read_by_code
