"""``smppd bench``: load-test an SMPP server and print what it sustained.

N transceiver binds with a window each send submit_sm at a fixed rate or as
fast as the windows allow, short GSM-7 texts, long UCS-2 texts in UDH parts,
or a literal text, with or without registered delivery. The report gives
accepted submits per second, submit_sm_resp latency percentiles, receipts
received and their end-to-end latency; pointed at ``smppd sim``'s control
endpoint it also says whether every acknowledged submit reached the carrier
exactly once; with ``--watch-pid`` it samples another process's resident
memory (a gateway under load) at the start, periodically and at the end.

This is the one bench module that touches the global reactor.
"""

from __future__ import annotations

import math
import os
import secrets
import signal
import sys
import time
from typing import Any, Final

import click

from smppd.bench.loadgen import (
    DEFAULT_BINDS,
    DEFAULT_DESTINATION_PREFIX,
    DEFAULT_RECEIPT_TIMEOUT,
    DEFAULT_SOURCE,
    DEFAULT_WINDOW,
    BenchConfig,
    BenchResult,
    LoadGenerator,
    MessageFactory,
    Progress,
    TextKind,
)
from smppd.bench.report import format_progress, format_report, to_json_text
from smppd.bench.rss import DEFAULT_WATCH_INTERVAL, RssSeries, read_vm_rss
from smppd.bench.verify import ControlError, SimControl, SubmitLedger, Verdict, verify
from smppd.cli._bind import (
    MAX_PASSWORD_LENGTH,
    bind_options,
)
from smppd.protocol import SmppProtocol

#: Messages sent when neither --messages nor --duration is given.
DEFAULT_MESSAGES: Final = 10_000
#: Seconds to open the TCP connection of a bind.
CONNECT_TIMEOUT: Final = 10.0
#: Seconds the exactly-once check asks again for submits not seen yet, when
#: the receipts did not already prove they arrived.
VERIFY_SETTLE: Final = 10.0
#: SMPP 3.4 §4.1: system_id is at most 15 characters, password 8.
#: Octets of randomness in the run id that prefixes every tag.
RUN_ID_OCTETS: Final = 3

EXIT_OK: Final = 0
#: The run ended, but not everything was accepted, returned or delivered once.
EXIT_INCOMPLETE: Final = 1
#: No bind came up, or the simulator could not be asked.
EXIT_FAILED: Final = 2
EXIT_INTERRUPTED: Final = 130


def _parse_rate(ctx: click.Context, param: click.Parameter, value: str) -> float | None:
    text = value.strip().lower()
    if text == "max":
        return None
    try:
        rate = float(text)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a number of submits per second nor 'max'"
        ) from None
    if not 0 < rate < math.inf:
        raise click.BadParameter("the rate must be positive")
    return rate


