"""The plugin host: discovery, loading, configuration, ordered invocation, containment.

How this works:

1. **Discovery.** Plugins are the entry points of group ``smppd.plugins``
   (``name = "module:Class"``); the built-in plugins register the same way.
   Two distributions offering one name for different objects is an error,
   enabled or not: which one would run would depend on ``sys.path`` order.
2. **Loading** (:func:`load_plugins`), from the ``[plugins]`` table of
   ``smppd.toml`` as a plain mapping::

       [plugins]
       enabled = ["consent", "loyalty"]   # invocation order

       [plugins.consent]
       on_error = "refuse"                # host keys, see PluginSettings
       on_error_status = 0x00000008
       quiet_hours = { start = 21:00:00, end = 08:00:00 }   # the plugin's own

   Each enabled name is looked up (unknown -> error with did-you-mean), its
   class imported and instantiated without arguments, checked against the
   contract of :mod:`plugins.api` (a misspelt hook is an error) and its
   table validated: the host keys by the host, the rest by the plugin's
   ``config_model``. Every problem of the whole table is collected and
   raised together in one :class:`PluginConfigError`, each naming its key
   (``plugins.consent.quiet_hours.start``), so the configuration loader can
   report them with its own. A plugin's model is validated with the
   pydantic context ``{"base_dir": <the configuration file's directory>}``,
   so a field validator resolves relative paths (``rules =
   ["config/rules/coffee.toml"]``) from there, not from wherever the daemon
   was started.
3. **Running** (:class:`PluginHost`). ``start()`` starts the plugins in
   order, ``stop()`` stops them in reverse. Each hook call goes through one
   gate (``_invoke``) that times it on the reactor thread, arms a timeout on
   the injected clock, and turns whatever happens (an answer, an exception,
   a failed Deferred, a wrong type, silence) into either the plugin's answer
   or a :class:`PluginFailure`. The combining code therefore never sees an
   exception: a plugin cannot crash the gateway or lose a message.
   A failed outbound hook becomes the plugin's ``on_error`` verdict; a
   failed inbound hook forwards the message unless ``on_inbound_error`` says
   to withhold it; a failed receipt hook is only logged and counted.
   A plugin whose ``start`` failed stays in the chain: each of its hooks
   counts as failed and gets its ``on_error`` treatment, so a fail-closed
   consent plugin keeps refusing rather than silently disappearing.
   Each plugin's :class:`~plugins.api.PluginContext` carries its own
   ``send`` (from the ``sender`` factory the gateway gives the host) and the
   shared ``write`` (:func:`group_commit_writer` over the store's writer).

A synchronous hook cannot be interrupted: the timeout only helps against a
Deferred that never fires. Hooks must therefore be quick and push blocking
work through ``run_blocking``; calls that hold the reactor thread longer than
:data:`SLOW_HOOK_SECONDS` are logged and counted, so a slow plugin is visible.
"""

from __future__ import annotations

import difflib
import inspect
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal, ParamSpec, Protocol, TypeAlias, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Connection
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from plugins.api import (
    Accept,
    BlockingRunner,
    Defer,
    InboundMessage,
    InboundOutcome,
    OutboundMessage,
    PluginContext,
    ReceiptEvent,
    Refuse,
    Reply,
    Sender,
    Verdict,
    Writer,
)
from smppd.clock import DelayedCall, ReactorClock
from smppd.smpp.constants import CommandStatus
from smppd.store.ops import CallbackFailed, CallInTransaction, WriteOp

__all__ = [
    "DEFAULT_HOOK_TIMEOUT",
    "ENTRY_POINT_GROUP",
    "HOST_KEYS",
    "MAX_HOOK_TIMEOUT",
    "SLOW_HOOK_SECONDS",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "FailureKind",
    "Hook",
    "HookStats",
    "InboundDecision",
    "LoadedPlugin",
    "OnError",
    "OnInboundError",
    "OutboundDecision",
    "PluginConfigError",
    "PluginFailure",
    "PluginHost",
    "PluginHostError",
    "PluginProblem",
    "PluginReply",
    "PluginSettings",
    "PluginVerdict",
    "SenderFactory",
    "combine_verdicts",
    "discover",
    "group_commit_writer",
    "load_plugins",
    "prepare_plugin",
    "thread_pool_runner",
]

ENTRY_POINT_GROUP = "smppd.plugins"

# A hook that has not answered by then is treated as failed. Five seconds is
# already far beyond what an application waiting for submit_sm_resp (or a
# carrier waiting for deliver_sm_resp) tolerates from the whole gateway.
DEFAULT_HOOK_TIMEOUT = 5.0
MAX_HOOK_TIMEOUT = 60.0
# start() may open files, load rule sets, warm caches from the store.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Time a single call may hold the reactor thread before it is logged as slow:
# every bind and connector of the gateway waits while it runs.
SLOW_HOOK_SECONDS = 0.025
# Exception text kept in a failure record (it goes to message history).
MAX_FAILURE_DETAIL = 200

