"""The raw table's Asset URI is named as Cosmos names the marts' assets, from the same connection."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from devstack.services import emulator
from peg_monitor.dbt_project import DbtProjectError
from peg_monitor.lineage import SnowflakeNaming, snowflake_namespace

TEST_CONN_ID = "snowflake_lineage"
REAL_SNOWFLAKE = {
    "conn_type": "snowflake",
    "login": "PEG_LOADER",
    "password": "secret",
    "schema": "RAW",
    "extra": {"account": "xy12345.eu-central-1", "database": "PEG_MONITOR", "warehouse": "PEG_WH", "role": "PEG"},
}


def cosmos_mart_uris(connection: dict, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Asset URIs Cosmos emits for the marts when its profile comes from `connection` (the DAG's mapping)."""
    from cosmos.config import ProfileConfig
    from cosmos.dataset import construct_dataset_uri, get_dataset_namespace

    from peg_monitor.dbt_profile import PegSnowflakeProfileMapping

    monkeypatch.setenv(f"AIRFLOW_CONN_{TEST_CONN_ID.upper()}", json.dumps(connection))
    mapping = PegSnowflakeProfileMapping(conn_id=TEST_CONN_ID, profile_args={"schema": "ANALYTICS"})
    namespace = get_dataset_namespace(
        ProfileConfig(profile_name="peg_monitor", target_name="t", profile_mapping=mapping)
    )
    assert namespace, "Cosmos derived no namespace from the connection"
    database, schema = mapping.profile["database"], f"{mapping.profile['schema']}_MARTS"
    return [
        construct_dataset_uri(namespace, f"{database}.{schema}.{table}", warn_uri_migration=False)
        for table in ("stablecoin_peg_daily", "stablecoin_peg_health")
    ]


def account_and_database(uri: str) -> tuple[str, str, str]:
    parts = urlsplit(uri)
    return parts.scheme, parts.netloc, parts.path.split("/")[1]


@pytest.mark.parametrize(
    ("connection", "account"),
    [
        pytest.param(json.loads(emulator.airflow_connection_uri()), None, id="devstack emulator (default account)"),
        pytest.param(REAL_SNOWFLAKE, "xy12345.eu-central-1", id="real Snowflake, locator.region"),
        pytest.param(
            REAL_SNOWFLAKE | {"extra": REAL_SNOWFLAKE["extra"] | {"account": "xy12345", "region": "eu-central-1"}},
            "xy12345.eu-central-1",
            id="real Snowflake, region extra",
        ),
        pytest.param(
            REAL_SNOWFLAKE | {"extra": REAL_SNOWFLAKE["extra"] | {"account": "myorg-peg_monitor"}},
            "myorg-peg_monitor",
            id="real Snowflake, org-account",
        ),
    ],
)
def test_raw_asset_and_cosmos_marts_share_scheme_account_and_database(connection, account, monkeypatch) -> None:
    marts = cosmos_mart_uris(connection, monkeypatch)
    target = "local" if account is None else "snowflake"
    naming = SnowflakeNaming(account=account or "", database=connection["extra"]["database"], target=target)
    raw = naming.table_uri("RAW", "CHAINLINK_ROUNDS")
    for mart in marts:
        assert account_and_database(raw) == account_and_database(mart), (raw, mart)
    assert raw == f"{naming.namespace}/{connection['extra']['database']}/RAW/CHAINLINK_ROUNDS"


def test_the_devstack_naming_is_the_one_cosmos_shows_for_the_marts() -> None:
    assert SnowflakeNaming(account="", target="local").table_uri("RAW", "CHAINLINK_ROUNDS") == (
        "snowflake://fakesnow.us-west-1.aws/PEG_MONITOR/RAW/CHAINLINK_ROUNDS"
    )


@pytest.mark.parametrize(
    ("account", "namespace"),
    [
        ("xy12345", "snowflake://xy12345.us-west-1.aws"),
        ("xy12345.eu-central-1", "snowflake://xy12345.eu-central-1.aws"),
        ("xy12345.east-us-2.azure", "snowflake://xy12345.east-us-2.azure"),
        ("myorg-myaccount", "snowflake://myorg-myaccount"),
    ],
)
def test_accounts_are_normalised_the_openlineage_way(account, namespace) -> None:
    assert snowflake_namespace(account) == namespace


def test_a_production_target_without_the_account_is_refused() -> None:
    with pytest.raises(DbtProjectError, match="PEG_SNOWFLAKE_ACCOUNT is not set"):
        SnowflakeNaming(account="", target="snowflake")
    with pytest.raises(DbtProjectError, match="not a URL"):
        SnowflakeNaming(account="https://xy12345.snowflakecomputing.com", target="snowflake")
