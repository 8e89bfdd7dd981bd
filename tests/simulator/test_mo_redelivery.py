"""``POST /mo`` with a ``reference``: a carrier re-sending one MO after a late deliver_sm_resp."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import Engine
from twisted.web.test.requesthelper import DummyRequest

from smppd.simulator.control import ControlResource
from tests.simulator.conftest import sim_gateway
from tests.simulator.test_connector import make
from tests.simulator.test_server import smsc

PHONE = "+46701234567"
LONG_TEXT = "LÖS IN LATTE " + "tack för kaffet " * 12


class _Forward:
    forward = True


def _request(body: dict[str, object]) -> Any:
    request: Any = DummyRequest([b"mo"])
    request.method = b"POST"
    request.path = b"/mo"
    request.content = io.BytesIO(json.dumps(body).encode())
    return request


def test_one_reference_delivers_every_part_under_it() -> None:
    connector, sink, _ = make()
    connector.inject_mo_with_reference(
        PHONE, "72000", LONG_TEXT, reference="late-1", out_of_order=True
    )
    connector.inject_mo_with_reference(
        PHONE, "72000", "KAFFE", reference="late-2", out_of_order=False
    )
    assert [p.carrier_reference for p in sink.inbound_parts] == ["late-1/2", "late-1/1", "late-2"]
    connector.inject_mo(PHONE, "72000", "KAFFE")
    assert sink.inbound_parts[-1].carrier_reference not in {"late-2", None}


def test_the_same_mo_posted_again_with_its_reference_reaches_the_gateway_once(
    engine: Engine,
) -> None:
    with sim_gateway(engine) as sim:
        gw, seen = sim.gw, sim.seen

        def post(text: str, reference: str) -> tuple[int, Any]:
            return sim.post_mo(text, reference=reference)

        assert post("KAFFE", "r-1") == (202, {"parts": 1, "seq": 0, "committed": True})
        # The carrier did not see the deliver_sm_resp in time: the same PDU again.
        assert post("KAFFE", "r-1")[1]["committed"] is True
        assert post(LONG_TEXT, "r-2")[1]["parts"] == 2
        assert post(LONG_TEXT, "r-2")[1]["parts"] == 2
        # The same words under another reference are another message.
        post("KAFFE", "r-3")
        gw.settle()
        assert [event.text for event in seen] == ["KAFFE", LONG_TEXT, "KAFFE"]
        stored = gw.rows("SELECT text FROM inbound_messages WHERE account = 'acme' ORDER BY id")
        assert [row[0] for row in stored] == ["KAFFE", LONG_TEXT, "KAFFE"]


def test_the_standalone_smsc_refuses_a_reference() -> None:
    request = _request({"from": PHONE, "to": "72000", "text": "KAFFE", "reference": "r-1"})
    answer = ControlResource(smsc()).render(request)
    assert request.responseCode == 400
    assert isinstance(answer, bytes)
    assert json.loads(answer) == {
        "error": "reference applies only to a gateway's in-process sim connector"
    }


def test_a_reference_must_be_short_and_printable() -> None:
    connector, _, _ = make()
    for reference in ("", "x" * 49, "a\nb"):
        request = _request({"from": PHONE, "to": "72000", "text": "KAFFE", "reference": reference})
        ControlResource(connector).render(request)
        assert request.responseCode == 400, reference