# Plugin names are TOML bare keys, so ``[plugins.NAME]`` needs no quoting.
PLUGIN_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
# Keys of [plugins] that are not plugin tables.
RESERVED_NAMES = frozenset({"enabled"})
HOST_KEYS = ("on_error", "on_error_status", "on_inbound_error", "hook_timeout")

KeyPath = tuple[str | int, ...]
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Makes the ``send`` of one plugin's context, given the plugin's name.
SenderFactory: TypeAlias = Callable[[str], Sender]


class Hook(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"
    RECEIPT = "receipt"
    START = "start"
    STOP = "stop"


# How many positional arguments each hook takes (after self).
_HOOK_ARITY: Mapping[Hook, int] = {
    Hook.OUTBOUND: 1,
    Hook.INBOUND: 1,
    Hook.RECEIPT: 1,
    Hook.START: 1,
    Hook.STOP: 0,
}
# Every public attribute a plugin class may have: anything else is a typo.
_PLUGIN_ATTRIBUTES = frozenset(
    {"name", "config_model", "description", "requires", *(h.value for h in Hook)}
)


class OnError(StrEnum):
    """What a failed outbound hook means for the message."""

    ACCEPT = "accept"  # fail open
    REFUSE = "refuse"  # fail closed, with on_error_status


class OnInboundError(StrEnum):
    """What a failed inbound hook means for forwarding to applications."""

    FORWARD = "forward"
    WITHHOLD = "withhold"


class FailureKind(StrEnum):
    ERROR = "error"  # raised, or its Deferred failed
    TIMEOUT = "timeout"
    INVALID = "invalid"  # answered with something that is not an answer
    NOT_STARTED = "not-started"  # its start() failed


# -- configuration problems ------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _format_key(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{name}" if out else name
    return out


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """One thing wrong with the plugin configuration or installation.

    ``path`` is the key path from the top of ``smppd.toml``
    (``("plugins", "consent", "quiet_hours", "start")``).
    """

    path: KeyPath
    message: str

    @property
    def key(self) -> str:
        return _format_key(self.path)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class PluginConfigError(Exception):
    """The plugins could not be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: Iterable[PluginProblem]) -> None:
        self.problems: tuple[PluginProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


# -- per-plugin host settings ----------------------------------------------


@dataclass(frozen=True, slots=True)
class PluginSettings:
    """The host's keys of a ``[plugins.NAME]`` table.

    ``on_error``: a failed outbound hook accepts the message (default: a
    broken plugin must not stop all traffic) or refuses it with
    ``on_error_status`` (``ESME_RSYSERR`` by default, which applications
    treat as "try again later"). ``on_inbound_error``: a failed inbound
    hook still forwards the message to applications, or withholds it.
    ``hook_timeout``: seconds each hook call may take.
    """

    on_error: OnError = OnError.ACCEPT
    on_error_status: int = CommandStatus.ESME_RSYSERR
    on_inbound_error: OnInboundError = OnInboundError.FORWARD
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT


class _HostKeys(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    on_error: Literal["accept", "refuse"] = "accept"
    on_error_status: int = Field(default=CommandStatus.ESME_RSYSERR, gt=0, le=0xFFFFFFFF)
    on_inbound_error: Literal["forward", "withhold"] = "forward"
    hook_timeout: float = Field(default=DEFAULT_HOOK_TIMEOUT, gt=0, le=MAX_HOOK_TIMEOUT)


def _fields_of(model: type[BaseModel], loc: KeyPath) -> Iterable[str]:
    """Field names of the model found at ``loc`` inside ``model``, for
    did-you-mean on an unknown key; nothing where it cannot be told."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or not isinstance(part, str):
            return ()
        info = current.model_fields.get(part)
        current = _model_in(info.annotation) if info is not None else None
    return current.model_fields.keys() if current is not None else ()


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, also when it is optional (``Model | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = [m for m in get_args(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def _translate(model: type[BaseModel], prefix: KeyPath, error: ErrorDetails) -> PluginProblem:
    # The input is never echoed: a plugin table may hold secrets from the
    # environment (an API key), and problems are printed.
    loc: KeyPath = tuple(error["loc"])
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "missing":
        message = "required key is missing"
    elif kind == "extra_forbidden":
        last = loc[-1] if loc else ""
        message = "unknown key" + _did_you_mean(str(last), _fields_of(model, loc[:-1]))
    elif kind in ("value_error", "assertion_error") and "error" in context:
        message = str(context["error"])
    else:
        message = error["msg"][:1].lower() + error["msg"][1:]
    return PluginProblem((*prefix, *loc), message)


def _validate(
    model: type[BaseModel],
    data: Mapping[str, Any],
    prefix: KeyPath,
    context: Mapping[str, Any] | None = None,
) -> tuple[BaseModel | None, list[PluginProblem]]:
    try:
        return model.model_validate(dict(data), context=dict(context or {})), []
    except ValidationError as exc:
        return None, [_translate(model, prefix, error) for error in exc.errors(include_url=False)]


# -- loading ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """A checked plugin instance with its validated configuration.

    ``base_dir`` is the directory its configuration was validated against
    (the configuration file's), None when none was given.
    """

    name: str
    plugin: object
    settings: PluginSettings = field(default_factory=PluginSettings)
    config: BaseModel | None = None
    distribution: str | None = None
    base_dir: Path | None = None


def discover() -> tuple[EntryPoint, ...]:
    """Every entry point of group ``smppd.plugins`` installed."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _origin(entry: EntryPoint) -> str:
    dist = entry.dist
    owner = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"{owner} ({entry.value})"


def _check_plugin(name: str, plugin: object) -> list[PluginProblem]:
    """Problems with ``plugin`` against the contract of :mod:`plugins.api`."""
    where: KeyPath = ("plugins", name)
    problems: list[PluginProblem] = []
    declared = getattr(plugin, "name", None)
    if not isinstance(declared, str):
        problems.append(PluginProblem(where, "the plugin class has no string attribute name"))
    elif not PLUGIN_NAME_PATTERN.fullmatch(declared):
        problems.append(
            PluginProblem(
                where, f'"{declared}" is not a plugin name (a-z, 0-9, "_" and "-"; a letter first)'
            )
        )
    elif declared in RESERVED_NAMES:
        problems.append(PluginProblem(where, f'"{declared}" is reserved: pick another name'))
    elif declared != name:
        problems.append(
            PluginProblem(where, f'the plugin calls itself "{declared}", registered as "{name}"')
        )
    for attribute in sorted(dir(type(plugin))):
        if attribute.startswith("_") or attribute in _PLUGIN_ATTRIBUTES:
            continue
        problems.append(
            PluginProblem(
                where,
                f'"{attribute}" is not a hook or plugin attribute'
                + _did_you_mean(attribute, _PLUGIN_ATTRIBUTES)
                + " (helpers start with an underscore)",
            )
        )
    for hook, arity in _HOOK_ARITY.items():
        method = getattr(plugin, hook.value, None)
        if method is None:
            continue
        if not callable(method):
            problems.append(PluginProblem(where, f"{hook} is not a method"))
            continue
        try:
            inspect.signature(method).bind(*([None] * arity))
        except TypeError:
            wanted = "no arguments" if arity == 0 else "one argument"
            problems.append(PluginProblem(where, f"{hook}() must take {wanted}"))
        except ValueError:
            pass  # no signature to inspect (a builtin): it is called and contained anyway
    model = getattr(plugin, "config_model", None)
    if model is not None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            problems.append(PluginProblem(where, "config_model must be a pydantic model class"))
        else:
            if model.model_config.get("extra") != "forbid":
                problems.append(
                    PluginProblem(
                        where,
                        "config_model must forbid unknown keys (derive it from PluginConfig)",
                    )
                )
            clashes = sorted(set(model.model_fields) & set(HOST_KEYS))
            if clashes:
                problems.append(
                    PluginProblem(
                        where, f"config_model uses key(s) reserved for the host: {clashes}"
                    )
                )
    return problems


def _prepare(
    name: str,
    plugin: object,
    table: Mapping[str, Any],
    distribution: str | None,
    base_dir: Path | None = None,
) -> LoadedPlugin | list[PluginProblem]:
    where: KeyPath = ("plugins", name)
    problems = _check_plugin(name, plugin)
    if problems:
        return problems
    host_keys, problems = _validate(_HostKeys, table, where)
    own = {key: value for key, value in table.items() if key not in HOST_KEYS}
    model = getattr(plugin, "config_model", None)
    config: BaseModel | None = None
    if model is not None:
        config, more = _validate(model, own, where, {"base_dir": base_dir})
        problems += more
    else:
        problems += [
            PluginProblem((*where, key), f"unknown key (plugin {name} takes no configuration)")
            for key in own
        ]
    if problems or not isinstance(host_keys, _HostKeys):
        return problems
    settings = PluginSettings(
        on_error=OnError(host_keys.on_error),
        on_error_status=host_keys.on_error_status,
        on_inbound_error=OnInboundError(host_keys.on_inbound_error),
        hook_timeout=host_keys.hook_timeout,
    )
    return LoadedPlugin(name, plugin, settings, config, distribution, base_dir)


def prepare_plugin(
    name: str,
    plugin: object,
    table: Mapping[str, Any] | None = None,
    *,
    base_dir: Path | None = None,
) -> LoadedPlugin:
    """Check an instantiated ``plugin`` and validate its ``[plugins.NAME]``
    ``table`` (relative paths against ``base_dir``); raise
    :class:`PluginConfigError` listing every problem."""
    result = _prepare(name, plugin, table or {}, None, base_dir)
    if isinstance(result, LoadedPlugin):
        return result
    raise PluginConfigError(result)


def _instantiate(name: str, entry: EntryPoint) -> object | PluginProblem:
    where: KeyPath = ("plugins", name)
    try:
        cls = entry.load()
    except Exception as exc:
        return PluginProblem(where, f"cannot import {entry.value}: {type(exc).__name__}: {exc}")
    if not isinstance(cls, type):
        return PluginProblem(where, f"{entry.value} is not a class")
    try:
        instance: object = cls()
    except Exception as exc:
        return PluginProblem(where, f"{entry.value}() failed: {type(exc).__name__}: {exc}")
    return instance


def load_plugins(
    table: Mapping[str, Any] | None,
    *,
    available: Iterable[EntryPoint] | None = None,
    base_dir: Path | None = None,
) -> tuple[LoadedPlugin, ...]:
    """Load the plugins the ``[plugins]`` table enables, in its order.

    ``available`` replaces discovery (the installed entry points of group
    ``smppd.plugins``). ``base_dir`` is the configuration file's directory:
    each plugin's model is validated with the context ``{"base_dir":
    base_dir}`` and the plugin's context carries it. The table of an
    installed plugin that is not enabled is kept but neither imported nor
    validated, so a plugin can be switched off without deleting its
    settings. Raises :class:`PluginConfigError` with every problem.
    """
    table = table or {}
    found = tuple(discover() if available is None else available)
    problems: list[PluginProblem] = []
    by_name: dict[str, EntryPoint] = {}
    for entry in found:
        first = by_name.setdefault(entry.name, entry)
        if first is not entry and first.value != entry.value:
            problems.append(
                PluginProblem(
                    ("plugins", entry.name),
                    f"plugin installed twice: by {_origin(first)} and by {_origin(entry)}",
                )
            )
    enabled_raw = table.get("enabled", ())
    enabled: list[tuple[int, str]] = []
    if not isinstance(enabled_raw, list | tuple) or not all(
        isinstance(item, str) for item in enabled_raw
    ):
        problems.append(PluginProblem(("plugins", "enabled"), "expected an array of plugin names"))
    else:
        seen: set[str] = set()
        for index, name in enumerate(enabled_raw):
            where: KeyPath = ("plugins", "enabled", index)
            if name in seen:
                problems.append(PluginProblem(where, f'plugin "{name}" is listed twice'))
            elif name in RESERVED_NAMES:
                problems.append(PluginProblem(where, f'"{name}" is reserved, not a plugin'))
            elif name not in by_name:
                problems.append(PluginProblem(where, _unknown(name, by_name)))
            else:
                enabled.append((index, name))
            seen.add(name)
    for key, value in table.items():
        if key in RESERVED_NAMES:
            continue
        if key not in by_name:
            problems.append(PluginProblem(("plugins", key), _unknown(key, by_name)))
        elif not isinstance(value, Mapping):
            problems.append(PluginProblem(("plugins", key), "expected a table"))
    loaded: list[LoadedPlugin] = []
    for _, name in enabled:
        entry = by_name[name]
        own_table = table.get(name, {})
        if not isinstance(own_table, Mapping):
            continue  # reported above
        instance = _instantiate(name, entry)
        if isinstance(instance, PluginProblem):
            problems.append(instance)
            continue
        dist = entry.dist.name if entry.dist is not None else None
        result = _prepare(name, instance, own_table, dist, base_dir)
        if isinstance(result, LoadedPlugin):
            loaded.append(result)
        else:
            problems += result
        problems += _unmet(name, instance, [n for _, n in enabled])
    if problems:
        raise PluginConfigError(problems)
    return tuple(loaded)


def _unmet(name: str, plugin: object, order: Sequence[str]) -> list[PluginProblem]:
    """``requires``: plugins that must be enabled, and run, before this one.

    The loyalty plugin, for one, sends marketing and counts on the consent
    plugin to have handled STOP first; without it nobody would answer STOP.
    """
    required = getattr(type(plugin), "requires", ())
    if isinstance(required, str) or not all(isinstance(r, str) for r in required):
        return [PluginProblem(("plugins", name), "requires must be a tuple of plugin names")]
    problems = []
    for other in required:
        if other not in order:
            problems.append(
                PluginProblem(
                    ("plugins", "enabled"),
                    f'"{name}" needs the plugin "{other}": enable it before "{name}"',
                )
            )
        elif order.index(other) > order.index(name):
            problems.append(
                PluginProblem(
                    ("plugins", "enabled"), f'"{other}" must come before "{name}", which needs it'
                )
            )
    return problems


def _unknown(name: str, by_name: Mapping[str, EntryPoint]) -> str:
    hint = _did_you_mean(name, by_name)
    if not hint:
        installed = ", ".join(sorted(by_name)) or "none"
        hint = f" (installed: {installed})"
    return f'unknown plugin "{name}"{hint}'


class _Submits(Protocol):
    def submit(self, op: WriteOp[T], /) -> Deferred[T]: ...


def group_commit_writer(writer: _Submits) -> Writer:
    """``PluginContext.write`` backed by the store's group-commit writer
    (:class:`~smppd.store.txwriter.DeferredWriter`): each ``fn`` becomes a
    :class:`~smppd.store.ops.CallInTransaction` of the next group, and its
    own exception comes back as it was raised."""

    def write(fn: Callable[[Connection], R], /) -> Deferred[R]:
        d: Deferred[R] = writer.submit(CallInTransaction(fn))
        d.addErrback(_unwrap_callback_failure)
        return d

    return write


def _unwrap_callback_failure(failure: Failure) -> Failure:
    error = failure.value
    if isinstance(error, CallbackFailed):
        inner = error.error
        return Failure(inner, type(inner), inner.__traceback__)  # type: ignore[no-untyped-call]
    return failure


def thread_pool_runner(reactor: IReactorFromThreads, pool: ThreadPool) -> BlockingRunner:
    """``run_blocking`` backed by ``pool`` (the daemon owns its life)."""

    def run(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Deferred[R]:
        return deferToThreadPool(reactor, pool, fn, *args, **kwargs)

    return run


# -- what the host answers -------------------------------------------------


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A hook call that did not give a usable answer."""

    plugin: str
    hook: Hook
    kind: FailureKind
    detail: str

    def __str__(self) -> str:
        return f"plugin {self.plugin} {self.hook} hook failed ({self.kind}): {self.detail}"


@dataclass(frozen=True, slots=True)
class PluginVerdict:
    """One plugin's verdict on an outbound message, for its history;
    ``failure`` is set when the verdict is the plugin's ``on_error`` one."""

    plugin: str
    verdict: Verdict
    failure: PluginFailure | None = None


@dataclass(frozen=True, slots=True)
class OutboundDecision:
    """The combined verdict and every plugin's part in it, in call order
    (plugins after a refusing one are not asked)."""

    verdict: Verdict
    trail: tuple[PluginVerdict, ...] = ()

    @property
    def failures(self) -> tuple[PluginFailure, ...]:
        return tuple(entry.failure for entry in self.trail if entry.failure is not None)


@dataclass(frozen=True, slots=True)
class PluginReply:
    """A reply and the plugin that asked for it (the outbound message's ``origin``)."""

    plugin: str
    reply: Reply


@dataclass(frozen=True, slots=True)
class InboundDecision:
    """The combined outcome of every plugin for one inbound message.

    The caller forwards the message to applications when ``forward`` is
    true and submits ``replies`` through the normal outbound path (from the
    inbound destination to its source, ``in_reply_to`` its idempotency
    key). ``tags`` are ``plugin:tag`` for the log.
    """

    forward: bool = True
    replies: tuple[PluginReply, ...] = ()
    tags: tuple[str, ...] = ()
    failures: tuple[PluginFailure, ...] = ()


def combine_verdicts(verdicts: Iterable[Verdict]) -> Verdict:
    """The first :class:`Refuse` wins; otherwise the :class:`Defer` with the
    latest ``until`` (the first of equals); otherwise accept."""
    deferred: Defer | None = None
    for verdict in verdicts:
        if isinstance(verdict, Refuse):
            return verdict
        if isinstance(verdict, Defer) and (deferred is None or verdict.until > deferred.until):
            deferred = verdict
    return deferred if deferred is not None else Accept()


@dataclass(frozen=True, slots=True)
class HookStats:
    """Counters for one plugin's hook, for metrics.

    ``failures`` counts errors, invalid answers and calls to a plugin that
    did not start; ``timeouts`` is counted apart; ``late_results`` are
    answers that came after their timeout. ``reactor_seconds`` is the time
    calls held the reactor thread; ``seconds`` the time from call to answer
    (or to the timeout), Deferreds included.
    """

    plugin: str
    hook: Hook
    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    late_results: int = 0
    slow_calls: int = 0
    reactor_seconds: float = 0.0
    seconds: float = 0.0


class PluginHostError(RuntimeError):
    """The host was used out of order (a hook called before start or after stop)."""


# -- the host --------------------------------------------------------------


@dataclass(slots=True)
class _Counters:
    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    late_results: int = 0
    slow_calls: int = 0
    reactor_seconds: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Answered:
    value: object


_Answer = _Answered | PluginFailure
_Checker = Callable[[object], str | None]


def _expect_verdict(value: object) -> str | None:
    if isinstance(value, Accept | Refuse | Defer):
        return None
    return f"answered {type(value).__name__}, expected Accept, Refuse or Defer"


def _expect_outcome(value: object) -> str | None:
    if isinstance(value, InboundOutcome):
        return None
    return f"answered {type(value).__name__}, expected InboundOutcome"


def _expect_none(value: object) -> str | None:
    return None if value is None else f"answered {type(value).__name__}, expected None"


@dataclass(slots=True)
class _Slot:
    loaded: LoadedPlugin
    hooks: dict[Hook, Callable[..., object]]
    counters: dict[Hook, _Counters]
    start_failure: PluginFailure | None = None

    @property
    def name(self) -> str:
        return self.loaded.name


@dataclass(frozen=True, slots=True)
class _Site:
    """One hook call: which plugin and hook, about what, since when."""

    slot: _Slot
    hook: Hook
    subject: str
    began: float
    timeout: float
    check: _Checker

    @property
    def counters(self) -> _Counters:
        return self.slot.counters[self.hook]


class _PendingCall:
    """One hook call whose Deferred has not fired yet: whichever of answer
    and timeout comes first settles it; the other is logged and dropped."""

    def __init__(self, host: PluginHost, site: _Site) -> None:
        self.host = host
        self.site = site
        self.done: Deferred[_Answer] = Deferred()
        self.timer: DelayedCall | None = None

    def answered(self, value: object) -> None:
        if self.done.called:
            self.host._late(self.site, None)
            return
        self._disarm()
        self.done.callback(self.host._checked(self.site, value))

    def failed(self, failure: Failure) -> None:
        if self.done.called:
            self.host._late(self.site, failure)
            return
        self._disarm()
        self.done.callback(
            self.host._failed(self.site, FailureKind.ERROR, _describe(failure.value), failure)
        )

    def timed_out(self) -> None:
        self.timer = None
        detail = f"no answer within {self.site.timeout:g} s"
        self.done.callback(self.host._failed(self.site, FailureKind.TIMEOUT, detail))

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _describe(error: BaseException | None) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_FAILURE_DETAIL]


class PluginHost:
    """Runs the loaded plugins' hooks in order and contains their failures.

    Call :meth:`start` once before the first hook and :meth:`stop` once after
    the last (stop taking traffic first). ``sender`` makes each plugin's
    ``PluginContext.send`` and ``write`` is every plugin's
    ``PluginContext.write``; without them a context has the defaults of
    :class:`~plugins.api.PluginContext` (sending fails, writes run on
    ``engine`` through ``run_blocking``). Every hook method returns a
    Deferred that never fails because of a plugin; with synchronous plugins
    it has already fired on return. Log events carry ``plugin``, ``hook`` and
    ``subject``: the message id, the inbound idempotency key, or the
    plugin's name for start and stop.
    """

    def __init__(
        self,
        plugins: Sequence[LoadedPlugin],
        *,
        clock: ReactorClock,
        run_blocking: BlockingRunner,
        engine: Any = None,
        sender: SenderFactory | None = None,
        write: Writer | None = None,
        log: Logger | None = None,
        timer: Callable[[], float] = time.perf_counter,
        slow_threshold: float = SLOW_HOOK_SECONDS,
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        names = [loaded.name for loaded in plugins]
        if len(set(names)) != len(names):
            raise ValueError(f"plugin names must be unique, got {names}")
        self._clock = clock
        self._run_blocking = run_blocking
        self._engine = engine
        self._sender = sender
        self._write = write
        self._log = log if log is not None else Logger(namespace="smppd.plugins")
        # perf_counter, not the clock: this measures how long a call held the
        # reactor thread, which no reactor clock advances during.
        self._timer = timer
        self._slow_threshold = slow_threshold
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._state: Literal["new", "starting", "running", "stopping", "stopped"] = "new"
        self._slots: list[_Slot] = []
        for loaded in plugins:
            hooks: dict[Hook, Callable[..., object]] = {}
            for hook in Hook:
                method = getattr(loaded.plugin, hook.value, None)
                if callable(method):
                    hooks[hook] = method
            counters = {hook: _Counters() for hook in hooks}
            self._slots.append(_Slot(loaded, hooks, counters))
        self._by_hook: dict[Hook, tuple[_Slot, ...]] = {
            hook: tuple(slot for slot in self._slots if hook in slot.hooks) for hook in Hook
        }

    @property
    def names(self) -> tuple[str, ...]:
        """The plugins, in invocation order."""
        return tuple(slot.name for slot in self._slots)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Start every plugin in order; fires when all have answered.

        A plugin whose start fails or times out is logged as critical and
        kept: its hooks count as failed (see the module docstring).
        """
        if self._state != "new":
            raise PluginHostError(f"start() on a host that is {self._state}")
        self._state = "starting"
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        for slot in self._slots:
            if Hook.START not in slot.hooks:
                continue
            extra: dict[str, Any] = {}
            if self._sender is not None:
                extra["send"] = self._sender(slot.name)
            if self._write is not None:
                extra["write"] = self._write
            context: PluginContext[BaseModel | None] = PluginContext(
                name=slot.name,
                clock=self._clock,
                log=Logger(
                    namespace=f"smppd.plugins.{slot.name}",
                    source=slot.loaded.plugin,
                    observer=self._log.observer,
                ),
                run_blocking=self._run_blocking,
                config=slot.loaded.config,
                engine=self._engine,
                base_dir=slot.loaded.base_dir or Path(),
                **extra,
            )
            answer = await self._invoke(
                slot,
                Hook.START,
                context,
                slot.name,
                timeout=self._start_timeout,
                check=_expect_none,
            )
            if isinstance(answer, PluginFailure):
                slot.start_failure = answer
                self._log.critical(
                    "plugin {plugin} did not start; its hooks count as failed: {failure}",
                    plugin=slot.name,
                    failure=str(answer),
                )
        self._state = "running"

    def stop(self) -> Deferred[None]:
        """Stop every plugin in reverse order (also those whose start failed)."""
        if self._state == "new":
            self._state = "stopped"
            return succeed(None)
        if self._state != "running":
            raise PluginHostError(f"stop() on a host that is {self._state}")
        self._state = "stopping"
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        for slot in reversed(self._by_hook[Hook.STOP]):
            await self._invoke(
                slot, Hook.STOP, None, slot.name, timeout=self._stop_timeout, check=_expect_none
            )
        self._state = "stopped"

    def _require_running(self) -> None:
        if self._state != "running":
            raise PluginHostError(f"hook called on a host that is {self._state}")

    # -- hooks -------------------------------------------------------------

    def outbound(self, msg: OutboundMessage) -> Deferred[OutboundDecision]:
        """Ask every plugin with an outbound hook, in order, until one refuses."""
        self._require_running()
        if not self._by_hook[Hook.OUTBOUND]:
            return succeed(OutboundDecision(Accept()))
        return Deferred.fromCoroutine(self._outbound(msg))

    async def _outbound(self, msg: OutboundMessage) -> OutboundDecision:
        trail: list[PluginVerdict] = []
        for slot in self._by_hook[Hook.OUTBOUND]:
            answer = await self._call(slot, Hook.OUTBOUND, msg, msg.message_id, _expect_verdict)
            if isinstance(answer, PluginFailure):
                entry = PluginVerdict(slot.name, self._fallback(slot, answer), answer)
            else:
                assert isinstance(answer.value, Accept | Refuse | Defer)
                entry = PluginVerdict(slot.name, answer.value)
            trail.append(entry)
            if isinstance(entry.verdict, Refuse):
                break
        return OutboundDecision(combine_verdicts(e.verdict for e in trail), tuple(trail))

    @staticmethod
    def _fallback(slot: _Slot, failure: PluginFailure) -> Verdict:
        settings = slot.loaded.settings
        if settings.on_error is OnError.REFUSE:
            return Refuse(settings.on_error_status, f"{failure}; refused (on_error = refuse)")
        return Accept(f"{failure}; accepted (on_error = accept)")

    def inbound(self, msg: InboundMessage) -> Deferred[InboundDecision]:
        """Show the message to every plugin with an inbound hook, in order."""
        self._require_running()
        if not self._by_hook[Hook.INBOUND]:
            return succeed(InboundDecision())
        return Deferred.fromCoroutine(self._inbound(msg))

    async def _inbound(self, msg: InboundMessage) -> InboundDecision:
        forward = True
        replies: list[PluginReply] = []
        tags: list[str] = []
        failures: list[PluginFailure] = []
        for slot in self._by_hook[Hook.INBOUND]:
            answer = await self._call(slot, Hook.INBOUND, msg, msg.idempotency_key, _expect_outcome)
            if isinstance(answer, PluginFailure):
                failures.append(answer)
                if slot.loaded.settings.on_inbound_error is OnInboundError.WITHHOLD:
                    forward = False
                continue
            outcome = answer.value
            assert isinstance(outcome, InboundOutcome)
            forward = forward and outcome.forward
            replies += (PluginReply(slot.name, reply) for reply in outcome.replies)
            tags += (f"{slot.name}:{tag}" for tag in outcome.tags)
        return InboundDecision(forward, tuple(replies), tuple(tags), tuple(failures))

    def receipt(self, evt: ReceiptEvent) -> Deferred[tuple[PluginFailure, ...]]:
        """Show the receipt to every plugin with a receipt hook, in order;
        fires with the failures (already logged and counted)."""
        self._require_running()
        if not self._by_hook[Hook.RECEIPT]:
            return succeed(())
        return Deferred.fromCoroutine(self._receipt(evt, self._by_hook[Hook.RECEIPT]))

    async def _receipt(
        self, evt: ReceiptEvent, slots: Sequence[_Slot]
    ) -> tuple[PluginFailure, ...]:
        failures: list[PluginFailure] = []
        for slot in slots:
            answer = await self._call(slot, Hook.RECEIPT, evt, evt.message_id, _expect_none)
            if isinstance(answer, PluginFailure):
                failures.append(answer)
        return tuple(failures)

    def receipt_for(self, plugin: str, evt: ReceiptEvent) -> Deferred[tuple[PluginFailure, ...]]:
        """Show ``evt`` to the receipt hook of ``plugin`` alone (the outcome of
        a message of its own that was never sent); nothing if it has none."""
        self._require_running()
        slots = [slot for slot in self._by_hook[Hook.RECEIPT] if slot.name == plugin]
        if not slots:
            return succeed(())
        return Deferred.fromCoroutine(self._receipt(evt, slots))

    # -- counters ----------------------------------------------------------

    def stats(self) -> tuple[HookStats, ...]:
        """A snapshot of every plugin's counters, per hook it implements."""
        return tuple(
            HookStats(
                plugin=slot.name,
                hook=hook,
                calls=c.calls,
                failures=c.failures,
                timeouts=c.timeouts,
                late_results=c.late_results,
                slow_calls=c.slow_calls,
                reactor_seconds=c.reactor_seconds,
                seconds=c.seconds,
            )
            for slot in self._slots
            for hook, c in slot.counters.items()
        )

    # -- the one gate every call goes through ------------------------------

    def _call(
        self, slot: _Slot, hook: Hook, arg: object, subject: str, check: _Checker
    ) -> Deferred[_Answer]:
        if slot.start_failure is not None:
            counters = slot.counters[hook]
            counters.calls += 1
            counters.failures += 1
            # Logged once, at start; the failure record carries it to history.
            return succeed(
                PluginFailure(slot.name, hook, FailureKind.NOT_STARTED, slot.start_failure.detail)
            )
        return self._invoke(
            slot, hook, arg, subject, timeout=slot.loaded.settings.hook_timeout, check=check
        )

    def _invoke(
        self,
        slot: _Slot,
        hook: Hook,
        arg: object,
        subject: str,
        *,
        timeout: float,
        check: _Checker,
    ) -> Deferred[_Answer]:
        method = slot.hooks[hook]
        site = _Site(slot, hook, subject, self._clock.seconds(), timeout, check)
        site.counters.calls += 1
        entered = self._timer()
        try:
            result = method() if hook is Hook.STOP else method(arg)
            if inspect.iscoroutine(result):
                # Runs the coroutine up to its first wait: part of this call's
                # time on the reactor thread.
                result = Deferred.fromCoroutine(result)
        except Exception as exc:
            self._held(site, entered)
            self._log.failure(
                "plugin {plugin} {hook} hook raised ({subject})",
                plugin=slot.name,
                hook=hook.value,
                subject=subject,
            )
            return succeed(self._failed(site, FailureKind.ERROR, _describe(exc), logged=True))
        self._held(site, entered)
        if not isinstance(result, Deferred):
            return succeed(self._checked(site, result))
        pending = _PendingCall(self, site)
        result.addCallbacks(pending.answered, pending.failed)
        if not pending.done.called:
            pending.timer = self._clock.callLater(timeout, pending.timed_out)
        return pending.done

    def _held(self, site: _Site, entered: float) -> None:
        held = self._timer() - entered
        site.counters.reactor_seconds += held
        if held > self._slow_threshold:
            site.counters.slow_calls += 1
            self._log.warn(
                "plugin {plugin} {hook} hook held the reactor for {ms:.1f} ms ({subject});"
                " blocking work belongs in run_blocking",
                plugin=site.slot.name,
                hook=site.hook.value,
                ms=held * 1000,
                subject=site.subject,
            )

    def _checked(self, site: _Site, value: object) -> _Answer:
        problem = site.check(value)
        if problem is not None:
            return self._failed(site, FailureKind.INVALID, problem)
        site.counters.seconds += self._clock.seconds() - site.began
        return _Answered(value)

    def _failed(
        self,
        site: _Site,
        kind: FailureKind,
        detail: str,
        failure: Failure | None = None,
        *,
        logged: bool = False,
    ) -> PluginFailure:
        counters = site.counters
        counters.seconds += self._clock.seconds() - site.began
        if kind is FailureKind.TIMEOUT:
            counters.timeouts += 1
        else:
            counters.failures += 1
        record = PluginFailure(site.slot.name, site.hook, kind, detail[:MAX_FAILURE_DETAIL])
        if logged:
            return record
        if failure is not None:
            self._log.failure(
                "plugin {plugin} {hook} hook failed ({subject})",
                failure,
                plugin=site.slot.name,
                hook=site.hook.value,
                subject=site.subject,
            )
        else:
            self._log.error(
                "plugin {plugin} {hook} hook failed ({subject}): {kind}: {detail}",
                plugin=site.slot.name,
                hook=site.hook.value,
                subject=site.subject,
                kind=kind.value,
                detail=record.detail,
            )
        return record

    def _late(self, site: _Site, failure: Failure | None) -> None:
        site.counters.late_results += 1
        if failure is not None:
            self._log.failure(
                "plugin {plugin} {hook} hook failed after its timeout ({subject}); ignored",
                failure,
                plugin=site.slot.name,
                hook=site.hook.value,
                subject=site.subject,
            )
        else:
            self._log.warn(
                "plugin {plugin} {hook} hook answered after its timeout ({subject}); ignored",
                plugin=site.slot.name,
                hook=site.hook.value,
                subject=site.subject,
            )
