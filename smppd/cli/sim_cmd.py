"""``smppd sim``: a simulated SMSC for application developers and load tests.

``smppd sim`` listens for SMPP binds and serves a JSON control endpoint
(:mod:`smppd.simulator.control`) until SIGINT or SIGTERM. The companion
commands talk to a control endpoint: that of ``smppd sim``, or that of the
in-process ``sim`` connector of a running gateway (``control`` on a
``type = "sim"`` connector; the default ``smppd.toml`` puts demo-carrier's
on the same port). ``smppd sim inject`` sends a phone's message (and with
``--wait`` prints the replies that phone gets), ``smppd sim inbox`` prints
what a phone received, ``smppd sim stats`` the counters. This module is the
only one of the simulator that touches the global reactor, and only inside
the running command.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
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
from smppd.simulator.handset import DEFAULT_HANDSET_MESSAGES, DEFAULT_HANDSET_NUMBERS
from smppd.smpp.constants import CommandStatus
from smppd.text.policy import Dcs0

DEFAULT_LISTEN: Final = "tcp:2776:interface=127.0.0.1"
DEFAULT_CONTROL: Final = "tcp:2777:interface=127.0.0.1"
DEFAULT_MIX: Final = "delivered=0.95,undeliverable=0.04,expired=0.01"
DEFAULT_ERROR_STATUS: Final = "0x08"
#: Seconds the companion commands wait for the control endpoint.
CONTROL_TIMEOUT: Final = 10.0
#: Seconds between two looks at a phone (inject --wait, inbox --follow).
POLL_INTERVAL: Final = 0.25
#: inject --wait returns once a reply came and nothing more for this long.
REPLY_QUIET_SECONDS: Final = 1.0
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
@click.option(
    "--dcs0",
    type=click.Choice([d.value for d in Dcs0]),
    default=Dcs0.GSM7.value,
    show_default=True,
    help="What data_coding 0 means at this carrier (for what the phones show).",
)
@click.option(
    "--handset-messages",
    type=click.IntRange(min=1),
    default=DEFAULT_HANDSET_MESSAGES,
    show_default=True,
    help="Messages each phone keeps for `smppd sim inbox`.",
)
@click.option(
    "--handset-numbers",
    type=click.IntRange(min=0),
    default=DEFAULT_HANDSET_NUMBERS,
    show_default=True,
    help="Phones kept (the least recently used is forgotten); 0 keeps none (load tests).",
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
    dcs0: str,
    handset_messages: int,
    handset_numbers: int,
) -> None:
    """Run a simulated SMSC (a demo carrier, not a real one).

    Applications bind to --listen with any credentials (or --system-id /
    --password), get receipts after --receipt-delay, and the control
    endpoint serves statistics, takes MO messages and faults, and shows
    what each phone received (`smppd sim inbox`). Stop it with Ctrl-C or
    SIGTERM.
    """
    ctx.ensure_object(dict)
    ctx.obj["control"] = control
    if ctx.invoked_subcommand is not None:
        return
    from smppd.simulator.control import is_loopback_endpoint  # noqa: PLC0415

    if not is_loopback_endpoint(control):
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
            dcs0=Dcs0(dcs0),
            handset_messages=handset_messages,
            handset_numbers=handset_numbers,
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
        where = urllib.parse.urlsplit(url).netloc
        if isinstance(reason, TimeoutError):
            raise click.ClickException(
                f"the simulator control endpoint at {where} did not answer within"
                f" {CONTROL_TIMEOUT:g} s"
            ) from None
        why = "" if isinstance(reason, ConnectionRefusedError) else f" ({reason})"
        raise click.ClickException(
            f"no simulator control endpoint at {where}{why}: is `smppd run`"
            " (demo-carrier control) or `smppd sim` running?"
        ) from None


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
@click.option("--from", "source", required=True, help="The handset's number (e.g. +46701234567).")
@click.option("--to", "destination", required=True, help="The number the handset writes to.")
@click.option("--out-of-order", is_flag=True, help="Deliver the parts of a long text last first.")
@click.option(
    "--system-id",
    default=None,
    help="Deliver to binds of this system_id only (smppd sim; a gateway routes by itself).",
)
@click.option(
    "--reference",
    default=None,
    help="The carrier reference to deliver it with (a gateway's sim connector): inject the"
    " same text again with the same reference to re-send it as a carrier does after a late"
    " deliver_sm_resp.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    default=0.0,
    show_default=True,
    help="Then print what the handset receives, for up to SECONDS (until 1 s passes"
    " without another message).",
)
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
    reference: str | None,
    wait: float,
    control: str | None,
    text: str,
) -> None:
    """Send TEXT from a handset (MO): to the bound applications of `smppd sim`,
    or into the gateway through its in-process sim connector."""
    base = _base_url(ctx, control)
    body: dict[str, object] = {
        "from": source,
        "to": destination,
        "text": text,
        "out_of_order": out_of_order,
    }
    if system_id is not None:
        body["system_id"] = system_id
    if reference is not None:
        body["reference"] = reference
    answer = _call(f"{base}/mo", body)
    parts = answer.get("parts", 0)
    noun = f"{parts} part{'s' if parts != 1 else ''}"
    click.echo(f"delivered {noun} to the gateway" if answer.get("committed") else f"queued {noun}")
    if wait > 0:
        since = answer.get("seq", 0)
        if not _await_replies(base, source, since, wait):
            click.echo(f"no reply to {source} within {wait:g} s", err=True)


def _await_replies(
    base: str,
    number: str,
    since: int,
    wait: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print what ``number`` receives after ``since`` for up to ``wait`` seconds,
    returning once something came and nothing more for REPLY_QUIET_SECONDS;
    how many messages came."""
    deadline = clock() + wait
    received = 0
    last_arrival: float | None = None
    while True:
        for message in _handset(base, number, since):
            click.echo(_reply_line(message))
            since = max(since, int(message.get("seq", since)))
            received += 1
            last_arrival = clock()
        now = clock()
        if now >= deadline or (
            last_arrival is not None and now - last_arrival >= REPLY_QUIET_SECONDS
        ):
            return received
        sleep(min(POLL_INTERVAL, deadline - now))


