"""The SMS loyalty programme and consent enforcement through the real gateway process.

One ``smppd run`` on a copy of the shipped smppd.toml (its in-process demo
carrier, the consent and loyalty plugins with config/rules/coffee.toml and
config/rules/coffee-loyalty.toml) serves the module. Handsets write to the
short code 72000 through the demo carrier's control endpoint and read what
they received from it; an smpplib application binds over SMPP; the operator
runs ``smppd loyalty`` and ``smppd subscriber`` against the same
configuration. Each test uses numbers of its own, so they share the
gateway without sharing a subscriber.

Expected replies are rendered from the shipped rule set's templates and the
programme's figures, so the tests follow the files and fail when the
gateway answers with another template, another language or other points.
"""

from __future__ import annotations

import json
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from plugins.consent.config import OPTED_OUT_STATUS
from smppd.receipt import parse_receipt
from smppd.smpp.constants import SmppdMessageClass
from tests.e2e.conftest import (
    APP_PASSWORD,
    APP_SYSTEM_ID,
    ROOT,
    DemoCarrier,
    Gateway,
    Processes,
    add_account,
    classed_submit,
    create_store,
    free_port,
    shipped_config,
    smppd_output,
    wait_until,
)
from tests.e2e.smpp_app import App, raw_pdu

pytestmark = pytest.mark.slow

SHORT_CODE: Final = "72000"
SUBMIT_SM: Final = 0x00000004
#: Seconds for a receipt to come back (the demo carrier sends it after 1 s).
RECEIPT_WAIT: Final = 30.0
#: Seconds for a reply to reach the handset.
REPLY_WAIT: Final = 30.0

RULES: Final[dict[str, Any]] = tomllib.loads(
    (ROOT / "config" / "rules" / "coffee.toml").read_text()
)
PROGRAMME: Final[dict[str, Any]] = tomllib.loads(
    (ROOT / "config" / "rules" / "coffee-loyalty.toml").read_text()
)
TITLE: Final[str] = RULES["programmes"][0]["title"]
JOIN_HOURS: Final[int] = RULES["questions"]["join_coffee"]["expires_after_hours"]
JOIN_BONUS: Final[int] = PROGRAMME["join_bonus"]
EARN: Final[int] = PROGRAMME["earn"]["earn"]["points"]
BUN: Final[dict[str, Any]] = PROGRAMME["rewards"]["bulle"]
#: What replies call the entry tier, per language.
FIRST_TIER: Final[dict[str, str]] = PROGRAMME["tiers"][0]["names"]


def shown(template: str, language: str, **values: object) -> str:
    """The text of ``template`` in ``language`` as the gateway renders it."""
    text: str = RULES["templates"][template]["text"][language]
    return text.format(brand=RULES["brand"], support=RULES["support"], programme=TITLE, **values)


@dataclass(frozen=True)
class Shop:
    """The gateway running the shipped configuration, and its demo carrier."""

    gateway: Gateway
    carrier: DemoCarrier
    config: Path

    def smppd(self, *args: str) -> str:
        """``smppd ARGS --config <this gateway's configuration>``: its output."""
        return smppd_output(*args, "--config", str(self.config))

    def say(self, number: str, text: str, expected: int = 1) -> list[str]:
        """``number`` texts the short code; the ``expected`` replies it receives."""
        since = self.carrier.text(number, SHORT_CODE, text)
        return self.carrier.wait_texts(number, since, expected, REPLY_WAIT)

    def app(self) -> App:
        return App(self.gateway.port, APP_SYSTEM_ID, APP_PASSWORD, "trx")


@pytest.fixture(scope="module")
def shop(module_processes: Processes) -> Shop:
    directory = module_processes.directory / "shop"
    directory.mkdir()
    port, control_port = free_port(), free_port()
    config = shipped_config(directory, port=port, control_port=control_port)
    create_store(config)
    add_account(config, APP_SYSTEM_ID, APP_PASSWORD)
    gateway = Gateway(directory, config, port)
    module_processes.gateways.append(gateway)
    gateway.start()
    gateway.process.wait_listening(control_port)
    return Shop(gateway, DemoCarrier(control_port), config)


