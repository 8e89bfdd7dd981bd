"""Construction of frozen dataclasses without running ``__init__``.

The decoder has already validated every value, so running the generated
frozen ``__init__`` (one ``object.__setattr__`` by name per field, plus
``__post_init__`` validation) would only repeat work on the hot path. This
module generates, once per class, a positional function that allocates the
instance and stores each slot through its member descriptor. The result is an
ordinary instance of the public frozen dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["fast_constructor"]


def fast_constructor(cls: type[Any]) -> Callable[..., Any]:
    """Return ``build(*values)`` taking the dataclass fields in declaration order."""
    names = [f.name for f in dataclasses.fields(cls)]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def build({', '.join(names)}):", "    obj = _new(_cls)"]
    for name in names:
        descriptor = next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)
        namespace[f"_set_{name}"] = descriptor.__set__
        lines.append(f"    _set_{name}(obj, {name})")
    lines.append("    return obj")
    exec("\n".join(lines), namespace)  # source built from field names only
    build: Callable[..., Any] = namespace["build"]
    build.__qualname__ = f"{cls.__qualname__}._build"
    return build
