"""Run the dev host: python -m functions.devhost [--port 7071] [--host 127.0.0.1] [--no-timers] [--no-queues]."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from .server import AZURE_MODE_REFUSED, DevHost, UnresolvedSetting, azure_mode_requested, load_local_settings


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the function app locally, as Core Tools would.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--no-timers", action="store_true", help="do not run timer functions on their schedules")
    parser.add_argument("--no-queues", action="store_true", help="do not run queue-triggered functions")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    load_local_settings()
    if azure_mode_requested():
        sys.exit(f"devhost: {AZURE_MODE_REFUSED}")  # exit status 1, the message on stderr
    from function_app import app

    try:
        host = DevHost(app, run_timers=not args.no_timers, run_queues=not args.no_queues)
    except UnresolvedSetting as exc:
        sys.exit(f"devhost: {exc}")  # exit status 1, the message on stderr
    names = ", ".join(sorted(host.functions))
    logging.getLogger("devhost").info("functions: %s", names)
    web.run_app(host.web_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
