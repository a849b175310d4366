"""The shared tool loop (bounded rounds, errors fed back, tool choice) and the backend registry."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_fixtures import vehicle_tool_specs  # noqa: E402
from qwen_vehicle.backends import llm  # noqa: E402
from qwen_vehicle.backends.llm.base import LLMBackend, LLMBackendError  # noqa: E402
from qwen_vehicle.backends.llm.fake import FakeBackend  # noqa: E402
from qwen_vehicle.core.ir import ToolArgumentError, ToolResult, validate_arguments  # noqa: E402

TOOLS = vehicle_tool_specs()
SPECS = {t.name: t for t in TOOLS}
USER = [{'role': 'user', 'content': 'make it warmer'}]


def call(name, **args):
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": args})}\n</tool_call>'


class Executor:
    """Like the assistant's gate: validates against the schema; records what ran."""

    def __init__(self):
        self.ran = []

    def __call__(self, tool_call):
        try:
            args = validate_arguments(SPECS[tool_call.name], tool_call.arguments)
        except ToolArgumentError as exc:
            return ToolResult(tool_call.id, tool_call.name, 'refused', reason=str(exc))
        self.ran.append((tool_call.name, args))
        return ToolResult(tool_call.id, tool_call.name, 'done', content={'applied': args})


def test_call_then_answer_in_two_rounds():
    backend = FakeBackend([call('set_target_temperature', zone='driver', value=23), 'Set to 23 degrees.'])
    gate = Executor()
    turn = backend.respond(USER, TOOLS, gate)
    assert gate.ran == [('set_target_temperature', {'zone': 'driver', 'value': 23})]
    assert turn.rounds == 2 and turn.text == 'Set to 23 degrees.' and not turn.exhausted
    assert [r.status for r in turn.results] == ['done']
    # the second round saw the call and its result in the template's tool-response form
    second = backend.prompts[1]
    assert second[-2]['role'] == 'assistant'
    assert second[-2]['tool_calls'][0]['function'] == {'name': 'set_target_temperature',
                                                       'arguments': {'zone': 'driver', 'value': 23}}
    assert second[-1]['role'] == 'tool' and second[-1]['tool_call_id'] == turn.calls[0].id
    assert json.loads(second[-1]['content'])['status'] == 'done'
    assert turn.timings['first_call_ms'] <= turn.timings['total_ms']
    assert turn.messages[-1] == {'role': 'assistant', 'content': 'Set to 23 degrees.'}


def test_invalid_arguments_go_back_to_the_model_as_errors():
    backend = FakeBackend([call('set_fan_level', value=12), call('set_fan_level', value=7), 'Fan at maximum.'])
    gate = Executor()
    turn = backend.respond(USER, TOOLS, gate)
    assert gate.ran == [('set_fan_level', {'value': 7})]
    assert [r.status for r in turn.results] == ['refused', 'done']
    feedback = json.loads(backend.prompts[1][-1]['content'])
    assert feedback['status'] == 'refused' and '0..7' in feedback['error']
    assert turn.rounds == 3


def test_unknown_tool_is_refused_without_reaching_the_executor():
    backend = FakeBackend([call('open_sunroof'), 'I cannot open the sunroof.'])
    gate = Executor()
    turn = backend.respond(USER, TOOLS, gate)
    assert gate.ran == []
    assert turn.results[0].status == 'error' and 'unknown tool' in turn.results[0].reason
    feedback = json.loads(backend.prompts[1][-1]['content'])
    assert 'set_fan_level' in feedback['error']  # tells the model what exists


def test_malformed_call_is_fed_back_with_what_the_model_wrote():
    backend = FakeBackend(['<tool_call>\n{"name": "set_fan_level", "arguments": {value 3}}\n</tool_call>',
                           call('set_fan_level', value=3), 'Done.'])
    gate = Executor()
    turn = backend.respond(USER, TOOLS, gate)
    assert len(turn.errors) == 1 and gate.ran == [('set_fan_level', {'value': 3})]
    assistant, tool = backend.prompts[1][-2:]
    assert '{value 3}' in assistant['content']
    assert json.loads(tool['content'])['status'] == 'error'
    assert 'malformed' in json.loads(tool['content'])['error']


