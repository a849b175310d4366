"""The local Qwen backend on tiny random Qwen2 checkpoints built here: load -> template -> generate -> parse on CPU.

Random weights never write a tool call on their own, so the call tests force the tokens of recorded completions
with a logits processor (or constrain with xgrammar); everything else is the real path.
"""
import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('transformers')

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_fixtures import BiasToken, ForcedCompletion, tiny_checkpoint, vehicle_tool_specs  # noqa: E402
from qwen_vehicle.backends.llm import constrained as xg  # noqa: E402
from qwen_vehicle.backends.llm import create_backend  # noqa: E402
from qwen_vehicle.backends.llm.parsing import render_call  # noqa: E402
from qwen_vehicle.backends.llm.transformers_backend import (TransformersBackend,  # noqa: E402
                                                            resolve_device_dtype, resolve_local_checkpoint)
from qwen_vehicle.core.ir import ToolCall, ToolResult, validate_arguments  # noqa: E402

ALL_TOOLS = vehicle_tool_specs()
TOOLS = [t for t in ALL_TOOLS if t.name in ('set_target_temperature', 'set_fan_level', 'set_air_conditioning',
                                             'set_defrost', 'get_battery_status')]
SPECS = {t.name: t for t in ALL_TOOLS}
SYSTEM = {'role': 'system', 'content': 'You are the in-car assistant.'}


def user(text):
    return [SYSTEM, {'role': 'user', 'content': text}]


@pytest.fixture(scope='module')
def hermes_path(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory, 'hermes')


@pytest.fixture(scope='module')
def xml_path(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory, 'xml')


@pytest.fixture(scope='module')
def hermes(hermes_path):
    return TransformersBackend(hermes_path, max_new_tokens=12)


class Gate:
    """Stands in for the assistant's execute: schema validation, records when each call ran."""

    def __init__(self, forced=None):
        self.ran, self.forced = [], forced

    def __call__(self, call):
        self.ran.append((call.name, dict(call.arguments), self.forced.steps if self.forced else None))
        try:
            args = validate_arguments(SPECS[call.name], call.arguments)
        except ValueError as exc:
            return ToolResult(call.id, call.name, 'refused', reason=str(exc))
        return ToolResult(call.id, call.name, 'done', content={'applied': args})


def backend_with(path, completions, **kwargs):
    tok = TransformersBackend(path, max_new_tokens=kwargs.pop('max_new_tokens', 80), **kwargs)
    forced = ForcedCompletion(tok.tokenizer, completions)
    tok.logits_processors = [forced]
    return tok, forced


# -- loading


def test_hub_ids_are_refused_with_a_hint(tmp_path):
    with pytest.raises(ValueError, match='hub id.*local folders only'):
        resolve_local_checkpoint('Qwen/Qwen2.5-1.5B-Instruct')
    with pytest.raises(FileNotFoundError):
        resolve_local_checkpoint(tmp_path / 'missing')
    with pytest.raises(ValueError, match='config.json'):
        resolve_local_checkpoint(tmp_path)
    with pytest.raises(ValueError, match='hub id'):
        create_backend('transformers', model_path='Qwen/Qwen3-8B')


def test_device_and_dtype():
    device, dtype = resolve_device_dtype()
    if torch.cuda.is_available():
        assert device.type == 'cuda' and dtype in (torch.bfloat16, torch.float16)
    else:
        assert device.type == 'cpu' and dtype == torch.float32
        with pytest.raises(ValueError, match='CUDA'):
            resolve_device_dtype('cuda')
    assert resolve_device_dtype('cpu', 'bf16') == (torch.device('cpu'), torch.bfloat16)
    with pytest.raises(ValueError, match='dtype'):
        resolve_device_dtype('cpu', 'int3')


