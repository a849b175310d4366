"""Golden tests of the tool-call parsers: recorded-style completions of both Qwen dialects, malformed ones included."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_fixtures import HERMES_TEMPLATE, XML_TEMPLATE, vehicle_tool_specs  # noqa: E402
from qwen_vehicle.backends.llm.parsing import (MalformedCall, StreamingToolCallParser, detect_dialect,  # noqa: E402
                                               loads_lenient, parse_completion, render_call)
from qwen_vehicle.core.ir import ToolCall  # noqa: E402

TOOLS = vehicle_tool_specs()

# (completion as a model writes it, expected calls as (name, arguments), expected error count, expected text)
HERMES_GOLDEN = [
    ('<tool_call>\n{"name": "set_target_temperature", "arguments": {"zone": "driver", "value": 22}}\n</tool_call>',
     [('set_target_temperature', {'zone': 'driver', 'value': 22})], 0, ''),
    # two calls in one turn (Qwen2.5 parallel calls)
    ('<tool_call>\n{"name": "set_air_conditioning", "arguments": {"value": true}}\n</tool_call>\n'
     '<tool_call>\n{"name": "set_fan_level", "arguments": {"value": 4}}\n</tool_call>',
     [('set_air_conditioning', {'value': True}), ('set_fan_level', {'value': 4})], 0, ''),
    # Qwen3 with thinking disabled: empty think block first
    ('<think>\n\n</think>\n\n<tool_call>\n{"name": "get_battery_status", "arguments": {}}\n</tool_call>',
     [('get_battery_status', {})], 0, ''),
    # thinking with content, then the call
    ('<think>The driver is cold, so raise the temperature.</think>\n<tool_call>\n'
     '{"name": "set_target_temperature", "arguments": {"zone": "driver", "value": 24}}\n</tool_call>',
     [('set_target_temperature', {'zone': 'driver', 'value': 24})], 0, ''),
    # single quotes and trailing commas
    ("<tool_call>\n{'name': 'set_seat_heating', 'arguments': {'zone': 'passenger', 'value': 2,},}\n</tool_call>",
     [('set_seat_heating', {'zone': 'passenger', 'value': 2})], 0, ''),
    # arguments as a JSON string (OpenAI habit)
    ('<tool_call>\n{"name": "set_defrost", "arguments": "{\\"value\\": \\"Front\\"}"}\n</tool_call>',
     [('set_defrost', {'value': 'Front'})], 0, ''),
    # "parameters" instead of "arguments", Python literals
    ("<tool_call>\n{'name': 'set_recirculation', 'parameters': {'value': False}}\n</tool_call>",
     [('set_recirculation', {'value': False})], 0, ''),
    # nested OpenAI shape
    ('<tool_call>\n{"type": "function", "function": {"name": "get_location", "arguments": {}}}\n</tool_call>',
     [('get_location', {})], 0, ''),
    # missing closing brace, cut before </tool_call> (partial output salvaged)
    ('<tool_call>\n{"name": "set_fan_level", "arguments": {"value": 2}',
     [('set_fan_level', {'value': 2})], 0, ''),
    # a plain answer
    ('The cabin is 21.5 degrees.', [], 0, 'The cabin is 21.5 degrees.'),
    # a bare JSON call without tags, for a known tool
    ('{"name": "get_vehicle_state", "arguments": {}}', [('get_vehicle_state', {})], 0, ''),
    # unclosed think that runs into a call
    ('<think>I should check the battery <tool_call>\n{"name": "get_battery_status", "arguments": {}}\n</tool_call>',
     [('get_battery_status', {})], 0, ''),
    # stray </think> (template opened the block in the prompt)
    ('we need the fan</think>\n\n<tool_call>\n{"name": "set_fan_level", "arguments": {"value": 1}}\n</tool_call>',
     [('set_fan_level', {'value': 1})], 0, ''),
    # Chinese text around a call
    ('好的，马上为您打开空调。\n<tool_call>\n{"name": "set_air_conditioning", "arguments": {"value": true}}\n</tool_call>',
     [('set_air_conditioning', {'value': True})], 0, '好的，马上为您打开空调。'),
    # malformed: not JSON at all
    ('<tool_call>\nset_fan_level(value=3)\n</tool_call>', [], 1, ''),
    # malformed: no name
    ('<tool_call>\n{"arguments": {"value": 3}}\n</tool_call>', [], 1, ''),
    # malformed: arguments not an object
    ('<tool_call>\n{"name": "set_fan_level", "arguments": [3]}\n</tool_call>', [], 1, ''),
    # malformed then good: the good one still counts
    ('<tool_call>\n{"name": broken}\n</tool_call>\n<tool_call>\n{"name": "get_location", "arguments": {}}\n'
     '</tool_call>', [('get_location', {})], 1, ''),
    # cut off in the middle of a string: reported, not guessed
    ('<tool_call>\n{"name": "search_trains", "argum', [], 1, ''),
]

XML_GOLDEN = [
    ('<tool_call>\n<function=set_target_temperature>\n<parameter=zone>\ndriver\n</parameter>\n<parameter=value>\n'
     '22.5\n</parameter>\n</function>\n</tool_call>',
     [('set_target_temperature', {'zone': 'driver', 'value': 22.5})], 0, ''),
    ('<tool_call>\n<function=set_fan_level>\n<parameter=value>\n3\n</parameter>\n</function>\n</tool_call>',
     [('set_fan_level', {'value': 3})], 0, ''),
    ('<tool_call>\n<function=set_air_conditioning>\n<parameter=value>\ntrue\n</parameter>\n</function>\n'
     '</tool_call>', [('set_air_conditioning', {'value': True})], 0, ''),
    # string values stay strings even when they look like numbers
    ('<tool_call>\n<function=track_parcel>\n<parameter=tracking_number>\n0042\n</parameter>\n</function>\n'
     '</tool_call>', [('track_parcel', {'tracking_number': '0042'})], 0, ''),
    # arrays and objects are JSON inside the parameter
    ('<tool_call>\n<function=order_food>\n<parameter=restaurant_id>\nr1\n</parameter>\n<parameter=items>\n'
     '[{"item_id": "noodles", "quantity": 2}]\n</parameter>\n</function>\n</tool_call>',
     [('order_food', {'restaurant_id': 'r1', 'items': [{'item_id': 'noodles', 'quantity': 2}]})], 0, ''),
    # multi-line string value
    ('<tool_call>\n<function=order_food>\n<parameter=restaurant_id>\nr1\n</parameter>\n<parameter=note>\nno onions\n'
     'extra spicy\n</parameter>\n<parameter=items>\n[{"item_id": "a", "quantity": 1}]\n</parameter>\n</function>\n'
     '</tool_call>', [('order_food', {'restaurant_id': 'r1', 'note': 'no onions\nextra spicy',
                                       'items': [{'item_id': 'a', 'quantity': 1}]})], 0, ''),
    # missing </parameter> before the next one, missing </function>
    ('<tool_call>\n<function=set_seat_heating>\n<parameter=zone>\ndriver\n<parameter=value>\n2\n</tool_call>',
     [('set_seat_heating', {'zone': 'driver', 'value': 2})], 0, ''),
    # no arguments
    ('<tool_call>\n<function=get_climate_status>\n</function>\n</tool_call>', [('get_climate_status', {})], 0, ''),
    # think block then a call
    ('<think>\n\n</think>\n\n<tool_call>\n<function=get_location>\n</function>\n</tool_call>',
     [('get_location', {})], 0, ''),
    # Hermes JSON inside an XML-dialect model (fine-tunes do this)
    ('<tool_call>\n{"name": "set_fan_level", "arguments": {"value": 5}}\n</tool_call>',
     [('set_fan_level', {'value': 5})], 0, ''),
    # two calls
    ('<tool_call>\n<function=set_defrost>\n<parameter=value>\nBoth\n</parameter>\n</function>\n</tool_call>\n'
     '<tool_call>\n<function=set_fan_level>\n<parameter=value>\n7\n</parameter>\n</function>\n</tool_call>',
     [('set_defrost', {'value': 'Both'}), ('set_fan_level', {'value': 7})], 0, ''),
    # malformed: no function element
    ('<tool_call>\nset the fan to 3\n</tool_call>', [], 1, ''),
    # text only
    ('Your battery is at 80 percent.', [], 0, 'Your battery is at 80 percent.'),
]


def _check(parsed, calls, n_errors, text):
    assert [(c.name, c.arguments) for c in parsed.calls] == calls
    assert len(parsed.errors) == n_errors
    for err in parsed.errors:
        assert err.reason
    assert parsed.text == text


@pytest.mark.parametrize('completion,calls,n_errors,text', HERMES_GOLDEN)
def test_hermes_golden(completion, calls, n_errors, text):
    _check(parse_completion(completion, 'hermes', TOOLS), calls, n_errors, text)


@pytest.mark.parametrize('completion,calls,n_errors,text', XML_GOLDEN)
def test_xml_golden(completion, calls, n_errors, text):
    _check(parse_completion(completion, 'xml', TOOLS), calls, n_errors, text)


@pytest.mark.parametrize('dialect,golden', [('hermes', HERMES_GOLDEN), ('xml', XML_GOLDEN)])
def test_streaming_any_chunking_gives_the_same_result(dialect, golden):
    for completion, calls, n_errors, text in golden:
        for size in (1, 2, 5, 13):
            parser = StreamingToolCallParser(dialect, TOOLS)
            for i in range(0, len(completion), size):
                parser.feed(completion[i:i + size])
            parser.finish()
            _check(parser.result(), calls, n_errors, text)


def test_each_call_is_yielded_the_moment_it_closes():
    first = '<tool_call>\n{"name": "set_fan_level", "arguments": {"value": 3}}\n</tool_call>'
    second = '\n<tool_call>\n{"name": "get_location", "arguments": {}}\n</tool_call>'
    parser = StreamingToolCallParser('hermes', TOOLS)
    assert parser.feed(first[:-1]) == []          # '</tool_call' is not closed yet
    events = parser.feed(first[-1])
    assert [e.name for e in events] == ['set_fan_level']
    assert parser.feed(second[:20]) == []
    assert [e.name for e in parser.feed(second[20:])] == ['get_location']
    assert parser.finish() == []


def test_malformed_call_is_an_event_with_the_raw_text():
    parser = StreamingToolCallParser('hermes', TOOLS)
    events = parser.feed('<tool_call>\n{"name": "set_fan_level", "arguments": {value: }}\n</tool_call>')
    assert len(events) == 1 and isinstance(events[0], MalformedCall)
    assert 'set_fan_level' in events[0].raw and 'JSON' in events[0].reason


def test_unclosed_call_that_cannot_be_read_is_reported_as_incomplete():
    parsed = parse_completion('<tool_call>\n{"name": "search_trains", "arguments": {"destination": "Sha',
                              'hermes', TOOLS)
    # the cut string is closed by the repair, so it is salvaged rather than lost; say so via truncated
    assert parsed.truncated
    assert [c.name for c in parsed.calls] == ['search_trains'] or parsed.errors


def test_bare_json_for_an_unknown_tool_is_text_not_a_call():
    parsed = parse_completion('{"name": "launch_rocket", "arguments": {}}', 'hermes', TOOLS)
    assert parsed.calls == [] and parsed.text.startswith('{')


def test_dialect_detected_from_the_template():
    assert detect_dialect(HERMES_TEMPLATE) == 'hermes'
    assert detect_dialect(XML_TEMPLATE) == 'xml'
    assert detect_dialect(None) == 'hermes'


@pytest.mark.parametrize('dialect', ['hermes', 'xml'])
def test_render_then_parse_round_trips(dialect):
    calls = [ToolCall('set_target_temperature', {'zone': 'rear', 'value': 19.5}),
             ToolCall('order_food', {'restaurant_id': 'r7', 'items': [{'item_id': 'x', 'quantity': 3}]}),
             ToolCall('set_air_conditioning', {'value': False}), ToolCall('get_location', {})]
    text = '\n'.join(render_call(c, dialect) for c in calls)
    parsed = parse_completion(text, dialect, TOOLS)
    assert [c.key() for c in parsed.calls] == [c.key() for c in calls]


@pytest.mark.parametrize('text,expected', [
    ('{"a": 1}', {'a': 1}),
    ('{"a": }', None),
    ('not json', None),
    ('{"a": [1, 2,], }', {'a': [1, 2]}),
    ("{'a': true, 'b': null}", {'a': True, 'b': None}),
    ('{"a": {"b": 1}', {'a': {'b': 1}}),
    ('```json\n{"a": 2}\n```', {'a': 2}),
])
def test_loads_lenient(text, expected):
    if expected is None:
        with pytest.raises(ValueError):
            loads_lenient(text)
    else:
        assert loads_lenient(text) == expected


def test_loads_lenient_keeps_json_literal_words_inside_strings():
    assert loads_lenient("{'note': 'true story', 'ok': true}") == {'note': 'true story', 'ok': True}
