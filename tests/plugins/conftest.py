from collections.abc import Iterator

import pytest

from tests.plugins.fakes import Harness


@pytest.fixture
def harness() -> Iterator[Harness]:
    made = Harness()
    yield made
    # Every timeout the host armed was either cancelled or has fired.
    assert made.clock.getDelayedCalls() == []
