"""The soak's tables: recovery per kind of fault, then each direction's payloads.

Losses are charged to the fault during which the lost payload was accepted (from
that fault's start to the next one's), with refinements that name the culprit
more exactly: a downlink that sat in the module's buffer when a later fault began is
charged to that later fault, one the module's buffer held when the module rebooted
is counted as lost to that reboot (the module's RAM), and one the module had handed
out in an answer an unplug cut off is counted as lost on the line (see
`faults.LineWatch`); neither is the integration's doing. Duplicates and
reorderings are charged to the fault during which the offending arrival happened.
Payloads accepted before the first fault are charged to "no fault".
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
import math
import statistics

from custom_components.bc26.const import DATA_MODE_BUFFER_ACCESS

from .faults import Fault, Kind
from .run import BOUND, Result
from .stored import OUTBOX_FULL
from .traffic import Arrival, Handover, Ledger

NO_FAULT = "no fault"
TOTAL = "total"


@dataclass
class DownlinkRow:
    """Platform -> Home Assistant, for one kind of fault."""

    written: int = 0
    accepted: int = 0
    delivered: int = 0
    lost_buffer: int = 0
    lost_push: int = 0
    lost_to_reboot: int = 0
    lost_on_line: int = 0
    duplicated: int = 0
    reordered: int = 0


@dataclass
class UplinkRow:
    """Home Assistant -> platform, for one kind of fault."""

    called: int = 0
    accepted: int = 0
    delivered: int = 0
    lost_non: int = 0  # "sent": the module took it; nothing promises it arrives
    lost_con: int = 0  # "acknowledged": the platform's ACK says it arrived
    refused: int = 0
    refused_yet_delivered: int = 0
    duplicated: int = 0
    reordered: int = 0


@dataclass
class StoredRow:
    """Queued sends or reported values, for one kind of fault (store and forward)."""

    handed: int = 0  # queued sends called, or changes of the reported entity
    accepted: int = 0  # queued ("queued" returned; the reporter running with room)
    beyond_limits: int = 0  # refused: the outbox was full
    refused_other: int = 0  # refused otherwise (the entry not loaded)
    delivered: int = 0
    lost_con: int = 0  # accepted, confirmable, never received, not waiting at the end
    lost_non: int = 0
    duplicated_con: int = 0
    duplicated_non: int = 0
    unacknowledged_again: int = 0  # CON sent again: the platform never acknowledged it
    rereported: int = 0  # the current value again, first thing on a new observation
    reordered: int = 0


class Windows:
    """Which fault was under way at a moment: the last one started before it."""

    def __init__(self, result: Result) -> None:
        self._starts = [result.started] + [fault.started for fault in result.faults]
        self._names = [NO_FAULT] + [str(fault.kind) for fault in result.faults]

    def name_at(self, moment: float) -> str:
        """The kind of fault under way at `moment` ("no fault" before the first one)."""
        index = bisect.bisect_right(self._starts, moment) - 1
        return self._names[max(index, 0)]


def row_names() -> list[str]:
    """The table's rows, in order."""
    return [NO_FAULT, *(str(kind) for kind in Kind), TOTAL]


def _anomalies(
    arrivals: Iterable[Arrival], handovers: Iterable[Handover]
) -> tuple[list[Arrival], list[Arrival]]:
    """Arrivals that repeat an earlier one, and those after a higher counter (not repeats).

    Only payloads that were handed over count: one that never was (which would be a
    fault of its own, see `strangers`) must not make every later arrival look late.
    """
    handed_over = {handover.counter for handover in handovers}
    seen: set[int] = set()
    highest = 0
    duplicates, reordered = [], []
    for arrival in arrivals:
        if arrival.counter not in handed_over:
            continue
        if arrival.counter in seen:
            duplicates.append(arrival)
            continue
        if arrival.counter < highest:
            reordered.append(arrival)
        seen.add(arrival.counter)
        highest = max(highest, arrival.counter)
    return duplicates, reordered


def strangers(arrivals: Iterable[Arrival], handovers: Iterable[Handover]) -> int:
    """Arrivals of a payload that was never handed over (should be 0)."""
    handed_over = {handover.counter for handover in handovers}
    return sum(arrival.counter not in handed_over for arrival in arrivals)


