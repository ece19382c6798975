"""infra/ and the code agree on app settings: every setting infra sets is read by the code, and the app starts in
Azure mode with what infra sets (every required setting is there; the rest have defaults)."""

from __future__ import annotations

import functools
import re

import pytest

from functions.core.settings import ENV_PREFIX, Settings, SettingsError, load_settings
from functions.devhost.azurite import PROJECT_ROOT

FUNCTION_APP = PROJECT_ROOT / "infra" / "modules" / "functionapp.bicep"
# Settings of the Functions host and Application Insights, not of our code.
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_ENABLE_OPENTELEMETRY",  # the Python worker's: it hands each invocation's trace context to the app
}


# What the Bicep expressions become in Azure, for the check below.
STAND_INS = {
    "tableEndpoint": "https://st.table.core.windows.net/",
    "blobEndpoint": "https://st.blob.core.windows.net/",
    "queueEndpoint": "https://st.queue.core.windows.net/",
    "outboxQueue": "ssu-outbox-wake",
    "identityClientId": "00000000-0000-0000-0000-000000000000",
    "publicBaseUrl": "https://func-ssu.azurewebsites.net",
    "sharedMailbox": "ssu@bits.example",
    "mailbox": "graph",
    "string(committeeMembers)": '["fag@demo-forsikring.example"]',
    "'@Microsoft.KeyVault(${secret}/ssu-signing-key)'": "s" * 48,
    "'@Microsoft.KeyVault(${secret}/ssu-signing-key-previous)'": "p" * 48,
    "'@Microsoft.KeyVault(${secret}/ssu-graph-client-state)'": "c" * 48,
    "'@Microsoft.KeyVault(${secret}/ssu-alert-keys)'": '{"NAV": ["' + "a" * 64 + '"]}',
}


@functools.cache
def infra_settings() -> dict[str, str]:
    text = FUNCTION_APP.read_text(encoding="utf-8")
    block = text[text.index("var appSettings = {") : text.index("\n}\n", text.index("var appSettings = {"))]
    return dict(re.findall(r"^\s+([A-Za-z_][A-Za-z0-9_]*): (.+?)\s*$", block, flags=re.MULTILINE))


def test_every_setting_infra_sets_is_read_by_the_code() -> None:
    read_by_code = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(infra_settings()) - HOST_SETTINGS <= read_by_code


def test_the_app_starts_in_azure_mode_with_what_infra_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in __import__("os").environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in infra_settings().items():
        if name.startswith(ENV_PREFIX):
            assert value in STAND_INS or re.fullmatch(r"'[^'$]*'", value), f"{name}: add a stand-in for {value}"
            # Key Vault references and Bicep expressions stand for values only Azure knows: give plausible ones.
            monkeypatch.setenv(name, STAND_INS.get(value, value.strip("'")))
    settings = load_settings()
    assert settings.mode == "azure" and settings.mail_transport == "graph"
    monkeypatch.delenv(f"{ENV_PREFIX}SIGNING_KEY")
    with pytest.raises(SettingsError, match="SSU_SIGNING_KEY"):
        load_settings()


def test_every_timer_schedule_setting_is_set_by_infra() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "functions").rglob("blueprint.py"))
    schedules = set(re.findall(r'schedule="%([A-Z0-9_]+)%"', source))
    assert schedules and schedules <= set(infra_settings())


def test_every_key_vault_secret_the_app_reads_is_created_before_it_starts() -> None:
    """An unresolved Key Vault reference leaves its own text as the setting's value: for a signing key, a key
    anyone can read in infra/. set-secrets.sh (run by azd after provisioning) creates each one."""
    referenced = set(re.findall(r"@Microsoft\.KeyVault\(\$\{secret\}/([a-z-]+)\)", FUNCTION_APP.read_text("utf-8")))
    script = (PROJECT_ROOT / "infra" / "scripts" / "set-secrets.sh").read_text(encoding="utf-8")
    created = set(re.findall(r"--name (ssu-[a-z-]+)", script))
    created |= {n for line in re.findall(r"^for name in (.+); do$", script, flags=re.MULTILINE) for n in line.split()}
    assert {"ssu-signing-key", "ssu-signing-key-previous"} <= referenced
    assert referenced <= created, referenced - created