def test_rounds_are_bounded():
    backend = FakeBackend(lambda messages, tools: call('get_climate_status'))
    gate = Executor()
    turn = backend.respond(USER, TOOLS, gate)
    assert turn.rounds == 3 and turn.exhausted and len(gate.ran) == 3
    turn = backend.respond(USER, TOOLS, gate, max_rounds=1)
    assert turn.rounds == 1 and turn.exhausted


def test_executor_crash_becomes_an_error_result():
    def explode(tool_call):
        raise RuntimeError('bus off')

    turn = FakeBackend([call('set_fan_level', value=1), 'Sorry.']).respond(USER, TOOLS, explode)
    assert turn.results[0].status == 'error' and 'bus off' in turn.results[0].reason
    assert turn.text == 'Sorry.'


def test_executor_must_return_a_tool_result():
    turn = FakeBackend([call('set_fan_level', value=1), 'x']).respond(USER, TOOLS, lambda c: {'ok': True})
    assert turn.results[0].status == 'error' and 'ToolResult' in turn.results[0].reason


def test_tool_choice_none_executes_nothing():
    gate = Executor()
    turn = FakeBackend([call('set_fan_level', value=1)]).respond(USER, TOOLS, gate, tool_choice='none')
    assert gate.ran == [] and turn.calls == [] and turn.rounds == 1


def test_tool_choice_is_checked():
    with pytest.raises(ValueError, match='tool_choice'):
        FakeBackend([]).respond(USER, TOOLS, Executor(), tool_choice='always')
    with pytest.raises(ValueError, match='max_rounds'):
        FakeBackend([]).respond(USER, TOOLS, Executor(), max_rounds=0)


def test_backend_crash_is_an_llm_error_listing_executed_calls():
    class Broken(LLMBackend):
        name = 'broken'

        def _generate(self, messages, tools, *, tool_choice, deadline):
            from qwen_vehicle.core.ir import ToolCall
            yield ToolCall('set_fan_level', {'value': 2})
            raise OSError('device lost')

    gate = Executor()
    with pytest.raises(LLMBackendError, match='device lost') as info:
        Broken().respond(USER, TOOLS, gate)
    assert [c.name for c in info.value.executed_calls] == ['set_fan_level']


def test_untrusted_results_are_marked_for_the_model():
    def search(tool_call):
        return ToolResult(tool_call.id, tool_call.name, 'ok', content={'name': 'Noodle Bar'}, untrusted=True)

    backend = FakeBackend([call('search_restaurants', query='noodles'), 'Found Noodle Bar.'])
    backend.respond(USER, TOOLS, search)
    payload = json.loads(backend.prompts[1][-1]['content'])
    assert payload == {'status': 'ok', 'result': {'name': 'Noodle Bar'}, 'untrusted': True}


def test_registry_lists_valid_names_for_an_unknown_backend():
    with pytest.raises(ValueError) as info:
        llm.backend_class('gpt5')
    for name in ('fake', 'openai', 'transformers'):
        assert name in str(info.value)
    assert llm.backend_class('fake') is FakeBackend
    backend = llm.create_backend('fake', script=['hello'])
    assert backend.respond(USER, TOOLS, Executor()).text == 'hello'


def test_registry_loads_entry_points(monkeypatch):
    class Plugin(FakeBackend):
        name = 'plugin'

    class EntryPoint:
        name = 'plugin'

        def load(self):
            return Plugin

    monkeypatch.setattr(llm._registry, '_entry_points', lambda: {'plugin': EntryPoint()})
    assert 'plugin' in llm.available_backends()
    assert llm.backend_class('plugin') is Plugin


def test_importing_the_package_does_not_import_torch():
    import subprocess
    code = ('import sys; import qwen_vehicle.backends.llm as m; m.backend_class("openai"); '
            'print("torch" in sys.modules, "transformers" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == 'False False', out.stderr


def test_backends_from_configuration_skip_what_cannot_load(caplog):
    backends = llm.create_backends({
        'local': {'backend': 'transformers', 'model_path': '/nonexistent/qwen'},
        'cloud': {'backend': 'openai', 'base_url': 'http://127.0.0.1:9/v1', 'model': 'qwen-plus'},
        'spare': {'backend': 'fake', 'enabled': False},
        'test': {'backend': 'fake', 'script': ['hi']},
    })
    assert sorted(backends) == ['cloud', 'test']
    assert backends['cloud'].runs_on_vehicle is False
    assert 'local' in caplog.text and 'does not exist' in caplog.text
