"""One TableSpec generates a table's DDL, its MERGE (update-if-differs or insert-if-absent) and the
migration of an older table: as SQL, and run on the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import snowflake.connector

from devstack.services import emulator
from warehouse import spec as spec_module
from warehouse.spec import Column, TableSpec, ensure_table, merge, timestamp_literal
from warehouse.tables import CHAINLINK_TABLES, PEG_ALERT_TRANSITIONS

PRICES = TableSpec(
    "PRICES",
    (
        Column("id", "number(10,0)"),
        Column("price", "number(38,18)"),
        Column("note", "varchar", nullable=True),
        Column("source", "varchar", added="'older release'"),
        Column("loaded_at", "timestamp_ntz"),
        Column("claimed_by", "varchar", nullable=True, merged=False),
    ),
    key=("id",),
    compare=("price", "source"),
    fill=("note",),
)
EVENTS = TableSpec("EVENTS", (Column("id", "number(10,0)"), Column("what", "varchar")), key=("id",))


def test_the_ddl_has_every_column_typed_with_its_key() -> None:
    assert PRICES.create_sql("S") == (
        "create table if not exists S.PRICES (id number(10,0) not null, price number(38,18) not null, "
        "note varchar, source varchar not null, loaded_at timestamp_ntz not null, claimed_by varchar, "
        "primary key (id))"
    )
    assert EVENTS.create_sql(None).startswith("create table if not exists EVENTS (")


def test_the_merge_updates_a_row_only_if_a_compared_column_differs_or_a_fill_gets_a_value() -> None:
    assert PRICES.merge_sql("S") == (
        "merge into S.PRICES as t using (select value[0]::varchar::number(10,0) as id, "
        "value[1]::varchar::number(38,18) as price, value[2]::varchar::varchar as note, "
        "value[3]::varchar::varchar as source, value[4]::varchar::timestamp_ntz as loaded_at "
        "from lateral flatten(input => parse_json(%s))) as s on t.id = s.id "
        "when matched and (t.price is distinct from s.price or t.source is distinct from s.source "
        "or (s.note is not null and t.note is distinct from s.note)) "
        "then update set price = s.price, source = s.source, note = coalesce(s.note, t.note) "
        "when not matched then insert (id, price, note, source, loaded_at) "
        "values (s.id, s.price, s.note, s.source, s.loaded_at)"
    )


def test_with_nothing_to_compare_the_merge_inserts_only_what_is_absent() -> None:
    assert EVENTS.merge_sql(None) == (
        "merge into EVENTS as t using (select value[0]::varchar::number(10,0) as id, "
        "value[1]::varchar::varchar as what from lateral flatten(input => parse_json(%s))) as s on t.id = s.id "
        "when not matched then insert (id, what) values (s.id, s.what)"
    )


def test_the_migration_adds_only_the_later_columns_an_older_table_lacks() -> None:
    assert PRICES.migration_sql("S", {"id", "price", "note", "loaded_at", "claimed_by"}) == [
        "alter table S.PRICES add column source varchar",
        "update S.PRICES set source = 'older release'",
    ]
    assert PRICES.migration_sql("S", set(PRICES.column_names)) == []


def test_a_row_is_the_merged_columns_in_order_and_names_what_is_wrong() -> None:
    now = datetime(2026, 1, 1)
    assert PRICES.row(loaded_at=now, source="x", note=None, price="1", id=1) == (1, "1", None, "x", now)
    with pytest.raises(ValueError, match=r"PRICES: row lacks \['loaded_at'\], has unknown \['claimed_by'\]"):
        PRICES.row(id=1, price="1", note=None, source="x", claimed_by="me")


def test_a_spec_naming_a_column_it_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="table T: unknown or repeated columns"):
        TableSpec("T", (Column("id", "number(10,0)"),), key=("id",), compare=("price",))


def test_the_raw_tables_keep_their_load_metadata_from_the_first_load() -> None:
    for table in (*CHAINLINK_TABLES, PEG_ALERT_TRANSITIONS):
        merged = {*table.compare, *table.fill}
        assert not merged & {"loaded_at", "airflow_run_id", "block_number", "recorded_at"}, table.name
        assert not merged & set(table.key), table.name


def test_timestamps_are_utc_literals() -> None:
    assert timestamp_literal(datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-01 00:00:00"
    assert timestamp_literal(datetime(2026, 1, 1, 3, 4, 5)) == "2026-01-01 03:04:05"  # naive: taken as UTC
    assert timestamp_literal(int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())) == "2026-01-01 00:00:00"


class Recorder:
    def __init__(self) -> None:
        self.statements: list[tuple[str, list]] = []
        self.rowcount = 1

    def execute(self, sql: str, params: list) -> None:
        self.statements.append((sql, params))


def test_a_merge_runs_in_statements_of_at_most_rows_per_statement(monkeypatch) -> None:
    monkeypatch.setattr(spec_module, "ROWS_PER_STATEMENT", 2)
    cur = Recorder()
    assert merge(cur, EVENTS, "S", [(i, "x") for i in range(5)]) == 3  # each statement's rowcount
    assert [json.loads(params[0]) for _, params in cur.statements] == [
        [["0", "x"], ["1", "x"]],
        [["2", "x"], ["3", "x"]],
        [["4", "x"]],
    ]
    assert {sql for sql, _ in cur.statements} == {EVENTS.merge_sql("S")}


def test_a_float_is_refused_before_it_reaches_the_warehouse() -> None:
    with pytest.raises(TypeError, match=r"a float reached the warehouse \(0\.1\)"):
        merge(Recorder(), PRICES, "S", [PRICES.row(id=1, price=0.1, note=None, source="x", loaded_at="2026-01-01")])


def rows(cur, sql: str) -> list[tuple]:
    cur.execute(sql)
    return cur.fetchall()


def test_an_older_table_gains_the_later_column_once_on_the_emulator(snowflake_schema) -> None:
    table = PRICES.qualified(snowflake_schema)
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        cur.execute(PRICES.without("source").create_sql(snowflake_schema))
        cur.execute(f"insert into {table} (id, price, loaded_at) values (1, 0.99, '2026-01-01 00:00:00')")
        ensure_table(cur, PRICES, snowflake_schema)
        ensure_table(cur, PRICES, snowflake_schema)  # twice: the second finds the column and changes nothing
        assert rows(cur, f"select id, source from {table}") == [(1, "older release")]
        assert "source" in {row[0].lower() for row in rows(cur, f"describe table {table}")}


def test_the_merge_semantics_on_the_emulator(snowflake_schema) -> None:
    table = PRICES.qualified(snowflake_schema)

    def load(price: str, note: str | None, loaded_at: str) -> int:
        row = PRICES.row(id=1, price=price, note=note, source="chain", loaded_at=loaded_at)
        return merge(cur, PRICES, snowflake_schema, [row])

    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        ensure_table(cur, PRICES, snowflake_schema)
        ensure_table(cur, EVENTS, snowflake_schema)
        assert load("0.99", None, "2026-01-01 00:00:00") == 1
        assert load("0.99", None, "2026-01-02 00:00:00") == 0  # nothing compared differs: the first load stays
        assert load("0.99", "noted", "2026-01-03 00:00:00") == 1  # a fill column gets a value
        assert load("0.99", None, "2026-01-04 00:00:00") == 0  # a null fill value never overwrites one
        assert load("0.98", None, "2026-01-05 00:00:00") == 1  # a compared column differs
        assert rows(cur, f"select price, note, loaded_at from {table}") == [
            (Decimal("0.98"), "noted", datetime(2026, 1, 1))
        ]
        merge(cur, EVENTS, snowflake_schema, [(1, "first")])
        merge(cur, EVENTS, snowflake_schema, [(1, "second"), (2, "new")])  # insert-if-absent
        assert rows(cur, f"select id, what from {EVENTS.qualified(snowflake_schema)} order by id") == [
            (1, "first"),
            (2, "new"),
        ]


def test_every_value_arrives_exactly_as_its_text_on_the_emulator(snowflake_schema) -> None:
    """Quotes, backslashes, non-ASCII text, 18-decimal and 25-digit numbers (a round id), nulls and microseconds
    reach their columns unchanged through the bound JSON array."""
    texts = TableSpec(
        "TEXTS",
        (
            Column("id", "number(25,0)"), Column("price", "number(38,18)"), Column("what", "varchar", nullable=True),
            Column("flag", "boolean"), Column("seen_at", "timestamp_ntz"),
        ),
        key=("id",),
    )  # fmt: skip
    tricky = 'it\'s \\ a "quote", ü €, %s %(x)s'
    with snowflake.connector.connect(**emulator.connection_params()) as conn, conn.cursor() as cur:
        ensure_table(cur, texts, snowflake_schema)
        assert merge(cur, texts, snowflake_schema, [
            (10**24 + 7, Decimal("123.000000000000000001"), tricky, True, "2026-01-01 00:00:00.123456"),
            (2, "-0.999999999999999999", None, False, "2026-01-02 03:04:05"),
        ]) == 2  # fmt: skip
        assert rows(
            cur, f"select id, price, what, flag, seen_at from {texts.qualified(snowflake_schema)} order by id"
        ) == [
            (2, Decimal("-0.999999999999999999"), None, False, datetime(2026, 1, 2, 3, 4, 5)),
            (10**24 + 7, Decimal("123.000000000000000001"), tricky, True, datetime(2026, 1, 1, 0, 0, 0, 123456)),
        ]
