"""The fail-closed safety policy, declared in config/policy.yaml.

Unknown or stale vehicle state denies actuation; each tool has a risk class, preconditions on live state, bounds,
zone permissions, rate limits and a rule for while the car moves. Unlisted tools are denied.
"""
from __future__ import annotations

import logging
import operator
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from ..paths import resolve
from .actuation import value_kind
from .mapping import SignalMap
from .signals import SignalStore

log = logging.getLogger(__name__)

OPS: dict[str, Callable[[Any, Any], bool]] = {
    '<': operator.lt, '<=': operator.le, '==': operator.eq, '!=': operator.ne, '>=': operator.ge, '>': operator.gt,
    'in': lambda a, b: a in b, 'not_in': lambda a, b: a not in b,
}


@dataclass
class Decision:
    allowed: bool
    reason: str | None = None
    confirm: bool = False       # needs the driver's explicit yes first
    deferred: bool = False      # allowed later (parked), not now
    risk: str = 'low'

    def __bool__(self) -> bool:
        return self.allowed


class PolicyError(ValueError):
    pass


class SafetyPolicy:
    def __init__(self, spec: dict[str, Any], store: SignalStore, signal_map: SignalMap | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.store = store
        self.map = signal_map
        self.clock = clock
        self.state_paths: dict[str, str] = dict(spec.get('state') or {})
        self.tools: dict[str, dict[str, Any]] = dict(spec.get('tools') or {})
        self.moving_speed = float(spec.get('moving_speed_kmh', 3.0))
        self.while_moving = dict(spec.get('while_moving') or {})
        self._calls: dict[str, deque] = {}
        self._lock = threading.Lock()
        self._validate()

    @classmethod
    def load(cls, path: str, store: SignalStore, signal_map: SignalMap | None = None) -> 'SafetyPolicy':
        path = resolve(path, 'config')
        with open(path, encoding='utf-8') as fh:
            spec = yaml.safe_load(fh)
        try:
            return cls(spec, store, signal_map)
        except PolicyError as exc:
            raise PolicyError(f'{path}: {exc}') from None

    def _validate(self) -> None:
        for key, path in self.state_paths.items():
            if self.map is not None and path not in self.map.signals:
                raise PolicyError(f'state {key}: {path} is not in the signal map')
        for tool, rule in self.tools.items():
            for key in rule.get('requires', []):
                if key not in self.state_paths:
                    raise PolicyError(f'tool {tool}: requires unknown state {key!r}')
            for cond in rule.get('when', []):
                if cond.get('key') not in self.state_paths or cond.get('op') not in OPS:
                    raise PolicyError(f'tool {tool}: bad condition {cond}')
            if rule.get('while_moving', 'allow') not in ('allow', 'defer', 'deny'):
                raise PolicyError(f'tool {tool}: while_moving must be allow, defer or deny')

    # ---- live state --------------------------------------------------------------------------------------
    def state(self, key: str) -> Any:
        """The live value, or None when unknown, invalid or stale."""
        return self.store.value(self.state_paths[key])

    def moving(self) -> bool | None:
        """True/False, or None when speed is unknown (callers treat None as moving)."""
        speed = self.state('speed') if 'speed' in self.state_paths else None
        if speed is None:
            return None
        return float(speed) > self.moving_speed

    def reply_style(self) -> dict[str, Any]:
        if self.moving() is False:
            return {'max_reply_chars': None, 'no_lists': False}
        return {'max_reply_chars': self.while_moving.get('max_reply_chars', 140),
                'no_lists': bool(self.while_moving.get('no_lists', True))}

    # ---- decisions ------------------------------------------------------------------------------------------
    def check_tool(self, tool: str, arguments: dict[str, Any] | None = None, *, zone: str | None = None,
                   source: str = '', record: bool = True) -> Decision:
        arguments = arguments or {}
        rule = self.tools.get(tool)
        if rule is None:
            return Decision(False, f'{tool} is not permitted by the safety policy')
        risk = rule.get('risk', 'low')
        for key in rule.get('requires', []):
            if self.state(key) is None:
                return Decision(False, f'{key} is unknown or stale, so {tool} is refused (fail-closed)', risk=risk)
        value = arguments.get('value')
        for cond in rule.get('when', []):
            if 'value_in' in cond and value not in cond['value_in']:
                continue
            live = self.state(cond['key'])
            try:
                ok = live is not None and OPS[cond['op']](live, cond['value'])
            except TypeError:
                ok = False
            if not ok:
                return Decision(False, cond.get('reason') or f'{cond["key"]} is {live}', risk=risk)
        bounds = rule.get('bounds')
        if bounds and isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < bounds.get('min', value) or value > bounds.get('max', value):
                return Decision(False, f'{value:g} is outside the permitted {bounds.get("min")}..{bounds.get("max")}',
                                risk=risk)
        zones = rule.get('zones')
        target_zone = arguments.get('zone')
        if zones and target_zone:
            allowed_zones = zones.get(zone or '*', [])
            if target_zone not in allowed_zones:
                who = f'the {zone} seat' if zone else 'this caller'
                return Decision(False, f'{who} may not change the {target_zone} side', risk=risk)
        moving = self.moving()
        rule_moving = rule.get('while_moving', 'allow')
        if rule_moving != 'allow' and moving is not False:
            if rule_moving == 'deny':
                return Decision(False, f'{tool} is not available while driving', risk=risk)
            return Decision(False, f'{tool} is deferred until the car is parked', deferred=True, risk=risk)
        limit = rule.get('rate_limit')
        if limit and record:
            now = self.clock()
            with self._lock:
                window = self._calls.setdefault(tool, deque())
                while window and now - window[0] > float(limit['per_s']):
                    window.popleft()
                if len(window) >= int(limit['count']):
                    return Decision(False, f'too many {tool} requests: at most {limit["count"]} per '
                                    f'{limit["per_s"]} s', risk=risk)
                window.append(now)
        return Decision(True, None, confirm=bool(rule.get('confirm', False)), risk=risk)

    def check_actuation(self, path: str, value: Any, source: str = '') -> tuple[bool, str | None]:
        """The bridge's hook: the same rules, for a signal path (from any caller, zone unknown)."""
        if self.map is None or path not in self.map.signals or self.map.signals[path].actuator is None:
            return False, f'{path} is not an actuatable signal'
        sig = self.map.signals[path]
        act = sig.actuator
        kind, _ = value_kind(self.map.command_message(sig).get_signal_by_name(act.signal))
        args: dict[str, Any] = {'value': (value == 'On') if kind == 'bool' and isinstance(value, str) else value}
        if act.zone:
            args['zone'] = act.zone
        decision = self.check_tool(act.tool, args, zone=None, source=source, record=source != 'assistant')
        return decision.allowed, decision.reason

