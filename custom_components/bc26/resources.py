"""The LwM2M resources of one module, as data: what it declares, and what they hold now.

No entity code and no Home Assistant here. The table (`ResourceTable`) says which
resources the module declares and what each is for: the platform writes it, Home
Assistant reports it, or both. The live state (`Resources`) holds what the session
learned: which paths the platform observes and the last payload written to each,
and it is the one place payload listeners subscribe, by path, in two phases:
`UPDATE` listeners (sensors) hear a payload the moment it is read; `ANNOUNCE`
listeners (the event entity) hear it in the event loop's next iteration, once every
sensor shows it, so an automation an announcement triggers reads current values.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import enum
import functools
import logging
from typing import Any

from .modem import ObjectInstance, ResourcePath

_LOGGER = logging.getLogger(__name__)

# Object instances and resources a module declares at most. The manual gives no limit;
# these are the virtual BC26's (16 instances, as its context table holds), and a real
# module that holds fewer says so by refusing AT+QLWADDOBJ, which the session reports.
MAX_INSTANCES = 16
MAX_RESOURCES_PER_INSTANCE = 16

# The BinaryAppDataContainer pair of Huawei-style platforms (manual 5.1): the module
# reports on /19/0/0, the platform writes /19/1/0. What new entries declare.
UPLINK_PATH = ResourcePath(19, 0, 0)
DOWNLINK_PATH = ResourcePath(19, 1, 0)


class Direction(enum.StrEnum):
    """What a declared resource is for."""

    WRITTEN = "written"  # the platform writes it; Home Assistant shows it
    REPORTED = "reported"  # Home Assistant reports it; the platform observes it
    BOTH = "both"

    @property
    def writable(self) -> bool:
        """The platform writes it."""
        return self is not Direction.REPORTED

    @property
    def reportable(self) -> bool:
        """Home Assistant sends it."""
        return self is not Direction.WRITTEN


@dataclass(frozen=True, slots=True)
class Declaration:
    """One resource the module declares."""

    path: ResourcePath
    direction: Direction
    name: str = ""


class TableError(ValueError):
    """A table the module cannot declare: too many instances or resources, or twice the same."""

    def __init__(self, key: str, **placeholders: str) -> None:
        super().__init__(key)
        self.key = key  # a translation key of the flows
        self.placeholders = placeholders


@dataclass(frozen=True, slots=True)
class ResourceTable:
    """What the module declares, in declaration order."""

    declarations: tuple[Declaration, ...] = ()

    def __post_init__(self) -> None:
        check_table(self.declarations)

    @classmethod
    def default(cls) -> ResourceTable:
        """The /19 pair."""
        return cls(
            (
                Declaration(UPLINK_PATH, Direction.REPORTED, "Uplink"),
                Declaration(DOWNLINK_PATH, Direction.WRITTEN, "Downlink"),
            )
        )

    def get(self, path: ResourcePath) -> Declaration | None:
        """The declaration of `path`, if the module declares it."""
        return next((each for each in self.declarations if each.path == path), None)

    @property
    def writable(self) -> tuple[ResourcePath, ...]:
        """Paths the platform writes, sorted."""
        return tuple(sorted(each.path for each in self.declarations if each.direction.writable))

    @property
    def reportable(self) -> tuple[ResourcePath, ...]:
        """Paths Home Assistant sends to, sorted."""
        return tuple(sorted(each.path for each in self.declarations if each.direction.reportable))

    def objects(self) -> tuple[ObjectInstance, ...]:
        """The AT+QLWADDOBJ declarations: one per object instance, resources sorted."""
        return _instances(each.path for each in self.declarations)


def check_table(declarations: Iterable[Declaration]) -> None:
    """TableError when the module cannot declare `declarations` as one table."""
    paths = [each.path for each in declarations]
    if len(set(paths)) != len(paths):
        raise TableError("duplicate_resource")
    instances = _instances(paths)
    if len(instances) > MAX_INSTANCES:
        raise TableError("too_many_instances", maximum=str(MAX_INSTANCES))
    if any(len(each.resources) > MAX_RESOURCES_PER_INSTANCE for each in instances):
        raise TableError("too_many_resources", maximum=str(MAX_RESOURCES_PER_INSTANCE))


def _instances(paths: Iterable[ResourcePath]) -> tuple[ObjectInstance, ...]:
    grouped: dict[tuple[int, int], list[int]] = {}
    for path in paths:
        grouped.setdefault((path.object, path.instance), []).append(path.resource)
    return tuple(
        ObjectInstance(obj, ins, tuple(sorted(set(resources))))
        for (obj, ins), resources in grouped.items()
    )


# ---------------------------------------------------------------------- the live state


@dataclass(frozen=True, slots=True)
class Payload:
    """One complete payload the platform wrote to `path`."""

    path: ResourcePath
    data: bytes
    received_at: datetime
    # Why the entities showing it change: Home Assistant's Context, opaque here. One for
    # all of them, so their state changes read as one cause (and form no extra cycles).
    cause: object = None


type PayloadListener = Callable[[Payload], None]


class Phase(enum.StrEnum):
    """When a listener hears a payload (see the module docstring)."""

    # A StrEnum, not an Enum: it is hashed for every payload, and Enum's hash is Python.

    UPDATE = "update"
    ANNOUNCE = "announce"


@dataclass(eq=False)
class Resources:
    """Observed paths, last payloads and the listeners of one module's resources.

    `call_soon` schedules the announcement phase in the event loop's next iteration.
    `on_change` is called when the observed set changes (entities showing it).
    """

    call_soon: Callable[[Callable[[], None]], Any]
    on_change: Callable[[], None] = lambda: None
    observed: set[ResourcePath] = field(default_factory=set)
    last: dict[ResourcePath, Payload] = field(default_factory=dict)
    received: int = 0
    _listeners: defaultdict[tuple[Phase, ResourcePath | None], list[PayloadListener]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # Payloads every sensor shows, to be announced; at most what one serial read carries.
    _unannounced: deque[Payload] = field(default_factory=deque)
    _announcing: bool = False

    def listen(
        self, phase: Phase, path: ResourcePath | None, listener: PayloadListener
    ) -> Callable[[], None]:
        """Call `listener` with each payload of `path` (None: every path); returns the remover."""
        listeners = self._listeners[(phase, path)]
        listeners.append(listener)
        return functools.partial(_discard, listeners, listener)

    def remember(self, payload: Payload) -> None:
        """Keep `payload` as its path's last (restored from an earlier run), telling nobody."""
        self.last.setdefault(payload.path, payload)

    def deliver(self, payload: Payload) -> None:
        """A payload the module read: to the listeners of its path, then announced."""
        self.received += 1
        self.last[payload.path] = payload
        _call(payload, self._listeners.get((Phase.UPDATE, payload.path), ()))
        _call(payload, self._listeners.get((Phase.UPDATE, None), ()))
        if self._listeners.get((Phase.ANNOUNCE, None)):
            self._unannounced.append(payload)
            if not self._announcing:
                self._announcing = True
                self.call_soon(self._announce)

    def _announce(self) -> None:
        self._announcing = False
        while self._unannounced:
            # The listeners of now: one removed meanwhile (entity gone) hears nothing.
            payload = self._unannounced.popleft()
            _call(payload, self._listeners.get((Phase.ANNOUNCE, None), ()))

    def observe(self, path: ResourcePath, cancel: bool = False) -> None:
        """The platform observes `path` now (or stopped: `cancel`)."""
        before = len(self.observed)
        if cancel:
            self.observed.discard(path)
        else:
            self.observed.add(path)
        if len(self.observed) != before:
            self.on_change()

    def forget_observed(self) -> None:
        """A new registration: the platform observes nothing yet."""
        if self.observed:
            self.observed.clear()
            self.on_change()

    def observed_now(self, path: ResourcePath) -> bool:
        """Whether the platform observes `path`, directly or its whole instance."""
        return path in self.observed or (path.object, path.instance, -1) in self.observed


