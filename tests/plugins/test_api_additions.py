"""Derived message ids, refusals with a receipt, and a context's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from twisted.internet.task import Clock
from twisted.logger import Logger

from plugins.api import (
    MAX_SEND_KEY_LENGTH,
    PluginContext,
    Refuse,
    SendResult,
    SendUnavailable,
    reply_message_id,
    send_message_id,
)
from smppd.smpp.constants import CommandStatus
from smppd.store.ids import MessageIdGenerator, is_message_id, timestamp_of
from smppd.store.schema import open_store
from tests.plugins.fakes import run_now


def test_a_reply_id_is_a_store_id_and_the_same_for_the_same_reply() -> None:
    first = reply_message_id("mo-key", "loyalty", 0)
    assert is_message_id(first)
    assert first == reply_message_id("mo-key", "loyalty", 0)


@pytest.mark.parametrize(
    "other",
    [
        ("mo-key", "loyalty", 1),
        ("mo-key", "consent", 0),
        ("mo-kez", "loyalty", 0),
        # The fields are separated: "a" + "bc" is not "ab" + "c".
        ("mo-keyl", "oyalty", 0),
    ],
)
def test_a_reply_id_differs_for_another_reply(other: tuple[str, str, int]) -> None:
    assert reply_message_id(*other) != reply_message_id("mo-key", "loyalty", 0)


def test_derived_ids_keep_the_id_layout_and_name_no_moment() -> None:
    ids = {reply_message_id(f"k{n}", "loyalty", 0) for n in range(200)}
    assert len(ids) == 200
    assert all(is_message_id(i) for i in ids)
    # Variant bits 0b10 (RFC 9562) in the 17th hex digit.
    assert all(int(i[16], 16) >> 2 == 0b10 for i in ids)
    assert all(timestamp_of(i) == 0.0 for i in ids)
    # They sort before any id issued at acceptance.
    issued = MessageIdGenerator().new(1_800_000_000.0)
    assert max(ids) < issued


def test_a_send_id_never_equals_a_reply_id() -> None:
    assert send_message_id("mo-key", "loyalty") != reply_message_id("mo-key", "loyalty", 0)
    assert is_message_id(send_message_id("mo-key", "loyalty"))


@pytest.mark.parametrize(
    "args", [("", "loyalty"), ("key", ""), ("k" * (MAX_SEND_KEY_LENGTH + 1), "loyalty")]
)
def test_a_send_id_needs_a_key_and_a_plugin(args: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        send_message_id(*args)


def test_a_reply_index_is_not_negative() -> None:
    with pytest.raises(ValueError):
        reply_message_id("k", "loyalty", -1)


def test_refuse_answers_with_a_status_unless_told_to_answer_with_a_receipt() -> None:
    assert Refuse(CommandStatus.ESME_RX_R_APPN, "opted out").answer == "status"
    assert Refuse(CommandStatus.ESME_RX_R_APPN, "opted out", answer="receipt").answer == "receipt"
    with pytest.raises(ValueError, match="answer"):
        Refuse(CommandStatus.ESME_RX_R_APPN, "opted out", answer="silently")  # type: ignore[arg-type]


def test_send_result_tells_sent_from_refused() -> None:
    assert SendResult("0" * 32, None, "accepted").sent
    assert not SendResult(None, CommandStatus.ESME_RINVDSTADR, "no route").sent


def context(**changes: Any) -> PluginContext[None]:
    values: dict[str, Any] = {
        "name": "loyalty",
        "clock": Clock(),
        "log": Logger(),
        "run_blocking": run_now,
        "config": None,
    }
    values.update(changes)
    return PluginContext(**values)


def test_a_hand_built_context_cannot_send_and_says_so() -> None:
    outcome: list[Any] = []
    context().send(source="72345", destination="+46701234567", text="hi").addErrback(outcome.append)
    (failure,) = outcome
    assert isinstance(failure.value, SendUnavailable)
    assert "outbound path" in str(failure.value)


def test_a_hand_built_context_writes_in_a_transaction_of_its_own(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        ctx = context(engine=engine)

        def count(conn: Connection) -> int:
            return int(conn.execute(text("SELECT count(*) FROM messages")).scalar_one())

        got: list[Any] = []
        ctx.write(count).addBoth(got.append)
        assert got == [0]
    finally:
        engine.dispose()


def test_a_context_without_a_store_fails_its_writes_clearly() -> None:
    got: list[Any] = []
    context().write(lambda conn: 1).addErrback(got.append)
    (failure,) = got
    assert "no store" in str(failure.value)


def test_a_hand_built_context_has_the_working_directory_as_base() -> None:
    assert context().base_dir == Path()
    assert context(base_dir=Path("/etc/smppd")).base_dir == Path("/etc/smppd")
