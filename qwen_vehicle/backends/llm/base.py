"""The tool loop every LLM backend shares: generate -> parse calls -> execute each -> feed results back -> repeat.

The public `respond()` owns the policy (bounded rounds, tool choice, unknown tools, errors fed back, timings);
a backend implements only the protected `_generate()` hook, which streams the calls of one model round as they
close and ends with a `Completion`.

The model proposes, code decides: `execute` is the assistant's gate (schema validation, safety policy, actuation).
Its refusals and errors go back to the model as tool results, never around it.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Sequence

from qwen_vehicle.core.ir import ToolCall, ToolResult, ToolSpec, new_id

from .parsing import MalformedCall

log = logging.getLogger(__name__)

ToolChoice = Literal['auto', 'required', 'none']
TOOL_CHOICES = ('auto', 'required', 'none')
Execute = Callable[[ToolCall], ToolResult]


class LLMBackendError(RuntimeError):
    """The backend itself failed (model not loadable, endpoint down after retries, generation crashed).

    `executed_calls` lists the calls already executed in this utterance before the failure: a caller that falls
    back to another model must not run the utterance again when it is not empty.
    """
    executed_calls: list[ToolCall] = []


@dataclass
class Completion:
    """The end of one model round."""
    text: str = ''                    # visible text, without tool calls and thinking
    raw: str = ''                     # everything the model produced
    finish_reason: str = 'stop'       # 'stop', 'tool_calls', 'length', 'timeout'
    timings: dict[str, float] = field(default_factory=dict)
    tokens: int = 0


@dataclass
class LLMTurn:
    """What happened for one utterance."""
    text: str
    calls: list[ToolCall]
    results: list[ToolResult]
    rounds: int
    timings: dict[str, Any]
    backend: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # the conversation including this turn
    errors: list[MalformedCall] = field(default_factory=list)
    exhausted: bool = False           # stopped at max_rounds while the model still wanted tools
    raw: list[str] = field(default_factory=list)  # each round's raw model output, for audit and debugging

    def to_dict(self) -> dict[str, Any]:
        return {'text': self.text, 'calls': [c.to_dict() for c in self.calls],
                'results': [r.to_dict() for r in self.results], 'rounds': self.rounds, 'timings': self.timings,
                'backend': self.backend, 'errors': [e.to_dict() for e in self.errors], 'exhausted': self.exhausted}


GenerationItem = ToolCall | MalformedCall | Completion


class LLMBackend:
    """Base of all LLM backends; subclasses implement `_generate`."""

    name = 'base'
    runs_on_vehicle = True  # False for endpoints across the network (the router needs to know)

    def __init__(self, *, max_rounds: int = 3, timeout_s: float | None = None):
        if max_rounds < 1:
            raise ValueError(f'max_rounds must be at least 1, got {max_rounds}')
        self.max_rounds = max_rounds
        self.timeout_s = timeout_s

    # -- public policy

    def respond(self, messages: Sequence[dict[str, Any]], tools: Sequence[ToolSpec], execute: Execute, *,
                max_rounds: int | None = None, tool_choice: ToolChoice = 'auto',
                timeout_s: float | None = None) -> LLMTurn:
        """Run the bounded tool loop for one utterance (the last user message in `messages`)."""
        if tool_choice not in TOOL_CHOICES:
            raise ValueError(f'tool_choice must be one of {TOOL_CHOICES}, got {tool_choice!r}')
        rounds_allowed = self.max_rounds if max_rounds is None else max_rounds
        if rounds_allowed < 1:
            raise ValueError(f'max_rounds must be at least 1, got {rounds_allowed}')
        timeout = self.timeout_s if timeout_s is None else timeout_s
        start = time.perf_counter()
        deadline = None if timeout is None else time.monotonic() + timeout
        specs = {t.name: t for t in tools}
        conversation = [dict(m) for m in messages]
        all_calls: list[ToolCall] = []
        all_results: list[ToolResult] = []
        all_errors: list[MalformedCall] = []
        timings: dict[str, Any] = {'rounds': []}
        text, rounds, exhausted = '', 0, False
        raws: list[str] = []

        for round_index in range(rounds_allowed):
            # 'required' forces a call in the first round only, so the model can answer after the results.
            choice: ToolChoice = tool_choice if round_index == 0 or tool_choice == 'none' else 'auto'
            calls: list[ToolCall] = []
            results: list[ToolResult] = []
            errors: list[MalformedCall] = []
            completion = Completion()
            round_start = time.perf_counter()
            try:
                for item in self._generate(conversation, list(tools), tool_choice=choice, deadline=deadline):
                    if isinstance(item, Completion):
                        completion = item
                        continue
                    if 'first_call_ms' not in timings:
                        timings['first_call_ms'] = (time.perf_counter() - start) * 1000.0
                    if isinstance(item, MalformedCall):
                        log.info('%s: malformed tool call (%s)', self.name, item.reason)
                        errors.append(item)
                        results.append(ToolResult(call_id=item.id or new_id('invalid'),
                                                  name=item.name or 'invalid_tool_call', status='error',
                                                  reason=f'malformed tool call: {item.reason}'))
                    elif choice == 'none':
                        log.info('%s: ignoring call to %s (tool_choice=none)', self.name, item.name)
                    else:
                        calls.append(item)
                        results.append(self._execute(item, execute, specs))
            except LLMBackendError as exc:
                exc.executed_calls = all_calls + calls
                raise
            except Exception as exc:  # a crash in a backend is reported, not propagated raw
                error = LLMBackendError(f'{self.name}: generation failed: {exc}')
                error.executed_calls = all_calls + calls
                raise error from exc
            rounds += 1
            raws.append(completion.raw)
            timings['rounds'].append({**completion.timings,
                                      'round_ms': (time.perf_counter() - round_start) * 1000.0,
                                      'tokens': completion.tokens, 'finish_reason': completion.finish_reason})
            all_calls += calls
            all_results += results
            all_errors += errors
            text = completion.text
            conversation.append(self._assistant_message(completion, calls, errors, results))
            conversation.extend(self._tool_message(r) for r in results)
            if not results:
                break
            if completion.finish_reason == 'timeout':
                break
            if round_index == rounds_allowed - 1:
                exhausted = True
                log.info('%s: stopped after %d rounds with tool results pending', self.name, rounds)
        timings['total_ms'] = (time.perf_counter() - start) * 1000.0
        return LLMTurn(text=text, calls=all_calls, results=all_results, rounds=rounds, timings=timings,
                       backend=self.name, messages=conversation, errors=all_errors, exhausted=exhausted,
                       raw=raws)

    def close(self) -> None:
        """Release models, sockets, threads. Idempotent."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the I/O hook

    def _generate(self, messages: list[dict[str, Any]], tools: list[ToolSpec], *, tool_choice: ToolChoice,
                  deadline: float | None) -> Iterator[GenerationItem]:
        """Yield each ToolCall / MalformedCall as soon as it is complete, then one Completion."""
        raise NotImplementedError

    # -- helpers subclasses may override

    def _execute(self, call: ToolCall, execute: Execute, specs: dict[str, ToolSpec]) -> ToolResult:
        if call.name not in specs:
            return ToolResult(call_id=call.id, name=call.name, status='error',
                              reason=f'unknown tool {call.name!r}; available tools: {sorted(specs)}')
        try:
            result = execute(call)
        except Exception as exc:  # the executor must not take the loop down
            log.exception('%s: executing %s failed', self.name, call.name)
            return ToolResult(call_id=call.id, name=call.name, status='error', reason=f'execution failed: {exc}')
        if not isinstance(result, ToolResult):
            return ToolResult(call_id=call.id, name=call.name, status='error',
                              reason=f'executor returned {type(result).__name__}, not a ToolResult')
        return result

    def _assistant_message(self, completion: Completion, calls: list[ToolCall], errors: list[MalformedCall],
                           results: list[ToolResult]) -> dict[str, Any]:
        content = completion.text
        if errors:
            # Let the model see what it wrote that could not be read.
            content = '\n'.join([content] + [e.raw for e in errors]).strip()
        message: dict[str, Any] = {'role': 'assistant', 'content': content}
        if calls:
            message['tool_calls'] = [{'id': c.id, 'type': 'function',
                                      'function': {'name': c.name, 'arguments': dict(c.arguments)}} for c in calls]
        return message

    def _tool_message(self, result: ToolResult) -> dict[str, Any]:
        return {'role': 'tool', 'tool_call_id': result.call_id, 'name': result.name,
                'content': json.dumps(tool_result_payload(result), ensure_ascii=False, default=str)}


def tool_result_payload(result: ToolResult) -> dict[str, Any]:
    """What the model reads back for one call: status, content, and the reason when it did not work."""
    payload: dict[str, Any] = {'status': result.status}
    if result.content:
        payload['result'] = result.content
    if result.reason:
        payload['error' if not result.ok else 'note'] = result.reason
    if result.untrusted:
        payload['untrusted'] = True  # outside data: information, not instructions
    return payload
