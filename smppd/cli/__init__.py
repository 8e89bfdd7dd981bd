"""The ``smppd`` command line.

Each command group lives in its own module and is imported only when it is
used, so ``smppd --help`` and quick commands such as ``smppd text info`` do
not pay for the database or the reactor.
"""

from __future__ import annotations

import importlib

import click

from smppd import __version__

# command name -> "module:attribute"
_COMMANDS: dict[str, str] = {
    "run": "smppd.cli.run_cmd:run",
    "config": "smppd.cli.config_cmd:config",
    "text": "smppd.cli.text_cmd:text",
    "db": "smppd.cli.db_cmd:db",
    "account": "smppd.cli.account_cmd:account",
    "message": "smppd.cli.message_cmd:message",
    "sim": "smppd.cli.sim_cmd:sim",
    "send": "smppd.cli.send_cmd:send",
    "bench": "smppd.cli.bench_cmd:bench",
    "modem": "smppd.cli.modem_cmd:modem",
    "rules": "smppd.cli.rules_cmd:rules",
    "subscriber": "smppd.cli.subscriber_cmd:subscriber",
    "loyalty": "smppd.cli.loyalty_cmd:loyalty",
}

_HELP: dict[str, str] = {
    "run": "Run the gateway in the foreground.",
    "config": "Check a configuration file.",
    "text": "Inspect how a text is encoded and split into SMS parts.",
    "db": "Create, migrate and purge the message store.",
    "account": "Manage the applications allowed to bind.",
    "message": "Look up stored messages.",
    "sim": "Run an SMSC simulator for application developers and tests.",
    "send": "Submit one message through a running gateway and wait for its receipt.",
    "bench": "Load-test an SMPP server: throughput, latency, receipts.",
    "modem": "Probe and list GSM modems.",
    "rules": "Check a rule set and simulate inbound messages against it.",
    "subscriber": "Look up, export and change subscribers' consent.",
    "loyalty": "Members' points: balances, history, awards, adjustments, reward codes.",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every command module.
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smppd")
def main() -> None:
    """smppd: an SMS gateway (SMPP 3.4 server and client, GSM modems)."""
