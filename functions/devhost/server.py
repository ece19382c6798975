"""The local dev host: serves `function_app.app` the way Azure Functions Core Tools does.

- every HTTP function under `/api/<route>`, with its methods and route parameters;
- every timer function on its 6-field NCRONTAB schedule, never two runs of one function at a time (Azure runs a
  timer as a singleton). A `%SETTING%` schedule is the app setting alone, as in Azure: when it is not set (or
  empty) the host refuses to start at all, naming the function and the setting (see `timer_schedules`);
- every queue-triggered function against its queue on Azurite (devhost/queues.py): dequeued with a visibility
  timeout, deleted when the function returns, seen again when it raises, moved to `<queue>-poison` after
  host.json's `maxDequeueCount`. The connection is the app setting the trigger names (`AzureWebJobsStorage`:
  when it is not set, the app's own storage, so that `make run` and the tests need no second copy);
- `POST /admin/functions/<name>` runs any non-HTTP function now, as Core Tools does. Unlike Core Tools it answers
  202 once the run has finished, so that scripts and tests can rely on its effects;
- `GET /admin/metrics` (dev host only) reports storage round trips, for the benchmarks;
- `POST /admin/clock` (dev host only) moves the app's clock: `{"advance_days": 30}` or `{"now": "<ISO time>"}`;
  `{"reset": true}` goes back to the system clock. It lets end-to-end tests see deadlines and deferred dates come;
- App Service Authentication as Azure runs it in front of the app (devhost/auth.py): `/.auth/login/aad` (pick one
  of the registry's Bits staff), `/.auth/me`, `/.auth/logout`, the session cookie, and on every request the
  `X-MS-CLIENT-PRINCIPAL*` headers: a client's own are dropped, the signed-in person's are added. It sets
  `WEBSITE_AUTH_ENABLED=True` for the app, as App Service does, so the app believes those headers here too.
  That is why it refuses to start with `SSU_MODE=azure`: anyone who reaches it may sign in as any Bits staff member;
- it answers only requests addressed to this machine (`Host: localhost`, `127.0.0.1` or `[::1]`, any port), 421
  otherwise: a web page whose name an attacker points at 127.0.0.1 (DNS rebinding) cannot sign in or read staff
  pages through a person's browser.

Function keys are not checked, as with Core Tools. No endpoint relies on them: staff pages and APIs check the
signed-in person, the alert API its sources' keys; only Graph's notification endpoint carries one in Azure.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.timer import TimerRequest
from croniter import croniter
from opentelemetry import trace

from . import auth
from .azurite import PROJECT_ROOT
from .queues import QueueOptions, QueueTrigger, storage_connection

log = logging.getLogger("devhost")

_SETTING = re.compile(r"^%([A-Za-z0-9_]+)%$")
_CONSTRAINT = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# The names this machine answers to, with any port: "localhost:7071", "127.0.0.1", "[::1]:7071".
_LOCAL_HOST = re.compile(r"^(?:localhost|127\.0\.0\.1|\[::1\])(?::[0-9]{1,5})?$", re.IGNORECASE)
AZURE_MODE_REFUSED = (
    "The dev host does not run with SSU_MODE=azure: it signs anyone in as any Bits staff member and the app "
    "believes it. Unset SSU_MODE (or set it to local) to run it; in Azure, App Service Authentication signs people in."
)


def azure_mode_requested(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment asks for Azure mode (read as the settings read it: the name in any case)."""
    environ = dict(os.environ) if environ is None else environ
    return any(k.upper() == "SSU_MODE" and v.strip().casefold() == "azure" for k, v in environ.items())


def load_local_settings(path: Path = Path("local.settings.json")) -> None:
    """Like Core Tools: the Values of local.settings.json become environment variables (the environment wins)."""
    if not path.exists():
        return
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    for name, value in values.items():
        os.environ.setdefault(name, str(value))


class UnresolvedSetting(RuntimeError):
    """A trigger names an app setting (`%NAME%`) that is not set."""


def timer_schedules(functions: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, str]:
    """Each timer function's schedule, its `%NAME%` read from the app settings alone.

    The real host puts a timer whose setting does not resolve in error and serves the rest; a log line nobody reads
    on a developer's machine. Here the whole host refuses to start, naming every such function and setting: a host
    that looks healthy while (say) the outbox never runs is worse than one that does not start, and the same
    missing setting in Azure would leave that function dead. Checked with or without `--no-timers`: a function is
    in error whether or not this host would fire it, so the tests' hosts prove the settings are given too."""
    environ = dict(os.environ) if environ is None else environ
    schedules: dict[str, str] = {}
    missing: list[str] = []
    for name, function in sorted(functions.items()):
        trigger = function.get_trigger()
        if trigger is None or trigger.get_binding_name() != "timerTrigger":
            continue
        match = _SETTING.match(trigger.schedule)
        if not match:
            schedules[name] = trigger.schedule
        elif environ.get(match.group(1), "").strip():
            schedules[name] = environ[match.group(1)].strip()
        else:
            missing.append(f"{name} (app setting {match.group(1)})")
    if missing:
        raise UnresolvedSetting(
            "these timer functions name an app setting that is not set, so the Functions host would put them in "
            f"error: {', '.join(missing)}. Set it in local.settings.json (local.settings.example.json has them all) "
            "or in the environment."
        )
    return schedules