def test_loads_local_checkpoint_with_its_own_template(hermes, hermes_path):
    assert hermes.dialect == 'hermes' and hermes.device.type in ('cpu', 'cuda')
    prompt = hermes.render(user('warmer'), TOOLS)
    assert prompt.startswith('<|im_start|>system\nYou are the in-car assistant.\n\n# Tools')
    assert '"name": "set_fan_level"' in prompt and prompt.endswith('<|im_start|>assistant\n<think>\n\n</think>\n\n')
    assert not hermes.static_cache or torch.cuda.is_available()


# -- the real generate path


def test_random_weights_run_template_generate_parse(hermes):
    gate = Gate()
    turn = hermes.respond(user('set the temperature to 22'), TOOLS, gate)
    round_ = turn.timings['rounds'][0]
    assert turn.backend == 'transformers' and turn.rounds >= 1
    assert round_['prompt_tokens'] > 200 and round_['tokens'] >= 1
    assert round_['finish_reason'] in ('length', 'stop', 'tool_calls')
    assert turn.messages[-1]['role'] in ('assistant', 'tool')


def test_prefix_prefilled_once_and_reused(hermes_path):
    backend = TransformersBackend(hermes_path, max_new_tokens=4)
    warm_ms = backend.warm_up(TOOLS, [SYSTEM])
    assert warm_ms > 0 and len(backend._prefix_ids) > 200
    prefix = len(backend._prefix_ids)
    prompt = backend.render(user('turn on the air conditioning'), TOOLS)
    assert backend._encode_prompt(prompt) == backend.encode(prompt)  # the prefix is not tokenized again
    turn = backend.respond(user('turn on the air conditioning'), TOOLS, Gate())
    first = turn.timings['rounds'][0]
    assert first['reused_tokens'] >= prefix and first['prompt_tokens'] - first['reused_tokens'] < 40
    # a different utterance still reuses the whole constant prefix
    turn = backend.respond(user('how much battery is left'), TOOLS, Gate())
    assert turn.timings['rounds'][0]['reused_tokens'] >= prefix
    # a different tool set rebuilds the prefix
    backend.respond(user('where am I'), ALL_TOOLS, Gate())
    assert len(backend._prefix_ids) > prefix


def test_cached_prefix_gives_the_same_tokens_as_no_cache(hermes_path):
    cached = TransformersBackend(hermes_path, max_new_tokens=10)
    plain = TransformersBackend(hermes_path, max_new_tokens=10, prefix_cache=False)
    static = TransformersBackend(hermes_path, max_new_tokens=10, static_cache=True, max_cache_len=1024)
    for text in ('set the temperature to 22',):
        outs = [b.respond(user(text), TOOLS, Gate()).timings['rounds'][0] for b in (cached, plain, static)]
        assert outs[1]['reused_tokens'] == 0 and outs[0]['reused_tokens'] > 0 and outs[2]['reused_tokens'] > 0
    raws = []
    for b in (cached, plain, static):
        ids = b.encode(b.render(user('turn on the air conditioning'), TOOLS))
        with torch.no_grad():
            cache, reused = b._sync_cache(ids)
            logits = b._forward(ids[reused:], cache, reused)
            b._cache_ids = list(ids)
        raws.append(logits)
    with torch.no_grad():
        reference = cached.model(input_ids=torch.tensor([ids])).logits[0, -1]
    for logits in raws:
        assert torch.allclose(logits, reference, atol=1e-4)


