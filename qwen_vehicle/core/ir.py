"""The intermediate representation shared by the rule engine and the LLM backends.

Tool calls grouped into an ordered plan, their results, and tool specifications in the Qwen/OpenAI `tools` format.
Nothing here imports rclpy.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Language = Literal['en', 'zh']
ResultStatus = Literal[
    'ok',          # a read or a service call succeeded
    'done',        # an actuation was read back from the bus
    'accepted',    # an actuation is on the bus, read-back pending
    'refused',     # validation or the safety policy said no (reason given)
    'timeout',     # read-back did not arrive in time
    'error',       # the backend failed (reason given)
    'pending_confirmation',  # waits for the driver's explicit yes
    'cancelled',
    'queued',      # put in the offline outbox
]


def new_id(prefix: str = 'call') -> str:
    return f'{prefix}_{uuid.uuid4().hex[:12]}'


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)

    def to_dict(self) -> dict[str, Any]:
        return {'id': self.id, 'name': self.name, 'arguments': dict(self.arguments)}

    def key(self) -> tuple[str, tuple]:
        """Identity ignoring the id: what golden tests compare."""
        return self.name, tuple(sorted((k, _freeze(v)) for k, v in self.arguments.items()))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass
class Plan:
    """What an engine proposes for one utterance; code (schema, policy) decides what runs."""
    calls: list[ToolCall] = field(default_factory=list)
    language: Language = 'en'
    source: str = 'rules'            # 'rules' or the LLM backend's name
    confidence: float = 1.0          # the rule engine's confidence that it understood
    clarification: str | None = None  # a question to ask when a required slot is missing
    reply: str | None = None         # a direct reply (refusal, small talk) when there is nothing to call

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data['calls'] = [c.to_dict() for c in self.calls]
        return data


@dataclass
class ToolResult:
    call_id: str
    name: str
    status: ResultStatus
    content: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    untrusted: bool = False  # content came from an outside service: never a basis for an action

    @property
    def ok(self) -> bool:
        return self.status in ('ok', 'done', 'accepted', 'pending_confirmation', 'queued')

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ToolSpec:
    """One tool in the Qwen/OpenAI function-calling format, plus what the policy needs to know."""
    name: str
    description: str
    parameters: dict[str, Any]
    kind: Literal['read', 'set', 'service'] = 'read'
    risk: Literal['low', 'medium', 'high'] = 'low'
    needs_confirmation: bool = False
    paths: dict[str, str] = field(default_factory=dict)  # zone (or '') -> signal path, for vehicle tools

    def to_openai(self) -> dict[str, Any]:
        return {'type': 'function',
                'function': {'name': self.name, 'description': self.description, 'parameters': self.parameters}}


class ToolArgumentError(ValueError):
    """Arguments that do not match a tool's schema; the message says which and why."""


def validate_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """Check `arguments` against the spec's JSON schema subset; return them with defaults and coercions applied."""
    schema = spec.parameters
    if not isinstance(arguments, dict):
        raise ToolArgumentError(f'{spec.name}: arguments must be an object, got {type(arguments).__name__}')
    props = schema.get('properties', {})
    unknown = sorted(set(arguments) - set(props))
    if unknown and not schema.get('additionalProperties', False):
        raise ToolArgumentError(f'{spec.name}: unknown argument(s) {unknown}; expected {sorted(props)}')
    out: dict[str, Any] = {}
    for name in schema.get('required', []):
        if name not in arguments:
            raise ToolArgumentError(f'{spec.name}: missing required argument {name!r}')
    for name, sub in props.items():
        if name in arguments:
            out[name] = _check_value(f'{spec.name}.{name}', sub, arguments[name])
        elif 'default' in sub:
            out[name] = sub['default']
    return out


def _check_value(where: str, schema: dict[str, Any], value: Any) -> Any:
    kind = schema.get('type')
    if 'enum' in schema:
        if value not in schema['enum']:
            raise ToolArgumentError(f'{where}: {value!r} is not one of {schema["enum"]}')
        return value
    if kind == 'boolean':
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ('true', 'on', 'yes', '1', 'false', 'off', 'no', '0'):
            return value.lower() in ('true', 'on', 'yes', '1')
        raise ToolArgumentError(f'{where}: expected true or false, got {value!r}')
    if kind in ('number', 'integer'):
        if isinstance(value, bool):
            raise ToolArgumentError(f'{where}: expected a number, got {value!r}')
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ToolArgumentError(f'{where}: expected a number, got {value!r}') from None
        if not isinstance(value, (int, float)):
            raise ToolArgumentError(f'{where}: expected a number, got {value!r}')
        if kind == 'integer':
            if float(value) != int(value):
                raise ToolArgumentError(f'{where}: expected a whole number, got {value!r}')
            value = int(value)
        low, high = schema.get('minimum'), schema.get('maximum')
        unit = schema.get('x-unit', '')
        if low is not None and value < low or high is not None and value > high:
            raise ToolArgumentError(f'{where}: {value}{unit} is outside {low}..{high}{unit}')
        return value
    if kind == 'string':
        if not isinstance(value, str):
            raise ToolArgumentError(f'{where}: expected a string, got {value!r}')
        if schema.get('maxLength') and len(value) > schema['maxLength']:
            raise ToolArgumentError(f'{where}: longer than {schema["maxLength"]} characters')
        return value
    if kind == 'array':
        if not isinstance(value, list):
            raise ToolArgumentError(f'{where}: expected a list, got {value!r}')
        items = schema.get('items', {})
        if schema.get('minItems') and len(value) < schema['minItems']:
            raise ToolArgumentError(f'{where}: needs at least {schema["minItems"]} item(s)')
        return [_check_value(f'{where}[{i}]', items, v) for i, v in enumerate(value)]
    if kind == 'object':
        if not isinstance(value, dict):
            raise ToolArgumentError(f'{where}: expected an object, got {value!r}')
        inner = ToolSpec(where, '', schema)
        return validate_arguments(inner, value)
    return value
