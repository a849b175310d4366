"""Tool-call parsing for the two Qwen dialects, incremental so each call is usable as soon as it closes.

Hermes (Qwen2.5, Qwen3)::

    <tool_call>
    {"name": "set_fan_level", "arguments": {"value": 3}}
    </tool_call>

XML (Qwen3.5, Qwen3-Coder)::

    <tool_call>
    <function=set_fan_level>
    <parameter=value>
    3
    </parameter>
    </function>
    </tool_call>

The parser tolerates what small models really emit: near-JSON (single quotes, trailing commas, Python literals,
arguments given as a JSON string, a missing closing brace), `<think>` blocks that are stray or never closed, a bare
JSON call without tags, and output cut off in the middle of a call.
"""
from __future__ import annotations

import ast
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

from qwen_vehicle.core.ir import ToolCall, ToolSpec

log = logging.getLogger(__name__)

Dialect = Literal['hermes', 'xml']

CALL_OPEN, CALL_CLOSE = '<tool_call>', '</tool_call>'
THINK_OPEN, THINK_CLOSE = '<think>', '</think>'
_TAGS = (CALL_OPEN, CALL_CLOSE, THINK_OPEN, THINK_CLOSE)


def detect_dialect(chat_template: str | None) -> Dialect:
    """Tell the tool-call dialect from a checkpoint's chat template text ('hermes' when it cannot tell)."""
    text = chat_template or ''
    if '<function=' in text or '<parameter=' in text:
        return 'xml'
    return 'hermes'


@dataclass
class MalformedCall:
    """A tool call the model tried to make but that could not be read; goes back to the model as an error."""
    raw: str
    reason: str
    name: str | None = None   # known when only the arguments were unreadable (endpoint backends)
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {'raw': self.raw, 'reason': self.reason, 'name': self.name, 'id': self.id}


@dataclass
class ParsedOutput:
    """Everything read from one completion."""
    text: str = ''                     # what the model said outside tool calls and think blocks
    thinking: str = ''
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[MalformedCall] = field(default_factory=list)
    truncated: bool = False            # output ended inside a tool call


# ---------------------------------------------------------------------------------------------------------------
# near-JSON

_TRAILING_COMMA = re.compile(r',\s*([}\]])')
_PY_LITERALS = {'true': 'True', 'false': 'False', 'null': 'None'}


def loads_lenient(text: str) -> Any:
    """json.loads that also accepts single quotes, trailing commas, Python literals and missing closing brackets."""
    text = text.strip()
    if text.startswith('```'):
        text = re.sub(r'^```[a-zA-Z]*\s*|\s*```$', '', text)
    errors = []
    for candidate in _candidates(text):
        try:
            return json.loads(candidate)
        except ValueError as exc:
            errors.append(exc)
        try:
            return ast.literal_eval(_python_literals(candidate))
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            pass
    raise ValueError(f'not valid JSON: {errors[0]}')


def _candidates(text: str) -> Iterable[str]:
    yield text
    fixed = _TRAILING_COMMA.sub(r'\1', text)
    yield fixed
    balanced = _close_brackets(fixed)
    if balanced != fixed:
        yield balanced
        yield _TRAILING_COMMA.sub(r'\1', balanced)


def _python_literals(text: str) -> str:
    """Replace JSON literals outside strings by Python ones, for ast.literal_eval."""
    out, quote, i = [], None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == '\\' and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in '"\'':
            quote = ch
            out.append(ch)
        else:
            match = re.match(r'(true|false|null)\b', text[i:])
            if match and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
                out.append(_PY_LITERALS[match.group(1)])
                i += len(match.group(1))
                continue
            out.append(ch)
        i += 1
    return ''.join(out)


def _close_brackets(text: str) -> str:
    """Append the closing brackets (and quote) a cut-off JSON value is missing."""
    stack, quote, escaped = [], None, False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == '\\':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in '"\'':
            quote = ch
        elif ch in '{[':
            stack.append('}' if ch == '{' else ']')
        elif ch in '}]' and stack and stack[-1] == ch:
            stack.pop()
    return text + (quote or '') + ''.join(reversed(stack))


# ---------------------------------------------------------------------------------------------------------------
# one call body -> ToolCall

def parse_hermes_body(body: str) -> ToolCall:
    """`{"name": ..., "arguments": {...}}` (also `parameters`, OpenAI's nested `function`, arguments as a string)."""
    try:
        obj = loads_lenient(body)
    except ValueError as exc:
        raise ValueError(f'tool call is not valid JSON ({exc})') from None
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        raise ValueError(f'tool call must be a JSON object with "name" and "arguments", got {type(obj).__name__}')
    if isinstance(obj.get('function'), dict):
        obj = obj['function']
    name = obj.get('name')
    if not isinstance(name, str) or not name.strip():
        raise ValueError('tool call has no "name"')
    args = obj.get('arguments', obj.get('parameters', {}))
    if isinstance(args, str):
        try:
            args = loads_lenient(args) if args.strip() else {}
        except ValueError as exc:
            raise ValueError(f'{name}: "arguments" is a string that is not JSON ({exc})') from None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ValueError(f'{name}: "arguments" must be an object, got {type(args).__name__}')
    return ToolCall(name=name.strip(), arguments=args)


