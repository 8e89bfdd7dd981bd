"""Fraud limits per sender: an inbound rate and a repeated-keyword limit, in memory.

How this works: the plugin counts here only the programme's own keywords
(earn, balance, redeem...): STOP, HELP, JOIN and YES are the consent
plugin's and never count. :class:`SenderLimits` keeps, per sender number,
the moments of its recent keywords and of each recent text.

* **Rate.** A sender over ``messages_per_minute`` is **limited**: the
  message has no effect, the first limited message gets one "slow down"
  reply (:attr:`Verdict.NOTICE`) and the rest of the window is silence
  (:attr:`Verdict.SILENT`). The window is a minute from the last message
  over the rate, so a sender who keeps hammering stays silenced, and one
  who pauses for a minute is answered again.
* **Repeats.** The same text more than ``repeat_limit`` times within the
  repeat window: the repeat has no effect and no reply
  (:attr:`Verdict.SILENT`): the first ones had their answer. Other
  keywords are still answered, and the text again once the window passes.

Memory is bounded: at most :data:`MAX_SENDERS` senders are tracked (the
least recently seen is forgotten first) and each keeps at most as many
moments as its limits can need. Time is passed in (``now`` in seconds), so
tests drive it with a clock. The limits are per gateway node: a second node
counts on its own, which only ever makes the limit looser, never wrong.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from plugins.loyalty.config import Limits

__all__ = ["MAX_SENDERS", "SenderLimits", "Verdict"]

MAX_SENDERS: Final = 50_000
# Distinct texts remembered per sender for the repeat limit.
MAX_TEXTS_PER_SENDER: Final = 8
RATE_WINDOW: Final = 60.0


class Verdict(Enum):
    OK = "ok"
    NOTICE = "notice"  # over the rate: say "slow down" once
    SILENT = "silent"  # over the rate and already told, or a repeat


@dataclass(slots=True)
class _Sender:
    moments: deque[float] = field(default_factory=deque)
    texts: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    # Limited until this moment; ``told`` once the reply went out.
    until: float = 0.0
    told: bool = False


class SenderLimits:
    """The fraud limits of one programme's numbers (see the module docstring)."""

    def __init__(self, limits: Limits, *, max_senders: int = MAX_SENDERS) -> None:
        self._limits = limits
        self._max = max_senders
        self._senders: OrderedDict[str, _Sender] = OrderedDict()

    def __len__(self) -> int:
        return len(self._senders)

    def check(self, number: str, text: str, now: float) -> Verdict:
        """Count one message of ``number`` with normalised ``text`` at ``now``."""
        sender = self._senders.pop(number, None) or _Sender()
        self._senders[number] = sender
        while len(self._senders) > self._max:
            self._senders.popitem(last=False)
        limits = self._limits
        repeat_window = limits.repeat_window_minutes * 60.0
        moments = sender.moments
        moments.append(now)
        while moments and moments[0] <= now - RATE_WINDOW:
            moments.popleft()
        while len(moments) > limits.messages_per_minute + 1:
            moments.popleft()
        seen = sender.texts.pop(text, None) or deque()
        sender.texts[text] = seen
        while len(sender.texts) > MAX_TEXTS_PER_SENDER:
            sender.texts.popitem(last=False)
        seen.append(now)
        while seen and seen[0] <= now - repeat_window:
            seen.popleft()
        while len(seen) > limits.repeat_limit + 1:
            seen.popleft()
        if len(moments) > limits.messages_per_minute:
            limited_before = now < sender.until
            sender.until = now + RATE_WINDOW
            if limited_before and sender.told:
                return Verdict.SILENT
            sender.told = True
            return Verdict.NOTICE
        if now < sender.until:
            return Verdict.SILENT
        sender.told = False
        if len(seen) > limits.repeat_limit:
            return Verdict.SILENT
        return Verdict.OK
