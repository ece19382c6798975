"""The dev host and the deployment agree with the real Functions host: every `%SETTING%` a binding names is set
locally and by infra, a timer whose setting is missing stops the dev host, and .funcignore keeps what is not the app
out of the package."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter
from pathspec import GitIgnoreSpec

from functions.devhost.azurite import PROJECT_ROOT
from functions.devhost.server import UnresolvedSetting, timer_schedules
from tests.unit.test_function_app import registered

_SETTING = re.compile(r"%([A-Za-z0-9_]+)%")
EXAMPLE = PROJECT_ROOT / "local.settings.example.json"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def indexed() -> dict[str, Any]:
    # app.get_functions(), asked once per process: the SDK fails on a second call.
    return {str(f.get_function_name()): f for f in registered()}


def binding_settings() -> dict[str, set[str]]:
    """Each `%SETTING%` any binding names, with the functions naming it: read as the worker indexes the app."""
    found: dict[str, set[str]] = {}
    for function in indexed().values():
        for binding in function.get_bindings_dict()["bindings"]:
            for text in _strings(binding):
                for name in _SETTING.findall(text):
                    found.setdefault(name, set()).add(str(function.get_function_name()))
    return found


def example_values() -> dict[str, str]:
    values: dict[str, str] = json.loads(EXAMPLE.read_text(encoding="utf-8"))["Values"]
    return values


def infra_text() -> str:
    files = sorted((PROJECT_ROOT / "infra").glob("*.bicep")) + sorted(
        (PROJECT_ROOT / "infra" / "modules").glob("*.bicep")
    )
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def test_the_bindings_name_the_settings_we_expect() -> None:
    # A guard on the reading above: were it to find nothing, the checks below would pass on nothing.
    assert {"SSU_OUTBOX_SCHEDULE", "SSU_MAILBOX_SCHEDULE", "SSU_DEADLINES_SCHEDULE", "SSU_OUTBOX_QUEUE"} <= set(
        binding_settings()
    )


@pytest.mark.parametrize("name", sorted(binding_settings()))
def test_every_binding_setting_is_in_the_local_example(name: str) -> None:
    assert example_values().get(name, "").strip(), f"local.settings.example.json does not set {name}"


@pytest.mark.parametrize("name", sorted(binding_settings()))
def test_every_binding_setting_is_an_app_setting_in_infra(name: str) -> None:
    assert re.search(rf"^\s+{name}: \S", infra_text(), flags=re.MULTILINE), f"infra/ does not set {name}"


def test_the_example_schedules_are_valid_ncrontab() -> None:
    schedules = timer_schedules(indexed(), example_values())
    assert len(schedules) >= 4
    for schedule in schedules.values():
        assert len(schedule.split()) == 6 and croniter.is_valid(schedule, second_at_beginning=True)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_a_timer_whose_setting_is_not_set_is_refused_by_name(value: str | None) -> None:
    environ = dict(example_values())
    if value is None:
        del environ["SSU_DEADLINES_SCHEDULE"]
    else:
        environ["SSU_DEADLINES_SCHEDULE"] = value
    with pytest.raises(UnresolvedSetting, match=r"deadlines_check \(app setting SSU_DEADLINES_SCHEDULE\)") as refused:
        timer_schedules(indexed(), environ)
    assert "SSU_OUTBOX_SCHEDULE" not in str(refused.value)  # only what is missing is named


def test_a_timer_runs_on_its_setting_not_on_the_apps_default() -> None:
    environ = {**example_values(), "SSU_OUTBOX_SCHEDULE": "*/30 * * * * *"}
    assert timer_schedules(indexed(), environ)["outbox_dispatch"] == "*/30 * * * * *"


def test_the_dev_host_process_exits_naming_the_setting(tmp_path: Path) -> None:
    # Run as `make run` and the tests start it, from a directory without local.settings.json, which could fill in.
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SCHEDULE")}
    env.update({k: v for k, v in example_values().items() if k.endswith("_SCHEDULE")})
    del env["SSU_MAILBOX_SCHEDULE"]
    env["SSU_OUTBOX_SCHEDULE"] = ""
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "functions.devhost", "--port", "0", "--no-timers", "--no-queues"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("devhost: ")
    assert "outbox_dispatch (app setting SSU_OUTBOX_SCHEDULE)" in message
    assert "(app setting SSU_MAILBOX_SCHEDULE)" in message
    assert "SSU_DEADLINES_SCHEDULE" not in message


# -- the deployed package ---------------------------------------------------------------------------------------


def funcignore() -> GitIgnoreSpec:
    # Core Tools reads .funcignore with .gitignore's rules when it packs the app.
    return GitIgnoreSpec.from_lines((PROJECT_ROOT / ".funcignore").read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize(
    "path",
    ["tests/unit/test_host_parity.py", "tests/conftest.py", "bench/run.py", "node_modules/.bin/azurite"],
)
def test_funcignore_keeps_tests_bench_and_node_modules_out(path: str) -> None:
    assert funcignore().match_file(path)


def test_funcignore_keeps_every_file_under_tests_and_bench_out() -> None:
    spec = funcignore()
    files = [p for folder in ("tests", "bench") for p in (PROJECT_ROOT / folder).rglob("*") if p.is_file()]
    assert files
    assert [str(p) for p in files if not spec.match_file(p.relative_to(PROJECT_ROOT).as_posix())] == []


@pytest.mark.parametrize(
    "path",
    ["function_app.py", "host.json", "requirements.txt", "functions/core/settings.py", "templates/base.html"],
)
def test_funcignore_keeps_the_app_in(path: str) -> None:
    assert not funcignore().match_file(path)
