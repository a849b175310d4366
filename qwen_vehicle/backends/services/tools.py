"""The service tools the assistant offers, and the executor that runs one validated call at a time.

    executor = ServiceExecutor.from_config({'base_url': url, 'token': 'sandbox-token'}, store_path='svc.db',
                                           coverage=lambda: modem.up, on_outcome=tell_driver)
    result = executor.execute(call, position=(30.25, 120.15))                  # reads
    result = executor.execute(call, idempotency_key=confirmation_id)            # * tools, after the driver's yes

Rules: arguments are checked against the tool's schema; money/irreversible tools are refused without an
idempotency key (the assistant makes one when the driver confirms) and always go through the durable outbox;
everything that came from a provider is returned with `untrusted=True` and its free text wrapped in
<untrusted>...</untrusted>, so it is shown to the driver as data and never read as an instruction. Nothing
here raises: failures come back as ToolResult(status='refused' | 'error', reason=...).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ...core.ir import ToolArgumentError, ToolCall, ToolResult, ToolSpec, new_id, validate_arguments
from . import confirm, make_adapter
from .base import ID_PATTERN, ServiceAdapter, ServiceError, ServiceRejected, ServiceUnavailable, \
    check_idempotency_key
from .outbox import Outbox, OutboxConflict, OutboxEntry, ReadCache
from .untrusted import (UNTRUSTED_CLOSE, UNTRUSTED_NOTICE, UNTRUSTED_OPEN, has_markers, is_wrapped,  # noqa: F401
                        mark_untrusted, plain_text, strip_markers, wrap_untrusted)

log = logging.getLogger(__name__)

DATE_PATTERN = r'^\d{4}-\d{2}-\d{2}$'


def _id(description: str) -> dict[str, Any]:
    return {'type': 'string', 'description': description, 'pattern': ID_PATTERN, 'maxLength': 64}


def _date(description: str) -> dict[str, Any]:
    return {'type': 'string', 'description': description, 'pattern': DATE_PATTERN, 'format': 'date'}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {'type': 'object', 'properties': properties, 'required': required or [], 'additionalProperties': False}


def service_tools() -> list[ToolSpec]:
    """The service tools, in the fixed names and arguments of the tool set (kind 'service')."""
    city = {'type': 'string', 'maxLength': 40, 'description': 'city name in Chinese or English, e.g. 上海 or Shanghai'}
    return [
        ToolSpec('search_restaurants', 'Find restaurants that deliver near the car, nearest first.',
                 _obj({'query': {'type': 'string', 'maxLength': 60, 'description': 'dish or restaurant name'},
                       'cuisine': {'type': 'string', 'maxLength': 30, 'description': 'e.g. noodles, pizza, 杭帮菜'},
                       'max_distance_km': {'type': 'number', 'minimum': 0.1, 'maximum': 50, 'x-unit': ' km',
                                           'description': 'search radius around the car (default 5 km)'}}),
                 kind='service'),
        ToolSpec('get_menu', "A restaurant's menu with prices in CNY.",
                 _obj({'restaurant_id': _id('from search_restaurants')}, ['restaurant_id']), kind='service'),
        ToolSpec('order_food', 'Order food for delivery (spends money: needs the driver to confirm).',
                 _obj({'restaurant_id': _id('from search_restaurants'),
                       'items': {'type': 'array', 'minItems': 1, 'maxItems': 20,
                                 'items': _obj({'item_id': _id('from get_menu'),
                                                'quantity': {'type': 'integer', 'minimum': 1, 'maximum': 50}},
                                               ['item_id', 'quantity'])},
                       'note': {'type': 'string', 'maxLength': 200, 'description': 'note for the restaurant'}},
                      ['restaurant_id', 'items']),
                 kind='service', risk='high', needs_confirmation=True),
        ToolSpec('food_order_status', 'Status and ETA of a food order (the latest ones without an id).',
                 _obj({'order_id': _id('from order_food')}), kind='service'),
        ToolSpec('cancel_food_order', 'Cancel a food order that is not on its way yet (needs confirmation).',
                 _obj({'order_id': _id('from order_food')}, ['order_id']),
                 kind='service', risk='medium', needs_confirmation=True),
        ToolSpec('search_trains', 'Trains to a city on a date (origin defaults to the city the car is in).',
                 _obj({'origin': city, 'destination': city, 'date': _date('YYYY-MM-DD, default today')},
                      ['destination']), kind='service'),
        ToolSpec('search_flights', 'Flights to a city on a date (origin defaults to the city the car is in).',
                 _obj({'origin': city, 'destination': city, 'date': _date('YYYY-MM-DD, default today')},
                      ['destination']), kind='service'),
        ToolSpec('search_hotels', 'Hotels in a city with the price for the stay.',
                 _obj({'city': city, 'check_in': _date('YYYY-MM-DD, default today'),
                       'nights': {'type': 'integer', 'minimum': 1, 'maximum': 30, 'default': 1}}, ['city']),
                 kind='service'),
        ToolSpec('book_travel', 'Book a train, flight or hotel offer (spends money: needs confirmation).',
                 _obj({'offer_id': _id('from search_trains, search_flights or search_hotels'),
                       'passengers': {'type': 'integer', 'minimum': 1, 'maximum': 9, 'default': 1}},
                      ['offer_id']),
                 kind='service', risk='high', needs_confirmation=True),
        ToolSpec('get_itinerary', "The driver's travel bookings.", _obj({}), kind='service'),
        ToolSpec('change_booking', 'Move a booking to another offer of the same kind (may cost a fee).',
                 _obj({'booking_id': _id('from get_itinerary'),
                       'new_offer_id': _id('from a search')}, ['booking_id', 'new_offer_id']),
                 kind='service', risk='high', needs_confirmation=True),
        ToolSpec('list_parcels', "The driver's parcels and where each one is.", _obj({}), kind='service'),
        ToolSpec('track_parcel', "A parcel's tracking history.",
                 _obj({'tracking_number': _id('from list_parcels')}, ['tracking_number']), kind='service'),
        ToolSpec('redirect_parcel', 'Send a parcel to home, office or a locker instead (needs confirmation).',
                 _obj({'tracking_number': _id('from list_parcels'),
                       'destination': {'type': 'string', 'enum': ['home', 'office', 'locker']}},
                      ['tracking_number', 'destination']),
                 kind='service', risk='medium', needs_confirmation=True),
    ]


def is_untrusted(result: ToolResult) -> bool:
    """True when a result carries provider content (never a basis for an action on its own)."""
    return bool(result.untrusted) or bool(result.content.get('untrusted_fields')) or has_markers(result.reason)




# ---- executor -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tool:
    family: str           # adapter family: food, travel, parcels
    write: bool           # money / irreversible: idempotency key + outbox
    needs_position: bool = False


TOOLS: dict[str, _Tool] = {
    'search_restaurants': _Tool('food', False, needs_position=True),
    'get_menu': _Tool('food', False),
    'order_food': _Tool('food', True),
    'food_order_status': _Tool('food', False),
    'cancel_food_order': _Tool('food', True),
    'search_trains': _Tool('travel', False),
    'search_flights': _Tool('travel', False),
    'search_hotels': _Tool('travel', False),
    'book_travel': _Tool('travel', True),
    'get_itinerary': _Tool('travel', False),
    'change_booking': _Tool('travel', True),
    'list_parcels': _Tool('parcels', False),
    'track_parcel': _Tool('parcels', False),
    'redirect_parcel': _Tool('parcels', True),
}

_WHAT = {  # (English, Chinese) names for driver messages
    'order_food': ('food order', '外卖订单'), 'cancel_food_order': ('order cancellation', '取消订单'),
    'book_travel': ('booking', '预订'), 'change_booking': ('booking change', '改签'),
    'redirect_parcel': ('parcel redirect', '包裹改派'),
}


class ServiceExecutor:
    """Runs service tool calls against adapters; writes go through the outbox, reads through the cache."""

    def __init__(self, adapters: dict[str, ServiceAdapter], *, store_path: str = ':memory:',
                 coverage: Callable[[], bool] | None = None,
                 on_outcome: Callable[[ToolResult], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 _hooks: dict[str, Callable[[OutboxEntry], None]] | None = None):
        self.adapters = dict(adapters)
        self.specs = {spec.name: spec for spec in service_tools()}
        self.outbox = Outbox(store_path, clock=clock)
        self.cache = ReadCache(store_path, clock=clock)
        self.coverage = coverage or (lambda: True)
        self.on_outcome = on_outcome
        self._hooks = dict(_hooks or {})  # test-only: 'before_send' / 'after_send' (reply in hand, not stored)
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False

    @classmethod
    def from_config(cls, config: dict[str, Any], **kwargs: Any) -> ServiceExecutor:
        """`config`: defaults (`base_url`, `token` or `token_env`, `timeout_s`, `retries`, `backoff_s`) plus
        optional per-family sections `food`/`travel`/`parcels` that override them and may name another
        registered `adapter`."""
        common = {k: v for k, v in config.items() if k not in TOOL_FAMILIES}
        adapters = {}
        for family in TOOL_FAMILIES:
            section = {**common, **(config.get(family) or {})}
            name = section.pop('adapter', family)
            base_url = section.pop('base_url', None)
            if not base_url:
                raise ValueError(f'services.{family}: base_url is required')
            token, token_env = section.pop('token', None), section.pop('token_env', None)
            if token is None and token_env:
                token = os.environ.get(token_env)
                if token is None:
                    raise ValueError(f'services.{family}: environment variable {token_env} (token_env) is not set')
            adapters[family] = make_adapter(name, base_url=base_url, token=token, **section)
        return cls(adapters, **kwargs)

    # ---- the one entry point ------------------------------------------------------------------------------
    def execute(self, call: ToolCall, *, idempotency_key: str | None = None,
                position: tuple[float, float] | None = None) -> ToolResult:
        try:
            return self._execute(call, idempotency_key, position)
        except Exception as exc:  # noqa: BLE001 - a backend bug becomes an error result, never a crash upstream
            log.exception('service tool %s failed', call.name)
            return ToolResult(call.id, call.name, 'error', reason=f'{call.name} failed: {exc}')

    def _execute(self, call: ToolCall, key: str | None, position: tuple[float, float] | None) -> ToolResult:
        if self._closed:
            return ToolResult(call.id, call.name, 'refused', reason='the service executor is shut down')
        spec, tool = self.specs.get(call.name), TOOLS.get(call.name)
        if spec is None or tool is None:
            return ToolResult(call.id, call.name, 'refused',
                              reason=f'unknown service tool {call.name!r}; known: {", ".join(sorted(TOOLS))}')
        try:
            args = validate_arguments(spec, call.arguments)
            _check_strings(call.name, spec.parameters, args)
        except ToolArgumentError as exc:
            return ToolResult(call.id, call.name, 'refused', reason=str(exc))
        if tool.write:
            if key is None:
                return ToolResult(call.id, call.name, 'refused', reason=(
                    f'{call.name} spends money or cannot be undone: it needs the driver\'s explicit confirmation '
                    'and an idempotency key'))
            try:
                check_idempotency_key(key)
            except ServiceRejected as exc:
                return ToolResult(call.id, call.name, 'refused', reason=str(exc))
        if tool.family not in self.adapters:
            return ToolResult(call.id, call.name, 'error', reason=f'no {tool.family} service is configured')
        if tool.write:
            return self._write(call, args, key)
        if tool.needs_position and position is None:
            return ToolResult(call.id, call.name, 'error',
                              reason="the car's position is unknown (no GNSS fix), cannot search nearby")
        return self._read(call, args, position)

    def preview(self, call: ToolCall) -> ToolResult:
        """What to ask the driver before a * tool: status 'pending_confirmation' with content
        `summary` {'en', 'zh'}, `idempotency_key` (a fresh one: pass it to `execute` when the driver says yes,
        and again on any retry), `details` (total_cny...). Reads only; nothing is sent or queued."""
        try:
            return self._preview(call)
        except Exception as exc:  # noqa: BLE001 - same contract as execute
            log.exception('service preview %s failed', call.name)
            return ToolResult(call.id, call.name, 'error', reason=f'{call.name} preview failed: {exc}')

    def _preview(self, call: ToolCall) -> ToolResult:
        if self._closed:
            return ToolResult(call.id, call.name, 'refused', reason='the service executor is shut down')
        spec, tool = self.specs.get(call.name), TOOLS.get(call.name)
        if spec is None or tool is None:
            return ToolResult(call.id, call.name, 'refused',
                              reason=f'unknown service tool {call.name!r}; known: {", ".join(sorted(TOOLS))}')
        if not tool.write:
            return ToolResult(call.id, call.name, 'refused', reason=f'{call.name} needs no confirmation')
        try:
            args = validate_arguments(spec, call.arguments)
            _check_strings(call.name, spec.parameters, args)
        except ToolArgumentError as exc:
            return ToolResult(call.id, call.name, 'refused', reason=str(exc))
        content: dict[str, Any] = {'tool': call.name, 'arguments': args, 'idempotency_key': new_id('idem')}
        if self.coverage():
            try:
                en, zh, details = confirm.describe(self.adapters, call.name, args)
            except ServiceUnavailable:
                en, zh = confirm.fallback(call.name, args)
                details = {'unverified': True}
            except ServiceError as exc:
                return self._error(call, exc)
        else:
            en, zh = confirm.fallback(call.name, args)
            details = {'unverified': True}
        content.update({'summary': {'en': en, 'zh': zh}, 'details': details})
        return ToolResult(call.id, call.name, 'pending_confirmation', content=content, untrusted=True)

    # ---- reads ----------------------------------------------------------------------------------------------
    def _read(self, call: ToolCall, args: dict[str, Any], position: tuple[float, float] | None) -> ToolResult:
        if self.coverage():
            try:
                raw = self._dispatch(call.name, args, None, position)
            except ServiceUnavailable as exc:
                return self._from_cache(call, args, f'{exc}')
            except ServiceError as exc:
                return self._error(call, exc)
            self.cache.put(call.name, args, raw)
            return self._ok(call, raw)
        return self._from_cache(call, args, 'no coverage')

    def _from_cache(self, call: ToolCall, args: dict[str, Any], why: str) -> ToolResult:
        hit = self.cache.get(call.name, args)
        if hit is None:
            return ToolResult(call.id, call.name, 'error', reason=f'{why}, and there is no saved copy of this data',
                              content={'offline': True})
        raw, age = hit
        result = self._ok(call, raw)
        if age < 90:
            ago_en, ago_zh = f'{age:.0f} s', f'{age:.0f} 秒'
        elif age < 5400:
            ago_en, ago_zh = f'{age / 60:.0f} min', f'{age / 60:.0f} 分钟'
        else:
            ago_en, ago_zh = f'{age / 3600:.1f} h', f'{age / 3600:.1f} 小时'
        result.content.update({'cached': True, 'cached_age_s': round(age, 1), 'offline': True, 'message': {
            'en': f'Offline ({why}): this is saved data from about {ago_en} ago.',
            'zh': f'当前离线：以下是约 {ago_zh}前保存的数据。'}})
        return result

    # ---- writes ---------------------------------------------------------------------------------------------
    def _write(self, call: ToolCall, args: dict[str, Any], key: str) -> ToolResult:
        try:
            entry, _ = self.outbox.put(key, call.id, call.name, args)
        except OutboxConflict as exc:
            return ToolResult(call.id, call.name, 'refused', reason=str(exc))
        if entry.state != 'pending':
            return self._entry_result(entry, call.id)
        if not self.coverage():
            return self._queued(call.id, entry, 'no coverage')
        return self._deliver(entry, call.id)[0]

    def _deliver(self, entry: OutboxEntry, call_id: str) -> tuple[ToolResult, bool]:
        """Send one pending entry: (result, settled now). Another thread may have settled it already."""
        with self._send_lock:
            current = self.outbox.get(entry.key)
            if current is None or current.state != 'pending':
                return self._entry_result(current or entry, call_id), False
            self._hook('before_send', entry)
            try:
                raw = self._dispatch(entry.tool, entry.arguments, entry.key, None)
            except ServiceUnavailable as exc:
                self.outbox.record_attempt(entry.key, str(exc))
                return self._queued(call_id, entry, str(exc)), False
            except ServiceError as exc:
                self.outbox.mark_failed(entry.key, str(exc))
                log.info('outbox %s %s failed: %s', entry.tool, entry.key, exc)
                return self._entry_result(self.outbox.get(entry.key) or entry, call_id), True
            self._hook('after_send', entry)
            self.outbox.mark_delivered(entry.key, raw)
            log.info('outbox %s %s delivered', entry.tool, entry.key)
            return self._entry_result(self.outbox.get(entry.key) or entry, call_id), True

    def _entry_result(self, entry: OutboxEntry, call_id: str) -> ToolResult:
        if entry.state == 'delivered':
            result = self._ok(ToolCall(entry.tool, entry.arguments, call_id), entry.result or {})
            result.content['idempotency_key'] = entry.key
            return result
        if entry.state == 'failed':
            return ToolResult(call_id, entry.tool, 'error', reason=entry.reason,
                              content={'idempotency_key': entry.key}, untrusted=has_markers(entry.reason))
        return self._queued(call_id, entry, entry.last_error or 'not sent yet')

    def _queued(self, call_id: str, entry: OutboxEntry, why: str) -> ToolResult:
        en, zh = _WHAT.get(entry.tool, ('request', '请求'))
        return ToolResult(call_id, entry.tool, 'queued', untrusted=has_markers(why), content={
            'idempotency_key': entry.key, 'queued_because': why, 'message': {
                'en': f'No connection right now: your {en} is saved and will be sent as soon as coverage returns. '
                      'I will tell you when it goes through.',
                'zh': f'当前没有网络：{zh}已保存，恢复网络后会自动提交，完成后会通知您。'}})

    def flush(self) -> list[ToolResult]:
        """Send pending outbox entries while there is coverage; report each final outcome via `on_outcome`."""
        outcomes = []
        for entry in self.outbox.pending():
            if not self.coverage():
                break
            result, settled = self._deliver(entry, entry.call_id)
            if result.status == 'queued':
                break  # still unreachable: keep the order of the rest
            if not settled:
                continue  # settled meanwhile by execute() or another flush, which told the driver
            en, zh = _WHAT.get(entry.tool, ('request', '请求'))
            result.content['from_outbox'] = True
            if result.status == 'ok':
                result.content['message'] = {'en': f'Your saved {en} has now gone through.',
                                             'zh': f'您之前保存的{zh}已提交成功。'}
            else:
                result.content['message'] = {'en': f'Your saved {en} could not be completed: {result.reason}',
                                             'zh': f'您之前保存的{zh}未能完成：{result.reason}'}
            outcomes.append(result)
            if self.on_outcome is not None:
                try:
                    self.on_outcome(result)
                except Exception:  # noqa: BLE001 - a listener bug must not stop the flush
                    log.exception('outbox outcome callback failed')
        return outcomes

    def start_flusher(self, interval_s: float = 2.0) -> None:
        """Flush in a background thread whenever there is coverage and something is pending."""
        if self._flusher is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(interval_s):
                try:
                    if self.coverage() and self.outbox.pending():
                        self.flush()
                except Exception:  # noqa: BLE001 - keep flushing later
                    log.exception('outbox flush failed')

        self._flusher = threading.Thread(target=run, name='services-outbox', daemon=True)
        self._flusher.start()

    def close(self) -> None:
        """Stop the flusher and close the stores; idempotent. Pending entries stay for the next run."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
            self._flusher = None
        with self._send_lock:
            self.outbox.close()
            self.cache.close()

    # ---- helpers --------------------------------------------------------------------------------------------
    def _hook(self, name: str, entry: OutboxEntry) -> None:
        hook = self._hooks.get(name)
        if hook is not None:
            hook(entry)

    def _ok(self, call: ToolCall, raw: dict[str, Any]) -> ToolResult:
        content, fields = mark_untrusted(raw)
        content['untrusted_fields'] = fields
        if fields:
            content['untrusted_notice'] = UNTRUSTED_NOTICE
        return ToolResult(call.id, call.name, 'ok', content=content, untrusted=True)

    def _error(self, call: ToolCall, exc: ServiceError) -> ToolResult:
        content = {'code': getattr(exc, 'code', 'unavailable')}
        return ToolResult(call.id, call.name, 'error', reason=str(exc), content=content,
                          untrusted=has_markers(str(exc)))

    def _dispatch(self, tool: str, a: dict[str, Any], key: str | None,
                  position: tuple[float, float] | None) -> dict[str, Any]:
        food, travel, parcels = (self.adapters.get(f) for f in TOOL_FAMILIES)
        if tool == 'search_restaurants':
            assert position is not None
            return food.search_restaurants(position[0], position[1], query=a.get('query'), cuisine=a.get('cuisine'),
                                           max_distance_km=a.get('max_distance_km'))
        if tool == 'get_menu':
            return food.get_menu(a['restaurant_id'])
        if tool == 'order_food':
            return food.order(a['restaurant_id'], a['items'], note=a.get('note'), idempotency_key=key)
        if tool == 'food_order_status':
            return food.order_status(a.get('order_id'))
        if tool == 'cancel_food_order':
            return food.cancel(a['order_id'], idempotency_key=key)
        if tool in ('search_trains', 'search_flights'):
            search = travel.search_trains if tool == 'search_trains' else travel.search_flights
            return search(a['destination'], origin=a.get('origin'), date=a.get('date'), position=position)
        if tool == 'search_hotels':
            return travel.search_hotels(a['city'], check_in=a.get('check_in'), nights=a.get('nights'))
        if tool == 'book_travel':
            return travel.book(a['offer_id'], passengers=a.get('passengers', 1), idempotency_key=key)
        if tool == 'get_itinerary':
            return travel.itinerary()
        if tool == 'change_booking':
            return travel.change(a['booking_id'], a['new_offer_id'], idempotency_key=key)
        if tool == 'list_parcels':
            return parcels.list_parcels()
        if tool == 'track_parcel':
            return parcels.track(a['tracking_number'])
        if tool == 'redirect_parcel':
            return parcels.redirect(a['tracking_number'], a['destination'], idempotency_key=key)
        raise ServiceRejected(f'no dispatch for {tool}')


