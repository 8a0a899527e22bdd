"""The resource model on its own: paths, the declared table, the live state and its listeners.

No Home Assistant here: `resources.py` is plain data and callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from custom_components.bc26.modem import InvalidArgumentError, ObjectInstance, ResourcePath
from custom_components.bc26.resources import (
    MAX_INSTANCES,
    MAX_RESOURCES_PER_INSTANCE,
    Declaration,
    Direction,
    Payload,
    Phase,
    Resources,
    ResourceTable,
    TableError,
    declarations_of,
    table_from,
)

NOW = datetime(2026, 11, 30, tzinfo=UTC)
TEMPERATURE = ResourcePath(3303, 0, 5700)
LIGHT = ResourcePath(3311, 0, 5850)


@pytest.mark.parametrize(
    ("text", "path"),
    [("19/1/0", (19, 1, 0)), ("/19/0/0", (19, 0, 0)), (" 3303/0/5700 ", (3303, 0, 5700))],
)
def test_paths_are_read_as_users_write_them(text: str, path: tuple[int, int, int]) -> None:
    parsed = ResourcePath.parse(text)
    assert parsed == path
    assert ResourcePath.parse(str(parsed)) == parsed
    assert (parsed.object, parsed.instance, parsed.resource) == path


@pytest.mark.parametrize(
    "text",
    ["19/1", "19/1/0/0", "a/b/c", "19/-1/0", "19/1/65536", "", "\u0661/1/0"],
)
def test_anything_else_is_not_a_path(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="path"):
        ResourcePath.parse(text)


@pytest.mark.parametrize("parts", [(19, 0, True), (19, 0, 0.0), (-1, 0, 0), (70000, 0, 0)])
def test_checked_paths_take_integers_in_range(parts: tuple[object, object, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        ResourcePath.of(*parts)  # type: ignore[arg-type]


def test_the_default_table_is_the_binary_container_pair() -> None:
    table = ResourceTable.default()
    assert table.reportable == ((19, 0, 0),)
    assert table.writable == ((19, 1, 0),)
    assert table.objects() == (ObjectInstance(19, 0, (0,)), ObjectInstance(19, 1, (0,)))


def test_a_subentry_declares_its_resources_with_their_directions() -> None:
    data = {"object": 3311, "instance": 0, "written": [5850, 5851], "reported": [5851, 5852]}
    assert declarations_of(data) == [
        Declaration(ResourcePath(3311, 0, 5850), Direction.WRITTEN, ""),
        Declaration(ResourcePath(3311, 0, 5851), Direction.BOTH, ""),
        Declaration(ResourcePath(3311, 0, 5852), Direction.REPORTED, ""),
    ]
    table = table_from({"a": data, "b": {"object": 3303, "instance": 0, "reported": [5700]}})
    assert table.writable == ((3311, 0, 5850), (3311, 0, 5851))
    assert table.reportable == ((3303, 0, 5700), (3311, 0, 5851), (3311, 0, 5852))
    assert table.objects() == (
        ObjectInstance(3311, 0, (5850, 5851, 5852)),
        ObjectInstance(3303, 0, (5700,)),
    )
    assert table.get(LIGHT) == Declaration(LIGHT, Direction.WRITTEN, "")
    assert table.get(TEMPERATURE) == Declaration(TEMPERATURE, Direction.REPORTED, "")
    assert table.get(ResourcePath(1, 0, 0)) is None


def test_a_table_the_module_cannot_declare_is_refused() -> None:
    one = Declaration(TEMPERATURE, Direction.REPORTED)
    with pytest.raises(TableError) as caught:
        ResourceTable((one, one))
    assert caught.value.key == "duplicate_resource"
    many = tuple(
        Declaration(ResourcePath(3303, n, 5700), Direction.REPORTED)
        for n in range(MAX_INSTANCES + 1)
    )
    with pytest.raises(TableError) as caught:
        ResourceTable(many)
    assert caught.value.key == "too_many_instances"
    crowded = tuple(
        Declaration(ResourcePath(3303, 0, n), Direction.REPORTED)
        for n in range(MAX_RESOURCES_PER_INSTANCE + 1)
    )
    with pytest.raises(TableError) as caught:
        ResourceTable(crowded)
    assert caught.value.placeholders == {"maximum": str(MAX_RESOURCES_PER_INSTANCE)}


class Loop:
    """Stands in for the event loop's call_soon: the test runs the next iteration."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def next_iteration(self) -> None:
        soon, self.soon = self.soon, []
        for callback in soon:
            callback()


def _payload(path: ResourcePath, data: bytes) -> Payload:
    return Payload(path, data, NOW)


def test_listeners_hear_their_path_then_every_path_then_the_announcement() -> None:
    loop = Loop()
    resources = Resources(loop.call_soon)
    heard: list[str] = []
    resources.listen(Phase.ANNOUNCE, None, lambda p: heard.append(f"announce {p.data!r}"))
    resources.listen(Phase.UPDATE, None, lambda p: heard.append(f"every {p.data!r}"))
    remove = resources.listen(Phase.UPDATE, LIGHT, lambda p: heard.append(f"light {p.data!r}"))
    resources.listen(Phase.UPDATE, TEMPERATURE, lambda p: heard.append("temperature"))
    resources.deliver(_payload(LIGHT, b"1"))
    resources.deliver(_payload(LIGHT, b"0"))
    assert heard == ["light b'1'", "every b'1'", "light b'0'", "every b'0'"]
    loop.next_iteration()
    assert heard[4:] == ["announce b'1'", "announce b'0'"]
    assert resources.last[LIGHT].data == b"0"
    assert resources.received == 2
    remove()
    remove()  # twice is harmless
    resources.deliver(_payload(LIGHT, b"1"))
    assert heard[6:] == ["every b'1'"]


def test_a_broken_listener_does_not_starve_the_others(caplog: pytest.LogCaptureFixture) -> None:
    resources = Resources(Loop().call_soon)
    heard: list[bytes] = []

    def broken(_: Payload) -> None:
        raise ValueError("broken listener")

    resources.listen(Phase.UPDATE, LIGHT, broken)
    resources.listen(Phase.UPDATE, None, lambda p: heard.append(p.data))
    resources.deliver(_payload(LIGHT, b"x"))
    assert heard == [b"x"]
    assert "broken listener" in caplog.text


def test_a_remembered_payload_tells_nobody_and_never_replaces_a_new_one() -> None:
    resources = Resources(Loop().call_soon)
    heard: list[Payload] = []
    resources.listen(Phase.UPDATE, None, heard.append)
    resources.deliver(_payload(LIGHT, b"new"))
    resources.remember(_payload(LIGHT, b"restored"))
    resources.remember(_payload(TEMPERATURE, b"restored"))
    assert resources.last[LIGHT].data == b"new"
    assert resources.last[TEMPERATURE].data == b"restored"
    assert [p.data for p in heard] == [b"new"]


def test_observations_count_whole_instances_and_tell_of_changes() -> None:
    changes: list[int] = []
    resources = Resources(Loop().call_soon, lambda: changes.append(1))
    resources.observe(ResourcePath(3311, 0, -1))
    assert resources.observed_now(LIGHT)
    assert not resources.observed_now(TEMPERATURE)
    resources.observe(TEMPERATURE)
    resources.observe(TEMPERATURE)  # no change, no call
    resources.observe(TEMPERATURE, cancel=True)
    resources.forget_observed()
    resources.forget_observed()
    assert not resources.observed
    assert len(changes) == 4