def _handset(base: str, number: str, since: int) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"number": number, "since": since})
    answer = _call(f"{base}/handset?{query}")
    if not isinstance(answer, list):
        raise click.ClickException(f"{base}/handset: the answer is not a list of messages")
    return [message for message in answer if isinstance(message, dict)]


def _reply_line(message: dict[str, Any]) -> str:
    """``72000 → +46701234567: Tack! ...`` (continuation lines indented)."""
    text = str(message.get("text", "")).replace("\n", "\n  ")
    line = f"{message.get('from', '?')} → {message.get('to', '?')}: {text}"
    if not message.get("complete", True):
        line += f"  [parts missing: {', '.join(map(str, message.get('missing', [])))}]"
    return line


def _inbox_line(message: dict[str, Any]) -> str:
    """The time (local), the message, and its receipt state once known."""
    line = _reply_line(message)
    stamp = str(message.get("time", ""))
    with contextlib.suppress(ValueError):
        stamp = datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    receipt = message.get("receipt")
    return f"{stamp}  {line}" + (f"  [{receipt}]" if receipt else "")


@sim.command()
@click.argument("number")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new messages (Ctrl-C ends).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --follow: one line each).")
@_control_option
@click.pass_context
def inbox(
    ctx: click.Context, number: str, follow: bool, as_json: bool, control: str | None
) -> None:
    """Print what the phone NUMBER received from the simulated carrier (MT)."""
    base = _base_url(ctx, control)
    messages = _handset(base, number, 0)
    if as_json and not follow:
        click.echo(json.dumps(messages, indent=2, ensure_ascii=False))
        return
    since = 0
    for message in messages:
        click.echo(json.dumps(message, ensure_ascii=False) if as_json else _inbox_line(message))
        since = max(since, int(message.get("seq", 0)))
    if not follow:
        if not messages:
            click.echo(f"{number} has received nothing (yet)")
        return
    try:
        while True:
            time.sleep(POLL_INTERVAL)
            for message in _handset(base, number, since):
                line = json.dumps(message, ensure_ascii=False) if as_json else _inbox_line(message)
                click.echo(line)
                since = max(since, int(message.get("seq", since)))
    except KeyboardInterrupt:
        return


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
        ("handsets", join(stats.get("handsets", {}), ("numbers", "last_seq"))),
    ]


def _status_label(code: str) -> str:
    try:
        return CommandStatus(int(code, 16)).name
    except ValueError:
        return code
