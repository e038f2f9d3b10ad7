"""An apprise connection pointed at devstack's alert receiver on a free port, with an inbox of its own."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from devstack.services.alert_receiver import make_server, read_inbox

TEST_CONN_ID = "apprise_test"


class Inbox:
    """devstack's alert receiver serving on a free port; `received` is the apprise payloads it kept."""

    def __init__(self, path: Path) -> None:
        self.path, self.server = path, make_server(0, path)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def received(self) -> list[dict]:
        return [entry["body"] for entry in read_inbox(self.path)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def use_receiver(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point the test's apprise connection at an apprise URL (the provider's `config` extra)."""
    config = {"path": url}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{TEST_CONN_ID.upper()}", json.dumps({"conn_type": "apprise", "extra": {"config": config}})
    )
