"""``smppd sim``: a simulated SMSC for application developers and load tests.

``smppd sim`` listens for SMPP binds and serves a JSON control endpoint
(:mod:`smppd.simulator.control`) until SIGINT or SIGTERM; ``smppd sim
inject`` and ``smppd sim stats`` talk to that endpoint of a running
simulator. This module is the only one of the simulator that touches the
global reactor, and only inside the running command.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import urllib.error
import urllib.request
from typing import Any, Final, cast

import click

from smppd.simulator.core import (
    DEFAULT_MAX_TRACKED_KEYS,
    DEFAULT_RECEIPT_DELAY,
    Faults,
    IdFormat,
    SimSettings,
    parse_state_mix,
)
from smppd.smpp.constants import CommandStatus

DEFAULT_LISTEN: Final = "tcp:2776:interface=127.0.0.1"
DEFAULT_CONTROL: Final = "tcp:2777:interface=127.0.0.1"
DEFAULT_MIX: Final = "delivered=0.95,undeliverable=0.04,expired=0.01"
DEFAULT_ERROR_STATUS: Final = "0x08"
#: Seconds the companion commands wait for the control endpoint.
CONTROL_TIMEOUT: Final = 10.0
EXIT_FAILURE: Final = 1

_ID_FORMATS: Final = [fmt.value for fmt in IdFormat]


def _parse_status(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        status = int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (e.g. 0x58 or 88)") from None
    if not 0 < status <= 0xFFFFFFFF:
        raise click.BadParameter("must be a non-zero command_status")
    return status


def _parse_mix(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    try:
        return parse_state_mix(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def control_url(endpoint: str) -> str:
    """The http:// URL of a control endpoint given as a URL or a tcp endpoint string."""
    if endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/")
    kind, _, rest = endpoint.partition(":")
    if kind not in ("tcp", "tcp6"):
        raise click.BadParameter(
            f"give a tcp endpoint or an http:// URL, not {endpoint!r}", param_hint="--control"
        )
    port = ""
    host = "127.0.0.1" if kind == "tcp" else "::1"
    for item in rest.split(":"):
        name, sep, value = item.partition("=")
        if not sep:
            port = name
        elif name == "port":
            port = value
        elif name == "interface" and value not in ("", "0.0.0.0", "::"):
            host = value
    if not port.isdigit():
        raise click.BadParameter(f"no port in {endpoint!r}", param_hint="--control")
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@click.group(invoke_without_command=True)
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    help="Where applications bind (a Twisted endpoint string).",
)
@click.option(
    "--control",
    default=DEFAULT_CONTROL,
    show_default=True,
    help="The JSON control endpoint (keep it on loopback: it has no authentication).",
)
@click.option(
    "--receipt-delay",
    type=click.FloatRange(min=0),
    default=DEFAULT_RECEIPT_DELAY,
    show_default=True,
    help="Seconds from an accepted submit to its receipt.",
)
@click.option(
    "--mix",
    "state_mix",
    default=DEFAULT_MIX,
    show_default=True,
    callback=_parse_mix,
    help="Final states of the receipts and their shares.",
)
@click.option(
    "--max-tps",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Submits accepted per second; more are answered ESME_RTHROTTLED. [default: no limit]",
)
@click.option(
    "--id-format",
    type=click.Choice(_ID_FORMATS),
    default=IdFormat.DEC.value,
    show_default=True,
    help="How message ids are written in submit_sm_resp.",
)
@click.option(
    "--receipt-id-format",
    type=click.Choice(_ID_FORMATS),
    default=None,
    help="How the receipt text writes the id (dec/hex to mismatch --id-format on purpose)."
    " [default: as --id-format]",
)
@click.option(
    "--drop-after",
    type=click.IntRange(min=1),
    default=None,
    help="Close the connection, unanswered, at the Nth submit on it.",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of submits refused with --error-status.",
)
@click.option(
    "--error-status",
    default=DEFAULT_ERROR_STATUS,
    show_default=True,
    callback=_parse_status,
    help="command_status of the refused submits (e.g. 0x58 ESME_RTHROTTLED).",
)
@click.option("--system-id", default=None, help="Accept binds with this system_id only.")
@click.option("--password", default=None, help="Accept binds with this password only.")
@click.option("--seed", type=int, default=None, help="Seed of the random draws (states, errors).")
@click.option(
    "--max-tracked-keys",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_TRACKED_KEYS,
    show_default=True,
    help="Distinct messages counted for the exactly-once check (about 100 octets each).",
)
@click.pass_context
def sim(
    ctx: click.Context,
    *,
    listen: str,
    control: str,
    receipt_delay: float,
    state_mix: Any,
    max_tps: float | None,
    id_format: str,
    receipt_id_format: str | None,
    drop_after: int | None,
    error_rate: float,
    error_status: int,
    system_id: str | None,
    password: str | None,
    seed: int | None,
    max_tracked_keys: int,
) -> None:
    """Run a simulated SMSC (a demo carrier, not a real one).

    Applications bind to --listen with any credentials (or --system-id /
    --password), get receipts after --receipt-delay, and the control
    endpoint serves statistics and takes MO messages and faults. Stop it
    with Ctrl-C or SIGTERM.
    """
    ctx.ensure_object(dict)
    ctx.obj["control"] = control
    if ctx.invoked_subcommand is not None:
        return
    if not _is_loopback(control):
        click.echo(
            f"smppd sim: warning: the control endpoint {control!r} is not on loopback;"
            " anyone who reaches it can change faults and read statistics",
            err=True,
        )
    try:
        settings = SimSettings(
            receipt_delay=receipt_delay,
            state_mix=state_mix,
            max_tps=max_tps,
            id_format=IdFormat(id_format),
            receipt_id_format=None if receipt_id_format is None else IdFormat(receipt_id_format),
            seed=seed,
            max_tracked_keys=max_tracked_keys,
            max_tracked_tags=max_tracked_keys,
        )
        faults = Faults(drop_after=drop_after, error_rate=error_rate, error_status=error_status)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(
        _run(
            settings,
            faults,
            listen=listen,
            control=control,
            system_id=system_id,
            password=password,
        )
    )


