"""The demo's backfill call against a stand-in API server that answers 409 while another backfill
of the DAG is still active (a fault injected: a real one is marked complete seconds after its last run)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack.cluster import rest


class FakeApi(ThreadingHTTPServer):
    conflicts: int  # how many backfill POSTs answer 409 before one is created
    posts: int = 0


@pytest.fixture
def api(monkeypatch) -> Iterator[FakeApi]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_PATCH(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(200, {})

        def do_GET(self) -> None:
            self._answer(200, {"dag_runs": [{"run_type": "scheduled"}], "total_entries": 1})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.posts += 1
            if server.posts <= server.conflicts:
                self._answer(409, {"detail": "There is already a running backfill for dag stablecoin_peg_daily"})
            else:
                self._answer(201, {"id": 1})

        def log_message(self, *args: object) -> None:
            pass

    server = FakeApi(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(rest.time, "sleep", lambda seconds: None)
    yield server
    server.shutdown()


def test_a_backfill_waits_for_the_one_still_marked_active_and_is_then_created(api) -> None:
    api.conflicts = 2
    days = rest.backfill(date(2026, 11, 20), date(2026, 11, 22), port=api.server_address[1])
    assert api.posts == 3 and days == {"2026-11-20", "2026-11-21", "2026-11-22"}


def test_a_backfill_still_active_after_half_a_minute_is_taken_as_this_ones_own(api) -> None:
    api.conflicts = 100
    rest.backfill(date(2026, 11, 20), date(2026, 11, 22), port=api.server_address[1])
    assert api.posts == 6
