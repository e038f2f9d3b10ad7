"""Settings: secrets before environment, validated, and described without secrets."""

from __future__ import annotations

import pytest
from peg_dashboard.config import ConfigurationError, DashboardSettings, load_settings

SNOWFLAKE = {
    "account": "myorg-myaccount",
    "user": "PEG_DASHBOARD",
    "password": "hunter2-secret",
    "role": "PEG_DASHBOARD_READER",
    "warehouse": "PEG_WH",
    "database": "PEG_MONITOR",
}


def test_secrets_come_first_then_the_environment() -> None:
    environ = {"SNOWFLAKE_ACCOUNT": "env-account", "SNOWFLAKE_PASSWORD": "env-pw", "PEG_MARTS_SCHEMA": "ENV_MARTS"}
    from_secrets = load_settings({"connections": {"snowflake": SNOWFLAKE}}, environ)
    assert from_secrets.source == "secrets" and from_secrets.connection["account"] == "myorg-myaccount"
    assert from_secrets.schema == "ENV_MARTS"  # no [peg_monitor] in the secrets
    from_env = load_settings({}, environ)
    assert from_env.source == "environment"
    assert dict(from_env.connection) == {"account": "env-account", "password": "env-pw"}
    pinned = load_settings({"connections": {"snowflake": SNOWFLAKE}, "peg_monitor": {"marts_schema": "db.m"}}, environ)
    assert (pinned.database, pinned.schema, pinned.qualified_schema) == ("DB", "M", "DB.M")
    assert from_secrets.data_label == ""  # real data: no label
    labelled = {"peg_monitor": {"data_label": "SIMULATED (secrets)"}}
    assert load_settings(labelled, environ | {"PEG_DATA_LABEL": " SIMULATED "}).data_label == "SIMULATED (secrets)"
    assert load_settings({}, environ | {"PEG_DATA_LABEL": " SIMULATED "}).data_label == "SIMULATED"


def test_real_snowflake_is_described_without_secrets() -> None:
    settings = load_settings({"connections": {"snowflake": SNOWFLAKE}}, {})
    assert not settings.is_emulator and settings.backend == "Snowflake"
    assert settings.describe() == {
        "backend": "Snowflake",
        "account": "myorg-myaccount",
        "database": "PEG_MONITOR",
        "schema": "ANALYTICS_MARTS",
        "warehouse": "PEG_WH",
        "role": "PEG_DASHBOARD_READER",
    }
    assert "hunter2-secret" not in repr(settings.describe())
    assert settings.secret_values() == ["hunter2-secret"]
    kwargs = settings.connect_kwargs()
    assert kwargs["login_timeout"] == 20 and kwargs["session_parameters"] == {"QUERY_TAG": "peg_monitor_dashboard"}
    assert "host" not in kwargs and "protocol" not in kwargs


def test_the_emulator_is_recognised() -> None:
    settings = load_settings(
        {"connections": {"snowflake": {"account": "fakesnow", "host": "127.0.0.1", "port": "8765", "protocol": "http"}}}
    )
    assert settings.is_emulator and settings.backend == "local Snowflake emulator"
    assert settings.describe()["address"] == "127.0.0.1:8765"
    assert settings.connect_kwargs()["port"] == 8765


@pytest.mark.parametrize(
    ("secrets", "environ", "message"),
    [
        ({}, {}, "No Snowflake connection is configured"),
        ({"connections": {"snowflake": {"user": "x"}}}, {}, "No Snowflake account is configured"),
        ({}, {"SNOWFLAKE_ACCOUNT": "a", "PEG_MARTS_SCHEMA": "x; drop table y"}, "not a plain Snowflake identifier"),
        ({}, {"SNOWFLAKE_ACCOUNT": "a", "PEG_MARTS_SCHEMA": "a.b.c"}, "not a plain Snowflake identifier"),
        ({}, {"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_PROTOCOL": "ftp"}, "protocol"),
        ({}, {"SNOWFLAKE_ACCOUNT": "a", "PEG_DATA_VERSION_TTL": "600"}, "between 0 and 60"),
        ({}, {"SNOWFLAKE_ACCOUNT": "a", "PEG_DATA_VERSION_TTL": "soon"}, "number of seconds"),
        ({}, {"SNOWFLAKE_ACCOUNT": "a", "PEG_DATA_LABEL": "SIMULATED\nx"}, "one line of at most 200 printable"),
        ({}, {"SNOWFLAKE_ACCOUNT": "a", "PEG_DATA_LABEL": "S" * 201}, "one line of at most 200 printable"),
    ],
)
def test_bad_settings_say_what_to_change(secrets, environ, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(secrets, environ)


def test_settings_validate_themselves() -> None:
    with pytest.raises(ConfigurationError, match="No Snowflake account"):
        DashboardSettings(connection={})
