"""A plugin the end-to-end tests enable to see what the inbound hook is shown.

Each inbound call appends one JSON line (the message's text, addresses,
channel, connector and keys) to the file named by its ``path`` setting and
answers :data:`~plugins.api.FORWARD`, so the message still reaches the
application. The daemon finds it as any plugin: an entry point of group
``smppd.plugins`` in a ``.dist-info`` directory the test puts on the daemon's
``PYTHONPATH``; nothing installs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from twisted.internet.defer import Deferred

from plugins.api import (
    FORWARD,
    BlockingRunner,
    InboundMessage,
    InboundOutcome,
    PluginConfig,
    PluginContext,
)

#: The entry point a test registers: ``recording = tests.e2e.recording_plugin:Recording``.
PLUGIN_NAME: Final = "recording"
ENTRY_POINT: Final = f"{__name__}:Recording"


class RecordingConfig(PluginConfig):
    """``[plugins.recording]``: where the lines go."""

    path: str


class Recording:
    """Appends every inbound message it is shown to a JSON-lines file."""

    name = PLUGIN_NAME
    config_model = RecordingConfig
    description = "records each inbound message as one JSON line (tests only)"

    def __init__(self) -> None:
        self._path: Path | None = None
        self._run_blocking: BlockingRunner | None = None

    def start(self, context: PluginContext[RecordingConfig]) -> None:
        self._path = Path(context.config.path)
        self._run_blocking = context.run_blocking

    def inbound(self, msg: InboundMessage) -> Deferred[InboundOutcome]:
        if self._path is None or self._run_blocking is None:
            raise RuntimeError("the recording plugin was not started")
        line = json.dumps(
            {
                "text": msg.text,
                "source": msg.source,
                "destination": msg.destination,
                "channel": str(msg.channel),
                "connector": msg.connector,
                "idempotency_key": msg.idempotency_key,
                "carrier_reference": msg.carrier_reference,
            },
            ensure_ascii=False,
        )
        # A file write blocks: it runs off the reactor thread, as the API asks.
        written = self._run_blocking(_append_line, self._path, line)
        return written.addCallback(lambda _: FORWARD)


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def recorded(path: Path) -> list[dict[str, object]]:
    """The lines the plugin wrote, decoded (none when it wrote nothing yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
