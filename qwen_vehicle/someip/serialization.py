"""SOME/IP payload serialization (PRS_SOMEIP 4.2.1), driven by type descriptions from YAML.

A type description is either a name or a mapping:

    uint8 .. uint64, sint8 .. sint64 (int8.. accepted), float32, float64, bool, string, or a name from `types:`
    {type: uint8, enum: {0: Off, 1: Front}}            integers shown as labels
    {type: string, encoding: utf-8|utf-16be|utf-16le, length_field: 0|8|16|32 (default 32), length: N (fixed)}
    {type: array, element: <type>, length: N}          fixed length, no length field
    {type: array, element: <type>, length_field: 8|16|32 (default 32), max_length: N}
    {type: struct, fields: [{name: x, type: <type>}, ...], length_field: 0|8|16|32 (default 0)}

Everything is big-endian (network order). Strings carry a byte order mark and a terminating null, both counted in
their length field. Alignment padding is not used. Decoding never reads past the buffer: short or inconsistent
data raises `SerializationError`.
"""
from __future__ import annotations

import math
import struct
from typing import Any, Mapping

BOMS = {'utf-8': b'\xef\xbb\xbf', 'utf-16be': b'\xfe\xff', 'utf-16le': b'\xff\xfe'}
TERMINATORS = {'utf-8': b'\x00', 'utf-16be': b'\x00\x00', 'utf-16le': b'\x00\x00'}
LENGTH_FIELDS = {0: None, 8: struct.Struct('>B'), 16: struct.Struct('>H'), 32: struct.Struct('>I')}


class SerializationError(ValueError):
    pass


