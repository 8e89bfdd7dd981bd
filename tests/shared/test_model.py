"""Contract: random operation sequences answer exactly as a plain model does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.shared.conftest import HarnessFactory
from tests.shared.model import Model, Op, operations, perform


@given(ops=st.lists(operations, max_size=80))
def test_every_answer_matches_the_model(make_harness: HarnessFactory, ops: list[Op]) -> None:
    with make_harness() as h:
        model = Model(now=h.now())
        for step, op in enumerate(ops):
            assert perform(h, op) == model.apply(op), f"step {step}: {op}"
