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