class Codec:
    name = '?'

    def encode_into(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        raise NotImplementedError

    def default(self) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        out = bytearray()
        self.encode_into(value, out)
        return bytes(out)

    def decode(self, data: bytes) -> Any:
        value, end = self.decode_from(data, 0)
        if end != len(data):
            raise SerializationError(f'{self.name}: {len(data) - end} unexpected trailing bytes')
        return value


def _need(data: bytes, offset: int, size: int, what: str) -> None:
    if offset + size > len(data):
        raise SerializationError(f'{what}: needs {size} bytes at offset {offset}, {len(data) - offset} left')


class IntCodec(Codec):
    def __init__(self, name: str, fmt: str, bits: int, signed: bool):
        self.name = name
        self.struct = struct.Struct('>' + fmt)
        self.low = -(1 << (bits - 1)) if signed else 0
        self.high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def encode_into(self, value: Any, out: bytearray) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise SerializationError(f'{self.name}: expected an integer, got {value!r}')
        if not self.low <= value <= self.high:
            raise SerializationError(f'{self.name}: {value} outside {self.low}..{self.high}')
        out += self.struct.pack(value)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        _need(data, offset, self.struct.size, self.name)
        return self.struct.unpack_from(data, offset)[0], offset + self.struct.size

    def default(self) -> Any:
        return 0


class FloatCodec(Codec):
    def __init__(self, name: str, fmt: str):
        self.name = name
        self.struct = struct.Struct('>' + fmt)

    def encode_into(self, value: Any, out: bytearray) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SerializationError(f'{self.name}: expected a number, got {value!r}')
        try:
            out += self.struct.pack(value)
        except (OverflowError, struct.error) as error:
            raise SerializationError(f'{self.name}: {value!r} does not fit ({error})') from None

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        _need(data, offset, self.struct.size, self.name)
        return self.struct.unpack_from(data, offset)[0], offset + self.struct.size

    def default(self) -> Any:
        return math.nan


class BoolCodec(Codec):
    name = 'bool'

    def encode_into(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, bool) and value not in (0, 1):
            raise SerializationError(f'bool: expected true/false, got {value!r}')
        out.append(1 if value else 0)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        _need(data, offset, 1, 'bool')
        raw = data[offset]
        if raw > 1:
            raise SerializationError(f'bool: byte 0x{raw:02x} is neither 0 nor 1')
        return bool(raw), offset + 1

    def default(self) -> Any:
        return False


class EnumCodec(Codec):
    """An integer on the wire, a label in Python (unknown numbers decode as plain integers)."""

    def __init__(self, base: IntCodec, labels: Mapping[int, str]):
        self.base = base
        self.name = f'{base.name} enum'
        self.by_value = {int(k): str(v) for k, v in labels.items()}
        self.by_label = {v: k for k, v in self.by_value.items()}

    def encode_into(self, value: Any, out: bytearray) -> None:
        if isinstance(value, str):
            if value not in self.by_label:
                raise SerializationError(f'{self.name}: {value!r} is not one of {sorted(self.by_label)}')
            value = self.by_label[value]
        self.base.encode_into(value, out)

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        raw, offset = self.base.decode_from(data, offset)
        return self.by_value.get(raw, raw), offset

    def default(self) -> Any:
        return self.by_value.get(0, 0)


def _pack_length(bits: int, size: int, what: str, out: bytearray) -> None:
    packer = LENGTH_FIELDS[bits]
    if size >= (1 << bits):
        raise SerializationError(f'{what}: {size} bytes do not fit a {bits}-bit length field')
    out += packer.pack(size)


def _unpack_length(bits: int, data: bytes, offset: int, what: str) -> tuple[int, int]:
    packer = LENGTH_FIELDS[bits]
    _need(data, offset, packer.size, f'{what} length field')
    size = packer.unpack_from(data, offset)[0]
    offset += packer.size
    _need(data, offset, size, what)
    return size, offset


class StringCodec(Codec):
    def __init__(self, encoding: str = 'utf-8', length_field: int = 32, length: int | None = None):
        if encoding not in BOMS:
            raise SerializationError(f'string: encoding {encoding!r} is not one of {sorted(BOMS)}')
        if length_field not in LENGTH_FIELDS:
            raise SerializationError(f'string: length_field must be one of {sorted(LENGTH_FIELDS)}')
        if length_field == 0 and not length:
            raise SerializationError('string: a string without length field needs a fixed `length`')
        self.name = f'string({encoding})'
        self.encoding, self.length_field, self.length = encoding, length_field, length
        self.bom, self.terminator = BOMS[encoding], TERMINATORS[encoding]

    def encode_into(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, str):
            raise SerializationError(f'{self.name}: expected text, got {value!r}')
        try:
            body = self.bom + value.encode(self.encoding) + self.terminator
        except UnicodeEncodeError as error:
            raise SerializationError(f'{self.name}: cannot encode {value!r} ({error.reason})') from None
        if self.length is not None:
            if len(body) > self.length:
                raise SerializationError(f'{self.name}: {len(body)} bytes exceed the fixed length {self.length}')
            body = body + b'\x00' * (self.length - len(body))
        if self.length_field:
            _pack_length(self.length_field, len(body), self.name, out)
        out += body

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        if self.length_field:
            size, offset = _unpack_length(self.length_field, data, offset, self.name)
        else:
            size = self.length
            _need(data, offset, size, self.name)
        raw = bytes(data[offset:offset + size])
        if raw.startswith(self.bom):
            raw = raw[len(self.bom):]
        # text ends at the first terminator (fixed-length strings pad with zeros after it)
        width = len(self.terminator)
        end = next((i for i in range(0, len(raw) - width + 1, width) if raw[i:i + width] == self.terminator), None)
        if end is None:
            raise SerializationError(f'{self.name}: missing null terminator')
        try:
            return raw[:end].decode(self.encoding), offset + size
        except UnicodeDecodeError as error:
            raise SerializationError(f'{self.name}: invalid text ({error.reason})') from None

    def default(self) -> Any:
        return ''


class ArrayCodec(Codec):
    def __init__(self, element: Codec, length: int | None = None, length_field: int = 32,
                 max_length: int | None = None):
        if length is None and not length_field:
            raise SerializationError('array: needs a fixed `length` or a length_field of 8, 16 or 32')
        if length_field not in LENGTH_FIELDS:
            raise SerializationError(f'array: length_field must be one of {sorted(LENGTH_FIELDS)}')
        self.element, self.length, self.length_field, self.max_length = element, length, length_field, max_length
        self.name = f'array<{element.name}>'

    def encode_into(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)):
            raise SerializationError(f'{self.name}: expected a list, got {value!r}')
        if self.length is not None:
            if len(value) != self.length:
                raise SerializationError(f'{self.name}: expected {self.length} elements, got {len(value)}')
            for item in value:
                self.element.encode_into(item, out)
            return
        if self.max_length is not None and len(value) > self.max_length:
            raise SerializationError(f'{self.name}: {len(value)} elements exceed max_length {self.max_length}')
        body = bytearray()
        for item in value:
            self.element.encode_into(item, body)
        _pack_length(self.length_field, len(body), self.name, out)
        out += body

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        items = []
        if self.length is not None:
            for _ in range(self.length):
                item, offset = self.element.decode_from(data, offset)
                items.append(item)
            return items, offset
        size, offset = _unpack_length(self.length_field, data, offset, self.name)
        end = offset + size
        view = bytes(data[:end])  # elements may not run past the length field's end
        while offset < end:
            item, offset = self.element.decode_from(view, offset)
            items.append(item)
            if self.max_length is not None and len(items) > self.max_length:
                raise SerializationError(f'{self.name}: more than max_length {self.max_length} elements')
        return items, end

    def default(self) -> Any:
        return [self.element.default() for _ in range(self.length or 0)]


