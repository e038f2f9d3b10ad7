"""The demo's inbox receives what apprise's JSON notifier posts, with its arrival time."""

from __future__ import annotations

import threading

import apprise

from devstack.services.alert_receiver import apprise_url, make_server, read_inbox
from tests.support.scratch_chain import free_port


def test_apprise_json_notifications_land_in_the_inbox(tmp_path) -> None:
    port, inbox = free_port(), tmp_path / "received.jsonl"
    server = make_server(port, inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sender = apprise.Apprise()
        assert sender.add(apprise_url(port))
        assert sender.notify(title="USDC/USD critical", body="0.9700 USD, -300.0 bps")
        assert sender.notify(title="USDC/USD healthy", body="1.0000 USD, 0.0 bps")
    finally:
        server.shutdown()
        server.server_close()
    received = read_inbox(inbox)
    assert [r["body"]["title"] for r in received] == ["USDC/USD critical", "USDC/USD healthy"]
    assert received[0]["body"]["message"] == "0.9700 USD, -300.0 bps"
    assert received[0]["received_at"] <= received[1]["received_at"]
