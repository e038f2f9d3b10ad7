"""The demo's on-call inbox: an HTTP endpoint that apprise's `json://` notifications post to.

Every POST is kept, with the time it arrived, in a JSON-lines file in the stack folder, and
`GET /alerts` answers them all, so a person (or the latency benchmark) sees exactly what the on-call
would have received. `python -m devstack.services.alert_receiver` serves in the foreground (what the stack's
service runs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from devstack.services import processes
from devstack.settings import STACK_DIR

HOST = "127.0.0.1"
PORT = int(os.environ.get("PEG_ALERT_RECEIVER_PORT", "8590"))
INBOX = STACK_DIR / "alerts" / "received.jsonl"
URL = f"http://{HOST}:{PORT}"


def apprise_url(port: int = PORT) -> str:
    """The apprise URL that posts JSON notifications to this receiver."""
    return f"json://{HOST}:{port}/alerts"


def read_inbox(inbox: Path = INBOX) -> list[dict]:
    """Every notification received so far, oldest first."""
    if not inbox.exists():
        return []
    return [json.loads(line) for line in inbox.read_text().splitlines() if line.strip()]


def make_server(port: int, inbox: Path) -> ThreadingHTTPServer:
    """A server that appends each POST to `inbox` (one JSON line, with its arrival time)."""
    lock = threading.Lock()
    inbox.parent.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            entry = {"received_at": datetime.now(UTC).isoformat(), "path": self.path, "body": body}
            with lock, inbox.open("a") as out:
                out.write(json.dumps(entry) + "\n")
            self._answer(200, {"ok": True})

        def do_GET(self) -> None:
            if self.path == "/alerts":
                self._answer(200, read_inbox(inbox))
            elif self.path == "/health":
                self._answer(200, {"ok": True})
            else:
                self._answer(404, {"error": f"no route {self.path}: GET /alerts or /health, POST anything"})

        def _answer(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{datetime.now(UTC).isoformat()} {format % args}\n")

    return ThreadingHTTPServer((HOST, port), Handler)


def start_service(port: int = PORT) -> bool:
    """Start the receiver in the background (log in the stack's logs); True if it was started."""
    argv = [sys.executable, "-m", "devstack.services.alert_receiver", "--port", str(port)]
    return processes.start("alert-receiver", argv, HOST, port, timeout=30)


def stop_service() -> bool:
    return processes.stop("alert-receiver")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.services.alert_receiver", description=__doc__)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--inbox", type=Path, default=INBOX)
    args = parser.parse_args()
    make_server(args.port, args.inbox).serve_forever()


if __name__ == "__main__":
    main()
