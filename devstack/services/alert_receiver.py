"""The demo's on-call inbox: an HTTP endpoint that apprise's `json://` notifications post to.

Every POST is kept, with the time it arrived, in a JSON-lines file in the stack folder, and
`GET /alerts` answers them all, so a person (or the latency benchmark) sees exactly what the on-call
would have received. `python -m devstack.services.alert_receiver` serves in the foreground (what the stack's
service runs).

It is also the monitor's dead-man's switch, as a hosted check (healthchecks.io, Cronitor) would be:
a GET or POST to `/ping/<check>` says the check is alive; a check that has pinged once and then
stays silent for longer than `deadman_after` seconds pages: an entry in the same inbox ("DEAD MAN'S
SWITCH <check>: no ping for ..."), once per silence, and a RESOLVED one when pings come back.
`GET /checks` answers each check's last ping and state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from devstack.services import processes
from devstack.settings import STACK_DIR

HOST = "127.0.0.1"
PORT = int(os.environ.get("PEG_ALERT_RECEIVER_PORT", "8590"))
INBOX = STACK_DIR / "alerts" / "received.jsonl"
URL = f"http://{HOST}:{PORT}"
# The stack's near-real-time DAG pings after each run its trigger started, at least every
# PEG_REALTIME_ALIVE_MINUTES (5 on the stack): two missed pings and a run's length page.
DEADMAN_AFTER_SECONDS = float(os.environ.get("PEG_DEADMAN_AFTER_SECONDS", "720"))


def apprise_url(port: int = PORT) -> str:
    """The apprise URL that posts JSON notifications to this receiver."""
    return f"json://{HOST}:{port}/alerts"


def read_inbox(inbox: Path = INBOX) -> list[dict]:
    """Every notification received so far, oldest first."""
    if not inbox.exists():
        return []
    return [json.loads(line) for line in inbox.read_text().splitlines() if line.strip()]


def ping_url(check: str, port: int = PORT) -> str:
    """The URL a monitored job pings to say `check` is alive."""
    return f"http://{HOST}:{port}/ping/{check}"


class DeadManSwitch:
    """Each check's last ping; `overdue` pages a check silent for longer than `after` seconds, once."""

    def __init__(self, after: float, record: Callable[[str, dict], None]) -> None:
        self.after, self.record = after, record
        self.pings: dict[str, float] = {}
        self.down: set[str] = set()
        self.lock = threading.Lock()

    def ping(self, check: str, now: float) -> None:
        with self.lock:
            self.pings[check] = now
            back = check in self.down
            self.down.discard(check)
        if back:
            title = f"RESOLVED DEAD MAN'S SWITCH {check}: pinging again"
            self.record(f"/deadman/{check}", {"title": title, "message": title, "type": "success"})

    def overdue(self, now: float) -> None:
        with self.lock:
            silent = [c for c, at in self.pings.items() if now - at > self.after and c not in self.down]
            self.down.update(silent)
        for check in silent:
            since = datetime.fromtimestamp(self.pings[check], UTC)
            title = f"DEAD MAN'S SWITCH {check}: no ping for {self.after / 60:g} min"
            message = (
                f"{check} last pinged at {since:%Y-%m-%d %H:%M:%S} UTC. The monitor itself may be down (scheduler, "
                "triggerer, workers or warehouse): nothing it watches can page until it pings again."
            )
            self.record(f"/deadman/{check}", {"title": title, "message": message, "type": "failure"})

    def states(self) -> dict[str, dict]:
        with self.lock:
            return {
                c: {"last_ping": datetime.fromtimestamp(at, UTC).isoformat(), "down": c in self.down}
                for c, at in self.pings.items()
            }


class ReceiverServer(ThreadingHTTPServer):
    """The HTTP server, plus the switch's watch, which stops with it."""

    switch: DeadManSwitch
    stopped: threading.Event

    def shutdown(self) -> None:
        self.stopped.set()
        super().shutdown()


def make_server(port: int, inbox: Path, deadman_after: float = DEADMAN_AFTER_SECONDS) -> ReceiverServer:
    """A server that appends each POST to `inbox` (one JSON line, with its arrival time) and pages
    there a check silent for more than `deadman_after` seconds."""
    lock = threading.Lock()
    inbox.parent.mkdir(parents=True, exist_ok=True)

    def record(path: str, body: object) -> None:
        entry = {"received_at": datetime.now(UTC).isoformat(), "path": path, "body": body}
        with lock, inbox.open("a") as out:
            out.write(json.dumps(entry) + "\n")

    switch = DeadManSwitch(deadman_after, record)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            if self.path.startswith("/ping/"):
                return self._ping()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            record(self.path, body)
            self._answer(200, {"ok": True})

        def do_GET(self) -> None:
            if self.path == "/alerts":
                self._answer(200, read_inbox(inbox))
            elif self.path == "/health":
                self._answer(200, {"ok": True})
            elif self.path == "/checks":
                self._answer(200, switch.states())
            elif self.path.startswith("/ping/"):
                self._ping()
            else:
                self._answer(404, {"error": f"no route {self.path}: GET /alerts, /checks or /health, POST anything"})

        def _ping(self) -> None:
            check = self.path.removeprefix("/ping/").strip("/")
            if not check or "/" in check:
                return self._answer(400, {"error": f"{self.path}: ping /ping/<check>, one path segment"})
            switch.ping(check, time.time())
            self._answer(200, {"ok": True})

        def _answer(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{datetime.now(UTC).isoformat()} {format % args}\n")

    server = ReceiverServer((HOST, port), Handler)
    server.switch, server.stopped = switch, threading.Event()

    def watch() -> None:
        while not server.stopped.wait(1.0):
            switch.overdue(time.time())

    threading.Thread(target=watch, name="dead-man's switch", daemon=True).start()
    return server


def start_service(port: int = PORT) -> bool:
    """Start the receiver in the background (log in the stack's logs); True if it was started."""
    argv = [sys.executable, "-m", "devstack.services.alert_receiver", "--port", str(port)]
    argv += ["--deadman-after", str(DEADMAN_AFTER_SECONDS)]
    return processes.start("alert-receiver", argv, HOST, port, timeout=30)


def stop_service() -> bool:
    return processes.stop("alert-receiver")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.services.alert_receiver", description=__doc__)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--inbox", type=Path, default=INBOX)
    parser.add_argument(
        "--deadman-after", type=float, default=DEADMAN_AFTER_SECONDS, help="seconds without a ping before a check pages"
    )
    args = parser.parse_args()
    if args.deadman_after <= 0:
        parser.error(f"--deadman-after must be positive seconds, got {args.deadman_after}")
    make_server(args.port, args.inbox, args.deadman_after).serve_forever()


if __name__ == "__main__":
    main()
