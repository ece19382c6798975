"""Whether this process sends telemetry, decided when function_app is imported; the SDK is loaded only when it does.

The rule reads its two settings straight from the environment, before the settings are loaded: with telemetry off
(locally, by default) importing the app then costs nothing more (bench/cold_start.py). The settings validate the
same two values when telemetry is on (SSU_TELEMETRY, APPLICATIONINSIGHTS_CONNECTION_STRING; README, "Settings").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)


def telemetry_mode(environment: Mapping[str, str]) -> str:
    """`SSU_TELEMETRY` when set (off, console, azure); else azure where Application Insights' connection string is
    set (infra/ sets it in Azure), and off everywhere else."""
    chosen = environment.get("SSU_TELEMETRY", "").strip()
    if chosen:
        return chosen
    return "azure" if environment.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip() else "off"


def configure_from_environment() -> str:
    """Set up telemetry as the environment says; returns the mode. Importing the app never fails for telemetry's
    sake: a problem is logged and telemetry stays off. (A malformed setting is then named when the app loads its
    settings, as every other setting is.)"""
    mode = telemetry_mode(os.environ)
    if mode == "off":
        return mode
    try:
        from .adapters.telemetry import configure_telemetry
        from .core.settings import get_settings

        configure_telemetry(get_settings(), mode)
    except Exception:
        log.exception("telemetry: not configured (%s); the app runs without it", mode)
        return "off"
    return mode