def _check_control(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise click.BadParameter("an http:// URL such as http://127.0.0.1:2777")
    return value.rstrip("/")


def _text_kind(value: str) -> tuple[TextKind, str]:
    if value in (TextKind.SHORT.value, TextKind.LONG.value):
        return TextKind(value), ""
    return TextKind.LITERAL, value


@click.command()
@bind_options(
    server="The SMPP server's address.",
    account='The account to bind as.',
    password='Environment variable holding the password (empty when unset).',
)
@click.option("--binds", default=DEFAULT_BINDS, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--window",
    default=DEFAULT_WINDOW,
    show_default=True,
    type=click.IntRange(min=1),
    help="submit_sm outstanding per bind.",
)
@click.option(
    "--rate",
    default="max",
    callback=_parse_rate,
    metavar="R|max",
    show_default=True,
    help="submit_sm per second over all binds, or max: as fast as the windows allow.",
)
@click.option(
    "--messages",
    type=click.IntRange(min=1),
    default=None,
    help=f"Messages to send (a long text is several submits). [default: {DEFAULT_MESSAGES}]",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds to keep starting messages (instead of --messages).",
)
@click.option(
    "--text",
    default=TextKind.SHORT.value,
    show_default=True,
    help="short (GSM-7, one part), long (UCS-2, 3 UDH parts) or the text itself.",
)
@click.option(
    "--registered-delivery/--no-registered-delivery",
    default=True,
    show_default=True,
    help="Ask for a receipt for every submit and wait for them.",
)
@click.option(
    "--receipt-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_RECEIPT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the last receipts once every submit is answered.",
)
@click.option("--source", default=DEFAULT_SOURCE, show_default=True, help="source_addr.")
@click.option(
    "--destination-prefix",
    default=DEFAULT_DESTINATION_PREFIX,
    show_default=True,
    help="destination_addr is this prefix and six digits that change per message.",
)
@click.option(
    "--sim-control",
    default=None,
    callback=_check_control,
    metavar="URL",
    help="smppd sim's control endpoint (e.g. http://127.0.0.1:2777): check that every"
    " acknowledged submit reached it exactly once.",
)
@click.option(
    "--watch-pid",
    type=click.IntRange(min=1),
    default=None,
    metavar="PID",
    help="Report this process's resident memory (VmRSS) during the run.",
)
@click.option(
    "--watch-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_WATCH_INTERVAL,
    show_default=True,
    help="Seconds between memory samples of --watch-pid.",
)
@click.option("--quiet", is_flag=True, help="No progress lines on standard error.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end instead.")
def bench(
    *,
    host: str,
    port: int,
    system_id: str,
    password_env: str,
    binds: int,
    window: int,
    rate: float | None,
    messages: int | None,
    duration: float | None,
    text: str,
    registered_delivery: bool,
    receipt_timeout: float,
    source: str,
    destination_prefix: str,
    sim_control: str | None,
    watch_pid: int | None,
    watch_interval: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Load-test an SMPP server (a gateway, smppd sim, any SMSC).

    Rates count submit_sm, so a long message of three parts is three. Every
    submit carries a tag (ref:RUN.N) in its text that smppd sim counts.
    Exit status: 0 all accepted, returned and (if checked) delivered once;
    1 otherwise; 2 when no bind came up or the simulator could not be asked.
    """
    if messages is not None and duration is not None:
        raise click.UsageError("give --messages or --duration, not both")
    if messages is None and duration is None:
        messages = DEFAULT_MESSAGES
    password = os.environ.get(password_env, "")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise click.UsageError(
            f"the password in {password_env} is longer than {MAX_PASSWORD_LENGTH} characters"
        )
    kind, literal = _text_kind(text)
    try:
        config = BenchConfig(
            system_id=system_id,
            password=password,
            binds=binds,
            window=window,
            rate=rate,
            messages=messages,
            duration=duration,
            receipt_timeout=receipt_timeout,
        )
        ledger = SubmitLedger(secrets.token_hex(RUN_ID_OCTETS))
        factory = MessageFactory(
            kind,
            ledger,
            literal=literal,
            source=source,
            destination_prefix=destination_prefix,
            registered_delivery=registered_delivery,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    rss = RssSeries(watch_pid) if watch_pid is not None else None
    code = _run(
        config,
        factory,
        host=host,
        port=port,
        rss=rss,
        watch_interval=watch_interval,
        quiet=quiet,
    )
    result, interrupted = code
    if result is None:
        click.echo("smppd bench: no result", err=True)
        sys.exit(EXIT_FAILED)
    verdict: Verdict | None = None
    exit_code = EXIT_OK
    if sim_control is not None and result.binds_up + result.submits_sent > 0:
        settle = 0.0
        if not registered_delivery or result.receipts_missing:
            settle = min(VERIFY_SETTLE, receipt_timeout) if not interrupted else 0.0
        try:
            verdict = verify(
                ledger,
                SimControl(sim_control),
                settle=settle,
                sleep=time.sleep,
                monotonic=time.monotonic,
            )
        except ControlError as exc:
            click.echo(f"smppd bench: cannot check at the simulator: {exc}", err=True)
            exit_code = EXIT_FAILED
    if as_json:
        click.echo(to_json_text(result, verdict, rss))
    else:
        click.echo(format_report(result, verdict, rss))
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if exit_code == EXIT_OK:
        exit_code = _exit_code(result, verdict)
    sys.exit(exit_code)


def _exit_code(result: BenchResult, verdict: Verdict | None) -> int:
    if result.submits_sent == 0:
        return EXIT_FAILED
    complete = (
        result.submits_accepted == result.submits_sent
        and not result.submits_abandoned
        and not result.receipts_missing
        and not result.errors
    )
    if verdict is not None and verdict.exactly_once is not True:
        complete = False
    return EXIT_OK if complete else EXIT_INCOMPLETE


def _run(
    config: BenchConfig,
    factory: MessageFactory,
    *,
    host: str,
    port: int,
    rss: RssSeries | None,
    watch_interval: float,
    quiet: bool,
) -> tuple[BenchResult | None, bool]:
    # Importing the reactor installs it: only when a run really starts.
    from twisted.internet import reactor as _reactor  # noqa: PLC0415
    from twisted.internet.endpoints import TCP4ClientEndpoint  # noqa: PLC0415
    from twisted.internet.endpoints import connectProtocol as _connect_protocol  # noqa: PLC0415

    reactor: Any = _reactor
    # twisted.internet.endpoints is not annotated.
    connect_protocol: Any = _connect_protocol
    started = time.monotonic()
    last_rss = [-math.inf]

    def sample_rss(force: bool = False) -> None:
        if rss is None:
            return
        now = time.monotonic() - started
        if not force and now - last_rss[0] < watch_interval:
            return
        kib = read_vm_rss(rss.pid)
        if kib is None:
            return
        last_rss[0] = now
        rss.add(now, kib)
        if not quiet:
            click.echo(f"rss pid {rss.pid}: {kib / 1024:.1f} MiB at {now:.0f} s", err=True)

    def on_progress(progress: Progress) -> None:
        sample_rss()
        if not quiet:
            click.echo(format_progress(progress, rss.last if rss else None), err=True)

    generator = LoadGenerator(config, factory, reactor, on_progress=on_progress)
    outcome: dict[str, Any] = {"result": None, "interrupted": False}

    def connect(protocol: SmppProtocol) -> Any:
        endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
        return connect_protocol(endpoint, protocol)

    def done(result: BenchResult) -> None:
        outcome["result"] = result
        reactor.stop()

    def failed(failure: Any) -> None:
        click.echo(f"smppd bench: {failure.getErrorMessage()}", err=True)
        outcome["result"] = generator.snapshot()
        reactor.stop()

    def interrupt(signum: int, frame: object) -> None:
        if outcome["interrupted"]:
            reactor.stop()
            return
        outcome["interrupted"] = True
        click.echo("smppd bench: stopping (again to quit at once)", err=True)
        reactor.callFromThread(generator.stop)

    def start() -> None:
        signal.signal(signal.SIGINT, interrupt)
        generator.run(connect).addCallbacks(done, failed)

    sample_rss(force=True)
    reactor.callWhenRunning(start)
    reactor.run()
    sample_rss(force=True)
    result = outcome["result"]
    if result is None:
        result = generator.snapshot()
    return result, bool(outcome["interrupted"])
