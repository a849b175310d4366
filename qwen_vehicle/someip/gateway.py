"""The SOME/IP gateway: config/someip.yaml mapped onto vehicle signals, no ROS in here.

`SomeIpGateway(config, vehicle)` offers the configured services: cyclic events filled from
`vehicle.snapshot()`, methods whose `actuate` block turns a request into `vehicle.actuate(path, value)` (so the
vehicle's safety policy decides), fields kept from the snapshot with a setter that actuates, and SOME/IP-SD offers.
`SignalConsumer(config, on_signal)` is the client side: it subscribes to remote services and reports each mapped
struct field as `on_signal(path, value, timestamp)`.

Outcome of an actuating method: RESPONSE {status: 'done'|'accepted'} or ERROR with return code
E_REFUSED (0x20, policy or validation), E_TIMEOUT (0x06), E_NOT_READY (0x04, vehicle unreachable) or
E_ACTUATION_FAILED (0x21); the ERROR payload is the reason string (see service.py).
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import yaml

from ..paths import resolve
from .runtime import Address, Scheduler
from .sd import SD_PORT, ServiceDiscovery, SdTiming
from .serialization import Codec, EnumCodec, FloatCodec, IntCodec, SerializationError, StructCodec, compile_type
from .service import (EventSpec, FieldSpec, MethodSpec, ServiceError, ServiceInterface, ServiceSkeleton,
                      SomeIpClient, SomeIpServer)
from .vehicle import ActuationResult, VehicleAccess
from .wire import ReturnCode

log = logging.getLogger(__name__)

STATUS_TO_CODE = {
    'refused': ReturnCode.E_REFUSED,
    'timeout': ReturnCode.E_TIMEOUT,
    'unavailable': ReturnCode.E_NOT_READY,
    'error': ReturnCode.E_ACTUATION_FAILED,
}
ACTIONS = ('publish_events',)


class ConfigError(ValueError):
    pass


@dataclass
class SdConfig:
    enabled: bool = True
    address: str = '127.0.0.1'
    port: int = SD_PORT
    multicast: str | None = None
    peers: list[Address] = field(default_factory=list)
    timing: SdTiming = field(default_factory=SdTiming)


@dataclass
class ConsumeSpec:
    service: str
    address: Address | None = None


@dataclass
class GatewayConfig:
    services: dict[str, ServiceInterface]
    sd: SdConfig = field(default_factory=SdConfig)
    service_port: int = 30501
    consume: list[ConsumeSpec] = field(default_factory=list)
    source: str = '<dict>'

    def service(self, name: str) -> ServiceInterface:
        if name not in self.services:
            raise ConfigError(f'no service {name!r}; services: {sorted(self.services)}')
        return self.services[name]


def _id(raw: Any, what: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ConfigError(f'{what}: id {raw!r} must be an integer in 0x{low:04x}..0x{high:04x}')
    return raw


def _struct_signals(spec: Any, types: Mapping[str, Any], codec: Codec,
                    where: str) -> tuple[dict[str, tuple], str | None]:
    """{field name: (signal path, default, default means "no value")} of a struct whose fields carry `signal`,
    and the name of its `valid_mask: true` field, if any.

    The default goes out when the vehicle has no valid value. With a valid mask, bit i (in field order) says
    whether the i-th signal field holds a real value; without one, a consumer skips a default that is a marker: an
    explicit `default:`, NaN for floats, '' for strings.
    """
    while isinstance(spec, str) and spec in types:
        spec = types[spec]
    if not isinstance(spec, Mapping) or spec.get('type') != 'struct' or not isinstance(codec, StructCodec):
        return {}, None
    codecs = dict(codec.fields)
    signals = {}
    mask = None
    for entry in spec.get('fields') or []:
        if entry.get('valid_mask'):
            if mask is not None or not isinstance(codecs[entry['name']], IntCodec) or codecs[entry['name']].low:
                raise ConfigError(f'{where}.{entry["name"]}: one valid_mask field per struct, an unsigned integer')
            mask = entry['name']
        if 'signal' in entry:
            name = entry['name']
            default = entry.get('default', codecs[name].default())
            try:
                codecs[name].encode(default)
            except SerializationError as error:
                raise ConfigError(f'{where}.{name}: default {default!r} does not fit: {error}') from None
            marker = 'default' in entry or default == '' or (isinstance(default, float) and math.isnan(default))
            signals[name] = (str(entry['signal']), default, marker)
    if mask is not None and len(signals) > codecs[mask].high.bit_length():
        raise ConfigError(f'{where}.{mask}: {len(signals)} signal fields do not fit a {codecs[mask].name} mask')
    return signals, mask


def _compile(spec: Any, types: Mapping[str, Any], where: str) -> Codec:
    try:
        return compile_type(spec, types)
    except SerializationError as error:
        raise ConfigError(f'{where}: {error}') from None


def _interface(raw: Mapping[str, Any], types: Mapping[str, Any]) -> ServiceInterface:
    name = raw.get('name')
    if not name:
        raise ConfigError(f'a service needs a name: {raw!r}')
    methods: dict[int, MethodSpec] = {}
    events: dict[int, EventSpec] = {}
    fields: dict[str, FieldSpec] = {}
    for entry in raw.get('methods') or []:
        where = f'{name}.{entry.get("name")}'
        method_id = _id(entry.get('id'), where, 0x0000, 0x7FFF)
        if method_id in methods:
            raise ConfigError(f'{where}: method id 0x{method_id:04x} used twice')
        spec = MethodSpec(method_id, str(entry['name']), _compile(entry.get('request'), types, where + '.request'),
                          _compile(entry.get('response'), types, where + '.response'),
                          bool(entry.get('fire_and_forget', False)))
        actuate, action = entry.get('actuate'), entry.get('action')
        if actuate:
            if 'value' not in actuate or not ('path' in actuate or ('path_by' in actuate and 'paths' in actuate)):
                raise ConfigError(f'{where}.actuate needs `value` and `path` (or `path_by` with `paths`)')
            request_fields = getattr(spec.request, 'field_names', [])
            for key in (actuate['value'], actuate.get('path_by')):
                if key is not None and key not in request_fields:
                    raise ConfigError(f'{where}.actuate: {key!r} is not a request field {request_fields}')
            spec.extra['actuate'] = dict(actuate)
        elif action:
            if action not in ACTIONS:
                raise ConfigError(f'{where}: unknown action {action!r}; actions: {list(ACTIONS)}')
            spec.extra['action'] = action
        methods[method_id] = spec
    for entry in raw.get('events') or []:
        where = f'{name}.{entry.get("name")}'
        event_id = _id(entry.get('id'), where, 0x8000, 0xFFFE)
        codec = _compile(entry.get('type'), types, where)
        cycle_ms = entry.get('cycle_ms')
        event = EventSpec(event_id, str(entry['name']), codec, tuple(entry.get('eventgroups') or [1]),
                          float(cycle_ms) / 1000.0 if cycle_ms else None)
        event.extra['signals'], event.extra['valid_mask'] = _struct_signals(entry.get('type'), types, codec, where)
        events[event_id] = event
    for entry in raw.get('fields') or []:
        where = f'{name}.{entry.get("name")}'
        codec = _compile(entry.get('type'), types, where)
        spec = FieldSpec(str(entry['name']), codec,
                         _id(entry['getter'], where + '.getter', 0, 0x7FFF) if 'getter' in entry else None,
                         _id(entry['setter'], where + '.setter', 0, 0x7FFF) if 'setter' in entry else None,
                         _id(entry['notifier'], where + '.notifier', 0x8000, 0xFFFE) if 'notifier' in entry else None)
        spec.extra['signal'] = entry.get('signal')
        spec.extra['cycle_s'] = float(entry.get('cycle_ms', 200)) / 1000.0
        if spec.notifier is not None:
            events[spec.notifier] = EventSpec(spec.notifier, f'{spec.name}.notifier', codec,
                                              tuple(entry.get('eventgroups') or [1]), None, spec.name)
        fields[spec.name] = spec
    try:
        return ServiceInterface(name, _id(raw.get('service_id'), name, 0x0001, 0xFFFE),
                                _id(raw.get('instance_id', 1), name + '.instance_id', 0x0001, 0xFFFE),
                                int(raw.get('major_version', 1)), int(raw.get('minor_version', 0)),
                                methods, events, fields)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def load_config(source: str | Mapping[str, Any] = 'someip.yaml') -> GatewayConfig:
    """Read and check a gateway description (a path, a bare name in config/, or an already-parsed mapping)."""
    where = '<dict>'
    if isinstance(source, str):
        where = resolve(source, 'config')
        with open(where, encoding='utf-8') as handle:
            source = yaml.safe_load(handle) or {}
    if not isinstance(source, Mapping):
        raise ConfigError(f'{where}: the top level must be a mapping')
    types = source.get('types') or {}
    services: dict[str, ServiceInterface] = {}
    ids: set[int] = set()
    for raw in source.get('services') or []:
        interface = _interface(raw, types)
        if interface.name in services or interface.service_id in ids:
            raise ConfigError(f'{where}: service {interface.name} (0x{interface.service_id:04x}) defined twice')
        services[interface.name] = interface
        ids.add(interface.service_id)
    sd_raw = source.get('sd') or {}
    initial = sd_raw.get('initial_delay_ms', [10, 50])
    timing = SdTiming(initial[0] / 1000.0, initial[1] / 1000.0,
                      sd_raw.get('repetitions_base_delay_ms', 30) / 1000.0, int(sd_raw.get('repetitions_max', 3)),
                      sd_raw.get('cyclic_offer_delay_ms', 1000) / 1000.0, int(sd_raw.get('ttl_s', 3)))
    sd = SdConfig(bool(sd_raw.get('enabled', True)), str(sd_raw.get('address', '127.0.0.1')),
                  int(sd_raw.get('port', SD_PORT)), sd_raw.get('multicast'),
                  [(str(h), int(p)) for h, p in sd_raw.get('peers') or []], timing)
    consume = []
    for entry in source.get('consume') or []:
        if entry.get('service') not in services:
            raise ConfigError(f'{where}: consume names unknown service {entry.get("service")!r}; '
                              f'services: {sorted(services)}')
        address = entry.get('address')
        consume.append(ConsumeSpec(entry['service'], (str(address[0]), int(address[1])) if address else None))
    return GatewayConfig(services, sd, int(source.get('service_port', 30501)), consume, where)


def _float32(value: Any) -> Any:
    """A float32 request value as the number the sender meant (21.3, not 21.299999237060547)."""
    return float(f'{value:.7g}') if isinstance(value, float) and math.isfinite(value) else value


def _settle(future: Future, value: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass  # already answered (e.g. by the timeout)


class SomeIpGateway:
    """Offers the configured services on one UDP endpoint, fed by a `VehicleAccess`."""

    def __init__(self, config: GatewayConfig, vehicle: VehicleAccess, address: Address | None = None,
                 sd: ServiceDiscovery | None = None, scheduler: Scheduler | None = None,
                 actuation_timeout_s: float = 5.0):
        self.config = config
        self.vehicle = vehicle
        self.actuation_timeout_s = actuation_timeout_s
        self._own_scheduler = scheduler is None
        self.scheduler = scheduler or Scheduler('someip-gateway-timer')
        self.server = SomeIpServer(address or (config.sd.address, config.service_port), name='someip-gateway')
        self.address = self.server.address
        self.sd = sd
        self.skeletons: dict[str, ServiceSkeleton] = {}
        self._timers = []
        self._offers = []
        self.snapshot_failures = 0
        for name, interface in config.services.items():
            skeleton = self.server.add_service(interface)
            self.skeletons[name] = skeleton
            for spec in interface.methods.values():
                if 'actuate' in spec.extra:
                    skeleton.on_method(spec.id, self._actuating_handler(interface, spec))
                elif spec.extra.get('action') == 'publish_events':
                    skeleton.on_method(spec.id, lambda _v, _m, s=skeleton: self.publish_events(s))
            for field_spec in interface.fields.values():
                if field_spec.setter is not None and field_spec.extra.get('signal'):
                    skeleton.on_field_set(field_spec.name, self._field_setter(interface, field_spec))

    # -- lifecycle
    def start(self) -> 'SomeIpGateway':
        self.server.start()
        for skeleton in self.skeletons.values():
            interface = skeleton.interface
            for event in interface.events.values():
                if event.cycle_s:
                    self._timers.append(self.scheduler.call_every(
                        event.cycle_s, lambda s=skeleton, e=event: self.publish_event(s, e)))
            for field_spec in interface.fields.values():
                if field_spec.extra.get('signal'):
                    self._refresh_field(skeleton, field_spec)
                    self._timers.append(self.scheduler.call_every(
                        field_spec.extra['cycle_s'], lambda s=skeleton, f=field_spec: self._refresh_field(s, f)))
            if self.sd is not None:
                self._offers.append(self.sd.offer(interface.service_id, interface.instance_id,
                                                  interface.major_version, interface.minor_version, self.address,
                                                  skeleton.subscribe))
        log.info('SOME/IP gateway on %s:%d offers %s', self.address[0], self.address[1],
                 ', '.join(f'{i.name} (0x{i.service_id:04x})' for i in self.config.services.values()))
        return self

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self.sd is not None:
            for offer in self._offers:
                self.sd.stop_offer(offer)   # StopOffer (TTL 0) so peers drop us at once
        self._offers.clear()
        self.server.close()
        if self._own_scheduler:
            self.scheduler.close()

    # -- events and fields from the vehicle's state
    def _snapshot(self) -> dict[str, Any]:
        try:
            return self.vehicle.snapshot()
        except Exception:  # noqa: BLE001 - no vehicle data this cycle; events carry defaults
            self.snapshot_failures += 1
            log.exception('vehicle snapshot failed')
            return {}

    def event_value(self, event: EventSpec, snapshot: Mapping[str, Any]) -> Any:
        """The struct an event carries now: mapped signals, their defaults where absent or not encodable."""
        value = event.codec.default()
        codecs = dict(getattr(event.codec, 'fields', []))
        valid_bits = 0
        for bit, (name, (path, default, _marker)) in enumerate(event.extra.get('signals', {}).items()):
            raw = snapshot.get(path)
            if raw is None:
                value[name] = default
                continue
            if isinstance(codecs[name], FloatCodec) and isinstance(raw, (bool, int)):
                raw = float(raw)
            elif isinstance(raw, float) and not isinstance(codecs[name], FloatCodec) and raw.is_integer():
                raw = int(raw)
            elif isinstance(raw, (bool, int, float)) and codecs[name].name.startswith('string'):
                raw = str(raw)
            try:
                codecs[name].encode(raw)
                value[name] = raw
                valid_bits |= 1 << bit
            except SerializationError as error:
                log.debug('%s.%s: %s -> default', event.name, name, error)
                value[name] = default
        if event.extra.get('valid_mask'):
            value[event.extra['valid_mask']] = valid_bits
        return value

    def publish_event(self, skeleton: ServiceSkeleton, event: EventSpec) -> int:
        if not any(skeleton.subscribers(g) for g in event.eventgroups):
            return 0
        return skeleton.notify(event.id, self.event_value(event, self._snapshot()))

    def publish_events(self, skeleton: ServiceSkeleton) -> None:
        for event in skeleton.interface.events.values():
            if event.of_field is None:
                self.publish_event(skeleton, event)

    def _refresh_field(self, skeleton: ServiceSkeleton, spec: FieldSpec) -> None:
        value = self._snapshot().get(spec.extra['signal'])
        if value is None:
            return
        if isinstance(spec.codec, FloatCodec) and isinstance(value, (int, float)):
            value = float(value)
        try:
            spec.codec.encode(value)
        except SerializationError:
            return
        skeleton.set_field(spec.name, value)

    # -- actuation
    def _actuate(self, where: str, path: str, value: Any) -> Future:
        """A Future answered with the reply value, or failed with a ServiceError."""
        answer: Future = Future()
        value = _float32(value)
        started = time.monotonic()
        try:
            pending = self.vehicle.actuate(path, value)
        except Exception as error:  # noqa: BLE001 - the vehicle side failed to take the request
            log.exception('%s: actuate %s failed', where, path)
            _settle(answer, error=ServiceError(ReturnCode.E_NOT_READY, f'vehicle not reachable: {error}'))
            return answer
        timer = None if pending.done() else self.scheduler.call_later(self.actuation_timeout_s, lambda: _settle(
            answer, error=ServiceError(ReturnCode.E_TIMEOUT, f'no outcome for {path} within '
                                                              f'{self.actuation_timeout_s:g} s')))

        def finished(done: Future) -> None:
            if timer is not None:
                timer.cancel()
            error = done.exception()
            result: ActuationResult = done.result() if error is None else ActuationResult('error', str(error))
            log.info('SOME/IP %s: %s = %r -> %s%s (%.1f ms)', where, path, value, result.status,
                     f' ({result.reason})' if result.reason else '', (time.monotonic() - started) * 1000)
            if result.status in ('done', 'accepted'):
                _settle(answer, result)
            else:
                code = STATUS_TO_CODE.get(result.status, ReturnCode.E_ACTUATION_FAILED)
                _settle(answer, error=ServiceError(code, result.reason or result.status))
        pending.add_done_callback(finished)
        return answer

    def _actuating_handler(self, interface: ServiceInterface, spec: MethodSpec):
        actuate = spec.extra['actuate']
        where = f'{interface.name}.{spec.name}'

        request_codecs = dict(getattr(spec.request, 'fields', []))

        def handler(request: Mapping[str, Any], _message) -> Future:
            for name, codec in request_codecs.items():
                if isinstance(codec, EnumCodec) and not isinstance(request[name], str):
                    raise ServiceError(ReturnCode.E_REFUSED, f'{name} {request[name]} is not one of '
                                                              f'{codec.by_value}')
            if 'path' in actuate:
                path = actuate['path']
            else:
                selector = request[actuate['path_by']]
                path = actuate['paths'].get(selector)
                if path is None:
                    raise ServiceError(ReturnCode.E_REFUSED, f'{actuate["path_by"]} {selector!r} is not one of '
                                                              f'{sorted(actuate["paths"])}')
            reply: Future = Future()
            inner = self._actuate(where, path, request[actuate['value']])
            inner.add_done_callback(lambda f: _settle(reply, error=f.exception()) if f.exception()
                                    else _settle(reply, {'status': f.result().status}))
            return reply
        return handler

    def _field_setter(self, interface: ServiceInterface, spec: FieldSpec):
        path = spec.extra['signal']
        where = f'{interface.name}.{spec.name}'

        def decide(value: Any, _message) -> Future:
            kept: Future = Future()
            inner = self._actuate(where, path, value)
            inner.add_done_callback(lambda f: _settle(kept, error=f.exception()) if f.exception()
                                    else _settle(kept, _float32(value) if f.result().value is None
                                                 else f.result().value))
            return kept
        return decide


SignalCallback = Callable[[str, Any, float], None]


class SignalConsumer:
    """Client side: subscribes to remote services through SD and reports their mapped fields as signals."""

    def __init__(self, config: GatewayConfig, on_signal: SignalCallback, sd: ServiceDiscovery,
                 client: SomeIpClient | None = None):
        self.config = config
        self.on_signal = on_signal
        self.sd = sd
        self._own_client = client is None
        self.client = client or SomeIpClient((config.sd.address, 0), client_id=0x0200, name='someip-consumer')
        self.subscribed: dict[tuple[str, int], bool] = {}
        self._subscriptions = []

    def start(self) -> 'SignalConsumer':
        self.client.start()
        for entry in self.config.consume:
            self.add(entry.service, entry.address)
        return self

    def add(self, service: str, address: Address | None = None) -> None:
        interface = self.config.service(service)
        self.client.start()
        proxy = self.client.proxy(interface, address)
        for event in interface.events.values():
            if event.of_field is not None:
                field_spec = interface.fields[event.of_field]
                if field_spec.extra.get('signal'):
                    proxy.on_event(event.id, lambda v, _m, p=field_spec.extra['signal']: self._emit(p, v))
            elif event.extra.get('signals'):
                proxy.on_event(event.id, lambda v, _m, e=event: self._on_struct(e, v))
        if address is None:
            def found(remote) -> None:
                if remote is not None and remote.endpoint is not None:
                    proxy.server = remote.endpoint
            self.sd.find(interface.service_id, interface.instance_id, found)
        for group in interface.eventgroups:
            key = (service, group)
            self.subscribed[key] = False
            self._subscriptions.append(self.sd.subscribe(
                interface.service_id, interface.instance_id, interface.major_version, group, self.client.address,
                lambda ok, k=key: self._on_state(k, ok)))

    def _on_state(self, key: tuple[str, int], acked: bool) -> None:
        self.subscribed[key] = acked
        log.info('subscription %s eventgroup %d: %s', key[0], key[1], 'acknowledged' if acked else 'lost/refused')

    def _on_struct(self, event: EventSpec, value: Mapping[str, Any]) -> None:
        mask_field = event.extra.get('valid_mask')
        mask = value.get(mask_field, 0) if mask_field else None
        for bit, (name, (path, default, marker)) in enumerate(event.extra['signals'].items()):
            item = value.get(name)
            if mask is not None:
                if not mask >> bit & 1:
                    continue  # the sender says it had no valid value
            elif item is None or (isinstance(item, float) and math.isnan(item)) or (marker and item == default):
                continue  # the sender had no valid value
            self._emit(path, _float32(item) if isinstance(item, float) and _is_float32(event, name) else item)

    def _emit(self, path: str, value: Any) -> None:
        try:
            self.on_signal(path, value, time.time())
        except Exception:  # noqa: BLE001
            log.exception('on_signal(%s) failed', path)

    def close(self) -> None:
        for sub in self._subscriptions:
            self.sd.unsubscribe(sub)
        self._subscriptions.clear()
        if self._own_client:
            self.client.close()


def _is_float32(event: EventSpec, name: str) -> bool:
    codec = dict(event.codec.fields).get(name)
    return isinstance(codec, FloatCodec) and codec.struct.size == 4


def make_sd(config: GatewayConfig, scheduler: Scheduler, address: str | None = None,
            port: int | None = None) -> ServiceDiscovery:
    """The SD endpoint a gateway config asks for."""
    return ServiceDiscovery(scheduler, (address or config.sd.address, config.sd.port if port is None else port),
                            config.sd.multicast, config.sd.peers, config.sd.timing)


__all__ = ['ConfigError', 'GatewayConfig', 'SdConfig', 'SignalConsumer', 'SomeIpGateway', 'load_config', 'make_sd']
