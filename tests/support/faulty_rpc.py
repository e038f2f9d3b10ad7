"""An HTTP proxy in front of a JSON-RPC node that injects faults: errors, timeouts, garbage, resets."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

FAULTS = ("http_500", "http_429", "garbage", "timeout", "reset", "truncated_batch")


class FaultyRpc:
    """Counts what it saw; `failure_rate` of requests (and the first `fail_first`) get a fault."""

    def __init__(
        self,
        upstream: str,
        failure_rate: float,
        seed: int = 7,
        required_path: str = "/",
        stall: float = 3.0,
        fail_first: int = 0,
    ):
        self.upstream = upstream
        self.failure_rate = failure_rate
        self.rng = random.Random(seed)
        self.required_path = required_path
        self.stall = stall
        self.lock = threading.Lock()
        self.seen = 0
        self.faults: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.fail_first = fail_first

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    proxy.seen += 1
                    fault = proxy.rng.choice(FAULTS) if proxy.rng.random() < proxy.failure_rate else None
                    if proxy.seen <= proxy.fail_first:
                        fault = "http_500"
                    if fault:
                        proxy.faults[fault] += 1
                if self.path != proxy.required_path:
                    self._reply(401, b'{"error": "invalid API key"}')
                    return
                if fault == "http_500":
                    self._reply(500, b"internal error")
                elif fault == "http_429":
                    self._reply(429, b"rate limited")
                elif fault == "garbage":
                    self._reply(200, b'{"jsonrpc": "2.0", "res')
                elif fault == "timeout":
                    time.sleep(proxy.stall)
                    self._reply(504, b"gateway timeout")
                elif fault == "reset":
                    self.connection.close()
                else:
                    answer = requests.post(
                        proxy.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=30
                    )
                    content = answer.content
                    if fault == "truncated_batch" and content.startswith(b"[") and b"},{" in content:
                        content = content[: content.index(b"},{") + 1] + b"]"
                    self._reply(answer.status_code, content)

            def _reply(self, status: int, content: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


@contextmanager
def faulty_rpc(upstream: str, failure_rate: float = 0.2, **kwargs: object) -> Iterator[tuple[str, FaultyRpc]]:
    """Serve a FaultyRpc on a free local port; yields (base URL, proxy)."""
    proxy = FaultyRpc(upstream, failure_rate, **kwargs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()
