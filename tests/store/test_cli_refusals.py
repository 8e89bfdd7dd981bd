"""The store commands refuse what they must not touch, in one line and exit 1:
an unusable URL, an unreachable server, a missing store, a store at another
schema revision. Only ``smppd db upgrade`` creates or migrates."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from smppd.cli import main
from smppd.store import schema
from smppd.store.schema import head_revision

MESSAGE_ID = "0" * 32

# Every store command, with what it needs besides the URL; the readers first.
READERS: list[tuple[str, ...]] = [
    ("db", "current"),
    ("account", "list"),
    ("account", "show", "acme"),
    ("message", "list"),
    ("message", "show", MESSAGE_ID),
]
WRITERS: list[tuple[str, ...]] = [
    ("account", "add", "acme", "--password-stdin"),
    ("account", "passwd", "acme", "--password-stdin"),
    ("account", "disable", "acme"),
    ("account", "enable", "acme"),
    ("account", "remove", "acme", "--yes"),
    ("account", "set", "acme", "--max-binds", "1"),
    ("db", "purge", "--days", "1"),
]
EVERY_COMMAND = READERS + WRITERS


def invoke(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--database-url", url], input="Pa55word\n")


def assert_one_line_failure(result: Result, *expected: str) -> str:
    # CliRunner turns an uncaught exception into exit status 1 as well: a
    # refusal is a SystemExit, never an exception that escaped the command.
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    for text_ in expected:
        assert text_ in lines[0]
    return lines[0]


def _ids(command: tuple[str, ...]) -> str:
    return " ".join(command[:2])


# ---------------------------------------------------------------- unusable URLs


@pytest.mark.parametrize("command", [*EVERY_COMMAND, ("db", "upgrade")], ids=_ids)
@pytest.mark.parametrize(
    "url",
    ["nonsense://", "nonsense", "mysql://root:hunter2@127.0.0.1/smppd"],
    ids=["unknown-dialect", "not-a-url", "driver-missing"],
)
def test_an_unusable_url_is_one_line_naming_it(url: str, command: tuple[str, ...]) -> None:
    line = assert_one_line_failure(invoke(url, *command), "not a usable store URL")
    assert "hunter2" not in line
    assert ("***" in line) if "hunter2" in url else (url in line)


def test_a_postgresql_url_for_another_driver_points_at_psycopg_3() -> None:
    line = assert_one_line_failure(
        invoke("postgresql+psycopg2://smppd:pw@127.0.0.1/smppd", "account", "list"),
        "No module named 'psycopg2'",
        "postgresql+psycopg://",
    )
    assert "smppd:***@" in line


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("command", [*EVERY_COMMAND, ("db", "upgrade")], ids=_ids)
def test_an_unreachable_postgresql_is_one_line_with_the_password_masked(
    refusing_port: int, command: tuple[str, ...]
) -> None:
    url = f"postgresql+psycopg://smppd:s3cret@127.0.0.1:{refusing_port}/smppd"
    line = assert_one_line_failure(
        invoke(url, *command),
        "cannot open the store at",
        f"postgresql+psycopg://smppd:***@127.0.0.1:{refusing_port}/smppd",
        "refused",
    )
    assert "s3cret" not in line


def test_the_installed_command_prints_no_traceback(refusing_port: int) -> None:
    url = f"postgresql+psycopg://smppd:s3cret@127.0.0.1:{refusing_port}/smppd"
    done = subprocess.run(
        [sys.executable, "-m", "smppd", "account", "list", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr


# ---------------------------------------------------------------- missing stores


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=_ids)
def test_a_mistyped_sqlite_path_is_refused_and_nothing_is_created(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "typo" / "smppd.db"
    url = f"sqlite:///{path}"
    assert_one_line_failure(invoke(url, *command), f"no store at {url}: run `smppd db upgrade`")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=_ids)
def test_a_sqlite_file_without_a_store_is_left_as_it_is(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    assert_one_line_failure(invoke(f"sqlite:///{path}", *command), "no store at")
    # Not even switched to WAL: the file is still empty.
    assert path.stat().st_size == 0


@pytest.mark.postgres
def test_an_empty_postgresql_database_is_not_a_store(postgres_url: str) -> None:
    from tests.store.pg import session_database

    server = make_url(postgres_url).set(database="postgres").render_as_string(hide_password=False)
    with session_database(server) as empty:
        for command in EVERY_COMMAND:
            assert_one_line_failure(invoke(empty, *command), "no store at")
        engine = create_engine(empty)
        try:
            assert inspect(engine).get_table_names() == []
        finally:
            engine.dispose()


# ---------------------------------------------------------------- schema revisions


def _file_state(path: Path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def test_readers_leave_an_up_to_date_sqlite_store_untouched(tmp_path: Path) -> None:
    path = tmp_path / "smppd.db"
    url = f"sqlite:///{path}"
    assert invoke(url, "db", "upgrade").exit_code == 0
    before = _file_state(path)
    for command in READERS:
        result = invoke(url, *command)
        assert result.exit_code in (0, 1), result.output  # 1: no such account/message
    assert _file_state(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smppd.db"]


# The newest revision this smppd ships, and one that only a newer smppd would.
CURRENT_REVISION = head_revision()
NEWER_REVISION = "9999"
_NEWER_MIGRATION = f'''"""A revision this smppd does not ship: a newer smppd's schema."""

