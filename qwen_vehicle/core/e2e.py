"""Alive counters and checksums of command frames (CRC-8/SAE-J1850, AUTOSAR E2E profile 1 style)."""
from __future__ import annotations

COUNTER_SUFFIXES = ('_Counter', '_AliveCounter', 'Counter')
CHECKSUM_SUFFIXES = ('_Checksum', '_CRC', 'Checksum', 'CRC')


def _table(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


_J1850 = _table(0x1D)


def crc8_j1850(data: bytes, init: int = 0xFF, xor_out: int = 0xFF) -> int:
    crc = init
    for b in data:
        crc = _J1850[crc ^ b]
    return crc ^ xor_out


def find_e2e_signals(message) -> tuple[object | None, object | None]:
    """The (counter, checksum) signals of a message, found by name."""
    counter = next((s for s in message.signals if s.name.endswith(COUNTER_SUFFIXES)), None)
    checksum = next((s for s in message.signals if s.name.endswith(CHECKSUM_SUFFIXES)), None)
    return counter, checksum


def checksum_byte_index(checksum_signal) -> int:
    if checksum_signal.length != 8 or checksum_signal.start % 8:
        raise ValueError(f'{checksum_signal.name}: checksum must be one whole byte')
    return checksum_signal.start // 8


def compute_checksum(data: bytes, frame_id: int, checksum_index: int) -> int:
    """CRC-8/SAE-J1850 over the payload without the checksum byte, then the low byte of the frame ID."""
    body = bytes(b for i, b in enumerate(data) if i != checksum_index)
    return crc8_j1850(body + bytes([frame_id & 0xFF]))


def verify(data: bytes, frame_id: int, checksum_index: int) -> bool:
    return len(data) > checksum_index and data[checksum_index] == compute_checksum(data, frame_id, checksum_index)


def counter_ok(previous: int | None, current: int, modulo: int = 16, max_gap: int = 3) -> bool:
    """An alive counter is fine when it moved on by 1..max_gap (frames may be lost); a repeat means a stuck sender."""
    if previous is None:
        return True
    step = (current - previous) % modulo
    return 1 <= step <= max_gap
