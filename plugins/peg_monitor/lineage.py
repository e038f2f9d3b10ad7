"""Asset URIs for the warehouse's tables, named as Cosmos names the assets of the dbt models.

Cosmos (through OpenLineage's dbt integration) names a model's table
`snowflake://{account}/{database}/{schema}/{table}`, the account normalised the OpenLineage way
(`xy12345` -> `xy12345.us-west-1.aws`, `xy12345.eu-central-1` -> `xy12345.eu-central-1.aws`,
`myorg-myaccount` unchanged). Cosmos reads the account from the connection when a task runs; a DAG
file may not (no connection access at parse time), so the raw tables' account comes from
`PEG_SNOWFLAKE_ACCOUNT`: the `snowflake_default` connection's `account` extra, with `.<region>`
appended if the connection keeps the region in a separate `region` extra. Unset, it is the
emulator's account for the `local` dbt target and refused for any other target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from airflow.sdk import Asset

from peg_monitor import settings
from peg_monitor.dbt_project import DbtProjectError

EMULATOR_ACCOUNT = "fakesnow"  # the devstack connection's account (devstack/warehouse.py)


def snowflake_namespace(account: str) -> str:
    """`snowflake://<account>` with the account normalised as OpenLineage (and so Cosmos) does."""
    from openlineage.common.provider.snowflake import fix_account_name

    return f"snowflake://{fix_account_name(account)}"


@dataclass(frozen=True)
class SnowflakeNaming:
    """The account and database the DAG names Snowflake tables with; validated where it enters."""

    account: str = field(default_factory=lambda: os.environ.get("PEG_SNOWFLAKE_ACCOUNT", ""))
    database: str = field(default_factory=settings.snowflake_database)
    target: str = field(default_factory=settings.dbt_target)

    def __post_init__(self) -> None:
        if not self.account:
            if self.target != "local":
                raise DbtProjectError(
                    f"PEG_SNOWFLAKE_ACCOUNT is not set (dbt target {self.target!r}): set it to the snowflake_default "
                    "connection's account (e.g. xy12345.eu-central-1 or myorg-myaccount) so the raw tables' "
                    "Asset URIs match the ones Cosmos emits for the dbt models"
                )
            object.__setattr__(self, "account", EMULATOR_ACCOUNT)
        if "/" in self.account or "://" in self.account:
            raise DbtProjectError(f"PEG_SNOWFLAKE_ACCOUNT={self.account!r}: use the account identifier, not a URL")

    @property
    def namespace(self) -> str:
        return snowflake_namespace(self.account)

    def table_uri(self, schema: str, table: str) -> str:
        """The Asset URI Cosmos gives `database.schema.table` (Airflow 3 form: dots become slashes)."""
        from cosmos.dataset import construct_dataset_uri

        return construct_dataset_uri(self.namespace, f"{self.database}.{schema}.{table}", warn_uri_migration=False)


def raw_rounds_asset(raw_schema: str) -> Asset:
    """The raw rounds table as an Asset both DAGs update. Its name is its URI, as Cosmos's are: a name
    kept across a URI change would leave the new asset inactive (failing the ingest) until the
    scheduler retires the old one."""
    uri = SnowflakeNaming().table_uri(raw_schema, "CHAINLINK_ROUNDS")
    return Asset(name=uri, uri=uri, group="peg_monitor")