def resolve_setting(value: str) -> str:
    """`%NAME%` is the app setting NAME; when it is not set, the app's own default for it. Only for the queue
    trigger's queue, whose default follows the table prefix (each test's host its own queue); timers are strict."""
    match = _SETTING.match(value)
    if not match:
        return value
    name = match.group(1)
    if name in os.environ:
        return os.environ[name]
    from functions.core.settings import ENV_PREFIX, get_settings

    field = name.removeprefix(ENV_PREFIX).lower()
    default = getattr(get_settings(), field, None)
    if default is None:
        raise KeyError(f"app setting {name} is not set and has no default")
    return str(default)


class DevHost:
    def __init__(self, app: func.FunctionApp, *, run_timers: bool = True, run_queues: bool = True) -> None:
        if azure_mode_requested():
            raise RuntimeError(AZURE_MODE_REFUSED)
        # As App Service does where its authentication runs; before the app reads its settings.
        os.environ["WEBSITE_AUTH_ENABLED"] = "True"
        from functions.core.settings import get_settings

        get_settings.cache_clear()
        # Function objects of the SDK are loosely typed; the dev host reads their triggers as Any.
        self.functions: dict[str, Any] = {str(f.get_function_name()): f for f in app.get_functions()}
        self.timer_schedules = timer_schedules(self.functions)
        self.run_timers = run_timers
        self.run_queues = run_queues
        self._running: dict[str, asyncio.Lock] = {}
        self._timer_tasks: list[asyncio.Task[None]] = []
        self._queues: list[QueueTrigger] = []
        self.queue_options = QueueOptions.from_host_json(PROJECT_ROOT / "host.json")

    # -- wiring -----------------------------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        # The functions enforce their own size limits.
        web_app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_only_this_machine])
        for name, function in sorted(self.functions.items()):
            trigger = function.get_trigger()
            if trigger is not None and trigger.get_binding_name() == "httpTrigger":
                path = "/api/" + _CONSTRAINT.sub(r"{\1}", (getattr(trigger, "route", None) or name).strip("/"))
                methods = [
                    str(m.value if hasattr(m, "value") else m).upper()
                    for m in (getattr(trigger, "methods", None) or ["GET", "POST"])
                ]
                for method in methods:
                    web_app.router.add_route(method, path, self._http_handler(function))
        auth.add_routes(web_app)
        web_app.router.add_post("/admin/functions/{name}", self._admin_run)
        web_app.router.add_get("/admin/metrics", self._metrics)
        web_app.router.add_post("/admin/clock", self._clock)
        web_app.on_startup.append(self._start_timers)
        web_app.on_startup.append(self._start_queues)
        web_app.on_cleanup.append(self._stop)
        return web_app

    def _http_handler(self, function: Any) -> Callable[[web.Request], Any]:
        user_function = function.get_user_function()
        arg_name = function.get_trigger().name

        async def handle(request: web.Request) -> web.StreamResponse:
            req = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=auth.platform_headers(request, _headers(request)),
                params={k: request.query.getone(k) for k in request.query},
                route_params=dict(request.match_info),
                body=await request.read(),
            )
            try:
                response = await _call(user_function, {arg_name: req})
            except Exception:
                log.exception("function %s failed", function.get_function_name())
                return web.Response(status=500, text="Internal server error")
            return _to_aiohttp(response)

        return handle

    # -- admin ------------------------------------------------------------------------------------------------

    async def _admin_run(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        function = self.functions.get(name)
        trigger = function.get_trigger() if function else None
        if function is None or trigger is None or trigger.get_binding_name() == "httpTrigger":
            return web.json_response({"error": f"no non-HTTP function named {name!r}"}, status=404)
        try:
            body = await request.read()
            given = json.loads(body).get("input", "") if body.strip() else ""
        except (ValueError, AttributeError):
            given = ""
        try:
            await self.run_function(name, str(given))
        except Exception as exc:
            log.exception("function %s failed", name)
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=500)
        return web.Response(status=202)

    async def run_function(self, name: str, given: str = "") -> None:
        """Run a non-HTTP function now; `given` is the body of a queue message (Core Tools' `{"input": …}`)."""
        function = self.functions[name]
        trigger = function.get_trigger()
        binding = trigger.get_binding_name()
        argument: Any = None
        if binding == "timerTrigger":
            argument = TimerRequest(past_due=False)
        elif binding == "queueTrigger":
            argument = func.QueueMessage(body=given.encode())
        lock = self._running.setdefault(name, asyncio.Lock())
        async with lock:
            await _call(function.get_user_function(), {trigger.name: argument})

    async def _clock(self, request: web.Request) -> web.Response:
        from functions.composition import get_services
        from functions.core.clock import OffsetClock, SystemClock

        services = get_services()
        try:
            body = await request.json()
            if body.get("reset"):
                services.clock = SystemClock()
            elif "advance_days" in body:
                base = services.clock if isinstance(services.clock, OffsetClock) else OffsetClock()
                services.clock = base.advanced(timedelta(days=float(body["advance_days"])))
            else:
                services.clock = OffsetClock.at(datetime.fromisoformat(body["now"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": f"give advance_days, now or reset: {exc}"}, status=400)
        return web.json_response({"now": services.clock.now().isoformat()})

    async def _metrics(self, _request: web.Request) -> web.Response:
        from functions.composition import get_services

        services = get_services()
        return web.json_response({"storage_round_trips": services.storage.round_trips})

    # -- timers -----------------------------------------------------------------------------------------------

    async def _start_timers(self, _app: web.Application) -> None:
        if not self.run_timers:
            return
        for name, schedule in self.timer_schedules.items():
            self._timer_tasks.append(asyncio.create_task(self._timer_loop(name, schedule)))
            log.info("timer %s: %s", name, schedule)

    async def _timer_loop(self, name: str, schedule: str) -> None:
        times = croniter(schedule, datetime.now(UTC), second_at_beginning=True)
        while True:
            due: datetime = times.get_next(datetime)
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            if self._running.get(name, asyncio.Lock()).locked():
                continue  # still running from last time; Azure would skip too
            try:
                await self.run_function(name)
            except Exception:
                log.exception("timer %s failed", name)

    # -- queues -----------------------------------------------------------------------------------------------

    async def _start_queues(self, _app: web.Application) -> None:
        if not self.run_queues:
            return
        for name, function in self.functions.items():
            trigger = function.get_trigger()
            if trigger is None or trigger.get_binding_name() != "queueTrigger":
                continue
            queue_name = resolve_setting(trigger.queue_name)
            connection = self._queue_connection(trigger.connection)
            runner = QueueTrigger(name, _message_handler(function), connection, queue_name, self.queue_options)
            self._queues.append(runner)
            self._timer_tasks.append(asyncio.create_task(runner.run_forever()))
            log.info("queue trigger %s: queue %s", name, queue_name)

    def _queue_connection(self, name: str) -> str:
        from functions.core.settings import AZURITE_CONNECTION_STRING, get_settings

        environ = dict(os.environ)
        if name == "AzureWebJobsStorage" and not environ.get(name):
            own = get_settings().connection_string
            if own:
                environ[name] = own  # the host's storage is the app's own (Azurite), as `make run` starts it
        return storage_connection(name, environ, AZURITE_CONNECTION_STRING)

    async def _stop(self, _app: web.Application) -> None:
        for task in self._timer_tasks:
            task.cancel()
        for runner in self._queues:
            await runner.close()
        from functions.composition import _by_loop

        for services in list(_by_loop.values()):
            await services.close()
        _by_loop.clear()


@web.middleware
async def _only_this_machine(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Refuse a request addressed to any other name than this machine's (421), or to none (400)."""
    host = request.headers.getall("Host", [])
    if len(host) != 1:
        return web.Response(status=400, text="One Host header, please.\n")
    if not _LOCAL_HOST.match(host[0].strip()):
        log.warning("refused a request for host %r (the dev host answers only localhost)", host[0][:100])
        return web.Response(status=421, text="The dev host answers only localhost, 127.0.0.1 and [::1].\n")
    response: web.StreamResponse = await handler(request)
    return response


def _headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        lower = key.lower()
        if lower in headers:
            headers[lower] += ("; " if lower == "cookie" else ", ") + value
        else:
            headers[lower] = value
    # As App Service's front end: `client-ip` is the connection's peer (a client's own is overwritten), and the
    # peer is appended to X-Forwarded-For. The rate limits read these (functions/web/rate_limit.py).
    peer = request.remote or ""
    headers["client-ip"] = peer
    headers["x-forwarded-for"] = f"{headers['x-forwarded-for']}, {peer}" if "x-forwarded-for" in headers else peer
    return headers


def _message_handler(function: Any) -> Callable[[func.QueueMessage], Awaitable[None]]:
    user_function, arg_name = function.get_user_function(), function.get_trigger().name

    async def handle(message: func.QueueMessage) -> None:
        await _call(user_function, {arg_name: message})

    return handle


async def _call(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    # As the Functions host in OpenTelemetry mode does: a span per invocation, the app's own spans beneath it (a
    # no-op unless SSU_TELEMETRY=console).
    with trace.get_tracer("devhost").start_as_current_span(f"Invoke {function.__name__}", kind=trace.SpanKind.SERVER):
        if inspect.iscoroutinefunction(function):
            return await function(**kwargs)
        return await asyncio.to_thread(function, **kwargs)


def _to_aiohttp(response: func.HttpResponse | None) -> web.Response:
    if response is None:
        return web.Response(status=204)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    content_type = response.mimetype or "text/plain"
    if content_type.startswith("text/") or content_type in ("application/json", "application/xml"):
        content_type = f"{content_type}; charset={response.charset or 'utf-8'}"
    headers["Content-Type"] = content_type
    return web.Response(body=response.get_body(), status=response.status_code, headers=headers)
