"""infra/ watches what the app reports: every metric of the telemetry contract has an alert rule that mails the
operations action group and says what it means, the availability test calls /api/health, and every threshold is the
app's own /api/health limit (functions/core/settings.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from functions.core.settings import ENV_PREFIX, Settings
from functions.core.telemetry import HEALTH_METRICS, METRICS
from functions.devhost.azurite import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"
MONITORING = INFRA / "modules" / "monitoring.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
MAIN = INFRA / "main.bicep"
PARAMETERS = INFRA / "main.parameters.json"

# The telemetry contract with the app (issue #18): the OpenTelemetry instruments the alerts read from customMetrics,
# as core/telemetry.py declares them.
CONTRACT = {
    "ssu.mail.failed",
    "ssu.health.outbox_oldest_due_minutes",
    "ssu.timer.runs",
    "ssu.health.poll_age_minutes",
    "ssu.health.subscription_hours_left",
    "ssu.escalations",
}
# A figure /api/health compares with a limit: (metric, monitoring.bicep parameter, Settings field, how the rule's
# query compares the figure with it). /api/health is degraded past the limit; the alert must fire at the same point.
THRESHOLDS = [
    ("ssu.health.outbox_oldest_due_minutes", "outboxMaxMinutes", "health_outbox_max_minutes", ">"),
    ("ssu.health.poll_age_minutes", "pollMaxMinutes", "health_poll_max_minutes", ">"),
    ("ssu.health.subscription_hours_left", "subscriptionMinHours", "health_subscription_min_hours", "<"),
]
DOCS = "docs/operations.md"


def block(text: str, opening: str, closing: str) -> str:
    """The text from a line starting with `opening` to the first line that is `closing` alone (top level)."""
    start = text.index(opening)
    return text[start : text.index(f"\n{closing}\n", start)]


def metrics_var(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(\w+): '([^']+)'", block(text, "var metrics = {", "}"), flags=re.MULTILINE))


def param_defaults(text: str) -> dict[str, str]:
    return dict(re.findall(r"^param (\w+) \w+ = (.+?)\s*$", text, flags=re.MULTILINE))


def resource(text: str, type_: str) -> str:
    """The one resource (or resource loop) of this type: its declaration to its closing bracket."""
    starts = [m.start() for m in re.finditer(rf"^resource \w+ '{re.escape(type_)}@[^']+' = ", text, re.MULTILINE)]
    assert len(starts) == 1, f"expected one {type_}, found {len(starts)}"
    end = re.compile(r"\n[}\]]\n").search(text, starts[0])
    assert end, f"{type_} does not end"
    return text[starts[0] : end.end()]


def log_alerts(text: str) -> list[dict[str, str]]:
    """The entries of `var logAlerts`, each query rendered with its format() arguments (metric names, parameter
    defaults) so that it reads as Application Insights will run it."""
    metrics, defaults = metrics_var(text), param_defaults(text)
    entries = re.findall(r"^  \{\n(.*?)^  \}$", block(text, "var logAlerts = [", "]"), flags=re.MULTILINE | re.DOTALL)
    rules = []
    for entry in entries:
        rule = dict(re.findall(r"^    (\w+): ('(?:[^'\\]|\\.)*'|\S+)$", entry, flags=re.MULTILINE))
        query = re.search(r"query: format\('''\n(.*?)''', (.+?)\)$", entry, flags=re.DOTALL | re.MULTILINE)
        assert query, f"no query in {rule.get('name')}"
        template, args = query.group(1), [a.strip() for a in query.group(2).split(",")]
        rule["query_args"] = " ".join(args)
        for i, arg in enumerate(args):
            # A metric by its name, a parameter by its default, a literal as written.
            value = metrics[arg.removeprefix("metrics.")] if arg.startswith("metrics.") else defaults.get(arg, arg)
            template = template.replace(f"{{{i}}}", value)
        rule["query"] = template
        rules.append({key: value.strip("'") for key, value in rule.items()})
    return rules


def rule_for(rules: list[dict[str, str]], metric: str, also: str = "") -> dict[str, str]:
    [rule] = [r for r in rules if f'name == "{metric}"' in r["query"] and also in r["query"]]
    return rule


# Each check returns what is wrong (empty: nothing), so that the tests at the end can show it catches drift.


def contract_problems(monitoring: str, main: str, function_app: str) -> list[str]:
    problems = []
    if set(metrics_var(monitoring).values()) != CONTRACT:
        problems.append(f"var metrics is not the contract: {sorted(set(metrics_var(monitoring).values()) ^ CONTRACT)}")
    queried = {m for r in log_alerts(monitoring) for m in re.findall(r'name == "([^"]+)"', r["query"])}
    problems += [f"no alert query reads {m}" for m in sorted(CONTRACT - queried)]
    problems += [f"an alert query reads {m}, not in the contract" for m in sorted(queried - CONTRACT)]
    return problems


def rule_problems(monitoring: str, main: str, function_app: str) -> list[str]:
    """Every log alert, the availability alert included, mails the operations group and says what it means."""
    problems = []
    group = resource(monitoring, "Microsoft.Insights/actionGroups")
    if not re.search(r"^resource operations ", group) or "emailAddress: operationsEmail" not in group:
        problems.append("the operations action group does not mail operationsEmail")
    loop = resource(monitoring, "Microsoft.Insights/scheduledQueryRules")
    if not re.search(r"for rule in logAlerts: if \(watchMailbox \|\| !rule\.mailbox\)", loop):
        problems.append("the scheduled query rules are not one per logAlerts entry")
    for line in ("description: rule.description", "query: rule.query", "severity: rule.severity"):
        if line not in loop:
            problems.append(f"the scheduled query rules lack {line!r}")
    if not re.search(r"actionGroups: \[\s*operations\.id\s*\]", loop):
        problems.append("the scheduled query rules do not notify the operations action group")
    if not re.search(r"scopes: \[\s*insights\.id\s*\]", loop):
        problems.append("the scheduled query rules are not scoped to Application Insights (customMetrics)")
    if not re.search(r"timeAggregation: 'Count'\s*operator: 'GreaterThan'\s*threshold: 0", loop):
        problems.append("the scheduled query rules do not fire on any returned row")
    for rule in log_alerts(monitoring):
        metric = re.search(r'name == "([^"]+)"', rule["query"])
        if len(rule.get("description", "")) < 40 or DOCS not in rule["description"]:
            problems.append(f"{rule['name']}: no description pointing at {DOCS}")
        elif metric and metric.group(1) not in rule["description"]:
            problems.append(f"{rule['name']}: the description does not name the metric {metric.group(1)}")
        if rule.get("severity") not in {"1", "2", "3"}:
            problems.append(f"{rule['name']}: severity {rule.get('severity')}")
    availability = resource(monitoring, "Microsoft.Insights/metricAlerts")
    if not re.search(r"actionGroupId: operations\.id", availability):
        problems.append("the availability alert does not notify the operations action group")
    if DOCS not in availability:
        problems.append(f"the availability alert has no description pointing at {DOCS}")
    return problems


def availability_problems(monitoring: str, main: str, function_app: str) -> list[str]:
    problems = []
    test = resource(monitoring, "Microsoft.Insights/webtests")
    expected = {
        "kind: 'standard'": "not a standard test",
        "RequestUrl: 'https://${appHostName}/api/health'": "does not call https://<app host>/api/health",
        "HttpVerb: 'GET'": "is not a GET",
        "ExpectedHttpStatusCode: 200": "does not expect 200 (health answers 503 when degraded)",
        "IgnoreHttpStatusCode: false": "ignores the status code",
        "Frequency: 300": "does not run every 5 minutes",
        "Enabled: true": "is not enabled",
        "'hidden-link:${insights.id}': 'Resource'": "is not linked to Application Insights",
    }
    problems += [f"the availability test {why}" for line, why in expected.items() if line not in test]
    locations = block(monitoring, "var healthTestLocations = [", "]")
    if len(re.findall(r"^  '[a-z]+-[a-z]+-[a-z0-9]+-(?:azr|edge)'", locations, flags=re.MULTILINE)) < 3:
        problems.append("the availability test runs from fewer than 3 locations")
    if "Locations: [for id in healthTestLocations: { Id: id }]" not in test:
        problems.append("the availability test does not run from healthTestLocations")
    alert = resource(monitoring, "Microsoft.Insights/metricAlerts")
    for line in ("webTestId: healthTest.id", "componentId: insights.id", "WebtestLocationAvailabilityCriteria"):
        if line not in alert:
            problems.append(f"the availability alert lacks {line}")
    # The host the test calls is the app's: main.bicep names the app and derives the host as functionapp.bicep
    # derives the app's public URL.
    if "var appHostName = '${appName}.azurewebsites.net'" not in main or "    appHostName: appHostName" not in main:
        problems.append("main.bicep does not pass the app's host name to monitoring")
    if not re.search(r"module app 'modules/functionapp\.bicep' = \{.*?^    name: appName$", main, re.DOTALL | re.M):
        problems.append("the app is not named appName, the name the host name derives from")
    if "var publicBaseUrl = 'https://${name}.azurewebsites.net'" not in function_app:
        problems.append("functionapp.bicep's public URL is no longer https://<name>.azurewebsites.net")
    return problems


def threshold_problems(monitoring: str, main: str, function_app: str) -> list[str]:
    problems = []
    defaults, rules = param_defaults(monitoring), log_alerts(monitoring)
    for metric, param, field, compare in THRESHOLDS:
        app_default = Settings.model_fields[field].default
        if float(defaults.get(param, "nan")) != app_default:
            problems.append(f"{param} = {defaults.get(param)}, the app's {field} is {app_default}")
        rule = rule_for(rules, metric)
        if param not in rule["query_args"].split():
            problems.append(f"{rule['name']} does not compare with {param}")
        if not re.search(rf"\| where \w+ {compare} {re.escape(defaults.get(param, '?'))}\s*$", rule["query"]):
            problems.append(f"{rule['name']} does not alert when the figure is {compare} {param}")
        # Overriding either side alone would make the alert and /api/health disagree.
        if re.search(rf"\b{param}\b", main):
            problems.append(f"main.bicep sets {param}: set the app setting too, or neither")
        if f"{ENV_PREFIX}{field.upper()}" in function_app:
            problems.append(f"functionapp.bicep sets {ENV_PREFIX}{field.upper()}: pass the same value to {param}")
    return problems


def contents() -> tuple[str, str, str]:
    monitoring, main, function_app = (p.read_text(encoding="utf-8") for p in (MONITORING, MAIN, FUNCTION_APP))
    return monitoring, main, function_app


def test_every_metric_of_the_contract_is_read_by_an_alert_query() -> None:
    assert contract_problems(*contents()) == []


def test_every_alert_rule_mails_the_operations_group_and_says_what_it_means() -> None:
    assert rule_problems(*contents()) == []
    rules = log_alerts(contents()[0])
    assert len(rules) == len({r["name"] for r in rules}) == 7
    # With SSU_MAILBOX=local nothing is polled and no subscription is kept: only those rules are left out then.
    mailbox_rules = [
        rule_for(rules, "ssu.health.poll_age_minutes"),
        rule_for(rules, "ssu.health.subscription_hours_left"),
        rule_for(rules, "ssu.timer.runs", "mailbox_poll"),
    ]
    assert {r["name"] for r in rules if r["mailbox"] == "true"} == {r["name"] for r in mailbox_rules}
    assert all(r["mailbox"] == "false" for r in rules if r not in mailbox_rules)
    assert "    watchMailbox: mailbox == 'graph'" in block(contents()[1], "module monitoring ", "}")


def test_the_availability_test_calls_api_health_on_the_app_s_host() -> None:
    assert availability_problems(*contents()) == []


def test_the_thresholds_are_the_app_s_health_limits() -> None:
    assert threshold_problems(*contents()) == []


def test_the_failed_mail_and_timer_rules_fire_on_any_failure() -> None:
    rules = log_alerts(contents()[0])
    mail = rule_for(rules, "ssu.mail.failed")
    assert "sum(valueSum)" in mail["query"] and mail["query"].rstrip().endswith("| where failed > 0")
    timer = rule_for(rules, "ssu.timer.runs", '"failed"')
    assert 'tostring(customDimensions["ssu.outcome"]) == "failed"' in timer["query"]
    assert timer["query"].rstrip().endswith("| where failed > 0")


def test_a_silent_mailbox_poll_is_an_alert_even_with_no_rows_at_all() -> None:
    rule = rule_for(log_alerts(contents()[0]), "ssu.timer.runs", "mailbox_poll")
    query = rule["query"]
    assert 'tostring(customDimensions["ssu.timer"]) == "mailbox_poll"' in query
    assert 'tostring(customDimensions["ssu.outcome"]) == "ok"' in query
    # Without `by`, summarize returns one row even over no input: "no successful poll" is then a row with 0.
    [summarize] = re.findall(r"^\| summarize .*$", query, flags=re.MULTILINE)
    assert " by " not in summarize and query.rstrip().endswith("== 0")
    assert rule["mailbox"] == "true"  # watched only when the app reads the mailbox through Graph


def test_a_breach_escalated_to_level_two_is_a_severity_one_alert() -> None:
    rules = log_alerts(contents()[0])
    rule = rule_for(rules, "ssu.escalations")
    assert 'tostring(customDimensions["ssu.case_kind"]) == "security_breach"' in rule["query"]
    assert 'toint(customDimensions["ssu.level"]) >= 2' in rule["query"]
    assert rule["severity"] == "1"
    assert all(int(r["severity"]) >= 2 for r in rules if r is not rule)


def test_every_metric_alerted_on_is_one_the_app_sends() -> None:
    assert {*METRICS, *HEALTH_METRICS} >= CONTRACT


def test_the_operations_address_comes_from_azd() -> None:
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    assert parameters["operationsEmail"] == {"value": "${SSU_OPERATIONS_EMAIL}"}
    _, main, _ = contents()
    # No default: an environment without the address is asked for it rather than deployed with alerts to nobody.
    assert re.search(r"^param operationsEmail string$", main, flags=re.MULTILINE)
    assert "    operationsEmail: operationsEmail" in block(main, "module monitoring ", "}")


# Each check catches the drift it is there for (a careless edit that still looks plausible).
Check = Callable[[str, str, str], list[str]]
MUTATIONS: list[tuple[str, str, str, Check]] = [
    ("actionGroups: [\n          operations.id\n        ]", "actionGroups: []", "do not notify", rule_problems),
    ("actionGroupId: operations.id", "actionGroupId: ''", "availability alert", rule_problems),
    ("description: rule.description", "description: ''", "rule.description", rule_problems),
    ("never got it. What to do: docs/operations.md", "never got it. See", "mail-failed: no description", rule_problems),
    ("param outboxMaxMinutes int = 15", "param outboxMaxMinutes int = 30", "outboxMaxMinutes = 30", threshold_problems),
    ("| where hoursLeft < {1}", "| where hoursLeft > {1}", "is < subscriptionMinHours", threshold_problems),
    ("metrics.pollAge, pollMaxMinutes)", "metrics.pollAge, 10)", "poll-late does not compare", threshold_problems),
    ("escalations: 'ssu.escalations'", "escalations: 'ssu.escalation'", "not the contract", contract_problems),
    ("/api/health'\n      HttpVerb", "/'\n      HttpVerb", "api/health", availability_problems),
    ("ExpectedHttpStatusCode: 200", "ExpectedHttpStatusCode: 503", "expect 200", availability_problems),
    (
        "  'emea-se-sto-edge' // UK West\n  'emea-fr-pra-edge' // France Central\n",
        "",
        "fewer than 3",
        availability_problems,
    ),
]


@pytest.mark.parametrize(("old", "new", "expected", "check"), MUTATIONS, ids=[m[2] for m in MUTATIONS])
def test_the_checks_catch_drift(old: str, new: str, expected: str, check: Check) -> None:
    monitoring, main, function_app = contents()
    assert old in monitoring, "the mutation no longer applies: update it with monitoring.bicep"
    assert check(monitoring, main, function_app) == []
    assert any(expected in problem for problem in check(monitoring.replace(old, new, 1), main, function_app))


def test_the_checks_catch_infra_overriding_one_side_of_a_threshold() -> None:
    monitoring, main, function_app = contents()
    overridden = main.replace(
        "    watchMailbox: mailbox == 'graph'\n", "    watchMailbox: mailbox == 'graph'\n    pollMaxMinutes: 30\n"
    )
    assert any("main.bicep sets pollMaxMinutes" in p for p in threshold_problems(monitoring, overridden, function_app))
    app_set = function_app.replace(
        "  SSU_MODE: 'azure'\n", "  SSU_MODE: 'azure'\n  SSU_HEALTH_POLL_MAX_MINUTES: '30'\n"
    )
    assert any("SSU_HEALTH_POLL_MAX_MINUTES" in p for p in threshold_problems(monitoring, main, app_set))
    renamed = main.replace("    name: appName\n", "    name: 'func-other'\n")
    assert any("named appName" in p for p in availability_problems(monitoring, renamed, function_app))
