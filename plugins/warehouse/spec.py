"""A raw table declared once: its spec generates the DDL, the MERGE and the added-column migration.

A `TableSpec` names the table, its typed columns, its key, the columns later releases added (with
the expression that fills an older table's rows) and what a MERGE does with a row whose key is
already there: update it when a compared column differs or a fill column gets a known value that
differs, or, with neither, leave it as its first load wrote it (insert-if-absent).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Rows per statement: a MERGE's bound array, or a DELETE's IN list, never grows past this.
ROWS_PER_STATEMENT = 500


def timestamp_literal(value: datetime | int) -> str:
    """A timestamp_ntz literal in UTC of a datetime (a naive one is taken as UTC) or of unix seconds."""
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return f"{moment.astimezone(UTC) if moment.tzinfo else moment:%Y-%m-%d %H:%M:%S}"


def chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """`rows` in slices of at most ROWS_PER_STATEMENT."""
    for i in range(0, len(rows), ROWS_PER_STATEMENT):
        yield rows[i : i + ROWS_PER_STATEMENT]


@dataclass(frozen=True)
class Column:
    """One typed column.

    :param nullable: the DDL says `not null` unless this is set
    :param added: for a column a later release added, the SQL expression its rows get in an older table
    :param merged: whether a load writes it (False: state that later UPDATEs set, e.g. a claim)
    """

    name: str
    type: str
    nullable: bool = False
    added: str | None = None
    merged: bool = True

    @property
    def ddl(self) -> str:
        return f"{self.name} {self.type}" + ("" if self.nullable else " not null")


@dataclass(frozen=True)
class TableSpec:
    """One raw table: name, columns in DDL order, primary key, and the MERGE's compare / fill columns."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    compare: tuple[str, ...] = ()
    fill: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = self.column_names
        unknown = [c for c in (*self.key, *self.compare, *self.fill) if c not in names]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: unknown or repeated columns {unknown or names}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def merged_columns(self) -> list[Column]:
        """The columns a load writes, in order: a MERGE's rows are tuples of these."""
        return [c for c in self.columns if c.merged]

    @property
    def added_columns(self) -> list[Column]:
        return [c for c in self.columns if c.added is not None]

    def row(self, **values: Any) -> tuple:
        """A row for the MERGE: the merged columns' values, in the spec's order."""
        names = [c.name for c in self.merged_columns]
        if values.keys() != set(names):
            missing, unknown = set(names) - values.keys(), values.keys() - set(names)
            raise ValueError(f"table {self.name}: row lacks {sorted(missing)}, has unknown {sorted(unknown)}")
        return tuple(values[name] for name in names)

    def qualified(self, schema: str | None) -> str:
        return f"{schema}.{self.name}" if schema else self.name

    def without(self, *names: str) -> TableSpec:
        """The table without some columns (as an older release created it; also drops them from its MERGE)."""
        return dataclasses.replace(
            self,
            columns=tuple(c for c in self.columns if c.name not in names),
            compare=tuple(c for c in self.compare if c not in names),
            fill=tuple(c for c in self.fill if c not in names),
        )

    def create_sql(self, schema: str | None = None) -> str:
        columns = [c.ddl for c in self.columns] + [f"primary key ({', '.join(self.key)})"]
        return f"create table if not exists {self.qualified(schema)} ({', '.join(columns)})"

    def migration_sql(self, schema: str | None, present: set[str]) -> list[str]:
        """Statements adding each later column missing from `present` (lower-case names) and filling its rows."""
        table = self.qualified(schema)
        return [
            sql
            for c in self.added_columns
            if c.name not in present
            for sql in (f"alter table {table} add column {c.name} {c.type}", f"update {table} set {c.name} = {c.added}")
        ]

    def merge_sql(self, schema: str | None) -> str:
        """MERGE a JSON array of rows (each an array of the merged columns' values as text, or null),
        bound as one parameter: insert new keys; update a matched row only if a compared column
        differs or a fill column gets a known value that differs (a null fill value never overwrites
        one); with no compare or fill column, a matched row is left as it is.

        One bound array instead of a VALUES list keeps the statement's text, and the work of
        compiling it, the same size whatever the rows (the emulator spent about 10 ms per VALUES row
        translating it); each value is cast from its exact text, so nothing passes through a float."""
        columns = self.merged_columns
        names = [c.name for c in columns]
        source = ", ".join(f"value[{i}]::varchar::{c.type} as {c.name}" for i, c in enumerate(columns))
        return (
            f"merge into {self.qualified(schema)} as t using "
            f"(select {source} from lateral flatten(input => parse_json(%s))) as s "
            f"on {' and '.join(f't.{k} = s.{k}' for k in self.key)} "
            f"{self._when_matched()}"
            f"when not matched then insert ({', '.join(names)}) values ({', '.join('s.' + n for n in names)})"
        )

    def _when_matched(self) -> str:
        if not self.compare and not self.fill:
            return ""
        changed = [f"t.{c} is distinct from s.{c}" for c in self.compare]
        changed += [f"(s.{c} is not null and t.{c} is distinct from s.{c})" for c in self.fill]
        updates = [f"{c} = s.{c}" for c in self.compare] + [f"{c} = coalesce(s.{c}, t.{c})" for c in self.fill]
        return f"when matched and ({' or '.join(changed)}) then update set {', '.join(updates)} "


def ensure_table(cur: Any, spec: TableSpec, schema: str | None = None) -> None:
    """Create the table if absent (`create table if not exists` leaves an older one as it was), then
    add the columns later releases added that it lacks, filling its rows."""
    cur.execute(spec.create_sql(schema))
    if not spec.added_columns:
        return
    cur.execute(f"describe table {spec.qualified(schema)}")
    present = {row[0].lower() for row in cur.fetchall()}
    for sql in spec.migration_sql(schema, present):
        cur.execute(sql)


def merge(cur: Any, spec: TableSpec, schema: str | None, rows: Sequence[tuple]) -> int:
    """MERGE rows (tuples of the spec's merged columns) in statements of ROWS_PER_STATEMENT; returns
    how many rows the statements inserted or updated."""
    changed = 0
    sql = spec.merge_sql(schema)
    for chunk in chunks(rows):
        cur.execute(sql, (json.dumps([[_text(value) for value in row] for row in chunk]),))
        changed += max(cur.rowcount or 0, 0)
    return changed


def _text(value: Any) -> str | None:
    """A value as the text its column casts from: exact for Decimal and int, `true`/`false` for bool."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise TypeError(f"a float reached the warehouse ({value!r}): pass Decimal or its exact text")
    return value if isinstance(value, str) else str(value)


class CountingCursor:
    """A DB-API cursor that counts the statements sent through it: a load's warehouse round trips,
    which a store reports (bench/backfill_throughput.py prints them per feed-day)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.executed = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.executed += 1
        return self._cursor.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@contextmanager
def transaction(connection: Any) -> Iterator[CountingCursor]:
    """A cursor inside one transaction: committed when the block ends, rolled back if it raises, so
    a load is stored whole or not at all. Its `executed` counts the statements, begin and commit
    included, once the block has ended."""
    connection.autocommit(False)
    try:
        with connection.cursor() as raw:
            cur = CountingCursor(raw)
            cur.execute("begin")
            yield cur
        connection.commit()
        cur.executed += 1
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.autocommit(True)
