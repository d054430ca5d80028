"""``runtime.db.partial_update``: only the given columns change, values travel as parameters, and a
column name outside the allowed list never reaches PostgreSQL."""
from __future__ import annotations

import json

import pytest

from runtime.db import partial_update

COLUMNS = ("name", "score", "settings")


async def _table(conn) -> None:
    await conn.execute(
        "create table items (id int primary key, name text, score int, settings jsonb, secret text, "
        "updated_at timestamptz)"
    )
    await conn.execute("insert into items values (1, 'one', 10, '{}', 'keep', null), (2, 'two', 20, '{}', 'keep', null)")


async def test_sets_only_the_given_columns(database):
    conn = await database.owner()
    try:
        await _table(conn)
        sql, args = partial_update("items", {"name": "uno"}, columns=COLUMNS, where="id = $1", where_args=[1],
                                   returning="id, name, score")
        assert sql == 'update "items" set "name" = $2, updated_at = now() where id = $1 returning id, name, score'
        assert args == [1, "uno"]
        row = await conn.fetchrow(sql, *args)
        assert dict(row) == {"id": 1, "name": "uno", "score": 10}
        other = await conn.fetchrow("select name, score, updated_at from items where id = 2")
        assert other["name"] == "two" and other["updated_at"] is None
        assert await conn.fetchval("select updated_at is not null from items where id = 1")
    finally:
        await conn.close()


async def test_values_are_parameters_and_casts_apply(database):
    conn = await database.owner()
    try:
        await _table(conn)
        hostile = "x'; update items set secret = 'gone'; --"
        sql, args = partial_update("items", {"name": hostile, "settings": json.dumps({"speed": 1.5}), "score": 7},
                                   columns=COLUMNS, where="id = any($1::int[])", where_args=[[1, 2]],
                                   casts={"settings": "jsonb"})
        assert sql == ('update "items" set "name" = $2, "settings" = $3::jsonb, "score" = $4, updated_at = now() '
                       "where id = any($1::int[])")
        assert await conn.execute(sql, *args) == "UPDATE 2"
        rows = await conn.fetch("select name, score, settings, secret from items order by id")
        assert [r["name"] for r in rows] == [hostile, hostile]
        assert {r["secret"] for r in rows} == {"keep"}
        assert json.loads(rows[0]["settings"]) == {"speed": 1.5} and rows[0]["score"] == 7
    finally:
        await conn.close()


@pytest.mark.parametrize("changes", [
    {"secret": "x"},  # a real column, not in the allowed list
    {"name": "ok", "nope": 1},  # unknown column
    {'name" = 1, "secret': "x"},  # an attempt to write SQL through a key
])
async def test_unknown_columns_are_refused_before_any_sql(database, changes):
    conn = await database.owner()
    try:
        await _table(conn)
        with pytest.raises(ValueError, match="cannot be updated"):
            partial_update("items", changes, columns=COLUMNS, where="id = $1", where_args=[1])
        assert await conn.fetchval("select count(*) from items where secret = 'keep' and updated_at is null") == 2
    finally:
        await conn.close()


def test_bad_identifiers_and_empty_changes_are_refused():
    with pytest.raises(ValueError, match="at least one change"):
        partial_update("items", {}, columns=COLUMNS, where="id = $1")
    with pytest.raises(ValueError, match="identifier"):
        partial_update('items"; drop table items; --', {"name": "x"}, columns=COLUMNS, where="id = $1")
    with pytest.raises(ValueError, match="identifier"):
        partial_update("items", {"settings": "{}"}, columns=COLUMNS, where="id = $1", casts={"settings": "jsonb; --"})
