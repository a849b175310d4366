"""OpenAI-compatible chat completions with tools: DashScope compatible mode, vLLM, Ollama, llama.cpp server.

Plain urllib (no extra dependency). The key is read from an environment variable named in the configuration, never
stored in configuration files. Timeouts per request and for the whole utterance, retries with exponential backoff
on connection errors, timeouts, 429 and 5xx; other 4xx fail at once with the server's message.

Tool calls come from `message.tool_calls`; arguments that are not JSON go back to the model as errors. Servers
running without a tool parser return Hermes `<tool_call>` text in `content`: that is parsed too.
"""
from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Iterator, Sequence

from qwen_vehicle.core.ir import ToolCall, ToolSpec, new_id

from .base import Completion, GenerationItem, LLMBackend, LLMBackendError, ToolChoice
from .parsing import MalformedCall, StreamingToolCallParser, loads_lenient

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class EndpointError(LLMBackendError):
    def __init__(self, message: str, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class OpenAIBackend(LLMBackend):
    """`POST {base_url}/chat/completions` with `tools`."""

    name = 'openai'
    runs_on_vehicle = False

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, api_key_env: str | None = None,
                 request_timeout_s: float = 10.0, retries: int = 2, backoff_s: float = 0.5, max_backoff_s: float = 4.0,
                 temperature: float | None = 0.0, max_tokens: int | None = 512, enable_thinking: bool | None = False,
                 extra_body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 runs_on_vehicle: bool = False, name: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not base_url.startswith(('http://', 'https://')):
            raise ValueError(f'base_url must start with http:// or https://, got {base_url!r}')
        self.url = base_url.rstrip('/') + '/chat/completions'
        self.model = model
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env)
            if not api_key:
                log.warning('environment variable %s is not set: calling %s without a key', api_key_env, base_url)
        self._api_key = api_key
        self.request_timeout_s = request_timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.enable_thinking = enable_thinking
        self.extra_body = dict(extra_body or {})
        self.headers = dict(headers or {})
        self.runs_on_vehicle = runs_on_vehicle  # an Ollama on the car's own computer runs on the vehicle
        if name:
            self.name = name

    # -- request

    def build_body(self, messages: Sequence[dict[str, Any]], tools: Sequence[ToolSpec],
                   tool_choice: ToolChoice) -> dict[str, Any]:
        body: dict[str, Any] = {'model': self.model, 'messages': [_wire_message(m) for m in messages]}
        if tools:
            body['tools'] = [t.to_openai() for t in tools]
            body['tool_choice'] = tool_choice
        if self.temperature is not None:
            body['temperature'] = self.temperature
        if self.max_tokens is not None:
            body['max_tokens'] = self.max_tokens
        if self.enable_thinking is not None:
            body['enable_thinking'] = self.enable_thinking  # DashScope / vLLM chat-template switch for Qwen3
        body.update(self.extra_body)
        return body

    def _post(self, body: dict[str, Any], deadline: float | None) -> tuple[dict[str, Any], int]:
        data = json.dumps(body, ensure_ascii=False).encode('utf-8')
        headers = {'Content-Type': 'application/json', 'Accept': 'application/json', **self.headers}
        if self._api_key:
            headers['Authorization'] = f'Bearer {self._api_key}'
        attempt, last_error = 0, None
        while True:
            attempt += 1
            timeout = self.request_timeout_s
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    raise EndpointError(f'{self.name}: utterance timeout reached after {attempt - 1} attempt(s)'
                                        + (f' (last error: {last_error})' if last_error else ''), retryable=True)
            try:
                return self._request_once(data, headers, timeout), attempt
            except EndpointError as exc:
                last_error = exc
                if not exc.retryable or attempt > self.retries:
                    raise EndpointError(f'{exc} (attempt {attempt} of {self.retries + 1})', exc.status,
                                        exc.retryable) from exc
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise EndpointError(f'{self.name}: no time left to retry after {last_error}', retryable=True)
            log.info('%s: %s; retrying in %.2f s', self.name, last_error, delay)
            time.sleep(delay)

    def _request_once(self, data: bytes, headers: dict[str, str], timeout: float) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=data, headers=headers, method='POST')
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            raise EndpointError(f'{self.name}: HTTP {exc.code} from {self.url}: {detail}', exc.code,
                                exc.code in RETRY_STATUS) from None
        except (socket.timeout, TimeoutError) as exc:
            raise EndpointError(f'{self.name}: no answer from {self.url} within {timeout:.1f} s', None,
                                True) from exc
        except urllib.error.URLError as exc:
            retryable = not isinstance(exc.reason, (ValueError,))
            raise EndpointError(f'{self.name}: cannot reach {self.url}: {exc.reason}', None, retryable) from exc
        except (ConnectionError, OSError, http.client.HTTPException) as exc:
            raise EndpointError(f'{self.name}: connection to {self.url} failed: {exc!r}', None, True) from exc
        try:
            return json.loads(payload)
        except ValueError:
            raise EndpointError(f'{self.name}: the answer is not JSON: {payload[:200]!r}', None, True) from None

    # -- the hook

    def _generate(self, messages: list[dict[str, Any]], tools: list[ToolSpec], *, tool_choice: ToolChoice,
                  deadline: float | None) -> Iterator[GenerationItem]:
        start = time.perf_counter()
        response, attempts = self._post(self.build_body(messages, tools, tool_choice), deadline)
        http_ms = (time.perf_counter() - start) * 1000.0
        try:
            choice = response['choices'][0]
            message = choice.get('message') or {}
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f'{self.name}: answer has no choices: {str(response)[:200]}') from None
        for raw_call in message.get('tool_calls') or []:
            yield _read_tool_call(raw_call)
        content = message.get('content') or ''
        if isinstance(content, list):  # content parts
            content = ''.join(p.get('text', '') for p in content if isinstance(p, dict))
        # servers without a tool parser hand back the model's raw <tool_call> text
        parser = StreamingToolCallParser('hermes', tools)
        yield from parser.feed(content)
        if not message.get('tool_calls'):
            yield from parser.finish()
        else:
            parser.finish()
        parsed = parser.result()
        usage = response.get('usage') or {}
        yield Completion(text=parsed.text, raw=content, finish_reason=choice.get('finish_reason') or 'stop',
                         timings={'http_ms': http_ms, 'attempts': attempts},
                         tokens=int(usage.get('completion_tokens') or 0))

    def _assistant_message(self, completion, calls, errors, results):
        message = super()._assistant_message(completion, calls, [], results)
        # a call with unreadable arguments still has an id the tool message must answer
        bad = [{'id': e.id, 'type': 'function', 'function': {'name': e.name, 'arguments': e.raw}}
               for e in errors if e.id and e.name]
        if bad:
            message.setdefault('tool_calls', []).extend(bad)
        unnamed = [e.raw for e in errors if not (e.id and e.name)]
        if unnamed:
            message['content'] = '\n'.join([message['content']] + unnamed).strip()
        return message


