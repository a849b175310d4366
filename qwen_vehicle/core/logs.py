"""CAN logs of many formats as one timestamp-ordered stream of frames, each with the bus it was recorded on.

python-can reads candump -L, Vector ASC and BLF, PCAN TRC, its own CSV and ASAM MF4 (through asammdf); this module
adds what it lacks: the readable candump form (with or without timestamps), SavvyCAN/GVRET CSV, format detection,
bus-number mapping, merging several buses and files in timestamp order, and an account of clock resets,
non-monotonic timestamps and malformed lines. Nothing here raises on a bad line: it is counted and skipped.
"""
from __future__ import annotations

import heapq
import importlib
import io
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Iterator

import can
from can.io.canutils import CanutilsLogReader

log = logging.getLogger(__name__)

# name -> "module:Class", imported on first use (python-can's readers wherever python-can has one)
FORMATS: dict[str, str] = {
    'candump': 'qwen_vehicle.core.logs:CandumpLogReader',              # candump -L  "(ts) can0 123#DEAD"
    'candump-readable': 'qwen_vehicle.core.logs:CandumpReadableReader',  # candump [-t a|z|A]  "can0 123 [2] DE AD"
    'asc': 'can.io.asc:ASCReader',
    'blf': 'can.io.blf:BLFReader',
    'trc': 'can.io.trc:TRCReader',
    'gvret': 'qwen_vehicle.core.logs:GvretCsvReader',                  # SavvyCAN "GVRET" CSV
    'csv': 'can.io.csv:CSVReader',                                     # python-can's own CSV
    'mf4': 'can.io.mf4:MF4Reader',                                     # ASAM MDF 4 (asammdf)
}
SUFFIXES = {'.asc': 'asc', '.blf': 'blf', '.trc': 'trc', '.mf4': 'mf4', '.mdf': 'mf4'}
BINARY_FORMATS = ('blf', 'mf4')

CLOCK_RESET_S = 1.0      # a step back larger than this is a clock reset, smaller ones are reordered
REORDER_WINDOW_S = 0.5   # how far back in time frames of one file are put back in order


class LogFormatError(ValueError):
    """The format of a log cannot be told, or an unknown format name was given."""


def reader_class(fmt: str):
    try:
        target = FORMATS[fmt]
    except KeyError:
        raise LogFormatError(f'unknown log format {fmt!r}; formats: {sorted(FORMATS)}') from None
    module, cls = target.split(':')
    return getattr(importlib.import_module(module), cls)


# ---- readers python-can lacks -------------------------------------------------------------------------------
class _LineReader:
    """Base of the line-oriented readers here: counts and keeps the first malformed lines."""

    def __init__(self, file: Any, **_kwargs: Any) -> None:
        self._own = isinstance(file, (str, os.PathLike))
        self.file = open(file, encoding='utf-8', errors='replace', newline='') if self._own else file
        self.malformed = 0
        self.malformed_examples: list[str] = []

    def bad(self, lineno: int, line: str, why: str) -> None:
        self.malformed += 1
        if len(self.malformed_examples) < 5:
            self.malformed_examples.append(f'line {lineno}: {why}: {line.strip()[:80]!r}')

    def stop(self) -> None:
        if self._own:
            self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class GvretCsvReader(_LineReader):
    """SavvyCAN's "GVRET" CSV: `Time Stamp,ID,Extended,[Dir,]Bus,LEN,D1..Dn`; time in microseconds, ID in hex.

    The channel of each frame is the Bus column as an int (0, 1, ...). Columns are found by header name.
    """

    def __iter__(self) -> Iterator[can.Message]:
        header: list[str] | None = None
        for lineno, line in enumerate(self.file, 1):
            if not line.strip():
                continue
            cells = [c.strip() for c in line.rstrip('\r\n').split(',')]
            if header is None:
                header = [c.lower() for c in cells]
                try:
                    i_ts, i_id, i_ext = header.index('time stamp'), header.index('id'), header.index('extended')
                    i_bus, i_len = header.index('bus'), header.index('len')
                except ValueError:
                    raise LogFormatError(f'line {lineno}: not a GVRET CSV header: {line.strip()[:80]!r}') from None
                i_dir = header.index('dir') if 'dir' in header else None
                i_data = i_len + 1
                continue
            try:
                length = int(cells[i_len])
                data = bytes(int(c, 16) for c in cells[i_data:i_data + length])
                if len(data) != length:
                    self.bad(lineno, line, f'LEN {length} but {len(data)} data bytes')
                    continue
                msg = can.Message(
                    timestamp=int(cells[i_ts]) / 1e6, arbitration_id=int(cells[i_id], 16),
                    is_extended_id=cells[i_ext].lower() == 'true', channel=int(cells[i_bus]),
                    is_rx=(cells[i_dir].lower() != 'tx') if i_dir is not None else True,
                    is_fd=length > 8, dlc=length, data=data, check=False)
            except (ValueError, IndexError) as exc:
                self.bad(lineno, line, str(exc))
                continue
            yield msg


