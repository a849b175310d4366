"""Loading DBC files from the field that cantools refuses: missing sections, lines it cannot parse.

Each repair is logged as a WARNING naming the file and the line of the original file, so the author of the DBC
can fix it; what can be loaded is loaded, the rest is left out (never a crash, never a silent change).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import cantools

log = logging.getLogger(__name__)

MAX_REPAIRS = 200
_SECTION = re.compile(r'^(BS_|BU_)\s*:', re.M)
_MESSAGE = re.compile(r'^BO_\s+\d+\s+\w+\s*:\s*\d+\s+(\w+)', re.M)
_RECEIVERS = re.compile(r'^\s*SG_\s.*"[^"]*"\s+(.+?)\s*$', re.M)


@dataclass
class RepairReport:
    path: str
    repairs: list[str] = field(default_factory=list)

    def add(self, line: int, what: str) -> None:
        text = f'{self.path}:{line}: {what}'
        self.repairs.append(text)
        log.warning('%s', text)


def _parse_position(exc: BaseException) -> tuple[int, int] | None:
    """Line and column of a cantools/textparser syntax error, searching the exception chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        line = getattr(exc, 'line', None)
        if isinstance(line, int):
            return line, int(getattr(exc, 'column', 0) or 0)
        m = re.search(r'at line (\d+), column (\d+)', str(exc))
        if m:
            return int(m.group(1)), int(m.group(2))
        exc = exc.__cause__ or exc.__context__
    return None


def read_text(path: str) -> str:
    with open(path, 'rb') as fh:
        raw = fh.read()
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw.decode('cp1252', errors='replace')


def load_repaired(path: str, text: str | None = None):
    """A cantools database from a DBC with syntax gaps; returns (database, RepairReport). Raises when nothing loads."""
    report = RepairReport(path)
    text = read_text(path) if text is None else text
    lines = text.splitlines()
    origin = list(range(1, len(lines) + 1))        # original line number of each current line (0 = inserted)
    first_error: Exception | None = None
    for _ in range(MAX_REPAIRS):
        try:
            db = cantools.database.load_string('\n'.join(lines) + '\n', database_format='dbc', strict=False)
            for problem in lint(path, db, text):
                report.repairs.append(problem)
            return db, report
        except Exception as exc:  # noqa: BLE001 - cantools wraps parse errors in several types
            first_error = first_error or exc
            pos = _parse_position(exc)
        if pos is None or not 1 <= pos[0] <= len(lines):
            break
        idx = pos[0] - 1
        bad = lines[idx].strip()
        where = origin[idx] or pos[0]
        joined = '\n'.join(lines)
        if bad.startswith('BO_') and not _SECTION.search(joined):
            nodes = sorted(set(_MESSAGE.findall(joined)) | {n.strip() for m in _RECEIVERS.findall(joined)
                                                              for n in m.split(',') if n.strip()})
            nodes = [n for n in nodes if re.fullmatch(r'[A-Za-z_]\w*', n) and n != 'Vector__XXX']
            report.add(where, f'no BS_:/BU_: section before the first message; assumed empty bit timing and nodes '
                              f'{" ".join(nodes)}')
            lines[idx:idx] = ['BS_:', '', 'BU_: ' + ' '.join(nodes), '']
            origin[idx:idx] = [0, 0, 0, 0]
            continue
        # drop what cannot be parsed: a whole message block when its BO_ line is broken, else the one line
        end = idx + 1
        if bad.startswith('BO_'):
            while end < len(lines) and lines[end].lstrip().startswith('SG_'):
                end += 1
        report.add(where, f'cannot parse, left out{f" (with its {end - idx - 1} signals)" if end - idx > 1 else ""}: '
                          f'{bad[:120]!r}')
        del lines[idx:end]
        del origin[idx:end]
    raise first_error if first_error is not None else ValueError(f'{path}: cannot load DBC')


def signal_bits(sig) -> set[int]:
    """The bit positions (byte * 8 + bit) a signal occupies, in either byte order."""
    if sig.byte_order == 'little_endian':
        return set(range(sig.start, sig.start + sig.length))
    bits, pos = set(), sig.start
    for _ in range(sig.length):
        bits.add(pos)
        pos = pos + 15 if pos % 8 == 0 else pos - 1
    return bits


def _line_index(text: str) -> tuple[dict[int, int], dict[tuple[int, str], int]]:
    messages: dict[int, int] = {}
    signals: dict[tuple[int, str], int] = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        m = re.match(r'\s*BO_\s+(\d+)\s', line)
        if m:
            current = int(m.group(1))
            messages.setdefault(current, number)
            continue
        m = re.match(r'\s*SG_\s+(\w+)', line)
        if m and current is not None:
            signals.setdefault((current, m.group(1)), number)
        elif line.strip() and not line.lstrip().startswith('SG_'):
            current = None if not line.startswith(' ') else current
    return messages, signals


def lint(path: str, database, text: str | None = None) -> list[str]:
    """Warnings, with file and line, for what a lenient load let through: signals that do not fit in their message
    and signals that overlap (either way cantools cannot unpack the message: its frames count as decode errors)."""
    try:
        text = read_text(path) if text is None else text
    except OSError:
        text = ''
    msg_lines, sig_lines = _line_index(text)
    found = []
    for msg in database.messages:
        raw_id = msg.frame_id | (0x80000000 if msg.is_extended_frame else 0)
        size = msg.length * 8
        occupied = {s.name: signal_bits(s) for s in msg.signals}
        for sig in msg.signals:
            line = sig_lines.get((raw_id, sig.name)) or msg_lines.get(raw_id, 0)
            bits = occupied[sig.name]
            if bits and (max(bits) >= size or min(bits) < 0):
                found.append(f'{path}:{line}: {msg.name}.{sig.name} does not fit in the message\'s {msg.length} '
                             f'bytes; frames of {msg.name} will be counted as decode errors')
        names = [s for s in msg.signals]
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if a.multiplexer_ids and b.multiplexer_ids and not set(a.multiplexer_ids) & set(b.multiplexer_ids):
                    continue
                if occupied[a.name] & occupied[b.name]:
                    line = sig_lines.get((raw_id, b.name)) or msg_lines.get(raw_id, 0)
                    found.append(f'{path}:{line}: {msg.name}.{b.name} overlaps {a.name}; cantools cannot unpack '
                                 f'overlapping signals, frames of {msg.name} will be counted as decode errors')
    for text_line in found:
        log.warning('%s', text_line)
    return found
