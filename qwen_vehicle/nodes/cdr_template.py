"""Fast publishing of fixed-layout messages: a serialized CDR template whose primitive fields are patched in place.

rclpy's publish() converts the whole Python message to C on every call; for a message whose layout never changes
(constant strings, fixed arrays, empty sequences) we serialize once, learn each primitive field's byte offset by
serializing sentinel values, and then write new values with struct.pack_into and publish the bytes. The template
checks itself by decoding its own output and is not used when that disagrees with the message.
"""
from __future__ import annotations

import copy
import logging
import math
import operator
import struct
from typing import Any

from rclpy.serialization import deserialize_message, serialize_message

log = logging.getLogger(__name__)

FORMATS = {'boolean': '?', 'octet': 'B', 'int8': 'b', 'uint8': 'B', 'char': 'B', 'int16': 'h', 'uint16': 'H',
           'int32': 'i', 'uint32': 'I', 'int64': 'q', 'uint64': 'Q', 'float': 'f', 'double': 'd'}
SENTINELS = {'?': (True, False), 'b': (17, -35), 'B': (17, 202), 'h': (4660, -8531), 'H': (4660, 43981),
             'i': (305419896, -19088744), 'I': (305419896, 2882400001), 'q': (0x1122334455667788, -0x1122334455667788),
             'Q': (0x1122334455667788, 0x8877665544332211), 'f': (1.2345678, -3.1415927),
             'd': (1.2345678901234567, -3.141592653589793)}


class LayoutError(ValueError):
    pass


CONSTANT_STRINGS = frozenset({'header.frame_id', 'location', 'serial_number'})


def _leaves(msg, prefix: str = '', constant: frozenset = CONSTANT_STRINGS):
    """(dotted path, struct format, count) of every primitive field; LayoutError for variable parts."""
    for name, type_name in msg.get_fields_and_field_types().items():
        path = f'{prefix}{name}'
        base, _, rest = type_name.partition('[')
        if type_name in FORMATS:
            yield path, FORMATS[type_name], 0
        elif base in FORMATS and rest and rest[:-1].isdigit():
            yield path, FORMATS[base], int(rest[:-1])
        elif type_name == 'string':
            if path not in constant:
                raise LayoutError(f'{path}: a string that may change')
        elif type_name.startswith('sequence<'):
            continue  # kept as in the template (empty): must not change after start-up
        elif '/' in type_name:
            yield from _leaves(getattr(msg, name), path + '.', constant)
        else:
            raise LayoutError(f'{path}: {type_name} has no fixed layout')


def _set(msg, path: str, value: Any) -> None:
    *parents, leaf = path.split('.')
    target = msg
    for p in parents:
        target = getattr(target, p)
    setattr(target, leaf, value)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if hasattr(a, 'get_fields_and_field_types'):
        return all(_same(getattr(a, n), getattr(b, n)) for n in a.get_fields_and_field_types())
    if hasattr(a, '__len__') and not isinstance(a, (str, bytes)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


class CdrTemplate:
    """Serialize `msg` (same type, same strings and sequences as the template) in a few microseconds.

    Padding bytes in rclpy's serialization are not initialised, so fields are located by finding each sentinel's
    exact encoding at one offset in both probes, and the self-check compares decoded messages, not bytes.
    """

    def __init__(self, msg) -> None:
        self.msg_type = type(msg)
        self.base = bytearray(serialize_message(msg))
        self.fields: list[tuple[str, int, str, int]] = []   # (path, offset, format, count)
        for path, fmt, count in _leaves(msg):
            full = '<' + (f'{count}{fmt}' if count else fmt)
            candidates = None
            for sentinel in SENTINELS[fmt]:
                probe = copy.deepcopy(msg)
                values = [sentinel] * count if count else [sentinel]
                _set(probe, path, values if count else sentinel)
                data = serialize_message(probe)
                if len(data) != len(self.base):
                    raise LayoutError(f'{path}: changing it changes the message length')
                needle = struct.pack(full, *values)
                found = {i for i in range(len(data) - len(needle) + 1) if data[i:i + len(needle)] == needle}
                candidates = found if candidates is None else candidates & found
            if not candidates or len(candidates) != 1:
                raise LayoutError(f'{path}: cannot locate the field ({sorted(candidates or [])})')
            self.fields.append((path, candidates.pop(), full, count))
        self._groups = self._group(self.fields)
        if not _same(deserialize_message(self.pack(msg), self.msg_type),
                     deserialize_message(serialize_message(msg), self.msg_type)):
            raise LayoutError('template does not reproduce the message')

    @staticmethod
    def _group(fields):
        """Runs of adjacent scalar fields packed by one Struct with one multi-attribute getter."""
        groups: list[tuple[Any, int, struct.Struct, bool]] = []
        run: list[tuple[str, int, str]] = []

        def close_run():
            if run:
                paths = [p for p, _, _ in run]
                packer = struct.Struct('<' + ''.join(f[1:] for _, _, f in run))
                groups.append((operator.attrgetter(*paths), run[0][1], packer, len(paths) > 1))
                run.clear()

        for path, offset, fmt, count in sorted(fields, key=lambda f: f[1]):
            if count:
                close_run()
                groups.append((operator.attrgetter(path), offset, struct.Struct(fmt), True))
                continue
            if run and run[-1][1] + struct.calcsize(run[-1][2]) != offset:
                close_run()
            run.append((path, offset, fmt))
        close_run()
        return groups

    def pack(self, msg) -> bytes:
        buf = self.base
        for getter, offset, packer, many in self._groups:
            if many:
                packer.pack_into(buf, offset, *getter(msg))
            else:
                packer.pack_into(buf, offset, getter(msg))
        return bytes(buf)


def make_template(msg) -> CdrTemplate | None:
    try:
        return CdrTemplate(msg)
    except (LayoutError, struct.error, TypeError, ValueError) as exc:
        log.debug('%s: publishing through rclpy (%s)', type(msg).__name__, exc)
        return None
