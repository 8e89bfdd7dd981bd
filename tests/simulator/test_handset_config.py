"""The ``control`` key of a ``type = "sim"`` connector, and the default configuration's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from smppd.config import ConfigError, SimConnector, load_config
from smppd.connectors.base import CarrierReceipt, InboundPart
from smppd.simulator.connector import connector_from_config
from smppd.simulator.control import is_loopback_endpoint
from smppd.text.policy import Dcs0

ROOT = Path(__file__).resolve().parents[2]
NO_ENV: Mapping[str, str] = {}


def sim(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "smppd.toml"
    text = "\n".join(["[[connectors]]", 'name = "demo"', 'type = "sim"', *lines]) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=NO_ENV)
    return [str(problem).removeprefix(f"{path}:") for problem in caught.value.problems]


def test_control_is_unset_by_default(tmp_path: Path) -> None:
    [connector] = load_config(sim(tmp_path), env=NO_ENV).connectors
    assert isinstance(connector, SimConnector)
    assert connector.control is None


@pytest.mark.parametrize(
    "endpoint",
    ["tcp:2777:interface=127.0.0.1", "tcp6:2777:interface=\\:\\:1", "tcp:port=0"],
)
def test_control_takes_a_server_endpoint_string(tmp_path: Path, endpoint: str) -> None:
    path = sim(tmp_path, f"control = '{endpoint}'")  # a literal string: backslashes stay
    [connector] = load_config(path, env=NO_ENV).connectors
    assert isinstance(connector, SimConnector)
    assert connector.control == endpoint


def test_a_unix_control_socket_is_made_absolute_against_the_file(tmp_path: Path) -> None:
    path = sim(tmp_path, 'control = "unix:var/sim-control.sock"')
    [connector] = load_config(path, env=NO_ENV).connectors
    assert isinstance(connector, SimConnector)
    assert connector.control == f"unix:{tmp_path}/var/sim-control.sock"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('control = "tcp:70000"', 'connectors[0].control: tcp endpoint: port "70000"'),
        ('control = "http://127.0.0.1:2777"', "connectors[0].control: unknown endpoint type"),
        ("control = 2777", "connectors[0].control: expected a Twisted endpoint string"),
    ],
)
def test_a_bad_control_endpoint_names_the_key_and_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    [found] = problems(sim(tmp_path, line))
    assert found.startswith(f"4: {problem}"), found


def test_control_belongs_to_sim_connectors_only(tmp_path: Path) -> None:
    path = tmp_path / "smppd.toml"
    path.write_text(
        '[[connectors]]\nname = "c"\ntype = "smpp"\nendpoint = "tcp:host=h:port=1"\n'
        'system_id = "a"\ncontrol = "tcp:2777"\n',
        encoding="utf-8",
    )
    [found] = problems(path)
    assert found.startswith("6: connectors[0].control: unknown key"), found


def test_the_default_configuration_serves_demo_carriers_control_on_loopback() -> None:
    cfg = load_config(ROOT / "smppd.toml", env=NO_ENV)
    [demo] = [c for c in cfg.connectors if c.name == "demo-carrier"]
    assert isinstance(demo, SimConnector)
    assert demo.control == "tcp:2777:interface=127.0.0.1"
    assert is_loopback_endpoint(demo.control)


class _Sink:
    def receipt(self, receipt: CarrierReceipt) -> Deferred[None]:
        return defer.succeed(None)

    def inbound(self, part: InboundPart) -> Deferred[None]:
        return defer.succeed(None)

    def state_changed(self, connector: str, up: bool, detail: str) -> None:
        pass


def test_the_builder_passes_control_and_the_carriers_dcs0_on(tmp_path: Path) -> None:
    path = sim(tmp_path, 'control = "tcp:0:interface=127.0.0.1"', 'dcs0 = "latin1"')
    [config] = load_config(path, env=NO_ENV).connectors
    assert isinstance(config, SimConnector)
    connector = connector_from_config(config, Clock(), _Sink())
    assert connector.control == "tcp:0:interface=127.0.0.1"
    assert connector.carrier.handsets.dcs0 is Dcs0.LATIN1
