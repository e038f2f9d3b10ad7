"""An HTTP proxy in front of the chain node that can hold requests, to catch a task in mid-read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class RpcGate:
    """Forwards JSON-RPC requests to `upstream`; while closed, each request waits for it to open
    (for at most `max_hold` seconds, so nothing waits forever) and `waiting` counts them."""

    def __init__(self, upstream: str, max_hold: float = 20) -> None:
        self.upstream = upstream
        self.max_hold = max_hold
        self.open_ = threading.Event()
        self.open_.set()
        self.lock = threading.Lock()
        self.waiting = 0

    def close(self) -> None:
        self.open_.clear()

    def open(self) -> None:
        self.open_.set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with gate.lock:
                    gate.waiting += 1
                gate.open_.wait(gate.max_hold)
                with gate.lock:
                    gate.waiting -= 1
                answer = requests.post(
                    gate.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=60
                )
                try:
                    self.send_response(answer.status_code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                except (BrokenPipeError, ConnectionResetError):  # its client was killed meanwhile
                    pass

        return Handler


@contextmanager
def rpc_gate(upstream: str, port: int) -> Iterator[RpcGate]:
    """Serve an RpcGate on 127.0.0.1:`port` (open) until the block ends."""
    gate = RpcGate(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", port), gate.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gate
    finally:
        gate.open()
        server.shutdown()
        server.server_close()
