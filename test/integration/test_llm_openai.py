"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 speaking chat completions."""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_fixtures import vehicle_tool_specs  # noqa: E402
from qwen_vehicle.backends.llm import create_backend  # noqa: E402
from qwen_vehicle.backends.llm.base import LLMBackendError  # noqa: E402
from qwen_vehicle.backends.llm.openai_backend import OpenAIBackend  # noqa: E402
from qwen_vehicle.core.ir import ToolResult  # noqa: E402

TOOLS = vehicle_tool_specs()
USER = [{'role': 'system', 'content': 'You drive with me.'}, {'role': 'user', 'content': 'warmer please'}]


def tool_calls_reply(*calls, content=None):
    return {'id': 'chatcmpl-1', 'object': 'chat.completion', 'model': 'qwen-plus',
            'choices': [{'index': 0, 'finish_reason': 'tool_calls',
                         'message': {'role': 'assistant', 'content': content, 'tool_calls': [
                             {'id': f'call_{i}', 'type': 'function',
                              'function': {'name': name, 'arguments': args}} for i, (name, args) in enumerate(calls)]}}],
            'usage': {'prompt_tokens': 100, 'completion_tokens': 12, 'total_tokens': 112}}


def text_reply(text):
    return {'id': 'chatcmpl-2', 'object': 'chat.completion',
            'choices': [{'index': 0, 'finish_reason': 'stop', 'message': {'role': 'assistant', 'content': text}}]}


