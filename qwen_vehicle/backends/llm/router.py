"""Which engine answers an utterance: the rule engine, the on-board model, or the cloud model.

1. The rule engine runs first (deterministic, offline, instant).
2. An LLM is asked only when the rules are not confident (plan.confidence < threshold) or the request is open
   (the plan has neither calls nor a reply nor a clarification question).
3. Local vs cloud: by preference, connectivity and a latency budget (median of the recent latencies of each).
4. With no connectivity it falls back to what runs on the car and says so (`notice`, `offline=True`).
5. Vehicle control always works offline: a rule plan holding vehicle calls never goes to a cloud-only path; it
   goes to the on-board model or stays with the rules.
"""
from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Sequence

from qwen_vehicle.core.ir import Plan, ToolCall, ToolSpec

from .base import Execute, LLMBackend, LLMBackendError, LLMTurn

log = logging.getLogger(__name__)

Engine = Literal['rules', 'local', 'cloud', 'none']
RuleEngine = Callable[[str, Any], Plan]  # or an object with .parse(text, context) -> Plan

# The vehicle tools of the assistant's tool set (common contract); a Router can be given its own.
VEHICLE_TOOLS = frozenset({
    'set_target_temperature', 'set_fan_level', 'set_air_conditioning', 'set_recirculation', 'set_defrost',
    'set_seat_heating', 'get_cabin_temperature', 'get_climate_status', 'get_battery_status', 'get_location',
    'get_vehicle_state'})

OFFLINE_NOTICE = {
    'en': 'I am offline, so I am using the on-board assistant; vehicle controls work as usual.',
    'zh': '当前没有网络，正在使用车载助手；车辆控制不受影响。',
}
OFFLINE_RULES_NOTICE = {
    'en': 'I am offline: only vehicle controls and on-board features are available right now.',
    'zh': '当前没有网络：现在只能使用车辆控制和车载功能。',
}


@dataclass
class RouteDecision:
    engine: Engine
    reason: str
    plan: Plan | None = None              # the rule engine's plan (what runs when engine == 'rules')
    backend: LLMBackend | None = None     # the LLM to ask when engine is 'local' or 'cloud'
    notice: str | None = None             # something the driver should be told (offline fallback)
    offline: bool = False
    vehicle_control: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {'engine': self.engine, 'reason': self.reason, 'notice': self.notice, 'offline': self.offline,
                'vehicle_control': self.vehicle_control,
                'backend': self.backend.name if self.backend else None,
                'plan': self.plan.to_dict() if self.plan else None}


@dataclass
class _Latency:
    samples: deque = field(default_factory=lambda: deque(maxlen=20))

    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