def _read_tool_call(raw: dict[str, Any]) -> ToolCall | MalformedCall:
    fn = raw.get('function') or {}
    name = fn.get('name')
    call_id = raw.get('id') or new_id()
    args = fn.get('arguments', {})
    if not isinstance(name, str) or not name:
        return MalformedCall(raw=json.dumps(raw)[:500], reason='tool call without a function name', id=call_id)
    if isinstance(args, str):
        try:
            args = loads_lenient(args) if args.strip() else {}
        except ValueError as exc:
            return MalformedCall(raw=args, reason=f'{name}: arguments are not JSON ({exc})', name=name, id=call_id)
    if not isinstance(args, dict):
        return MalformedCall(raw=json.dumps(args), reason=f'{name}: arguments must be an object', name=name,
                             id=call_id)
    return ToolCall(name=name, arguments=args, id=call_id)


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    """Our messages carry arguments as objects; the protocol wants JSON strings."""
    out = {k: v for k, v in message.items() if k in ('role', 'content', 'name', 'tool_call_id', 'tool_calls')}
    if out.get('role') != 'tool':
        out.pop('name', None)
    if out.get('content') is None:
        out['content'] = ''
    if out.get('tool_calls'):
        calls = []
        for call in out['tool_calls']:
            fn = dict(call.get('function', {}))
            if not isinstance(fn.get('arguments'), str):
                fn['arguments'] = json.dumps(fn.get('arguments', {}), ensure_ascii=False)
            calls.append({'id': call.get('id') or new_id(), 'type': 'function', 'function': fn})
        out['tool_calls'] = calls
    return out


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read().decode('utf-8', 'replace')
    except Exception:
        return exc.reason or ''
    try:
        err = json.loads(body).get('error')
        if isinstance(err, dict):
            return str(err.get('message') or err)
        if err:
            return str(err)
    except (ValueError, AttributeError):
        pass
    return body[:300]
