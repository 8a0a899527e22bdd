"""How long the modem library takes to read one line from the module.

Feeds a realistic mix of unsolicited lines (observe requests, downlinks of several
sizes in hex, network and SIM status, the odd unknown line and stray OK) through the
channel's receive path in 64-byte reads, as a UART delivers them, and prints the
cost per line; then the cost of a +QLWDATARECV line per payload size, to show that
parsing is linear in the line length.

    python -m bench.parse_lines            (from the repository root)
"""

from __future__ import annotations

from pathlib import Path
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.bc26.modem import AtChannel, UrcEvent

READ_SIZE = 64  # bytes per read, a typical UART FIFO/driver chunk
ROUNDS = 2000


def _downlink(size: int) -> str:
    return f"+QLWDATARECV: 19,1,0,{size},{bytes(range(size % 256)).hex().upper():0<{2 * size}}"


MIX = [
    "+QLWOBSERVE: 0,19,0,0",
    _downlink(4),
    "+QLWDATARECV: 19,1,0,4",
    _downlink(32),
    "+CEREG: 1",
    "SEND OK",
    _downlink(128),
    "+CPIN: READY",
    "+IP: 10.52.241.198",
    "+QLWOBSERVE: 1,19,0,0",
    "+QNBIOTEVENT: ENTER PSM",
    "OK",
]


def _stream(lines: list[str]) -> list[bytes]:
    data = "".join(f"\r\n{line}\r\n" for line in lines).encode("latin-1")
    return [data[start : start + READ_SIZE] for start in range(0, len(data), READ_SIZE)]


def microseconds_per_line(lines: list[str], rounds: int = ROUNDS) -> float:
    """Best of three runs of `rounds` passes over `lines`, per line."""
    chunks = _stream(lines)
    best = float("inf")
    for _ in range(3):
        channel = AtChannel(transcript_size=200)
        received: list[UrcEvent] = []
        channel.subscribe(received.append)
        start = time.perf_counter()
        for _ in range(rounds):
            for chunk in chunks:
                channel.data_received(chunk)
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        if len(received) < rounds * (len(lines) - 1):  # every line but the stray OK
            raise RuntimeError(f"only {len(received)} events")
    return best / (rounds * len(lines)) * 1e6


def main() -> None:
    """Print the figures."""
    average = sum(len(line) for line in MIX) / len(MIX)
    print(f"URC mix ({len(MIX)} kinds, {average:.0f} characters a line on average, "
          f"{READ_SIZE}-byte reads): {microseconds_per_line(MIX):.1f} us per line")  # fmt: skip
    for size in (4, 64, 256, 512):
        line = _downlink(size)
        cost = microseconds_per_line([line], rounds=ROUNDS // 2)
        print(
            f"+QLWDATARECV with {size:3d} bytes ({len(line):4d} characters): "
            f"{cost:6.1f} us per line, {cost / len(line) * 1000:5.1f} ns per character"
        )


if __name__ == "__main__":
    main()