def _call(payload: Payload, listeners: Iterable[PayloadListener]) -> None:
    for listener in list(listeners):
        try:
            listener(payload)
        except Exception:  # one broken listener must not starve the others
            _LOGGER.exception("Error handling a payload for %s", payload.path)


def _discard(listeners: list[PayloadListener], listener: PayloadListener) -> None:
    """Remove `listener` once if present (removing twice is harmless)."""
    if listener in listeners:
        listeners.remove(listener)


def table_from(subentries: Mapping[str, Mapping[str, Any]]) -> ResourceTable:
    """The table the object subentries of an entry declare, in their order (see object_flow)."""
    declarations: list[Declaration] = []
    for data in subentries.values():
        declarations.extend(declarations_of(data))
    return ResourceTable(tuple(declarations))


def declarations_of(data: Mapping[str, Any]) -> list[Declaration]:
    """The resources one object subentry declares."""
    obj, instance, name = int(data["object"]), int(data["instance"]), str(data.get("name", ""))
    written = {int(res) for res in data.get("written", ())}
    reported = {int(res) for res in data.get("reported", ())}
    declarations = []
    for res in sorted(written | reported):
        both = res in written and res in reported
        direction = (
            Direction.BOTH if both else Direction.WRITTEN if res in written else Direction.REPORTED
        )
        declarations.append(Declaration(ResourcePath.of(obj, instance, res), direction, name))
    return declarations
