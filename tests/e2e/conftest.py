"""Real processes on loopback: ``smppd run`` and ``smppd sim`` as subprocesses.

``sim`` starts a simulated SMSC on free ports; ``gateway`` writes a
configuration in a temporary directory whose only carrier is that
simulator, reached by an ordinary ``type = "smpp"`` connector, creates the
application account with ``smppd db upgrade`` and ``smppd account add --password-stdin``, starts
``smppd run`` and waits until it listens. At the end each process still
running gets SIGTERM and must exit with 0 within a bounded time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from smppd.smpp.constants import VendorTag

ROOT: Final = Path(__file__).resolve().parents[2]
HOST: Final = "127.0.0.1"
#: Seconds a process gets to listen, and to exit after SIGTERM.
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 30.0
APP_SYSTEM_ID: Final = "app"
APP_PASSWORD: Final = "app-pw1"
CARRIER_SYSTEM_ID: Final = "smppd"
CARRIER_PASSWORD: Final = "carrier1"


def smppd_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "smppd", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


@dataclass
class Process:
    """One subprocess whose output goes to a file (read when something fails)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_listening(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if not self.running:
                raise AssertionError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} is not listening on {port}:\n{self.log()}")
            time.sleep(0.05)

    def terminate(self) -> int:
        """SIGTERM, and the exit code (killed if it does not exit in time)."""
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.name} ignored SIGTERM:\n{self.log()}") from None

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)