_READABLE = re.compile(
    r'^\s*(?:\((?P<ts>[^)]*)\)\s+)?(?P<ch>[\w.-]+)\s+(?:(?:RX|TX)\s+\S+\s+\S+\s+)?'
    r'(?P<id>[0-9A-Fa-f]{1,8})\s+\[(?P<len>\d{1,2})\]\s*(?P<rest>.*?)\s*$')
_HEX_BYTES = re.compile(r'^((?:[0-9A-Fa-f]{2}\s*)*)(.*)$')


class CandumpReadableReader(_LineReader):
    """candump's readable output: `can0  123   [4]  DE AD BE EF`, optionally prefixed by `(timestamp)` from
    `-t a`, `-t z` or `-t A` (date and time). Without timestamps every frame gets 0.0 and `timestamps` is False."""

    def __init__(self, file: Any, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.timestamps = True

    @staticmethod
    def _time(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return datetime.strptime(text.strip(), '%Y-%m-%d %H:%M:%S.%f').timestamp()

    def __iter__(self) -> Iterator[can.Message]:
        for lineno, line in enumerate(self.file, 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            m = _READABLE.match(line)
            if m is None:
                self.bad(lineno, line, 'not a candump line')
                continue
            try:
                ident, length = m.group('id'), int(m.group('len'))
                rest = m.group('rest')
                ts = m.group('ts')
                if ts is None:
                    self.timestamps = False
                stamp = self._time(ts) if ts is not None else 0.0
                remote = rest.lower().startswith('remote request')
                hexpart, tail = _HEX_BYTES.match(rest).groups() if not remote else ('', rest)
                data = bytes.fromhex(hexpart.replace(' ', '')) if hexpart else b''
                if not remote and len(data) != length:
                    self.bad(lineno, line, f'[{length}] but {len(data)} data bytes')
                    continue
                channel = m.group('ch')
                if 'ERRORFRAME' in tail:
                    msg = can.Message(timestamp=stamp, is_error_frame=True, channel=channel,
                                      arbitration_id=int(ident, 16) & 0x1FFFFFFF, data=data, check=False)
                else:
                    msg = can.Message(timestamp=stamp, arbitration_id=int(ident, 16), is_extended_id=len(ident) > 3,
                                      is_remote_frame=remote, is_fd=length > 8, dlc=length,
                                      data=None if remote else data, channel=channel, check=False)
            except ValueError as exc:
                self.bad(lineno, line, str(exc))
                continue
            yield msg


class CandumpLogReader(CanutilsLogReader):
    """python-can's candump -L reader, fed one line at a time so that a broken line is counted, not fatal."""

    def __init__(self, file: Any, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.malformed = 0
        self.malformed_examples: list[str] = []

    def __iter__(self) -> Iterator[can.Message]:
        try:
            for lineno, line in enumerate(self.file, 1):
                one = CanutilsLogReader.__new__(CanutilsLogReader)
                one.file = io.StringIO(line)
                try:
                    for msg in CanutilsLogReader.__iter__(one):
                        if msg.channel is None:          # python-can drops the bus of error frames
                            parts = line.split()
                            msg.channel = int(parts[1]) if parts[1].isdigit() else parts[1]
                        yield msg
                except (ValueError, IndexError) as exc:
                    self.malformed += 1
                    if len(self.malformed_examples) < 5:
                        self.malformed_examples.append(f'line {lineno}: {exc}: {line.strip()[:80]!r}')
        finally:
            self.stop()


# ---- format detection ---------------------------------------------------------------------------------------
def detect_format(path: str) -> str:
    """The format of a log from its suffix and, for text logs, its first meaningful line."""
    lower = path.lower()
    base = lower[:-3] if lower.endswith('.gz') else lower
    suffix = os.path.splitext(base)[1]
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    try:
        with open(path, encoding='utf-8', errors='replace') as fh:
            head = [ln for ln in (fh.readline() for _ in range(20)) if ln.strip()]
    except OSError as exc:
        raise LogFormatError(f'{path}: cannot read: {exc}') from exc
    first = head[0].strip() if head else ''
    low = first.lower()
    if low.startswith('time stamp,id,extended'):
        return 'gvret'
    if low.startswith('timestamp,arbitration_id'):
        return 'csv'
    if re.match(r'^\(\s*[\d.]+\)\s+\S+\s+[0-9A-Fa-f]+#', first):
        return 'candump'
    if _READABLE.match(first):
        return 'candump-readable'
    if low.startswith(('date ', 'base hex', 'base dec')):
        return 'asc'
    if low.startswith(';$fileversion'):
        return 'trc'
    raise LogFormatError(f'{path}: cannot tell the log format from {first[:60]!r}; give one of {sorted(FORMATS)}')


# ---- frames with their bus, in timestamp order ------------------------------------------------------------------
@dataclass(slots=True)
class LogFrame:
    timestamp: float         # corrected (clock resets removed), seconds
    channel: str             # the bus as the log names it: '0', '1', 'can0', ...
    msg: can.Message         # its timestamp is the corrected one
    source: str              # file
    index: int               # position in its file (0-based)
    raw_timestamp: float


@dataclass
class ClockEvent:
    source: str
    channel: str
    index: int
    before: float
    after: float
    offset: float            # added to this and later timestamps of that bus

    def __str__(self) -> str:
        return (f'{os.path.basename(self.source)} bus {self.channel} frame {self.index}: clock went from '
                f'{self.before:.6f} to {self.after:.6f} s; later frames shifted by {self.offset:+.6f} s')


@dataclass
class LogStats:
    """What reading the logs found, beyond the frames: per file and bus."""
    frames: Counter = field(default_factory=Counter)           # (source, channel) -> frames read
    malformed: Counter = field(default_factory=Counter)        # source -> lines skipped
    malformed_examples: dict[str, list[str]] = field(default_factory=dict)
    reader_errors: dict[str, str] = field(default_factory=dict)  # source -> why reading stopped early
    clock_resets: list[ClockEvent] = field(default_factory=list)
    non_monotonic: Counter = field(default_factory=Counter)    # (source, channel) -> small steps back, reordered
    late: Counter = field(default_factory=Counter)             # (source, channel) -> too late to reorder
    untimed: set[str] = field(default_factory=set)             # sources without timestamps (file order)
    formats: dict[str, str] = field(default_factory=dict)

    @property
    def frames_total(self) -> int:
        return sum(self.frames.values())

    def to_dict(self) -> dict[str, Any]:
        def keyed(c: Counter) -> dict[str, int]:
            return {f'{os.path.basename(s)}:{ch}': n for (s, ch), n in sorted(c.items())}
        return {
            'frames': self.frames_total, 'frames_per_bus': keyed(self.frames),
            'formats': {os.path.basename(k): v for k, v in self.formats.items()},
            'malformed_lines': {os.path.basename(k): v for k, v in self.malformed.items()},
            'malformed_examples': {os.path.basename(k): v for k, v in self.malformed_examples.items()},
            'reader_errors': {os.path.basename(k): v for k, v in self.reader_errors.items()},
            'clock_resets': [str(e) for e in self.clock_resets],
            'non_monotonic_reordered': keyed(self.non_monotonic), 'late_out_of_order': keyed(self.late),
            'untimed': sorted(os.path.basename(s) for s in self.untimed),
        }

    def summary(self) -> str:
        lines = [f'log frames read: {self.frames_total} '
                 f'({", ".join(f"{os.path.basename(s)} bus {ch}: {n}" for (s, ch), n in sorted(self.frames.items()))})']
        for src, n in self.malformed.items():
            lines.append(f'{os.path.basename(src)}: {n} malformed line(s) skipped, e.g. '
                         + '; '.join(self.malformed_examples.get(src, [])[:2]))
        for src, why in self.reader_errors.items():
            lines.append(f'{os.path.basename(src)}: reading stopped early: {why}')
        for ev in self.clock_resets:
            lines.append(f'clock reset: {ev}')
        for (src, ch), n in sorted(self.non_monotonic.items()):
            lines.append(f'{os.path.basename(src)} bus {ch}: {n} timestamp(s) stepped back; put back in order')
        for (src, ch), n in sorted(self.late.items()):
            lines.append(f'{os.path.basename(src)} bus {ch}: {n} frame(s) too far back to reorder; kept in file order')
        for src in sorted(self.untimed):
            lines.append(f'{os.path.basename(src)}: no timestamps; frames in file order')
        return '\n'.join(lines)


@dataclass
class LogSource:
    """One log file; `channel` forces one bus name for all its frames (a single-bus log)."""
    path: str
    fmt: str | None = None
    channel: str | None = None

    @classmethod
    def parse(cls, spec: str, fmt: str | None = None) -> 'LogSource':
        """`PATH` or `PATH@BUS` (all frames of the file are on BUS)."""
        if '@' in spec and not os.path.exists(spec):
            path, _, channel = spec.rpartition('@')
            return cls(path, fmt, channel or None)
        return cls(spec, fmt)


class _ClockFixer:
    """Per bus of one file: removes clock resets (large steps back), counts small steps back."""

    def __init__(self, source: str, stats: LogStats, reset_s: float) -> None:
        self.source, self.stats, self.reset_s = source, stats, reset_s
        self.last: dict[str, float] = {}
        self.offset: dict[str, float] = {}
        self.step: dict[str, float] = {}

    def fix(self, channel: str, index: int, raw: float) -> float:
        offset = self.offset.get(channel, 0.0)
        ts = raw + offset
        last = self.last.get(channel)
        if last is not None:
            if ts < last - self.reset_s:
                step = min(self.step.get(channel, 0.001), 1.0)
                shift = last + step - ts
                offset += shift
                self.offset[channel] = offset
                self.stats.clock_resets.append(ClockEvent(self.source, channel, index, last - (offset - shift),
                                                          raw, offset))
                log.warning('%s', self.stats.clock_resets[-1])
                ts = raw + offset
            elif ts < last:
                self.stats.non_monotonic[(self.source, channel)] += 1
            elif ts > last:
                self.step[channel] = ts - last
        if last is None or ts > last:
            self.last[channel] = ts
        return ts


def _channel_key(channel: Any) -> str:
    return '' if channel is None else str(channel)


def read_source(source: LogSource, stats: LogStats, *, reset_s: float = CLOCK_RESET_S,
                window_s: float = REORDER_WINDOW_S) -> Iterator[LogFrame]:
    """Frames of one file in timestamp order (within `window_s`), clock resets removed."""
    path = source.path
    fmt = source.fmt or detect_format(path)
    stats.formats[path] = fmt
    cls = reader_class(fmt)
    kwargs: dict[str, Any] = {}
    if fmt == 'asc':
        kwargs['relative_timestamp'] = False
    try:
        if path.lower().endswith('.gz'):
            import gzip
            opened = gzip.open(path, 'rb' if fmt in BINARY_FORMATS else 'rt', encoding=None if fmt in BINARY_FORMATS
                               else 'utf-8', errors=None if fmt in BINARY_FORMATS else 'replace')
            reader = cls(opened, **kwargs)
        else:
            reader = cls(path, **kwargs)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - each reader has its own errors
        raise LogFormatError(f'{path}: cannot read as {fmt}: {type(exc).__name__}: {exc}') from exc
    fixer = _ClockFixer(path, stats, reset_s)
    heap: list[tuple[float, int, LogFrame]] = []
    emitted = float('-inf')
    newest = float('-inf')
    index = -1
    try:
        iterator = iter(reader)
        while True:
            try:
                msg = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - a python-can reader gave up on the file
                if index < 0:
                    raise LogFormatError(f'{path}: cannot read as {fmt}: {type(exc).__name__}: {exc}') from exc
                stats.reader_errors[path] = f'after {index + 1} frames: {type(exc).__name__}: {exc}'
                log.error('%s: reading stopped after %d frames: %s', path, index + 1, exc)
                break
            index += 1
            channel = source.channel if source.channel is not None else _channel_key(msg.channel)
            stats.frames[(path, channel)] += 1
            raw = float(msg.timestamp or 0.0)
            ts = fixer.fix(channel, index, raw)
            msg.timestamp = ts
            frame = LogFrame(ts, channel, msg, path, index, raw)
            if ts < emitted:
                stats.late[(path, channel)] += 1
                yield frame
                continue
            heapq.heappush(heap, (ts, index, frame))
            newest = max(newest, ts)
            while heap and heap[0][0] <= newest - window_s:
                emitted = heap[0][0]
                yield heapq.heappop(heap)[2]
        while heap:
            yield heapq.heappop(heap)[2]
    finally:
        if getattr(reader, 'malformed', 0):
            stats.malformed[path] += reader.malformed
            stats.malformed_examples[path] = list(reader.malformed_examples)
        if getattr(reader, 'timestamps', True) is False:
            stats.untimed.add(path)
        try:
            reader.stop()
        except Exception:  # noqa: BLE001
            pass


def read_logs(sources: Iterable[LogSource | str], stats: LogStats | None = None, *,
              reset_s: float = CLOCK_RESET_S, window_s: float = REORDER_WINDOW_S) -> Iterator[LogFrame]:
    """All frames of all files merged in timestamp order (files are merged as streams, never loaded whole)."""
    stats = stats if stats is not None else LogStats()
    srcs = [LogSource.parse(s) if isinstance(s, str) else s for s in sources]
    streams = [read_source(s, stats, reset_s=reset_s, window_s=window_s) for s in srcs]
    if len(streams) == 1:
        yield from streams[0]
    else:
        yield from heapq.merge(*streams, key=lambda f: f.timestamp)


def read_messages(path: str, fmt: str | None = None) -> list[can.Message]:
    """Every frame of one file in file order, without any correction (a convenience for tests and tools)."""
    cls = reader_class(fmt or detect_format(path))
    with cls(path) as reader:
        return list(reader)


def open_text(text: str) -> io.StringIO:
    """A log held in a string, for the text readers (tests, stdin)."""
    return io.StringIO(text)
