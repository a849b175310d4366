"""A scripted in-process backend for tests of the layers above (assistant, router): no model, same parser.

Each model round takes the next scripted completion (raw model text in the chosen dialect), or calls
`script(messages, tools)` to produce one, and streams it through the real `StreamingToolCallParser`.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Sequence

from qwen_vehicle.core.ir import ToolSpec

from .base import Completion, GenerationItem, LLMBackend, ToolChoice
from .parsing import Dialect, StreamingToolCallParser

Script = Sequence[str] | Callable[[list[dict[str, Any]], list[ToolSpec]], str]


class FakeBackend(LLMBackend):
    name = 'fake'

    def __init__(self, script: Script = (), *, dialect: Dialect = 'hermes', chunk_size: int = 7,
                 delay_s: float = 0.0, runs_on_vehicle: bool = True, name: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.script = script
        self.dialect = dialect
        self.chunk_size = max(1, chunk_size)
        self.delay_s = delay_s
        self.runs_on_vehicle = runs_on_vehicle
        if name:
            self.name = name
        self.prompts: list[list[dict[str, Any]]] = []  # what each round was asked, for assertions
        self._next = 0

    def _generate(self, messages: list[dict[str, Any]], tools: list[ToolSpec], *, tool_choice: ToolChoice,
                  deadline: float | None) -> Iterator[GenerationItem]:
        self.prompts.append([dict(m) for m in messages])
        if callable(self.script):
            raw = self.script(messages, tools)
        elif self._next < len(self.script):
            raw = self.script[self._next]
            self._next += 1
        else:
            raw = ''
        if self.delay_s:
            time.sleep(self.delay_s)
        parser = StreamingToolCallParser(self.dialect, tools)
        for i in range(0, len(raw), self.chunk_size):
            yield from parser.feed(raw[i:i + self.chunk_size])
        yield from parser.finish()
        parsed = parser.result()
        yield Completion(text=parsed.text, raw=raw, tokens=len(raw.split()),
                         finish_reason='tool_calls' if parsed.calls else 'stop')