def _run(
    settings: SimSettings,
    faults: Faults,
    *,
    listen: str,
    control: str,
    system_id: str | None,
    password: str | None,
) -> int:
    # Importing the reactor installs it, and the companion commands (stats,
    # inject) need none of Twisted: import it only when the simulator runs.
    from twisted.internet import reactor as _reactor  # noqa: PLC0415
    from twisted.internet.defer import gatherResults  # noqa: PLC0415
    from twisted.internet.endpoints import serverFromString  # noqa: PLC0415
    from twisted.logger import (  # noqa: PLC0415
        FilteringLogObserver,
        ILogFilterPredicate,
        ILogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )
    from twisted.python.failure import Failure  # noqa: PLC0415

    from smppd.simulator.control import control_site  # noqa: PLC0415
    from smppd.simulator.core import SimCarrier  # noqa: PLC0415
    from smppd.simulator.server import SimSmsc  # noqa: PLC0415

    reactor: Any = _reactor
    # twisted.internet.endpoints is not annotated.
    server_from_string: Any = serverFromString
    predicate = cast(ILogFilterPredicate, LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn))
    observer = cast(ILogObserver, textFileLogObserver(sys.stderr))
    globalLogBeginner.beginLoggingTo(
        [cast(ILogObserver, FilteringLogObserver(observer, [predicate]))],
        redirectStandardIO=False,
    )
    carrier = SimCarrier(settings, faults, now=reactor.seconds())
    smsc = SimSmsc(carrier, reactor, system_id=system_id, password=password)
    ports: list[Any] = []
    outcome = {"code": 0}

    def started(listening: list[Any]) -> None:
        ports.extend(listening)
        smpp_port, control_port = listening
        click.echo("smppd sim: a simulated SMSC for development and tests, not a carrier")
        click.echo(f"SMPP listening on {_where(smpp_port.getHost())}")
        click.echo(f"control listening on http://{_where(control_port.getHost())}")
        sys.stdout.flush()

    def failed(failure: Failure) -> None:
        error = failure.value
        cause = getattr(error, "subFailure", None)
        if cause is not None:
            error = cause.value
        click.echo(f"smppd sim: cannot listen: {error}", err=True)
        outcome["code"] = EXIT_FAILURE
        reactor.stop()

    def start() -> None:
        try:
            smpp_endpoint = server_from_string(reactor, listen)
            control_endpoint = server_from_string(reactor, control)
        except (ValueError, KeyError, TypeError) as exc:
            click.echo(f"smppd sim: bad endpoint: {exc}", err=True)
            outcome["code"] = EXIT_FAILURE
            reactor.stop()
            return
        listening = gatherResults(
            [
                smpp_endpoint.listen(smsc.factory()),
                control_endpoint.listen(control_site(smsc)),
            ],
            consumeErrors=True,
        )
        listening.addCallbacks(started, failed)

    def shutdown() -> Any:
        for port in ports:
            port.stopListening()
        return smsc.stop()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    reactor.run()
    return outcome["code"]