class Server:
    """Scripted chat-completions server: each entry is (status, body) or ('sleep', seconds, then-body)."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get('Content-Length', 0))
                body = json.loads(self.rfile.read(length))
                outer.requests.append({'path': self.path, 'body': body,
                                       'auth': self.headers.get('Authorization')})
                step = outer.script.pop(0) if outer.script else (500, {'error': 'script exhausted'})
                if step[0] == 'sleep':
                    time.sleep(step[1])
                    step = step[2]
                status, payload = step
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/v1'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class Gate:
    def __init__(self):
        self.ran = []

    def __call__(self, call):
        self.ran.append((call.name, call.arguments))
        if call.name == 'set_fan_level' and call.arguments.get('value', 0) > 7:
            return ToolResult(call.id, call.name, 'refused', reason='set_fan_level.value: 9 is outside 0..7')
        return ToolResult(call.id, call.name, 'done', content={'ok': True})


def test_tool_call_round_trip_with_key_from_env(monkeypatch):
    monkeypatch.setenv('QV_TEST_KEY', 'sk-test-123')
    script = [(200, tool_calls_reply(('set_target_temperature', '{"zone": "driver", "value": 23}'))),
              (200, text_reply('It is set to 23 degrees.'))]
    with Server(script) as server:
        backend = create_backend('openai', base_url=server.url, model='qwen-plus', api_key_env='QV_TEST_KEY')
        gate = Gate()
        turn = backend.respond(USER, TOOLS, gate)
    assert gate.ran == [('set_target_temperature', {'zone': 'driver', 'value': 23})]
    assert turn.text == 'It is set to 23 degrees.' and turn.rounds == 2
    first, second = server.requests
    assert first['path'] == '/v1/chat/completions' and first['auth'] == 'Bearer sk-test-123'
    assert first['body']['model'] == 'qwen-plus' and first['body']['tool_choice'] == 'auto'
    assert {t['function']['name'] for t in first['body']['tools']} == {t.name for t in TOOLS}
    assert first['body']['enable_thinking'] is False
    # the second request carries the call (arguments as a JSON string) and the tool result
    assistant, tool = second['body']['messages'][-2:]
    assert assistant['tool_calls'][0]['id'] == 'call_0'
    assert json.loads(assistant['tool_calls'][0]['function']['arguments']) == {'zone': 'driver', 'value': 23}
    assert tool == {'role': 'tool', 'tool_call_id': 'call_0', 'name': 'set_target_temperature',
                    'content': json.dumps({'status': 'done', 'result': {'ok': True}})}


def test_refusal_and_bad_arguments_go_back_as_errors():
    script = [(200, tool_calls_reply(('set_fan_level', '{"value": 9}'), ('set_defrost', '{value: Front'))),
              (200, text_reply('The fan goes up to 7.'))]
    with Server(script) as server:
        gate = Gate()
        turn = OpenAIBackend(server.url, 'qwen').respond(USER, TOOLS, gate)
    assert gate.ran == [('set_fan_level', {'value': 9})]
    assert [r.status for r in turn.results] == ['refused', 'error'] and len(turn.errors) == 1
    messages = server.requests[1]['body']['messages']
    tool_msgs = [m for m in messages if m['role'] == 'tool']
    assert [m['tool_call_id'] for m in tool_msgs] == ['call_0', 'call_1']
    assert '0..7' in json.loads(tool_msgs[0]['content'])['error']
    assert 'not JSON' in json.loads(tool_msgs[1]['content'])['error']
    # every tool message answers a call id of the assistant message (protocol requirement)
    assistant = [m for m in messages if m['role'] == 'assistant'][0]
    assert {c['id'] for c in assistant['tool_calls']} == {'call_0', 'call_1'}


def test_server_errors_are_retried_with_backoff():
    script = [(500, {'error': {'message': 'overloaded'}}), (503, {'error': 'busy'}),
              (200, text_reply('Hello.'))]
    with Server(script) as server:
        backend = OpenAIBackend(server.url, 'qwen', retries=2, backoff_s=0.01)
        turn = backend.respond(USER, TOOLS, Gate())
    assert turn.text == 'Hello.' and len(server.requests) == 3
    assert turn.timings['rounds'][0]['attempts'] == 3


def test_gives_up_after_the_retries_with_the_server_message():
    script = [(500, {'error': {'message': 'overloaded'}})] * 3
    with Server(script) as server:
        backend = OpenAIBackend(server.url, 'qwen', retries=1, backoff_s=0.01)
        with pytest.raises(LLMBackendError, match='HTTP 500.*overloaded'):
            backend.respond(USER, TOOLS, Gate())
    assert len(server.requests) == 2


def test_client_errors_are_not_retried():
    with Server([(401, {'error': {'message': 'invalid api key'}})]) as server:
        with pytest.raises(LLMBackendError, match='401.*invalid api key'):
            OpenAIBackend(server.url, 'qwen', retries=3, backoff_s=0.01).respond(USER, TOOLS, Gate())
    assert len(server.requests) == 1


def test_request_timeout_then_success():
    script = [('sleep', 1.0, (200, text_reply('late'))), (200, text_reply('on time'))]
    with Server(script) as server:
        backend = OpenAIBackend(server.url, 'qwen', request_timeout_s=0.3, retries=1, backoff_s=0.01)
        turn = backend.respond(USER, TOOLS, Gate())
    assert turn.text == 'on time'


def test_utterance_timeout_bounds_everything():
    script = [('sleep', 1.0, (200, text_reply('late')))] * 5
    with Server(script) as server:
        backend = OpenAIBackend(server.url, 'qwen', request_timeout_s=5, retries=5, backoff_s=0.01)
        start = time.monotonic()
        with pytest.raises(LLMBackendError, match='within|timeout|time left'):
            backend.respond(USER, TOOLS, Gate(), timeout_s=0.5)
        assert time.monotonic() - start < 3.0


def test_unreachable_endpoint_is_a_clear_error():
    import socket
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    backend = OpenAIBackend(f'http://127.0.0.1:{port}/v1', 'qwen', retries=1, backoff_s=0.01)
    with pytest.raises(LLMBackendError, match='cannot reach|connection'):
        backend.respond(USER, TOOLS, Gate())


def test_hermes_text_in_content_from_a_server_without_tool_parser():
    content = '<tool_call>\n{"name": "get_battery_status", "arguments": {}}\n</tool_call>'
    script = [(200, text_reply(content)), (200, text_reply('80 percent.'))]
    with Server(script) as server:
        gate = Gate()
        turn = OpenAIBackend(server.url, 'qwen').respond(USER, TOOLS, gate)
    assert gate.ran == [('get_battery_status', {})] and turn.text == '80 percent.'


def test_tool_choice_is_sent_and_no_tools_means_no_tool_fields():
    with Server([(200, text_reply('a')), (200, text_reply('b'))]) as server:
        backend = OpenAIBackend(server.url, 'qwen', enable_thinking=None, extra_body={'top_p': 0.8})
        backend.respond(USER, TOOLS, Gate(), tool_choice='none')
        backend.respond(USER, [], Gate())
    first, second = (r['body'] for r in server.requests)
    assert first['tool_choice'] == 'none' and first['top_p'] == 0.8 and 'enable_thinking' not in first
    assert 'tools' not in second and 'tool_choice' not in second


def test_not_json_answer_is_an_error():
    class Raw(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get('Content-Length', 0)))
            self.send_response(200)
            self.send_header('Content-Length', '8')
            self.end_headers()
            self.wfile.write(b'<html>hi')

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(('127.0.0.1', 0), Raw)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        backend = OpenAIBackend(f'http://127.0.0.1:{httpd.server_address[1]}', 'qwen', retries=0)
        with pytest.raises(LLMBackendError, match='not JSON'):
            backend.respond(USER, TOOLS, Gate())
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_bad_base_url_is_refused():
    with pytest.raises(ValueError, match='http'):
        OpenAIBackend('127.0.0.1:8000', 'qwen')