def _spawn(name: str, args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> Process:
    log_path = cwd / f"{name}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    return Process(name, popen, log_path)


# -- the simulated carrier ---------------------------------------------------------------


@dataclass
class Sim:
    """``smppd sim`` and its JSON control endpoint."""

    process: Process
    port: int
    control_port: int

    def wait_ready(self) -> None:
        self.process.wait_listening(self.port)
        self.process.wait_listening(self.control_port)

    def _call(self, path: str, body: object | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://{HOST}:{self.control_port}{path}",
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("/stats")
        return result

    def faults(self, **changes: object) -> None:
        self._call("/faults", changes)

    def inject(self, source: str, destination: str, text: str, *, out_of_order: bool) -> int:
        answer = self._call(
            "/mo", {"from": source, "to": destination, "text": text, "out_of_order": out_of_order}
        )
        return int(answer["parts"])

    def tag_counts(self, tags: list[str]) -> dict[str, int]:
        """How many times the carrier accepted a submit carrying each ``ref:<tag>``."""
        answer = self._call("/stats/count", {"tags": tags})
        assert not answer["overflow"]
        return {tag: int(n) for tag, n in answer["tags"].items()}


# -- the gateway ------------------------------------------------------------------------


GATEWAY_CONFIG: Final = """\
[gateway]
name = "e2e"
state_dir = "state"

[server]
listen = ["tcp:{port}:interface=127.0.0.1"]
window = 10

[store]
commit_interval_ms = 2.0

[log]
level = "info"

[[connectors]]
name = "carrier"
type = "smpp"
endpoint = "tcp:host=127.0.0.1:port={sim_port}"
system_id = "{carrier_system_id}"
password = "{carrier_password}"
window = {window}
max_messages_per_second = {mps}
enquire_link_interval = 5.0
response_timeout = 5.0
reconnect_delay_min = 0.2
reconnect_delay_max = 1.0

[[routes]]
name = "everything"
accounts = "*"
destinations = "*"
connectors = ["carrier"]

[inbound]
default_account = "{app}"
"""


@dataclass
class Gateway:
    """``smppd run`` on a configuration of its own; restartable on the same state."""

    directory: Path
    config_path: Path
    port: int
    processes: list[Process] = field(default_factory=list)

    @property
    def process(self) -> Process:
        return self.processes[-1]

    def start(self) -> None:
        process = _spawn(
            f"gateway{len(self.processes)}",
            smppd_command("run", "--config", str(self.config_path)),
            self.directory,
        )
        self.processes.append(process)
        process.wait_listening(self.port)

    def log(self) -> str:
        return "\n".join(p.log() for p in self.processes)


def create_store(config_path: Path) -> None:
    """``smppd db upgrade``: the store an operator creates before adding accounts."""
    done = subprocess.run(
        smppd_command("db", "upgrade", "--config", str(config_path)),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def add_account(config_path: Path, system_id: str, password: str) -> None:
    done = subprocess.run(
        smppd_command(
            "account", "add", system_id, "--password-stdin", "--config", str(config_path)
        ),
        input=f"{password}\n".encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


class Processes:
    """The simulators and gateways of one test (or module), stopped together."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sims: list[Sim] = []
        self.gateways: list[Gateway] = []

    def sim(self, *options: str) -> Sim:
        """``smppd sim`` with every message delivered, receipts after 0.2 s, and ``options``
        (starting: :meth:`gateway` waits for it to listen)."""
        port, control = free_port(), free_port()
        process = _spawn(
            f"sim{len(self.sims)}",
            smppd_command(
                "sim",
                "--listen",
                f"tcp:{port}:interface={HOST}",
                "--control",
                f"tcp:{control}:interface={HOST}",
                "--system-id",
                CARRIER_SYSTEM_ID,
                "--password",
                CARRIER_PASSWORD,
                "--mix",
                "delivered=1",
                "--receipt-delay",
                "0.2",
                *options,
            ),
            self.directory,
        )
        sim = Sim(process, port, control)
        self.sims.append(sim)
        # Not waited for here: it starts while the gateway's store is prepared.
        return sim

    def gateway(self, sim: Sim, *, window: int = 10, mps: float = 1000.0) -> Gateway:
        """``smppd run`` with ``sim`` as its only carrier and the application account
        (which also gets every inbound message)."""
        directory = self.directory / f"gw{len(self.gateways)}"
        directory.mkdir()
        port = free_port()
        config_path = directory / "smppd.toml"
        config_path.write_text(
            GATEWAY_CONFIG.format(
                port=port,
                sim_port=sim.port,
                carrier_system_id=CARRIER_SYSTEM_ID,
                carrier_password=CARRIER_PASSWORD,
                window=window,
                mps=float(mps),
                app=APP_SYSTEM_ID,
            )
        )
        create_store(config_path)
        add_account(config_path, APP_SYSTEM_ID, APP_PASSWORD)
        gateway = Gateway(directory, config_path, port)
        self.gateways.append(gateway)
        sim.wait_ready()
        gateway.start()
        return gateway

    def close(self) -> None:
        """SIGTERM to what still runs, gateways before their carriers; each must exit 0."""
        failures = []
        for gateway in self.gateways:
            if gateway.processes and gateway.process.running:
                code = gateway.process.terminate()
                if code != 0:
                    failures.append(f"gateway exited with {code}:\n{gateway.log()}")
        for sim in self.sims:
            code = sim.process.terminate()
            if code != 0:
                failures.append(f"sim exited with {code}:\n{sim.process.log()}")
        assert not failures, "\n".join(failures)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.close()


@pytest.fixture
def sim(processes: Processes) -> Sim:
    return processes.sim()


@pytest.fixture
def gateway(processes: Processes, sim: Sim) -> Gateway:
    return processes.gateway(sim)


@pytest.fixture(scope="module")
def module_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    """For tests that only read what one gateway answers and may share it."""
    started = Processes(tmp_path_factory.mktemp("shared"))
    yield started
    started.close()


# -- the shipped configuration and its demo carrier ---------------------------------------

#: What the shipped smppd.toml says that a test must change to run it in a temporary
#: directory (the SMPP listener, the demo carrier's control endpoint, the state
#: directory), and the prefix of its rule set and programme paths.
SHIPPED_LISTEN: Final = "tcp:2775:interface=127.0.0.1"
SHIPPED_CONTROL: Final = "tcp:2777:interface=127.0.0.1"
SHIPPED_STATE_DIR: Final = 'state_dir = "var"'
SHIPPED_RULES: Final = '"config/rules/'
#: Seconds a control request may take (an MO is answered once the gateway committed it).
CONTROL_TIMEOUT: Final = 30.0


def shipped_config(directory: Path, *, port: int, control_port: int) -> Path:
    """A copy of the repository's smppd.toml in ``directory``: listening on ``port``,
    the demo carrier's control endpoint on ``control_port``, its state in
    ``directory``/state, and the rule set and programme paths pointing at the
    repository's config/rules files. Everything else is as shipped."""
    text = (ROOT / "smppd.toml").read_text()
    changes = {
        SHIPPED_LISTEN: f"tcp:{port}:interface={HOST}",
        SHIPPED_CONTROL: f"tcp:{control_port}:interface={HOST}",
        SHIPPED_STATE_DIR: f"state_dir = {json.dumps(str(directory / 'state'))}",
        SHIPPED_RULES: json.dumps(f"{ROOT / 'config' / 'rules'}/")[:-1],
    }
    for shipped, replacement in changes.items():
        assert shipped in text, f"smppd.toml no longer contains {shipped!r}"
        text = text.replace(shipped, replacement)
    path = directory / "smppd.toml"
    path.write_text(text)
    return path


def smppd_output(*args: str, stdin: str | None = None) -> str:
    """Run ``smppd ARGS`` to the end; its standard output (it must exit with 0)."""
    done = subprocess.run(
        smppd_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"smppd {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@dataclass
class DemoCarrier:
    """A ``type = "sim"`` connector's control endpoint inside ``smppd run``: handsets
    write to the gateway (``POST /mo``, answered once the gateway committed the
    message) and show what they received (``GET /handset``)."""

    control_port: int

    def _call(self, path: str, body: object | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://{HOST}:{self.control_port}{path}",
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT) as response:
            return json.loads(response.read())

    def text(self, source: str, destination: str, text: str) -> int:
        """Write ``text`` from the handset ``source``; the handset view's seq before it."""
        answer = self._call("/mo", {"from": source, "to": destination, "text": text})
        assert answer["committed"] is True, answer
        return int(answer["seq"])

    def received(self, number: str, since: int = 0) -> list[dict[str, Any]]:
        """What the handset ``number`` received after ``since``, oldest first."""
        query = urllib.parse.urlencode({"number": number, "since": since})
        answer: list[dict[str, Any]] = self._call(f"/handset?{query}")
        return answer

    def texts(self, number: str, since: int = 0) -> list[str]:
        return [str(message["text"]) for message in self.received(number, since)]

    def wait_texts(
        self, number: str, since: int, count: int, timeout: float = START_TIMEOUT
    ) -> list[str]:
        """The texts ``number`` received after ``since`` once there are at least ``count``."""
        found: list[str] = []

        def enough() -> bool:
            found[:] = self.texts(number, since)
            return len(found) >= count

        wait_until(enough, timeout, f"{count} message(s) to {number}", interval=0.1)
        return found


def classed_submit(
    *,
    source: str,
    destination: str,
    text: str,
    message_class: int,
    registered_delivery: int = 1,
) -> bytes:
    """A submit_sm body from a short code (TON/NPI 0) to an international number,
    carrying smppd's vendor TLV smppd_message_class (0x1F51: 0 transactional,
    1 marketing), which smpplib has no name for."""
    short_message = text.encode("ascii")
    tlv = struct.pack(">HHB", VendorTag.SMPPD_MESSAGE_CLASS, 1, message_class)
    return (
        b"\x00"  # service_type
        + bytes([0, 0])
        + source.encode("ascii")
        + b"\x00"
        + bytes([1, 1])  # international, ISDN
        + destination.encode("ascii")
        + b"\x00"
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + bytes([registered_delivery, 0, 0, 0, len(short_message)])
        + short_message
        + tlv
    )
