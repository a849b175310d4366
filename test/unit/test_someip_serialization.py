"""Payload serialization: golden bytes per PRS_SOMEIP, YAML type descriptions, errors and fuzzing."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from qwen_vehicle.someip.serialization import SerializationError, compile_type


@pytest.mark.parametrize('spec, value, hex_bytes', [
    ('bool', True, '01'),
    ('uint8', 200, 'c8'),
    ('uint16', 0x1234, '1234'),
    ('uint32', 0xDEADBEEF, 'deadbeef'),
    ('uint64', 1, '0000000000000001'),
    ('sint8', -1, 'ff'),
    ('sint16', -2, 'fffe'),
    ('sint32', -3, 'fffffffd'),
    ('int64', -1, 'ffffffffffffffff'),
    ('float32', 1.5, '3fc00000'),
    ('float64', -2.0, 'c000000000000000'),
    ('string', 'Hi', '00000006efbbbf486900'),
    ({'type': 'string', 'length_field': 8}, '', '04efbbbf00'),
    ({'type': 'string', 'encoding': 'utf-16be', 'length_field': 16}, 'A', '0006feff00410000'),
    ({'type': 'string', 'encoding': 'utf-16le', 'length_field': 16}, 'A', '0006fffe41000000'),
    ({'type': 'string', 'length': 8, 'length_field': 0}, 'ab', 'efbbbf6162000000'),
    ({'type': 'array', 'element': 'uint16', 'length': 2}, [1, 2], '00010002'),
    ({'type': 'array', 'element': 'uint16'}, [1, 2], '0000000400010002'),
    ({'type': 'array', 'element': 'uint8', 'length_field': 8}, [], '00'),
    ({'type': 'struct', 'fields': [{'name': 'a', 'type': 'uint8'}, {'name': 'b', 'type': 'bool'}]},
     {'a': 7, 'b': False}, '0700'),
    ({'type': 'struct', 'length_field': 16, 'fields': [{'name': 'a', 'type': 'uint16'}]}, {'a': 5}, '00020005'),
    ({'type': 'uint8', 'enum': {0: 'Off', 3: 'Both'}}, 'Both', '03'),
])
def test_golden_bytes_and_round_trip(spec, value, hex_bytes):
    codec = compile_type(spec)
    assert codec.encode(value).hex() == hex_bytes
    assert codec.decode(bytes.fromhex(hex_bytes)) == value


def test_named_and_nested_types():
    types = {
        'Point': {'type': 'struct', 'fields': [{'name': 'x', 'type': 'float32'}, {'name': 'y', 'type': 'float32'}]},
        'Path': {'type': 'struct', 'fields': [{'name': 'name', 'type': 'string'},
                                              {'name': 'points', 'type': {'type': 'array', 'element': 'Point'}}]},
    }
    codec = compile_type('Path', types)
    value = {'name': '路线', 'points': [{'x': 1.0, 'y': 2.0}, {'x': -0.5, 'y': 0.25}]}
    assert codec.decode(codec.encode(value)) == value


def test_longer_struct_from_a_newer_minor_version_is_accepted():
    old = compile_type({'type': 'struct', 'length_field': 32, 'fields': [{'name': 'a', 'type': 'uint8'}]})
    new = compile_type({'type': 'struct', 'length_field': 32,
                        'fields': [{'name': 'a', 'type': 'uint8'}, {'name': 'b', 'type': 'uint32'}]})
    assert old.decode(new.encode({'a': 1, 'b': 2})) == {'a': 1}


def test_defaults():
    codec = compile_type({'type': 'struct', 'fields': [{'name': 'f', 'type': 'float32'},
                                                       {'name': 's', 'type': 'string'}]})
    default = codec.default()
    assert math.isnan(default['f']) and default['s'] == ''


@pytest.mark.parametrize('spec, value, text', [
    ('uint8', 256, 'outside 0..255'),
    ('sint8', -129, 'outside'),
    ('uint8', 'x', 'expected an integer'),
    ('uint8', True, 'expected an integer'),
    ('float32', 1e40, 'does not fit'),
    ('float32', 'x', 'expected a number'),
    ('bool', 2, 'true/false'),
    ({'type': 'string', 'length_field': 0, 'length': 4}, 'long text', 'exceed the fixed length'),
    ({'type': 'array', 'element': 'uint8', 'length': 2}, [1], 'expected 2 elements'),
    ({'type': 'array', 'element': 'uint8', 'max_length': 2}, [1, 2, 3], 'max_length'),
    ({'type': 'array', 'element': 'uint8', 'length_field': 8}, list(range(256)), '8-bit length field'),
    ({'type': 'struct', 'fields': [{'name': 'a', 'type': 'uint8'}]}, {}, "missing field 'a'"),
    ({'type': 'struct', 'fields': [{'name': 'a', 'type': 'uint8'}]}, {'a': 1, 'z': 2}, 'unknown fields'),
    ({'type': 'uint8', 'enum': {0: 'Off'}}, 'On', "not one of ['Off']"),
])
def test_encode_errors_are_clear(spec, value, text):
    with pytest.raises(SerializationError, match=text.replace('[', r'\[').replace(']', r'\]')):
        compile_type(spec).encode(value)


@pytest.mark.parametrize('spec, hex_bytes, text', [
    ('uint32', '0001', 'needs 4 bytes'),
    ('bool', '02', 'neither 0 nor 1'),
    ('string', '00000010efbbbf41', 'needs 16 bytes'),
    ('string', '00000004efbbbf41', 'missing null terminator'),
    ('string', '00000005efbbbfff00', 'invalid text'),
    ({'type': 'array', 'element': 'uint16'}, '0000000300010002', 'needs 2 bytes'),
    ({'type': 'struct', 'fields': [{'name': 'a', 'type': 'uint16'}]}, '01', r'struct\.a'),
    ('uint8', '0102', 'trailing'),
])
def test_decode_errors_are_clear(spec, hex_bytes, text):
    with pytest.raises(SerializationError, match=text):
        compile_type(spec).decode(bytes.fromhex(hex_bytes))


@pytest.mark.parametrize('spec, text', [
    ('float16', 'unknown type'),
    ({'type': 'array'}, 'needs `element`'),
    ({'type': 'string', 'encoding': 'latin-1'}, 'encoding'),
    ({'type': 'string', 'length_field': 0}, 'fixed `length`'),
    ({'type': 'float32', 'enum': {0: 'a'}}, 'integer base type'),
    ({'type': 'struct', 'fields': [{'name': 'a'}]}, 'needs `name` and `type`'),
    (42, 'a name or a mapping'),
])
def test_bad_descriptions(spec, text):
    with pytest.raises(SerializationError, match=text):
        compile_type(spec)


def test_self_reference_is_refused():
    with pytest.raises(SerializationError, match='refers to itself'):
        compile_type('Loop', {'Loop': 'Loop'})


MIXED = compile_type({'type': 'struct', 'fields': [
    {'name': 'n', 'type': 'sint32'}, {'name': 'f', 'type': 'float64'}, {'name': 'b', 'type': 'bool'},
    {'name': 's', 'type': {'type': 'string', 'length_field': 16}},
    {'name': 'a', 'type': {'type': 'array', 'element': 'uint16', 'length_field': 8}}]})


@settings(max_examples=200, deadline=None)
@given(st.integers(-2**31, 2**31 - 1), st.floats(allow_nan=False), st.booleans(), st.text(max_size=20),
       st.lists(st.integers(0, 0xFFFF), max_size=20))
def test_round_trip_property(n, f, b, s, a):
    value = {'n': n, 'f': f, 'b': b, 's': s.replace('\x00', ''), 'a': a}
    assert MIXED.decode(MIXED.encode(value)) == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_only_raise_serialization_errors(data):
    try:
        MIXED.decode(data)
    except SerializationError:
        pass
