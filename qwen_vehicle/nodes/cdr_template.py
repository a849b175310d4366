"""Fast publishing of fixed-layout messages: a serialized CDR template whose primitive fields are patched in place.

rclpy's publish() converts the whole Python message to C on every call; for a message whose layout never changes
(constant strings, fixed arrays, empty sequences) we serialize once, learn each primitive field's byte offset by
serializing sentinel values, and then write new values with struct.pack_into and publish the bytes. The template
checks itself against rclpy's own serialization and is not used when they disagree.
"""
from __future__ import annotations

import copy
import logging
import operator
import struct
from typing import Any

from rclpy.serialization import serialize_message

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


class CdrTemplate:
    """Serialize `msg` (same type, same strings and sequences as the template) in a few microseconds."""

    def __init__(self, msg) -> None:
        self.base = bytearray(serialize_message(msg))
        self.fields: list[tuple[Any, int, str, int]] = []   # (getter, offset, format, count)
        for path, fmt, count in _leaves(msg):
            offsets = []
            for sentinel in SENTINELS[fmt]:
                probe = copy.deepcopy(msg)
                _set(probe, path, [sentinel] * count if count else sentinel)
                data = serialize_message(probe)
                if len(data) != len(self.base):
                    raise LayoutError(f'{path}: changing it changes the message length')
                offsets.append({i for i, (a, b) in enumerate(zip(data, self.base)) if a != b})
            changed = set().union(*offsets)
            if not changed:
                raise LayoutError(f'{path}: cannot locate the field')
            size = struct.calcsize('<' + fmt) * max(count, 1)
            start = max(changed) - size + 1  # little-endian: the sentinels' top bytes always differ
            if min(changed) < start:
                raise LayoutError(f'{path}: field is not contiguous ({sorted(changed)}, size {size})')
            self.fields.append((operator.attrgetter(path), start, '<' + (f'{count}{fmt}' if count else fmt), count))
        if self.pack(msg) != serialize_message(msg):
            raise LayoutError('template does not reproduce rclpy serialization')

    def pack(self, msg) -> bytes:
        buf = self.base
        for getter, offset, fmt, count in self.fields:
            value = getter(msg)
            if count:
                struct.pack_into(fmt, buf, offset, *value)
            else:
                struct.pack_into(fmt, buf, offset, value)
        return bytes(buf)


def make_template(msg) -> CdrTemplate | None:
    try:
        return CdrTemplate(msg)
    except (LayoutError, struct.error, TypeError, ValueError) as exc:
        log.debug('%s: publishing through rclpy (%s)', type(msg).__name__, exc)
        return None
