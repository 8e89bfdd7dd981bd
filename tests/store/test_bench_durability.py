"""The store benchmark measures durable acceptance: its own PostgreSQL server
fsyncs, and it prints what any server's commits wait for."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy.engine import make_url

from tests.store.pg import ENV_URL

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "store.py"

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _bench() -> ModuleType:
    name = "bench_store"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while it is executed.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_own_server_fsyncs_like_a_production_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    bench = _bench()
    with bench.postgres(None) as server:
        assert bench.durability(server) == {"fsync": "on", "synchronous_commit": "on"}


def test_the_benchmark_prints_the_durability_of_the_server_it_is_given(
    postgres_url: str,
) -> None:
    # The suite's throwaway server runs with fsync off, a system one (named by
    # SMPPD_TEST_DATABASE_URL) usually with it on: either way the benchmark
    # must print what the server says, and warn when it is not durable.
    server = make_url(postgres_url).set(database="postgres").render_as_string(hide_password=False)
    actual = _bench().durability(server)
    done = subprocess.run(
        [sys.executable, str(BENCH), "--messages", "50", "--skip-sqlite", "--postgres", server],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("postgresql server ")]
    assert f"fsync {actual['fsync']}" in line
    assert f"synchronous_commit {actual['synchronous_commit']}" in line
    durable = actual["fsync"] == "on" and actual["synchronous_commit"] != "off"
    assert ("NOT durable" in line) is not durable
    assert sum(x.startswith("postgresql  ") for x in done.stdout.splitlines()) == 2


def test_a_durable_servers_figures_carry_no_warning() -> None:
    bench = _bench()
    url = "postgresql+psycopg://bench:secret@127.0.0.1:5432/bench"
    line = bench.durability_line(url, {"fsync": "on", "synchronous_commit": "on"})
    assert line.endswith("fsync on  synchronous_commit on")
    assert "secret" not in line
    for settings in (
        {"fsync": "off", "synchronous_commit": "on"},
        {"fsync": "on", "synchronous_commit": "off"},
    ):
        assert "NOT durable" in bench.durability_line(url, settings)
