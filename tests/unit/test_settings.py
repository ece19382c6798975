"""Settings: no configuration runs locally; Azure mode names what is missing or malformed."""

from __future__ import annotations

import pytest

from functions.core.settings import AZURITE_CONNECTION_STRING, SettingsError, load_settings


def test_no_configuration_means_local(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("SSU_"):
            monkeypatch.delenv(name)
    settings = load_settings()
    assert settings.mode == "local" and settings.mail_transport == "local"
    assert settings.connection_string == AZURITE_CONNECTION_STRING
    assert settings.outbox_schedule == "0 */1 * * * *"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"SSU_MODE": "azure", "SSU_SIGNING_KEY": "k" * 40, "SSU_PUBLIC_BASE_URL": "https://x.example"},
            "SSU_TABLE_ENDPOINT",
        ),
        (
            {
                "SSU_MODE": "azure",
                "SSU_TABLE_ENDPOINT": "https://a.table.core.windows.net",
                "SSU_SIGNING_KEY": "k" * 40,
                "SSU_PUBLIC_BASE_URL": "https://x.example",
            },
            "SSU_BLOB_ENDPOINT",
        ),
        (
            {
                "SSU_MODE": "azure",
                "SSU_TABLE_ENDPOINT": "https://a.table.core.windows.net",
                "SSU_BLOB_ENDPOINT": "https://a.blob.core.windows.net",
                "SSU_PUBLIC_BASE_URL": "https://x.example",
            },
            "SSU_SIGNING_KEY",
        ),
        ({"SSU_OUTBOX_MAX_ATTEMPTS": "many"}, "SSU_OUTBOX_MAX_ATTEMPTS"),
        ({"SSU_MAIL_TRANSPORT": "smtp"}, "SSU_MAIL_TRANSPORT"),
        ({"SSU_MAIL_TRANSPORT": "graph", "SSU_GRAPH_AUTH": "client_secret"}, "SSU_GRAPH_TENANT_ID"),
        ({"SSU_REFERENCE_PREFIX": "ssu lower"}, "SSU_REFERENCE_PREFIX"),
    ],
)
def test_bad_configuration_names_the_setting(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_azure_mode_with_everything_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSU_MODE", "azure")
    monkeypatch.setenv("SSU_TABLE_ENDPOINT", "https://a.table.core.windows.net")
    monkeypatch.setenv("SSU_BLOB_ENDPOINT", "https://a.blob.core.windows.net")
    monkeypatch.setenv("SSU_SIGNING_KEY", "s" * 48)
    monkeypatch.setenv("SSU_PUBLIC_BASE_URL", "https://ssu.example")
    monkeypatch.setenv("SSU_MAIL_TRANSPORT", "graph")
    settings = load_settings()
    assert settings.connection_string is None and settings.graph_auth == "managed_identity"
