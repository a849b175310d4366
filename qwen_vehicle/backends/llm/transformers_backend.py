"""Local Qwen through transformers + torch, tuned for the time from utterance to the first tool call.

- Loads tokenizer and model from a local folder only (`local_files_only=True`); a hub id is refused.
- Device and dtype automatic (CUDA + bf16 when present, else CPU float32) or given.
- Prompts with the checkpoint's own chat template and `tools=`, thinking disabled for actions; the dialect
  (Hermes JSON or Qwen3.5/Coder XML) comes from the template.
- The constant system + tools prefix is prefilled once; every round reuses the longest cached token prefix
  (the prefix for a new utterance, the whole conversation for the next round of the same utterance), so only the
  new tokens are prefilled.
- A manual greedy decode loop streams text into the incremental parser: each tool call is yielded - and executed by
  the base loop - the moment its closing tag is decoded, and generation stops at the end of the calls.
- On CUDA: a static KV cache and a compiled decode step (torch.compile 'reduce-overhead' = CUDA graphs).
- Optional xgrammar-constrained decoding (`constrained=True`).
"""
from __future__ import annotations

import inspect
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from qwen_vehicle.core.ir import ToolSpec

from .base import Completion, GenerationItem, LLMBackend, LLMBackendError, ToolChoice
from .parsing import CALL_OPEN, Dialect, StreamingToolCallParser, detect_dialect

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')
_DTYPES = {'float32': 'float32', 'fp32': 'float32', 'float16': 'float16', 'fp16': 'float16', 'half': 'float16',
           'bfloat16': 'bfloat16', 'bf16': 'bfloat16'}
# A logits processor in transformers' signature: (input_ids [1, n], scores [1, vocab]) -> scores
LogitsProcessor = Callable[[Any, Any], Any]


def resolve_local_checkpoint(model_path: str | Path) -> Path:
    """The checkpoint folder, or a clear error (never a download)."""
    path = Path(model_path).expanduser()
    if path.is_dir():
        if not (path / 'config.json').is_file():
            raise ValueError(f'{path} is not a checkpoint folder: config.json is missing')
        return path
    if path.exists():
        raise ValueError(f'{path} is a file; pass the checkpoint folder')
    if _HUB_ID.match(str(model_path)) and not str(model_path).startswith(('.', '~')):
        raise ValueError(f'{model_path!r} looks like a model hub id; this backend loads local folders only and never '
                         f'downloads at run time. Download the checkpoint beforehand (e.g. `huggingface-cli download '
                         f'{model_path} --local-dir /models/{str(model_path).split("/")[-1]}`) and pass that folder.')
    raise FileNotFoundError(f'checkpoint folder {path} does not exist')