def test_tool_call_runs_as_soon_as_it_closes_and_generation_stops_after_it(hermes_path):
    call = render_call(ToolCall('set_target_temperature', {'zone': 'driver', 'value': 22.5}), 'hermes')
    chatter = '\nI have set the temperature for you, enjoy the ride and the weather today.'
    backend, forced = backend_with(hermes_path, [call + chatter, 'The temperature is 22.5 degrees.'])
    gate = Gate(forced)
    turn = backend.respond(user('warmer'), TOOLS, gate)
    call_tokens = len(backend.encode(call))
    name, args, steps_at_execution = gate.ran[0]
    assert (name, args) == ('set_target_temperature', {'zone': 'driver', 'value': 22.5})
    assert steps_at_execution == call_tokens          # executed the step its closing tag was decoded
    first, second = turn.timings['rounds']
    assert first['finish_reason'] == 'tool_calls' and first['tokens'] < call_tokens + 5  # chatter not generated
    assert turn.text == 'The temperature is 22.5 degrees.' and turn.rounds == 2
    # round 2 reuses round 1's prompt up to the assistant turn (the template drops the empty think block there)
    assert first['prompt_tokens'] - 12 < second['reused_tokens'] and second['reused_tokens'] > first['reused_tokens']
    assert turn.timings['first_call_ms'] < turn.timings['total_ms']


def test_result_goes_back_in_the_templates_tool_response_form(hermes_path):
    call = render_call(ToolCall('set_fan_level', {'value': 9}), 'hermes')
    fixed = render_call(ToolCall('set_fan_level', {'value': 7}), 'hermes')
    backend, forced = backend_with(hermes_path, [call, fixed, 'Fan at 7, the maximum.'])
    gate = Gate(forced)
    turn = backend.respond(user('fan to nine'), TOOLS, gate)
    assert [r.status for r in turn.results] == ['refused', 'done'] and turn.rounds == 3
    prompt = backend.render(turn.messages, TOOLS)
    assert '<|im_start|>user\n<tool_response>\n{"status": "refused"' in prompt
    assert '0..7' in prompt and prompt.count('<tool_call>\n{"name": "set_fan_level"') == 2


def test_two_calls_in_one_round_and_malformed_output(hermes_path):
    two = (render_call(ToolCall('set_air_conditioning', {'value': True}), 'hermes') + '\n'
           + render_call(ToolCall('set_fan_level', {'value': 3}), 'hermes'))
    broken = "<tool_call>\n{'name': 'set_defrost', 'arguments': {value: Front}}\n</tool_call>"
    backend, forced = backend_with(hermes_path, [two, broken, 'Done.'])
    gate = Gate(forced)
    turn = backend.respond(user('cool it down'), TOOLS, gate)
    assert [g[0] for g in gate.ran] == ['set_air_conditioning', 'set_fan_level']
    assert gate.ran[0][2] < gate.ran[1][2]  # the first ran before the second was generated
    assert len(turn.errors) == 1 and turn.results[-1].status == 'error' and turn.text == 'Done.'


def test_at_most_three_rounds(hermes_path):
    call = render_call(ToolCall('get_battery_status', {}), 'hermes')
    backend, forced = backend_with(hermes_path, [call])
    turn = backend.respond(user('battery?'), TOOLS, Gate(forced))
    assert turn.rounds == 3 and turn.exhausted and len(turn.calls) == 3


def test_required_starts_inside_a_call(hermes_path):
    backend, forced = backend_with(hermes_path, ['{"name": "get_battery_status", "arguments": {}}\n</tool_call>',
                                                 'Battery fine.'])
    turn = backend.respond(user('battery?'), TOOLS, Gate(forced), tool_choice='required')
    assert [c.name for c in turn.calls] == ['get_battery_status']


def test_timeout_stops_generation(hermes_path):
    backend = TransformersBackend(hermes_path, max_new_tokens=50)
    turn = backend.respond(user('hello'), TOOLS, Gate(), timeout_s=0.0)
    assert turn.timings['rounds'][0]['finish_reason'] == 'timeout' and turn.timings['rounds'][0]['tokens'] == 0


def test_static_cache_too_small_falls_back_to_dynamic(hermes_path):
    backend = TransformersBackend(hermes_path, max_new_tokens=4, static_cache=True, max_cache_len=64)
    turn = backend.respond(user('hello'), TOOLS, Gate())
    assert turn.timings['rounds'][0]['tokens'] >= 1


# -- XML dialect (Qwen3.5 / Qwen3-Coder)