class Router:
    def __init__(self, rules: RuleEngine | None, local: LLMBackend | None = None, cloud: LLMBackend | None = None, *,
                 connectivity: Callable[[], bool] = lambda: True, latency_budget_ms: float = 2000.0,
                 confidence_threshold: float = 0.6, prefer: Literal['local', 'cloud'] = 'local',
                 vehicle_tools: Iterable[str | ToolSpec] | None = None, latency_window: int = 20,
                 cloud_cooldown_s: float = 30.0):
        if prefer not in ('local', 'cloud'):
            raise ValueError(f"prefer must be 'local' or 'cloud', got {prefer!r}")
        if not 0.0 <= confidence_threshold <= 1.0:
            raise ValueError(f'confidence_threshold must be within 0..1, got {confidence_threshold}')
        self.rules = rules
        self.local = local
        self.cloud = cloud
        self.connectivity = connectivity
        self.latency_budget_ms = latency_budget_ms
        self.confidence_threshold = confidence_threshold
        self.prefer = prefer
        self.cloud_cooldown_s = cloud_cooldown_s
        if vehicle_tools is None:
            self.vehicle_tools = set(VEHICLE_TOOLS)
        else:
            self.vehicle_tools = {t.name if isinstance(t, ToolSpec) else t for t in vehicle_tools
                                  if not isinstance(t, ToolSpec) or t.kind in ('read', 'set')}
        self._latency = {'local': _Latency(deque(maxlen=latency_window)),
                         'cloud': _Latency(deque(maxlen=latency_window))}
        self._cloud_failed_at: float | None = None
        self._lock = threading.Lock()

    # -- bookkeeping

    def record_latency(self, engine: str, ms: float) -> None:
        if engine in self._latency:
            with self._lock:
                self._latency[engine].samples.append(float(ms))

    def recent_latency_ms(self, engine: str) -> float | None:
        with self._lock:
            return self._latency[engine].median()

    def record_cloud_failure(self) -> None:
        with self._lock:
            self._cloud_failed_at = time.monotonic()

    def _cloud_reachable(self) -> bool:
        if self.cloud is None:
            return False
        with self._lock:
            failed = self._cloud_failed_at
        if failed is not None and time.monotonic() - failed < self.cloud_cooldown_s:
            return False
        try:
            return bool(self.connectivity())
        except Exception:  # a broken probe means no connectivity, not a crash
            log.exception('connectivity probe failed')
            return False

    def _within_budget(self, engine: str) -> bool:
        median = self.recent_latency_ms(engine)
        return median is None or median <= self.latency_budget_ms

    def is_vehicle_call(self, call: ToolCall) -> bool:
        return call.name in self.vehicle_tools

    # -- the decision

    def route(self, utterance: str, context: Any = None, plan: Plan | None = None) -> RouteDecision:
        """Decide for one utterance; `plan` is the rule engine's plan when the caller already has it."""
        if plan is None:
            plan = self._rule_plan(utterance, context)
        lang = getattr(plan, 'language', 'en') if plan else 'en'
        vehicle = bool(plan and any(self.is_vehicle_call(c) for c in plan.calls))
        has_answer = bool(plan and (plan.calls or plan.reply or plan.clarification))
        if plan is not None and has_answer and plan.confidence >= self.confidence_threshold:
            return RouteDecision('rules', f'rules confident ({plan.confidence:.2f})', plan=plan,
                                 vehicle_control=vehicle)
        why = ('open request' if not has_answer
               else f'rules not confident ({plan.confidence:.2f} < {self.confidence_threshold})')
        cloud_ok = self._cloud_reachable()
        offline = self.cloud is not None and not cloud_ok

        if vehicle:
            # vehicle control never depends on the network
            if self.local is not None:
                return RouteDecision('local', f'{why}; vehicle control stays on the car', plan=plan,
                                     backend=self.local, vehicle_control=True)
            return RouteDecision('rules', f'{why}; vehicle control stays on the car (no on-board model)',
                                 plan=plan, vehicle_control=True)

        order = ['local', 'cloud'] if self.prefer == 'local' else ['cloud', 'local']
        usable = {'local': self.local is not None, 'cloud': cloud_ok}
        # the preferred engine unless it is over the latency budget and the other one is not
        candidates = [e for e in order if usable[e]]
        if len(candidates) == 2 and not self._within_budget(candidates[0]) and self._within_budget(candidates[1]):
            first, second = candidates
            return RouteDecision(second, f'{why}; {first} over the {self.latency_budget_ms:.0f} ms budget '
                                         f'(median {self.recent_latency_ms(first):.0f} ms)',
                                 plan=plan, backend=self._backend(second))
        if candidates:
            engine = candidates[0]
            notice = None
            reason = f'{why}; {engine} model'
            if engine == 'local' and offline and self.prefer == 'cloud':
                notice = OFFLINE_NOTICE.get(lang, OFFLINE_NOTICE['en'])
                reason += ' (offline fallback)'
            return RouteDecision(engine, reason, plan=plan, backend=self._backend(engine), notice=notice,
                                 offline=offline)
        # no model can be asked
        if offline:
            notice = OFFLINE_RULES_NOTICE.get(lang, OFFLINE_RULES_NOTICE['en'])
            if has_answer:
                return RouteDecision('rules', f'{why}; offline and no on-board model: rules plan', plan=plan,
                                     notice=notice, offline=True)
            return RouteDecision('none', f'{why}; offline and no on-board model', plan=plan, notice=notice,
                                 offline=True)
        if has_answer:
            return RouteDecision('rules', f'{why}; no model configured: rules plan', plan=plan)
        return RouteDecision('none', f'{why}; no model configured', plan=plan)

    def _rule_plan(self, utterance: str, context: Any) -> Plan | None:
        if self.rules is None:
            return None
        if callable(self.rules):
            return self.rules(utterance, context)
        return self.rules.parse(utterance, context)  # an intent engine object

    def _backend(self, engine: str) -> LLMBackend | None:
        return self.local if engine == 'local' else self.cloud if engine == 'cloud' else None

    # -- running it

    def respond(self, decision: RouteDecision, messages: Sequence[dict[str, Any]], tools: Sequence[ToolSpec],
                execute: Execute, **kwargs: Any) -> tuple[LLMTurn, RouteDecision]:
        """Ask the decision's model; when the cloud fails, fall back to the on-board model and say so."""
        if decision.backend is None or decision.engine not in ('local', 'cloud'):
            raise ValueError(f'decision {decision.engine!r} has no model to ask')
        start = time.perf_counter()
        try:
            turn = decision.backend.respond(messages, tools, execute, **kwargs)
        except LLMBackendError as exc:
            self.record_latency(decision.engine, (time.perf_counter() - start) * 1000.0)
            if decision.engine != 'cloud' or self.local is None:
                raise
            if exc.executed_calls:
                # asking again could repeat an action: report instead
                self.record_cloud_failure()
                raise
            self.record_cloud_failure()
            log.warning('cloud model failed (%s): falling back to the on-board model', exc)
            lang = decision.plan.language if decision.plan else 'en'
            fallback = RouteDecision('local', f'cloud failed ({exc}); on-board model', plan=decision.plan,
                                     backend=self.local, notice=OFFLINE_NOTICE.get(lang, OFFLINE_NOTICE['en']),
                                     offline=True, vehicle_control=decision.vehicle_control)
            return self.respond(fallback, messages, tools, execute, **kwargs)
        self.record_latency(decision.engine, (time.perf_counter() - start) * 1000.0)
        return turn, decision