def resolve_device_dtype(device: str = 'auto', dtype: str = 'auto'):
    """('auto', 'auto') -> CUDA + bfloat16 when a GPU is there (float16 if it lacks bf16), else CPU + float32."""
    import torch

    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    dev = torch.device(device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError('device cuda requested but torch sees no CUDA device')
    if dtype == 'auto':
        if dev.type == 'cuda':
            name = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
        else:
            name = 'float32'
    else:
        if dtype not in _DTYPES:
            raise ValueError(f'unknown dtype {dtype!r}; use auto or one of {sorted(set(_DTYPES.values()))}')
        name = _DTYPES[dtype]
    return dev, getattr(torch, name)


def _common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class TransformersBackend(LLMBackend):
    """Qwen (any chat template with tools) from a local folder."""

    name = 'transformers'
    runs_on_vehicle = True

    def __init__(self, model_path: str | Path | None = None, *, device: str = 'auto', dtype: str = 'auto',
                 max_new_tokens: int = 256, system_prompt: str | None = None, enable_thinking: bool = False,
                 prefix_cache: bool = True, static_cache: bool | str = 'auto', compile: bool | str = 'auto',
                 max_cache_len: int = 4096, constrained: bool = False,
                 logits_processors: Sequence[LogitsProcessor] = (), stop_after_calls: bool = True,
                 model: Any = None, tokenizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        path = None
        if model is None or tokenizer is None:
            if model_path is None:
                raise ValueError('model_path is required (a local checkpoint folder)')
            path = resolve_local_checkpoint(model_path)  # before importing torch: fail fast and cheap
        import torch

        self._torch = torch
        self.device, self.dtype = resolve_device_dtype(device, dtype)
        if path is not None:
            tokenizer, model = self._load(path)
        self.tokenizer = tokenizer
        self.model = model.to(self.device).eval() if model.device != self.device else model.eval()
        self.chat_template = getattr(tokenizer, 'chat_template', None)
        if not self.chat_template:
            raise ValueError('the tokenizer has no chat template; a Qwen chat checkpoint ships one')
        self.dialect: Dialect = detect_dialect(self.chat_template)
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.enable_thinking = enable_thinking
        self.prefix_cache = prefix_cache
        on_cuda = self.device.type == 'cuda'
        self.static_cache = on_cuda if static_cache == 'auto' else bool(static_cache)
        self.compile = (on_cuda and self.static_cache) if compile == 'auto' else bool(compile)
        if self.compile and not self.static_cache:
            raise ValueError('compile=True needs static_cache=True (CUDA graphs need fixed cache addresses)')
        self.max_cache_len = max_cache_len
        self.logits_processors = list(logits_processors)
        self.stop_after_calls = stop_after_calls
        self.stop_ids = self._stop_ids()
        self.constrained = constrained
        if constrained:
            from . import constrained as xg

            if not xg.available():
                raise ValueError('constrained=True needs xgrammar (pip install xgrammar)')
        self._grammars: dict[str, Any] = {}
        self._forward_kwargs = self._forward_signature()
        self._lock = threading.Lock()
        self._cache = None            # the persistent KV cache
        self._cache_ids: list[int] = []  # the tokens it holds
        self._prefix_key: str | None = None
        self._prefix_ids: list[int] = []
        self._prefix_text = ''
        self._decode_step = None
        log.info('transformers backend: %s on %s (%s), dialect %s, static cache %s, compile %s',
                 type(self.model).__name__, self.device, str(self.dtype).replace('torch.', ''), self.dialect,
                 self.static_cache, self.compile)

    # -- loading

    def _load(self, path: Path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            raise LLMBackendError(f'cannot load the checkpoint in {path}: {exc}') from exc
        return tokenizer, model.to(self.device)

    def _stop_ids(self) -> set[int]:
        ids: set[int] = set()
        for token in ('<|im_end|>', '<|endoftext|>'):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        eos = getattr(self.model.generation_config, 'eos_token_id', None) or self.tokenizer.eos_token_id
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(eos)
        return ids

    def _forward_signature(self) -> dict[str, str]:
        params = inspect.signature(self.model.forward).parameters
        return {'cache': 'cache' if 'cache' in params else 'past_key_values',
                'cache_position': 'cache_position' if 'cache_position' in params else ''}

    # -- prompts

    def _with_system(self, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        msgs = [dict(m) for m in messages]
        if self.system_prompt and (not msgs or msgs[0].get('role') != 'system'):
            msgs.insert(0, {'role': 'system', 'content': self.system_prompt})
        return msgs

    def render(self, messages: Sequence[dict[str, Any]], tools: Sequence[ToolSpec]) -> str:
        """The prompt text the checkpoint's own template makes, ending with the assistant's turn opening."""
        return self.tokenizer.apply_chat_template(
            self._with_system(messages), tools=[t.to_openai() for t in tools] or None, tokenize=False,
            add_generation_prompt=True, enable_thinking=self.enable_thinking)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)['input_ids'])

    def _encode_prompt(self, prompt: str) -> list[int]:
        """Token ids of a prompt; the cached prefix is not tokenized again (it ends at a special token, so the
        split gives the same ids)."""
        if self._prefix_text and prompt.startswith(self._prefix_text):
            return self._prefix_ids + self.encode(prompt[len(self._prefix_text):])
        return self.encode(prompt)

    def _constant_prefix(self, messages: Sequence[dict[str, Any]], tools: Sequence[ToolSpec]) -> str:
        """The system + tools text every prompt of this conversation starts with."""
        system = [m for m in self._with_system(messages)[:1] if m.get('role') == 'system']
        a = self.render(system + [{'role': 'user', 'content': 'a'}], tools)
        b = self.render(system + [{'role': 'user', 'content': 'b'}], tools)
        n = _common_prefix_len(a, b)
        # cut at the end of the last complete turn so tokenization is stable
        end = a.rfind('<|im_end|>', 0, n)
        return a[:end + len('<|im_end|>')] if end != -1 else a[:n]

    # -- cache

    def _new_cache(self):
        from transformers import DynamicCache, StaticCache

        if self.static_cache:
            return StaticCache(config=self.model.config, max_cache_len=self.max_cache_len)
        return DynamicCache(config=self.model.config)

    def _empty_cache(self):
        """An empty persistent cache; a static one is emptied in place, so compiled graphs keep their addresses."""
        if self.static_cache and self._cache is not None and type(self._cache).__name__ == 'StaticCache':
            if self._cache_ids:
                self._cache.crop(-len(self._cache_ids))
            return self._cache
        return self._new_cache()

    def _forward(self, ids: list[int], cache, start: int):
        torch = self._torch
        input_ids = torch.tensor([ids], device=self.device)
        positions = torch.arange(start, start + len(ids), device=self.device).unsqueeze(0)
        kwargs = {self._forward_kwargs['cache']: cache}
        if self._forward_kwargs['cache_position']:
            kwargs['cache_position'] = positions[0]
        out = self.model(input_ids=input_ids, position_ids=positions, use_cache=True, logits_to_keep=1, **kwargs)
        return out.logits[0, -1]

    def _decode_fn(self):
        """One-token forward; compiled (CUDA graphs) when enabled."""
        if self._decode_step is None:
            torch = self._torch

            def step(input_ids, positions, cache):
                kwargs = {self._forward_kwargs['cache']: cache}
                if self._forward_kwargs['cache_position']:
                    kwargs['cache_position'] = positions[0]
                out = self.model(input_ids=input_ids, position_ids=positions, use_cache=True, logits_to_keep=1,
                                 **kwargs)
                return out.logits[0, -1]

            if self.compile:
                compiled = torch.compile(step, mode='reduce-overhead', fullgraph=False, dynamic=False)
                mark_step = getattr(torch.compiler, 'cudagraph_mark_step_begin', None)

                def step(input_ids, positions, cache):
                    if mark_step is not None:
                        mark_step()  # the previous logits are consumed: let CUDA graphs reuse their memory
                    return compiled(input_ids, positions, cache)

            self._decode_step = step
        return self._decode_step

    def _sync_cache(self, prompt_ids: list[int]) -> tuple[Any, int]:
        """Reuse the longest cached prefix of `prompt_ids`; return the cache and how many tokens it covers."""
        if self._cache is None or not self.prefix_cache:
            self._cache, self._cache_ids = self._empty_cache(), []
        keep = min(_common_prefix_len(self._cache_ids, prompt_ids), len(prompt_ids) - 1)
        drop = len(self._cache_ids) - keep
        if drop > 0:
            if keep == 0:
                self._cache, self._cache_ids = self._empty_cache(), []
            else:
                self._cache.crop(-drop)
                del self._cache_ids[keep:]
        return self._cache, keep

    def warm_up(self, tools: Sequence[ToolSpec], messages: Sequence[dict[str, Any]] = ()) -> float:
        """Prefill the constant system + tools prefix now (and compile the decode step); returns milliseconds."""
        with self._lock:
            start = time.perf_counter()
            self._ensure_prefix(list(messages), list(tools))
            if self.compile and self._cache_ids:
                # compile and capture the decode step now, not on the first utterance
                torch = self._torch
                decode = self._decode_fn()
                token = torch.tensor([[self._cache_ids[-1]]], device=self.device)
                position = torch.tensor([[len(self._cache_ids)]], device=self.device)
                with torch.no_grad():
                    for _ in range(3):
                        decode(token, position, self._cache)
                        self._cache.crop(-1)
            return (time.perf_counter() - start) * 1000.0

    def _ensure_prefix(self, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> None:
        if not self.prefix_cache:
            return
        system = [m for m in self._with_system(messages)[:1] if m.get('role') == 'system']
        key = json.dumps([system, [t.to_openai() for t in tools]], sort_keys=True, default=str)
        if key == self._prefix_key:
            return
        prefix_text = self._constant_prefix(messages, tools)
        prefix_ids = self.encode(prefix_text)
        if self.static_cache and len(prefix_ids) + self.max_new_tokens + 64 > self.max_cache_len:
            log.warning('max_cache_len %d is too small for a %d-token prompt prefix: using a dynamic cache',
                        self.max_cache_len, len(prefix_ids))
            self.static_cache = self.compile = False
            self._decode_step = None
        with self._torch.no_grad():
            self._cache, self._cache_ids = self._empty_cache(), []
            if prefix_ids:
                self._forward(prefix_ids, self._cache, 0)
                self._cache_ids = list(prefix_ids)
        self._prefix_key, self._prefix_ids = key, prefix_ids
        self._prefix_text = prefix_text if prefix_text.endswith('<|im_end|>') else ''
        log.info('prefilled the constant prompt prefix: %d tokens', len(prefix_ids))

    def reset_cache(self) -> None:
        with self._lock:
            self._cache, self._cache_ids, self._prefix_key, self._prefix_text = None, [], None, ''

    def _grammar(self, tools: list[ToolSpec]):
        from .constrained import ToolCallGrammar

        key = json.dumps([t.to_openai() for t in tools], sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = ToolCallGrammar(self.tokenizer, self.model.config.vocab_size, tools, self.dialect,
                                                  sorted(self.stop_ids))
        return self._grammars[key]

    # -- generation

    def _generate(self, messages: list[dict[str, Any]], tools: list[ToolSpec], *, tool_choice: ToolChoice,
                  deadline: float | None) -> Iterator[GenerationItem]:
        with self._lock:
            yield from self._generate_locked(messages, tools, tool_choice, deadline)

    def _generate_locked(self, messages, tools, tool_choice, deadline) -> Iterator[GenerationItem]:
        torch = self._torch
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        prompt = self.render(messages, tools)
        thinking_open = prompt.rstrip().endswith('<think>')
        # tool_choice=required: the assistant's answer starts inside a call
        seed = f'{CALL_OPEN}\n' if tool_choice == 'required' and tools else ''
        constraint = None
        if self.constrained and tools:
            constraint = self._grammar(tools).start(tool_choice, inside_call=bool(seed))
            seed = CALL_OPEN if seed else ''   # the grammar itself writes the newline
        t_prefix = time.perf_counter()
        with torch.no_grad():
            self._ensure_prefix(messages, tools)  # once per tool set / system prompt (or warm_up)
        timings['prefix_ms'] = (time.perf_counter() - t_prefix) * 1000.0
        prompt_ids = self._encode_prompt(prompt)
        seed_ids = self.encode(seed) if seed else []
        input_ids = prompt_ids + seed_ids
        timings['template_ms'] = (time.perf_counter() - t0) * 1000.0 - timings['prefix_ms']

        parser = StreamingToolCallParser(self.dialect, tools, thinking_open=thinking_open)
        for item in parser.feed(seed):
            yield item
        generated: list[int] = []
        finish = 'length'
        with torch.no_grad():
            need = len(input_ids) + self.max_new_tokens
            if self.static_cache and need > self.max_cache_len:
                log.warning('prompt of %d tokens + %d new exceeds max_cache_len %d: dynamic cache for this round',
                            len(input_ids), self.max_new_tokens, self.max_cache_len)
                from transformers import DynamicCache
                cache, reused, persistent = DynamicCache(config=self.model.config), 0, False
                decode = self._decode_fn_eager
            else:
                cache, reused = self._sync_cache(input_ids)
                persistent = True
                decode = self._decode_fn()
            t1 = time.perf_counter()
            logits = self._forward(input_ids[reused:], cache, reused)
            if persistent:
                self._cache_ids = list(input_ids)
            position = len(input_ids)
            timings.update(prompt_tokens=len(input_ids), reused_tokens=reused,
                           prefill_ms=(time.perf_counter() - t1) * 1000.0)
            t2 = time.perf_counter()
            text_len, since_close = 0, ''
            all_ids = torch.tensor([input_ids], device=self.device) if self.logits_processors else None
            step_ids = torch.zeros((1, 1), dtype=torch.long, device=self.device)
            step_pos = torch.zeros((1, 1), dtype=torch.long, device=self.device)
            for _ in range(self.max_new_tokens):
                if deadline is not None and time.monotonic() > deadline:
                    finish = 'timeout'
                    break
                scores = logits.float()
                for proc in self.logits_processors:
                    scores = proc(all_ids, scores.unsqueeze(0))[0]
                if constraint is not None:
                    scores = constraint.mask(scores)
                token = int(torch.argmax(scores))
                if token in self.stop_ids:
                    finish = 'tool_calls' if parser.calls else 'stop'
                    break
                if constraint is not None:
                    constraint.accept(token)
                generated.append(token)
                if all_ids is not None:
                    all_ids = torch.cat([all_ids, torch.tensor([[token]], device=self.device)], dim=1)
                text = self.tokenizer.decode(generated, skip_special_tokens=False)
                delta = '' if text.endswith('\ufffd') else text[text_len:]
                if delta:
                    text_len = len(text)
                    events = parser.feed(delta)
                    if events:
                        timings.setdefault('first_call_decode_ms', (time.perf_counter() - t2) * 1000.0)
                        since_close = ''
                        yield from events
                    elif parser.closed_calls and not parser.in_call:
                        since_close += delta
                        tail = since_close.strip()
                        if self.stop_after_calls and tail and not CALL_OPEN.startswith(tail):
                            finish = 'tool_calls'  # the calls are done: no need for trailing chatter
                            break
                # feed the token (skipped on the last iteration so the cache matches the ids)
                step_ids.fill_(token)
                step_pos.fill_(position)
                logits = decode(step_ids, step_pos, cache)
                position += 1
                if persistent:
                    self._cache_ids.append(token)
            if self.device.type == 'cuda':
                torch.cuda.synchronize()
        timings['decode_ms'] = (time.perf_counter() - t2) * 1000.0
        for item in parser.finish():
            yield item
        parsed = parser.result()
        if finish == 'stop' and parsed.calls:
            finish = 'tool_calls'
        yield Completion(text=parsed.text, raw=seed + self.tokenizer.decode(generated, skip_special_tokens=False),
                         finish_reason=finish, timings=timings, tokens=len(generated))

    def _decode_fn_eager(self, input_ids, positions, cache):
        kwargs = {self._forward_kwargs['cache']: cache}
        out = self.model(input_ids=input_ids, position_ids=positions, use_cache=True, logits_to_keep=1, **kwargs)
        return out.logits[0, -1]

    def close(self) -> None:
        self._cache, self._cache_ids, self._decode_step = None, [], None
