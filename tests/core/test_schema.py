"""What `init` creates is cmail's v9 schema, and the models describe the real files.

Compared through SQLite's own catalog (PRAGMAs), not DDL text: the sample was made with a GUI tool
and its DDL is spelled differently, yet it is the same schema.
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import peewee
import pytest
from playhouse.schema_diff import IndexDiff, diff_models

from cli.main import run
from core.db import Database, create_master, create_userdb
from core.models import TABLE_MODELS, VIEW_MODELS

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
EMPTY = FIXTURES / "empty-master-v9.db3"
SAMPLE = FIXTURES / "sample-master.db3"
TABLES = {
    "users", "addresses", "mailbox", "meta", "smtpd", "outbox", "popd", "api_access",
    "api_address_delegates", "api_user_delegates", "faillog",
}  # fmt: skip


def _default(text: str | None) -> str | None:
    # `strftime ('%s', 'now')` and `strftime('%s', 'now')` are one default spelled two ways.
    return None if text is None else re.sub(r"\s+", "", text)


def catalog(path: Path) -> dict[str, Any]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        run_ = connection.execute
        names = {
            kind: sorted(
                n for (n,) in run_("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
            )
            for kind in ("table", "view")
        }
        tables = {}
        for table in names["table"]:
            if table == "sqlite_sequence":
                continue
            columns = [
                (name, kind.upper(), notnull, _default(default), pk)
                for _, name, kind, notnull, default, pk in run_(f"PRAGMA table_info([{table}])")
            ]
            keys = sorted(
                (row[2], row[3], row[4], row[5], row[6])
                for row in run_(f"PRAGMA foreign_key_list([{table}])")
            )
            indexes = sorted(
                (
                    unique,
                    origin,
                    partial,
                    tuple(c[2] for c in run_(f"PRAGMA index_info([{name}])")),
                    name if origin == "c" else None,  # autoindex names depend on DDL order
                )
                for _, name, unique, origin, partial in run_(f"PRAGMA index_list([{table}])")
            )
            tables[table] = {"columns": columns, "foreign_keys": keys, "indexes": indexes}
        views = {v: [r[1] for r in run_(f"PRAGMA table_info([{v}])")] for v in names["view"]}
        return {
            "tables": tables,
            "views": views,
            "sqlite_sequence": "sqlite_sequence" in names["table"],
            "meta": sorted(run_("SELECT key, value FROM meta")),
        }
    finally:
        connection.close()


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return catalog(EMPTY)


def test_fixture_is_what_we_think(expected: dict[str, Any]) -> None:
    assert set(expected["tables"]) == TABLES
    assert expected["meta"] == [("schema_version", "9")] and expected["sqlite_sequence"]
    assert expected["views"]["outbound"][-3:] == ["mail_failcount", "mail_lasttry", "mail_fatality"]


def test_create_master_matches_cmail_installer(tmp_path: Path, expected: dict[str, Any]) -> None:
    path = tmp_path / "new.db3"
    create_master(str(path))
    assert catalog(path) == expected


def test_init_command_matches_cmail_installer(tmp_path: Path, expected: dict[str, Any]) -> None:
    path = tmp_path / "init.db3"
    out = io.StringIO()
    assert run(["init", str(path)], out=out, err=io.StringIO()) == 0
    assert "schema 9" in out.getvalue()
    assert catalog(path) == expected
    Database(str(path))  # and it opens


def test_init_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "taken.db3"
    path.write_bytes(b"keep me")
    err = io.StringIO()
    assert run(["init", str(path)], out=io.StringIO(), err=err) == 11
    assert "already exists" in err.getvalue() and path.read_bytes() == b"keep me"


def test_init_needs_the_directory(tmp_path: Path) -> None:
    err = io.StringIO()
    assert run(["init", str(tmp_path / "no" / "x.db3")], out=io.StringIO(), err=err) == 11
    assert "does not exist" in err.getvalue()


def test_sample_has_the_same_logical_schema(expected: dict[str, Any]) -> None:
    sample = catalog(SAMPLE)
    assert sample["tables"] == expected["tables"]
    assert sample["views"] == expected["views"]


def test_userdb_matches_the_fixture(tmp_path: Path) -> None:
    path = tmp_path / "user.db3"
    create_userdb(str(path))
    ours, theirs = catalog(path), catalog(FIXTURES / "empty-userdb-v9.db3")
    assert ours == theirs
    master_mailbox = catalog(EMPTY)["tables"]["mailbox"]
    assert ours["tables"]["mailbox"]["columns"] == master_mailbox["columns"]
    assert ours["tables"]["mailbox"]["foreign_keys"] == []  # no FK in a user database


# --- models against the real files -------------------------------------------------------------


@pytest.fixture(params=[EMPTY, SAMPLE], ids=["empty", "sample"])
def real(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    path = tmp_path / "copy.db3"
    shutil.copyfile(request.param, path)
    return Database(str(path))


def test_schema_diff_finds_only_the_undeclared_router_index(real: Database) -> None:
    with real.read():
        diff = diff_models(real.pw, list(TABLE_MODELS))
    assert diff.create_tables == [] and diff.add_columns == [] and diff.drop_columns == []
    assert diff.add_indexes == []
    # The models never create tables, so cmail's one plain index needs no declaration.
    assert diff.drop_indexes == [
        IndexDiff("addresses", "idx_addr_router", ("address_router", "address_route"), False)
    ]


def _pragma(db: Database, pragma: str, table: str) -> list[tuple]:
    return db.pw.execute_sql(f"PRAGMA {pragma}([{table}])").fetchall()


def test_model_columns_and_foreign_keys(real: Database) -> None:
    with real.read():
        for model in TABLE_MODELS:
            table = model._meta.table_name
            columns = {row[1] for row in _pragma(real, "table_info", table)}
            assert {f.column_name for f in model._meta.sorted_fields} == columns, table
            declared = {
                (
                    f.rel_model._meta.table_name,
                    f.column_name,
                    f.rel_field.column_name,
                    f.on_update,
                    f.on_delete,
                )
                for f in model._meta.sorted_fields
                if isinstance(f, peewee.ForeignKeyField)
            }
            actual = {tuple(row[2:7]) for row in _pragma(real, "foreign_key_list", table)}
            assert declared == actual, table


def test_view_model_columns(real: Database) -> None:
    with real.read():
        for model in VIEW_MODELS:
            columns = [row[1] for row in _pragma(real, "table_info", model._meta.table_name)]
            assert [f.column_name for f in model._meta.sorted_fields] == columns