def test_xml_dialect_checkpoint(xml_path):
    call = render_call(ToolCall('set_target_temperature', {'zone': 'passenger', 'value': 21}), 'xml')
    backend, forced = backend_with(xml_path, [call, 'Passenger side at 21 degrees.'])
    assert backend.dialect == 'xml'
    prompt = backend.render(user('x'), TOOLS)
    assert '<function>\n<name>set_target_temperature</name>' in prompt
    gate = Gate(forced)
    turn = backend.respond(user('passenger 21 degrees'), TOOLS, gate)
    assert gate.ran[0][:2] == ('set_target_temperature', {'zone': 'passenger', 'value': 21})
    assert turn.results[0].status == 'done' and turn.text == 'Passenger side at 21 degrees.'
    prompt = backend.render(turn.messages, TOOLS)
    assert '<function=set_target_temperature>\n<parameter=zone>\npassenger\n</parameter>' in prompt
    assert '<tool_response>\n{"status": "done"' in prompt


# -- constrained decoding


needs_xgrammar = pytest.mark.skipif(not xg.available(), reason='xgrammar is not installed')


@needs_xgrammar
@pytest.mark.parametrize('dialect', ['hermes', 'xml'])
def test_constrained_required_call_is_well_formed_from_random_weights(tmp_path_factory, dialect):
    path = tiny_checkpoint(tmp_path_factory, dialect)
    backend = TransformersBackend(path, max_new_tokens=120, constrained=True)
    gate = Gate()
    turn = backend.respond(user('do something'), TOOLS, gate, tool_choice='required', max_rounds=1)
    assert turn.errors == [] and len(turn.calls) >= 1, turn.timings
    for call in turn.calls:
        assert call.name in {t.name for t in TOOLS}
        spec = SPECS[call.name]
        assert set(call.arguments) <= set(spec.parameters['properties'])
        assert set(spec.parameters.get('required', [])) <= set(call.arguments)


@needs_xgrammar
def test_constrained_none_never_opens_a_call(hermes_path):
    backend = TransformersBackend(hermes_path, max_new_tokens=6, constrained=True)
    open_id = backend.tokenizer.convert_tokens_to_ids('<tool_call>')
    backend.logits_processors = [BiasToken(open_id)]
    turn = backend.respond(user('hello'), TOOLS, Gate(), tool_choice='none')
    assert '<tool_call>' not in turn.messages[-1]['content'] and turn.calls == []
    # without the constraint the same bias does open a call
    free = TransformersBackend(hermes_path, max_new_tokens=6)
    free.logits_processors = [BiasToken(open_id)]
    raw = json.dumps(free.respond(user('hello'), TOOLS, Gate(), max_rounds=1).messages[-1])
    assert 'tool_call' in raw or 'malformed' in raw


def test_constrained_without_xgrammar_is_a_clear_error(hermes_path, monkeypatch):
    monkeypatch.setattr(xg, 'available', lambda: False)
    with pytest.raises(ValueError, match='xgrammar'):
        TransformersBackend(hermes_path, constrained=True)


@needs_xgrammar
def test_constrained_auto_makes_the_opened_call_well_formed(hermes_path):
    backend = TransformersBackend(hermes_path, max_new_tokens=120, constrained=True)
    open_id = backend.tokenizer.convert_tokens_to_ids('<tool_call>')
    first = {'step': 0}

    def open_once(input_ids, scores):  # random weights: push the first token to <tool_call>, then leave them be
        first['step'] += 1
        return BiasToken(open_id)(input_ids, scores) if first['step'] == 1 else scores

    backend.logits_processors = [open_once]
    turn = backend.respond(user('do something'), TOOLS, Gate(), max_rounds=1)
    assert turn.raw[0].startswith('<tool_call>')
    assert len(turn.calls) >= 1 and turn.calls[0].name in {t.name for t in TOOLS}
    assert not [e for e in turn.errors if 'not valid JSON' in e.reason]