class StructCodec(Codec):
    def __init__(self, fields: list[tuple[str, Codec]], length_field: int = 0, name: str = 'struct'):
        if length_field not in LENGTH_FIELDS:
            raise SerializationError(f'struct: length_field must be one of {sorted(LENGTH_FIELDS)}')
        self.fields, self.length_field, self.name = fields, length_field, name
        self.field_names = [n for n, _ in fields]

    def encode_into(self, value: Any, out: bytearray) -> None:
        if not isinstance(value, Mapping):
            raise SerializationError(f'{self.name}: expected a mapping, got {value!r}')
        unknown = set(value) - set(self.field_names)
        if unknown:
            raise SerializationError(f'{self.name}: unknown fields {sorted(unknown)}')
        body = bytearray() if self.length_field else out
        for field_name, codec in self.fields:
            if field_name not in value:
                raise SerializationError(f'{self.name}: missing field {field_name!r}')
            try:
                codec.encode_into(value[field_name], body)
            except SerializationError as error:
                raise SerializationError(f'{self.name}.{field_name}: {error}') from None
        if self.length_field:
            _pack_length(self.length_field, len(body), self.name, out)
            out += body

    def decode_from(self, data: bytes, offset: int) -> tuple[Any, int]:
        end = None
        if self.length_field:
            size, offset = _unpack_length(self.length_field, data, offset, self.name)
            end = offset + size
            data = bytes(data[:end])
        result = {}
        for field_name, codec in self.fields:
            try:
                result[field_name], offset = codec.decode_from(data, offset)
            except SerializationError as error:
                raise SerializationError(f'{self.name}.{field_name}: {error}') from None
        # a longer struct than we know (newer minor version) is fine: skip the rest
        return result, (end if end is not None else offset)

    def default(self) -> Any:
        return {n: c.default() for n, c in self.fields}


_BASIC: dict[str, callable] = {
    'bool': BoolCodec,
    'uint8': lambda: IntCodec('uint8', 'B', 8, False), 'uint16': lambda: IntCodec('uint16', 'H', 16, False),
    'uint32': lambda: IntCodec('uint32', 'I', 32, False), 'uint64': lambda: IntCodec('uint64', 'Q', 64, False),
    'sint8': lambda: IntCodec('sint8', 'b', 8, True), 'sint16': lambda: IntCodec('sint16', 'h', 16, True),
    'sint32': lambda: IntCodec('sint32', 'i', 32, True), 'sint64': lambda: IntCodec('sint64', 'q', 64, True),
    'float32': lambda: FloatCodec('float32', 'f'), 'float64': lambda: FloatCodec('float64', 'd'),
}
for _bits in (8, 16, 32, 64):
    _BASIC[f'int{_bits}'] = _BASIC[f'sint{_bits}']

EMPTY = StructCodec([], name='empty')


def compile_type(spec: Any, types: Mapping[str, Any] | None = None, _seen: tuple = ()) -> Codec:
    """A codec for a type description; `types` holds the named types a description may refer to."""
    types = types or {}
    if spec is None:
        return EMPTY
    if isinstance(spec, str):
        if spec in _BASIC:
            return _BASIC[spec]()
        if spec == 'string':
            return StringCodec()
        if spec in types:
            if spec in _seen:
                raise SerializationError(f'type {spec!r} refers to itself')
            codec = compile_type(types[spec], types, _seen + (spec,))
            if isinstance(codec, StructCodec) and codec.name == 'struct':
                codec.name = spec
            return codec
        raise SerializationError(f'unknown type {spec!r}; basic types: {sorted(_BASIC) + ["string"]}, '
                                 f'named: {sorted(types)}')
    if not isinstance(spec, Mapping) or 'type' not in spec:
        raise SerializationError(f'a type description is a name or a mapping with `type`, got {spec!r}')
    kind = spec['type']
    if kind == 'string':
        return StringCodec(spec.get('encoding', 'utf-8'), int(spec.get('length_field', 32)), spec.get('length'))
    if kind == 'array':
        if 'element' not in spec:
            raise SerializationError('array: needs `element`')
        element = compile_type(spec['element'], types, _seen)
        return ArrayCodec(element, spec.get('length'), int(spec.get('length_field', 0 if 'length' in spec else 32)),
                          spec.get('max_length'))
    if kind == 'struct':
        fields = []
        for entry in spec.get('fields') or []:
            if not isinstance(entry, Mapping) or 'name' not in entry or 'type' not in entry:
                raise SerializationError(f'struct field needs `name` and `type`, got {entry!r}')
            fields.append((str(entry['name']), compile_type(entry['type'], types, _seen)))
        return StructCodec(fields, int(spec.get('length_field', 0)))
    base = compile_type(kind, types, _seen)
    if 'enum' in spec:
        if not isinstance(base, IntCodec):
            raise SerializationError(f'enum needs an integer base type, got {kind!r}')
        return EnumCodec(base, spec['enum'])
    return base
