"""The alerts' tests page an inbox of their own: devstack's alert receiver on a free port."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.services.alert_receiver import apprise_url
from tests.support.inbox import Inbox, use_receiver


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    live = Inbox(tmp_path / "received.jsonl")
    use_receiver(monkeypatch, apprise_url(live.port))
    yield live
    live.stop()