def _is_loopback(endpoint: str) -> bool:
    """Whether a server endpoint string listens on a loopback interface only."""
    kind, _, rest = endpoint.partition(":")
    if kind == "unix":
        return True
    interface = ""
    for item in rest.split(":"):
        name, sep, value = item.partition("=")
        if sep and name == "interface":
            interface = value
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return interface == "localhost"


def _where(address: Any) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None or port is None:
        return str(address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- companion commands ---------------------------------------------------------------------


def _call(url: str, body: object | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise click.ClickException(f"{url}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"cannot reach the simulator at {url}: {reason}") from None


def _control_option(func: Any) -> Any:
    return click.option(
        "--control",
        default=None,
        help="The simulator's control endpoint (endpoint string or URL)."
        f" [default: {DEFAULT_CONTROL}]",
    )(func)


def _base_url(ctx: click.Context, control: str | None) -> str:
    obj = ctx.find_object(dict) or {}
    return control_url(control or obj.get("control") or DEFAULT_CONTROL)


@sim.command()
@click.option("--from", "source", required=True, help="The handset's number.")
@click.option("--to", "destination", required=True, help="The number the handset writes to.")
@click.option("--out-of-order", is_flag=True, help="Deliver the parts of a long text last first.")
@click.option("--system-id", default=None, help="Deliver to binds of this system_id only.")
@_control_option
@click.argument("text")
@click.pass_context
def inject(
    ctx: click.Context,
    *,
    source: str,
    destination: str,
    out_of_order: bool,
    system_id: str | None,
    control: str | None,
    text: str,
) -> None:
    """Send TEXT from a handset to the bound applications (MO)."""
    body: dict[str, object] = {
        "from": source,
        "to": destination,
        "text": text,
        "out_of_order": out_of_order,
    }
    if system_id is not None:
        body["system_id"] = system_id
    answer = _call(f"{_base_url(ctx, control)}/mo", body)
    parts = answer.get("parts", 0)
    click.echo(f"queued {parts} part{'s' if parts != 1 else ''}")


@sim.command()
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@_control_option
@click.pass_context
def stats(ctx: click.Context, as_json: bool, control: str | None) -> None:
    """Print a running simulator's statistics."""
    answer = _call(f"{_base_url(ctx, control)}/stats")
    if as_json:
        click.echo(json.dumps(answer, indent=2, sort_keys=True))
        return
    for name, line in _summary(answer):
        click.echo(f"{name:<12}{line}")


def _summary(stats: dict[str, Any]) -> list[tuple[str, str]]:
    def join(section: dict[str, Any], names: tuple[str, ...]) -> str:
        return ", ".join(f"{name} {section.get(name, 0)}" for name in names)

    submits = stats.get("submits", {})
    refused = submits.get("refused", {})
    refusals = ", ".join(f"{_status_label(code)} {n}" for code, n in refused.items())
    submit_line = join(submits, ("received", "accepted", "dropped"))
    submit_line += f", refused {sum(refused.values())}" + (f" ({refusals})" if refusals else "")
    duplicates = stats.get("duplicates", {})
    tracking = stats.get("tracking", {})
    track_line = (
        f"keys {tracking.get('keys', 0)} of {tracking.get('key_limit', 0)}, "
        f"tags {tracking.get('tags', 0)} of {tracking.get('tag_limit', 0)}"
    )
    if tracking.get("overflow"):
        track_line += f", OVERFLOW ({tracking.get('untracked_submits', 0)} untracked submits)"
    return [
        ("binds", join(stats.get("binds", {}), ("total", "active", "refused"))),
        ("connections", f"dropped {stats.get('connections_dropped', 0)}"),
        ("submits", submit_line),
        (
            "receipts",
            join(
                stats.get("receipts", {}),
                ("scheduled", "pending", "sent", "acked", "failed", "dropped"),
            ),
        ),
        ("mo", join(stats.get("mo", {}), ("messages", "parts", "sent", "acked", "failed"))),
        ("duplicates", join(duplicates, ("keys", "tags"))),
        ("tracking", track_line),
    ]


def _status_label(code: str) -> str:
    try:
        return CommandStatus(int(code, 16)).name
    except ValueError:
        return code