def downlink_rows(result: Result) -> dict[str, DownlinkRow]:
    """The downlink figures per kind of fault (and "no fault", and the total)."""
    windows = Windows(result)
    rows = {name: DownlinkRow() for name in row_names()}
    arrived = {arrival.counter for arrival in result.downlinks.arrivals}
    held_at_end = set(result.held_at_end)
    # Losses no host can prevent: the fault that caused them, and their column.
    beyond_host = {
        c: (str(f.kind), "lost_to_reboot") for f in result.faults for c in f.lost_to_reboot
    }
    beyond_host |= {c: (str(f.kind), "lost_on_line") for f in result.faults for c in f.lost_on_line}
    held_by: dict[int, str] = {}
    for fault in result.faults:  # in order: the last fault that found it buffered wins
        for counter in fault.held_at_start:
            held_by[counter] = str(fault.kind)
    for handover in result.downlinks.handovers:
        row = rows[windows.name_at(handover.at)]
        row.written += 1
        if not handover.accepted:
            continue
        row.accepted += 1
        counter = handover.counter
        if counter in arrived:
            row.delivered += 1
        elif counter in held_at_end:
            continue  # still in the module: reported on its own
        elif counter in beyond_host:
            name, column = beyond_host[counter]
            setattr(rows[name], column, getattr(rows[name], column) + 1)
        else:
            culprit = rows[held_by.get(counter, windows.name_at(handover.at))]
            if handover.mode == DATA_MODE_BUFFER_ACCESS:
                culprit.lost_buffer += 1
            else:
                culprit.lost_push += 1
    duplicates, reordered = _anomalies(result.downlinks.arrivals, result.downlinks.handovers)
    for arrival in duplicates:
        rows[windows.name_at(arrival.at)].duplicated += 1
    for arrival in reordered:
        rows[windows.name_at(arrival.at)].reordered += 1
    _total(rows)
    return rows


def uplink_rows(result: Result) -> dict[str, UplinkRow]:
    """The uplink figures per kind of fault (and "no fault", and the total)."""
    windows = Windows(result)
    rows = {name: UplinkRow() for name in row_names()}
    arrived = {arrival.counter for arrival in result.uplinks.arrivals}
    for handover in result.uplinks.handovers:
        row = rows[windows.name_at(handover.at)]
        row.called += 1
        delivered = handover.counter in arrived
        if handover.accepted:
            row.accepted += 1
            row.delivered += delivered
            if not delivered and handover.confirmable:
                row.lost_con += 1
            elif not delivered:
                row.lost_non += 1
        else:
            row.refused += 1
            row.refused_yet_delivered += delivered
    duplicates, reordered = _anomalies(result.uplinks.arrivals, result.uplinks.handovers)
    for arrival in duplicates:
        rows[windows.name_at(arrival.at)].duplicated += 1
    for arrival in reordered:
        rows[windows.name_at(arrival.at)].reordered += 1
    _total(rows)
    return rows


def stored_rows(ledger: Ledger, waiting: Iterable[int], windows: Windows) -> dict[str, StoredRow]:
    """Queued sends or reported values per kind of fault; `waiting`: still in the outbox.

    A repeat that is the first arrival after the platform began a new observation is the
    current value reported again, as a device does (`rereported`), not a duplicate.
    """
    rows = {name: StoredRow() for name in row_names()}
    arrived = {arrival.counter for arrival in ledger.arrivals}
    waiting = set(waiting)
    confirmable = {h.counter: h.confirmable for h in ledger.handovers}
    for handover in ledger.handovers:
        row = rows[windows.name_at(handover.at)]
        row.handed += 1
        delivered = handover.counter in arrived
        if not handover.accepted:
            row.beyond_limits += handover.outcome == OUTBOX_FULL
            row.refused_other += handover.outcome != OUTBOX_FULL
            continue
        row.accepted += 1
        row.delivered += delivered
        if not delivered and handover.counter not in waiting:
            row.lost_con += handover.confirmable
            row.lost_non += not handover.confirmable
    duplicates, reordered = _anomalies(ledger.arrivals, ledger.handovers)
    rereports = {id(arrival) for arrival in _rereports(ledger)}
    for arrival in duplicates:
        row = rows[windows.name_at(arrival.at)]
        if id(arrival) in rereports:
            row.rereported += 1
        elif not confirmable.get(arrival.counter, False):
            row.duplicated_non += 1
        elif _acknowledged_before(ledger, arrival):
            row.duplicated_con += 1
        else:
            row.unacknowledged_again += 1
    for arrival in reordered:
        rows[windows.name_at(arrival.at)].reordered += 1
    _total(rows)
    return rows


def _rereports(ledger: Ledger) -> list[Arrival]:
    """Repeats of a payload with a new observation between it and its last arrival.

    A device reports its current value when the platform begins observing: one such
    repeat per observation is expected, not a duplicate.
    """
    last: dict[int, float] = {}
    used: set[float] = set()
    found = []
    for arrival in ledger.arrivals:
        previous = last.get(arrival.counter)
        last[arrival.counter] = arrival.at
        if previous is None:
            continue
        began = [at for at in ledger.observed_at if previous < at < arrival.at and at not in used]
        if began:
            used.add(began[-1])
            found.append(arrival)
    return found


def _acknowledged_before(ledger: Ledger, arrival: Arrival) -> bool:
    """Whether the platform acknowledged an earlier arrival of the same payload.

    Until it does, sending a confirmable uplink again is what the sender must do (the
    platform kept it and said nothing, as while ACKs are lost).
    """
    for each in ledger.arrivals:
        if each is arrival:
            return False
        if each.counter == arrival.counter and each.acknowledged:
            return True
    return False


