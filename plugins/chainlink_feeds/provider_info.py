"""Airflow provider metadata, so the `chainlink` connection type (form, Test button) shows in the UI.

Registered through the `apache_airflow_provider` entry point in pyproject.toml; `make install`
and the Dockerfile install the project (no dependencies) to publish it.
"""

from __future__ import annotations


def get_provider_info() -> dict:
    return {
        "package-name": "stablecoin-peg-monitor",
        "name": "Stablecoin Peg Monitor",
        "description": "Chainlink price feed connections for the stablecoin peg monitor.",
        "connection-types": [
            {"connection-type": "chainlink", "hook-class-name": "chainlink_feeds.hooks.ChainlinkHook"},
        ],
        "versions": ["0.1.0"],
    }
