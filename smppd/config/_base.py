"""What every configuration section shares: the strict base model and common field types.

Kept apart from the sections themselves so that sections in several modules
(``_models``, ``_connectors``, ``_routes``) build on the same declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from smppd.config._locate import KeyPath
from smppd.config._schema import Expect, ValidationContext

MAX_TIMER_SECONDS = 86_400.0
NODE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
# SMPP 3.4 §5.2.1: system_id is a C-Octet String of at most 16 octets
# including the terminating NUL.
MAX_SYSTEM_ID_LENGTH = 15

# A problem found by comparing sections (a route naming a connector that
# does not exist): the key path it belongs to and what to say.
Reference = tuple[KeyPath, str]


def validation_context(info: ValidationInfo) -> ValidationContext:
    context = info.context
    if not isinstance(context, ValidationContext):
        raise TypeError("configuration models are validated through smppd.config's loader")
    return context


Seconds = Annotated[
    float,
    Field(gt=0, le=MAX_TIMER_SECONDS),
    Expect(f"a number of seconds greater than 0 and at most {MAX_TIMER_SECONDS:g}"),
]
# Names of connectors and routes: what logs, metrics and other sections use.
Name = Annotated[
    str,
    Field(pattern=NODE_NAME_PATTERN),
    Expect('a name (letters, digits, ".", "_" and "-"; at most 63 characters)'),
]
SystemId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_SYSTEM_ID_LENGTH, pattern=r"^[\x21-\x7e]+$"),
    Expect(f"1 to {MAX_SYSTEM_ID_LENGTH} printable ASCII characters without spaces"),
]


def _frozen(items: list[Any]) -> tuple[Any, ...]:
    # Arrays of arrays (failover groups) become tuples all the way down;
    # tables inside are left to their own section.
    return tuple(_frozen(item) if isinstance(item, list) else item for item in items)


class Section(BaseModel):
    """Base of every configuration table: strict, closed and immutable.

    Declare arrays (of values or of tables) as ``tuple[X, ...]``: TOML
    arrays arrive as lists and are handed over as tuples, so a loaded
    configuration cannot be changed in place.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _arrays_become_tuples(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: _frozen(v) if isinstance(v, list) else v for key, v in data.items()}

    @classmethod
    def cross_check(cls, data: Mapping[str, Any], context: ValidationContext) -> list[Reference]:
        """Problems between parts of the document, found on the raw ``data``.

        The loader calls this whether or not the document validated, so a
        reference is checked even when some other key of the file is wrong.
        """
        return []