TOOL_FAMILIES = ('food', 'travel', 'parcels')


def _check_strings(where: str, schema: dict[str, Any], value: Any) -> None:
    """What validate_arguments leaves out: string patterns, calendar dates, empty strings, maxItems."""
    kind = schema.get('type')
    if kind == 'object' and isinstance(value, dict):
        for name, sub in schema.get('properties', {}).items():
            if name in value:
                _check_strings(f'{where}.{name}', sub, value[name])
    elif kind == 'array' and isinstance(value, list):
        if schema.get('maxItems') and len(value) > schema['maxItems']:
            raise ToolArgumentError(f'{where}: at most {schema["maxItems"]} item(s)')
        for i, item in enumerate(value):
            _check_strings(f'{where}[{i}]', schema.get('items', {}), item)
    elif kind == 'string' and isinstance(value, str) and 'enum' not in schema:
        if not value.strip():
            raise ToolArgumentError(f'{where}: must not be empty')
        pattern = schema.get('pattern')
        if pattern and not re.match(pattern, value):
            what = 'a date as YYYY-MM-DD' if pattern == DATE_PATTERN else 'an id from an earlier result'
            raise ToolArgumentError(f'{where}: {value!r} is not {what}')
        if schema.get('format') == 'date':
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise ToolArgumentError(f'{where}: {value} is not a calendar date') from None
