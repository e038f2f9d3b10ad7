from __future__ import annotations

import pytest

from peg_monitor.urls import http_url


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        ("https://hc.example/ping/abc", 8443, None, "https://hc.example:8443/ping/abc"),
        ("https://hc.example:9000/ping/abc", 8443, None, "https://hc.example:9000/ping/abc"),  # the host's own port
        ("hc.example/ping/", None, None, "https://hc.example/ping/"),  # the path as given
        ("hc.example", 80, "http", "http://hc.example:80"),
    ],
)
def test_the_port_goes_into_the_host_and_the_scheme_defaults(host, port, schema, expected) -> None:
    assert http_url(host, port, schema, default_scheme="https") == expected