def stored_table(ledger: Ledger, waiting: Iterable[int], windows: Windows) -> list[list[str]]:
    """Queued sends or reported values per kind of fault."""
    table = [
        [
            "fault",
            "handed over",
            "accepted",
            "refused: outbox full",
            "refused: other",
            "delivered",
            "lost, CON",
            "lost, NON",
            "duplicated, CON",
            "duplicated, NON",
            "CON again, never acknowledged before",
            "re-reported on a new observation",
            "out of order",
        ]
    ]
    table += _traffic_rows(stored_rows(ledger, waiting, windows))
    return table


def _total[R: (DownlinkRow, UplinkRow, StoredRow)](rows: dict[str, R]) -> None:
    total = rows[TOTAL]
    for name, row in rows.items():
        if name == TOTAL:
            continue
        for column in fields(row):
            setattr(total, column.name, getattr(total, column.name) + getattr(row, column.name))


def _seconds(values: list[float]) -> str:
    """`p50 / max` in seconds; a fault that never got there counts as infinitely long."""
    if not values:
        return "-"
    return f"{_figure(statistics.median_low(values))} / {_figure(max(values))}"


def _figure(value: float) -> str:
    return f"> {BOUND:.0f}" if math.isinf(value) else f"{value:.2f}"


def recovery_table(result: Result) -> list[list[str]]:
    """One row per kind: count, recovered without a hand, times back, hands lent."""
    table = [
        [
            "fault",
            "n",
            "recovered without a hand",
            "back to registered p50 / max (s)",
            "payloads both ways p50 / max (s)",
            "hands: reregister / reload / stuck",
        ]
    ]
    for kind in Kind:
        faults = [fault for fault in result.faults if fault.kind is kind]
        if not faults:
            table.append([str(kind), "0", "-", "-", "-", "-"])
            continue
        unaided = sum(fault.recovered for fault in faults)
        hands = Counter(fault.hand for fault in faults)
        table.append(
            [
                str(kind),
                str(len(faults)),
                "yes" if unaided == len(faults) else f"NO ({unaided} of {len(faults)})",
                _seconds([_since(fault, fault.registered_at) for fault in faults]),
                _seconds([_since(fault, fault.flowing_at) for fault in faults]),
                f"{hands['reregister']} / {hands['reload']} / {hands['stuck']}",
            ]
        )
    return table


def _since(fault: Fault, moment: float | None) -> float:
    return math.inf if moment is None else moment - fault.started


def downlink_table(result: Result) -> list[list[str]]:
    """Platform -> Home Assistant per kind of fault."""
    table = [
        [
            "fault",
            "written",
            "accepted (2.04)",
            "delivered",
            "lost, buffer access",
            "lost, direct push",
            "lost to a reboot",
            "lost on the line",
            "duplicated",
            "out of order",
        ]
    ]
    table += _traffic_rows(downlink_rows(result))
    return table


def uplink_table(result: Result) -> list[list[str]]:
    """Home Assistant -> platform per kind of fault."""
    table = [
        [
            "fault",
            "bc26.send calls",
            "accepted (status)",
            "delivered",
            "lost, NON (sent)",
            "lost, CON (acknowledged)",
            "refused (raised)",
            "refused yet delivered",
            "duplicated",
            "out of order",
        ]
    ]
    table += _traffic_rows(uplink_rows(result))
    return table


def _traffic_rows(
    rows: dict[str, DownlinkRow] | dict[str, UplinkRow] | dict[str, StoredRow],
) -> list[list[str]]:
    """The rows as text, leaving out kinds of fault that were never injected."""
    table = []
    for name, row in rows.items():
        figures = [getattr(row, column.name) for column in fields(row)]
        if any(figures) or name in (NO_FAULT, TOTAL):
            table.append([name, *(f"{figure:,}" for figure in figures)])
    return table


def outcomes(handovers: Iterable[Handover], *, accepted: bool) -> str:
    """`not_registered 1,234, send_timeout 3`: how often each outcome came."""
    counts = Counter(h.outcome for h in handovers if h.accepted is accepted)
    return ", ".join(f"{outcome} {count:,}" for outcome, count in counts.most_common()) or "none"


def refusals_by_fault(result: Result) -> list[str]:
    """One line per kind of fault: how its bc26.send calls were refused (what they raised)."""
    windows = Windows(result)
    by_row: dict[str, list[Handover]] = {name: [] for name in row_names()}
    for handover in result.uplinks.handovers:
        by_row[windows.name_at(handover.at)].append(handover)
    return [
        f"- {name}: {outcomes(handovers, accepted=False)}"
        for name, handovers in by_row.items()
        if any(not handover.accepted for handover in handovers)
    ]


def markdown(table: list[list[str]]) -> str:
    """A Markdown table (so it pastes into bench/README.md)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(table[0]), rule, *(line(row) for row in table[1:])])