import sqlalchemy as sa
from alembic import op

revision = "{NEWER_REVISION}"
down_revision = "{CURRENT_REVISION}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("newer_feature", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("newer_feature")
'''


@pytest.fixture
def newer_smppd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """This process becomes an smppd with one schema revision more than this one."""
    migrations = tmp_path / "newer-migrations"
    shutil.copytree(schema.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / f"{NEWER_REVISION}_newer.py").write_text(_NEWER_MIGRATION)
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", migrations)
    assert head_revision() == NEWER_REVISION
    return NEWER_REVISION


def _revision_and_tables(url: str) -> tuple[str | None, set[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return revision, set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=_ids)
def test_a_newer_smppd_refuses_an_older_store_instead_of_migrating_it(
    store_url: str, newer_smppd: str, command: tuple[str, ...]
) -> None:
    assert_one_line_failure(
        invoke(store_url, *command),
        f"is at revision {CURRENT_REVISION}, this smppd needs {newer_smppd}:"
        " run `smppd db upgrade`",
    )
    revision, tables = _revision_and_tables(store_url)
    assert revision == CURRENT_REVISION
    assert "newer_feature" not in tables


def test_db_upgrade_is_what_migrates_an_older_store(tmp_path: Path, newer_smppd: str) -> None:
    url = f"sqlite:///{tmp_path / 'smppd.db'}"
    with pytest.MonkeyPatch.context() as undo:
        # Made by this smppd's predecessor, which stops at CURRENT_REVISION.
        undo.setattr(schema, "MIGRATIONS_DIR", Path(schema.__file__).parent / "migrations")
        assert invoke(url, "db", "upgrade").exit_code == 0
    result = invoke(url, "db", "upgrade")
    assert result.exit_code == 0 and f"{CURRENT_REVISION} -> {newer_smppd}" in result.output
    revision, tables = _revision_and_tables(url)
    assert revision == newer_smppd and "newer_feature" in tables
    assert invoke(url, "account", "list").exit_code == 0


def test_db_current_reports_an_older_store_without_migrating_it(
    store_url: str, newer_smppd: str
) -> None:
    result = invoke(store_url, "db", "current", "--json")
    assert result.exit_code == 1
    assert f'"current": "{CURRENT_REVISION}"' in result.output
    assert '"up_to_date": false' in result.output
    assert _revision_and_tables(store_url)[0] == CURRENT_REVISION


def _stamp(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [*EVERY_COMMAND, ("db", "upgrade")], ids=_ids)
def test_a_store_migrated_by_a_newer_smppd_is_refused_even_by_upgrade(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path / 'smppd.db'}"
    assert invoke(url, "db", "upgrade").exit_code == 0
    _stamp(url, "9999")
    assert_one_line_failure(
        invoke(url, *command), "is at revision 9999, which this smppd", "newer smppd"
    )
    assert _revision_and_tables(url)[0] == "9999"