_FUNCTION = re.compile(r'<function=([^>\n]+)>(.*?)(?:</function>|$)', re.S)
_PARAMETER = re.compile(r'<parameter=([^>\n]+)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|$)', re.S)


def parse_xml_body(body: str, specs: Mapping[str, ToolSpec] | None = None) -> ToolCall:
    """`<function=name><parameter=x>value</parameter>...</function>`; values converted by the tool's schema."""
    match = _FUNCTION.search(body)
    if not match:
        # Some fine-tunes put Hermes JSON inside an XML-dialect template.
        if body.strip().startswith('{'):
            return parse_hermes_body(body)
        raise ValueError('tool call has no <function=...> element')
    name = match.group(1).strip()
    props = {}
    if specs and name in specs:
        props = specs[name].parameters.get('properties', {})
    args: dict[str, Any] = {}
    for pmatch in _PARAMETER.finditer(match.group(2)):
        key = pmatch.group(1).strip()
        raw = pmatch.group(2)
        # The template writes a newline after the opening and before the closing tag.
        if raw.startswith('\n'):
            raw = raw[1:]
        if raw.endswith('\n'):
            raw = raw[:-1]
        args[key] = convert_xml_value(raw, props.get(key))
    return ToolCall(name=name, arguments=args)


def convert_xml_value(raw: str, schema: Mapping[str, Any] | None) -> Any:
    """XML parameter values are text: keep strings as written, read everything else as (near-)JSON."""
    kind = (schema or {}).get('type')
    if kind == 'string' or (kind is None and schema and 'enum' in schema
                            and all(isinstance(e, str) for e in schema['enum'])):
        return raw
    text = raw.strip()
    if kind in ('integer', 'number'):
        try:
            number = float(text)
        except ValueError:
            return text  # validation says why
        return int(number) if kind == 'integer' and number.is_integer() else number
    if kind == 'boolean':
        low = text.lower()
        return {'true': True, 'false': False}.get(low, text)
    try:
        return loads_lenient(text)
    except ValueError:
        return raw if kind is None else text


def parse_call_body(body: str, dialect: Dialect, specs: Mapping[str, ToolSpec] | None = None) -> ToolCall:
    if dialect == 'xml' or '<function=' in body:
        return parse_xml_body(body, specs)
    return parse_hermes_body(body)


# ---------------------------------------------------------------------------------------------------------------
# the streaming parser

