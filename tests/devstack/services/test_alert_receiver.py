"""The demo's inbox receives what apprise's JSON notifier posts, with its arrival time, and is the
stack's dead-man's switch."""

from __future__ import annotations

import threading
import time

import apprise
import requests

from devstack.services.alert_receiver import apprise_url, make_server, ping_url, read_inbox
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


def test_a_check_that_stops_pinging_pages_once_and_resolves_when_it_pings_again(tmp_path) -> None:
    """The stack's dead-man's switch, over HTTP as a hosted check is used: pinged, then silent for
    longer than its limit, it writes one DEAD MAN'S SWITCH entry into the inbox (not one per second of
    silence), and one RESOLVED when the pings come back; a check never pinged never pages."""
    port, inbox = free_port(), tmp_path / "received.jsonl"
    server = make_server(port, inbox, deadman_after=1.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert requests.get(ping_url("peg-realtime", port), timeout=5).ok
        time.sleep(1.0)
        assert requests.post(ping_url("peg-realtime", port), timeout=5).ok  # POST pings too
        time.sleep(1.0)
        assert read_inbox(inbox) == []  # pinged within the limit
        time.sleep(3.5)  # silent for over twice the limit: still one page
        checks = requests.get(f"http://127.0.0.1:{port}/checks", timeout=5).json()
        assert checks["peg-realtime"]["down"] is True
        assert requests.get(ping_url("peg-realtime", port), timeout=5).ok
        bad = requests.get(f"http://127.0.0.1:{port}/ping/", timeout=5)
        assert bad.status_code == 400 and "/ping/<check>" in bad.json()["error"]
    finally:
        server.shutdown()
        server.server_close()
    titles = [r["body"]["title"] for r in read_inbox(inbox)]
    assert titles == [
        "DEAD MAN'S SWITCH peg-realtime: no ping for 0.025 min",
        "RESOLVED DEAD MAN'S SWITCH peg-realtime: pinging again",
    ]
    assert read_inbox(inbox)[0]["body"]["type"] == "failure"