def submit(app: App, destination: str, text: str, message_class: int) -> Any:
    """A submit_sm from the short code carrying the smppd_message_class TLV; its response."""
    seq = app.next_sequence()
    body = classed_submit(
        source=SHORT_CODE, destination=destination, text=text, message_class=message_class
    )
    app.send_raw(raw_pdu(SUBMIT_SM, seq, body))
    return app.response(seq)


def history(shop: Shop, number: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(shop.smppd("loyalty", "history", number, "--json"))
    return entries


def test_a_member_joins_earns_redeems_stops_and_then_gets_only_transactional_messages(
    shop: Shop, tmp_path: Path
) -> None:
    number = "+46701740001"
    carrier = shop.carrier
    confirm = shown("join_confirm", "sv", hours=JOIN_HOURS)
    welcome = shown("welcome", "sv")
    balance = JOIN_BONUS + EARN
    earned = shown("earned", "sv", points=EARN, balance=balance)
    balance_reply = shown("balance", "sv", balance=balance, tier=FIRST_TIER["sv"])

    assert shop.say(number, "GÅ MED KAFFE") == [confirm]
    assert shop.say(number, "JA") == [welcome]
    assert shop.say(number, "KAFFE") == [earned]
    assert shop.say(number, "POÄNG") == [balance_reply]

    codes = ["BULLE-E2E-0001", "BULLE-E2E-0002"]
    pool = tmp_path / "bulle.txt"
    pool.write_text("".join(f"{code}\n" for code in codes))
    assert shop.smppd("loyalty", "codes", "import", "bulle", str(pool)).strip() == (
        "imported 2, skipped 0"
    )
    left = balance - BUN["points"]
    (redeemed,) = shop.say(number, "LÖS IN BULLE")
    given = [code for code in codes if code in redeemed]
    assert len(given) == 1, redeemed
    assert redeemed == shown(
        "redeemed",
        "sv",
        reward=BUN["names"]["sv"][0],
        code=given[0],
        validity=BUN["validity"]["sv"],
        balance=left,
    )
    standing = shop.smppd("loyalty", "balance", number).split()
    assert standing[standing.index("balance") + 1] == str(left)
    assert standing[standing.index("lifetime") + 1] == str(balance)
    assert shop.smppd("loyalty", "codes", "list", "bulle").strip() == (
        "bulle: issued 1, available 1"
    )
    spent = [e for e in history(shop, number) if e["kind"] == "spend"]
    assert [(e["points"], e["reward"]) for e in spent] == [(-BUN["points"], "bulle")]

    stop_seq = carrier.text(number, SHORT_CODE, "STOPP")
    opt_out = shown("opt_out", "sv")
    assert carrier.wait_texts(number, stop_seq, 1, REPLY_WAIT) == [opt_out]

    # The application: marketing to the number is refused, a transactional message goes.
    app = shop.app()
    offer = "Kaffebaren: second coffee free this week. Reply STOPP to opt out."
    refused = submit(app, number.removeprefix("+"), offer, SmppdMessageClass.MARKETING)
    assert int(refused.status) == OPTED_OUT_STATUS
    receipt_text = "Kaffebaren: your order 4711 is ready at the counter."
    resp = submit(app, number.removeprefix("+"), receipt_text, SmppdMessageClass.TRANSACTIONAL)
    assert int(resp.status) == 0
    message_id = resp.message_id.decode()
    app.wait(lambda: message_id in app.received.receipts, RECEIPT_WAIT)
    (receipt,) = app.received.receipts[message_id]
    assert parse_receipt(receipt).state.name == "DELIVERED"
    app.close()

    # What the handset received after its STOPP: one confirmation and the transactional
    # message, which went after the refused offer (nothing of the offer arrived).
    assert carrier.wait_texts(number, stop_seq, 2, REPLY_WAIT) == [opt_out, receipt_text]
    assert carrier.texts(number) == [
        confirm,
        welcome,
        earned,
        balance_reply,
        redeemed,
        opt_out,
        receipt_text,
    ]

    # The consent ledger as a GDPR export: every event with the exact text shown.
    exported = json.loads(shop.smppd("subscriber", "export", number, "--format", "json"))
    assert [(e["event"], e["original_text"], e["shown_text"]) for e in exported] == [
        ("confirm_asked", "GÅ MED KAFFE", confirm),
        ("opt_in", "JA", welcome),
        ("opt_out", "STOPP", opt_out),
    ]
    assert {e["scope"] for e in exported} == {RULES["brand"]}
    assert all(e["sender"] == SHORT_CODE and e["template_version"] == 1 for e in exported)


def redeliver(shop: Shop, number: str, text: str, reference: str) -> int:
    """The demo carrier delivers ``text`` from ``number`` under the carrier ``reference``;
    the handset view's seq before it."""
    body = {"from": number, "to": SHORT_CODE, "text": text, "reference": reference}
    request = urllib.request.Request(
        f"http://127.0.0.1:{shop.carrier.control_port}/mo",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=REPLY_WAIT) as response:
        answer = json.loads(response.read())
    assert answer["committed"] is True, answer
    return int(answer["seq"])


def test_a_carrier_resending_the_same_mo_awards_the_points_once_and_answers_once(
    shop: Shop,
) -> None:
    number = "+46701740002"
    carrier = shop.carrier
    shop.say(number, "GÅ MED KAFFE")
    shop.say(number, "JA")
    balance = JOIN_BONUS + EARN
    earned = shown("earned", "sv", points=EARN, balance=balance)
    since = redeliver(shop, number, "KAFFE", "e2e-late-resp-1")
    # The deliver_sm_resp came late: the carrier sends the very same PDU again.
    redeliver(shop, number, "KAFFE", "e2e-late-resp-1")
    balance_reply = shown("balance", "sv", balance=balance, tier=FIRST_TIER["sv"])
    carrier.text(number, SHORT_CODE, "POÄNG")
    wait_until(
        lambda: balance_reply in carrier.texts(number, since),
        REPLY_WAIT,
        "the balance reply",
        interval=0.1,
    )

    earns = [e for e in history(shop, number) if e["kind"] == "earn"]
    assert [(e["points"], e["rule"]) for e in earns] == [(EARN, "earn")]
    assert sorted(carrier.texts(number, since)) == sorted([earned, balance_reply])


def test_a_second_coffee_within_the_cooldown_earns_nothing(shop: Shop) -> None:
    number = "+46701740003"
    shop.say(number, "GÅ MED KAFFE")
    shop.say(number, "JA")
    balance = JOIN_BONUS + EARN
    assert shop.say(number, "KAFFE") == [shown("earned", "sv", points=EARN, balance=balance)]
    # Another word of the same earn rule (the same word again would be a repeat: silence).
    assert shop.say(number, "FIKA") == [shown("earn_limit", "sv", balance=balance)]
    earns = [e for e in history(shop, number) if e["kind"] == "earn"]
    assert len(earns) == 1


def test_an_english_speaker_joins_and_earns_in_english(shop: Shop) -> None:
    number = "+447700900301"
    balance = JOIN_BONUS + EARN
    assert shop.say(number, "JOIN COFFEE") == [shown("join_confirm", "en", hours=JOIN_HOURS)]
    assert shop.say(number, "YES") == [shown("welcome", "en")]
    assert shop.say(number, "COFFEE") == [shown("earned", "en", points=EARN, balance=balance)]
    assert shop.say(number, "POINTS") == [
        shown("balance", "en", balance=balance, tier=FIRST_TIER["en"])
    ]
    standing = shop.smppd("loyalty", "balance", number).split()
    assert standing[standing.index("balance") + 1] == str(balance)