class StreamingToolCallParser:
    """Feed text deltas; get each ToolCall (or MalformedCall) the moment its closing tag arrives.

    >>> p = StreamingToolCallParser('hermes')
    >>> p.feed('<tool_call>{"name": "get_location", "argu')
    []
    >>> p.feed('ments": {}}</tool_call>')[0].name
    'get_location'
    """

    def __init__(self, dialect: Dialect = 'hermes', tools: Iterable[ToolSpec] | Mapping[str, ToolSpec] | None = None,
                 *, thinking_open: bool = False):
        self.dialect = dialect
        if tools is None:
            self.specs: dict[str, ToolSpec] = {}
        elif isinstance(tools, Mapping):
            self.specs = dict(tools)
        else:
            self.specs = {t.name: t for t in tools}
        self._pending = ''          # text not yet classified (could be the start of a tag)
        self._mode = 'think' if thinking_open else 'text'
        self._body: list[str] = []  # current call body
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._raw: list[str] = []
        self.calls: list[ToolCall] = []
        self.errors: list[MalformedCall] = []
        self.closed_calls = 0       # tool calls whose closing tag has been seen (parsed or not)
        self.truncated = False      # output ended inside a tool call

    @property
    def in_call(self) -> bool:
        return self._mode == 'call'

    @property
    def raw(self) -> str:
        return ''.join(self._raw)

    def feed(self, delta: str) -> list[ToolCall | MalformedCall]:
        """Consume more output; return the calls (and malformed calls) completed by it, in order."""
        self._raw.append(delta)
        self._pending += delta
        events: list[ToolCall | MalformedCall] = []
        while self._pending:
            idx, tag = self._next_tag(self._pending)
            if tag is None:
                # Keep back a tail that could be the start of a tag.
                keep = _partial_tag_suffix(self._pending)
                self._emit(self._pending[:len(self._pending) - keep])
                self._pending = self._pending[len(self._pending) - keep:]
                break
            self._emit(self._pending[:idx])
            self._pending = self._pending[idx + len(tag):]
            event = self._on_tag(tag)
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> list[ToolCall | MalformedCall]:
        """End of output: flush, salvage a call left open, and recognise a bare JSON call without tags."""
        events: list[ToolCall | MalformedCall] = []
        self._emit(self._pending)
        self._pending = ''
        if self._mode == 'call':
            body = ''.join(self._body)
            self._body = []
            self._mode = 'text'
            self.truncated = True
            if body.strip():
                try:
                    call = parse_call_body(body, self.dialect, self.specs)
                except ValueError as exc:
                    events.append(self._error(body, f'incomplete tool call (output ended before {CALL_CLOSE}): '
                                                    f'{exc}'))
                else:
                    log.debug('salvaged an unclosed tool call: %s', call.name)
                    self.calls.append(call)
                    events.append(call)
        elif not self.calls and not self.errors:
            bare = self._bare_call(''.join(self._text))
            if bare is not None:
                self._text = []
                self.calls.append(bare)
                events.append(bare)
        return events

    def result(self) -> ParsedOutput:
        return ParsedOutput(text=''.join(self._text).strip(), thinking=''.join(self._thinking).strip(),
                            calls=list(self.calls), errors=list(self.errors),
                            truncated=self.truncated)

    # -- internals

    def _next_tag(self, text: str) -> tuple[int, str | None]:
        if self._mode == 'call':
            # Inside a call only its end matters; a new <tool_call> means the previous one was never closed.
            candidates = (CALL_CLOSE, CALL_OPEN)
        elif self._mode == 'think':
            candidates = (THINK_CLOSE, CALL_OPEN)
        else:
            candidates = _TAGS
        best, best_tag = len(text) + 1, None
        for tag in candidates:
            idx = text.find(tag)
            if idx != -1 and idx < best:
                best, best_tag = idx, tag
        return best, best_tag

    def _emit(self, text: str) -> None:
        if not text:
            return
        {'text': self._text, 'think': self._thinking, 'call': self._body}[self._mode].append(text)

    def _on_tag(self, tag: str) -> ToolCall | MalformedCall | None:
        if self._mode == 'call':
            body = ''.join(self._body)
            self._body = []
            self.closed_calls += 1
            if tag == CALL_OPEN:
                # previous call never closed: parse what there is and start the next one
                self._mode = 'call'
            else:
                self._mode = 'text'
            try:
                call = parse_call_body(body, self.dialect, self.specs)
            except ValueError as exc:
                return self._error(body, str(exc))
            self.calls.append(call)
            return call
        if self._mode == 'think':
            if tag == CALL_OPEN:
                log.debug('tool call inside an unclosed <think> block: closing the block')
                self._mode = 'call'
            else:
                self._mode = 'text'
            return None
        # text mode
        if tag == CALL_OPEN:
            self._mode = 'call'
        elif tag == THINK_OPEN:
            self._mode = 'think'
        elif tag == THINK_CLOSE:
            # Stray close: the template opened the block in the prompt, so what came before was thinking.
            self._thinking.extend(self._text)
            self._text = []
        elif tag == CALL_CLOSE:
            log.debug('stray %s ignored', CALL_CLOSE)
        return None

    def _error(self, body: str, reason: str) -> MalformedCall:
        bad = MalformedCall(raw=body.strip(), reason=reason)
        self.errors.append(bad)
        return bad

    def _bare_call(self, text: str) -> ToolCall | None:
        stripped = text.strip()
        if not (stripped.startswith('{') and stripped.endswith('}')):
            return None
        try:
            call = parse_hermes_body(stripped)
        except ValueError:
            return None
        # Only a known tool: a JSON reply to the user is not a call.
        if self.specs and call.name not in self.specs:
            return None
        return call


def _partial_tag_suffix(text: str) -> int:
    """Length of the longest tail of `text` that is a proper prefix of one of the tags."""
    best = 0
    for tag in _TAGS:
        for n in range(min(len(tag) - 1, len(text)), best, -1):
            if text.endswith(tag[:n]):
                best = n
                break
    return best


def parse_completion(text: str, dialect: Dialect = 'hermes', tools: Iterable[ToolSpec] | None = None,
                     *, thinking_open: bool = False) -> ParsedOutput:
    """Parse a whole completion at once (same rules as the streaming parser)."""
    parser = StreamingToolCallParser(dialect, tools, thinking_open=thinking_open)
    parser.feed(text)
    parser.finish()
    return parser.result()


# ---------------------------------------------------------------------------------------------------------------
# rendering calls back into text (used to build prompts and forced completions)

def render_call(call: ToolCall, dialect: Dialect) -> str:
    """The text a model of this dialect writes for `call`, tags included."""
    if dialect == 'xml':
        params = ''.join(f'<parameter={k}>\n{v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}\n'
                         f'</parameter>\n' for k, v in call.arguments.items())
        return f'{CALL_OPEN}\n<function={call.name}>\n{params}</function>\n{CALL_CLOSE}'
    body = json.dumps({'name': call.name, 'arguments': call.arguments}, ensure_ascii=False)
    return f'{CALL_OPEN}\n{body}\n{CALL_CLOSE}'
