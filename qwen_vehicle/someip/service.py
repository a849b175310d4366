"""SOME/IP services over UDP: a server offering services (methods, events, fields) and a client calling them.

Server: `SomeIpServer(('127.0.0.1', port))`, `skeleton = server.add_service(interface)`, then
`skeleton.on_method('SetX', handler)`; a handler returns the response value, a `concurrent.futures.Future` of it, or
raises `ServiceError(return_code, reason)`, which goes back as an ERROR message whose payload is the reason string.
Events go to the subscribers of their eventgroups (`skeleton.subscribe(...)`, normally called by SOME/IP-SD).

Client: `SomeIpClient()`, `proxy = client.proxy(interface, server_address)`, then `proxy.call('SetX', value)`,
`proxy.send(...)` (fire-and-forget), `proxy.on_event('Y', callback)`.

Error payload (ERROR messages, message type 0x81): a SOME/IP string, UTF-8 with BOM, uint32 length field and null
terminator, holding the human-readable reason. Nothing else follows.
"""
from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Self

from .runtime import Address, UdpEndpoint
from .serialization import EMPTY, Codec, SerializationError, StringCodec
from .wire import (MAX_UDP_PAYLOAD, Message, MessageType, ReturnCode, SomeIpParseError, parse_datagram,
                   return_code_name)

log = logging.getLogger(__name__)

ERROR_REASON = StringCodec('utf-8', 32)


def encode_error_reason(reason: str) -> bytes:
    return ERROR_REASON.encode(reason[:1000])


def decode_error_reason(payload: bytes) -> str:
    if not payload:
        return ''
    try:
        return ERROR_REASON.decode(payload)
    except SerializationError:
        return f'(undecodable error payload {payload[:32].hex()})'


class ServiceError(Exception):
    """A SOME/IP error: raised by method handlers, and by the client when an ERROR comes back."""

    def __init__(self, return_code: int, reason: str = ''):
        super().__init__(f'{return_code_name(return_code)}: {reason}' if reason else return_code_name(return_code))
        self.return_code = int(return_code)
        self.reason = reason


@dataclass
class MethodSpec:
    id: int
    name: str
    request: Codec = EMPTY
    response: Codec = EMPTY
    fire_and_forget: bool = False
    extra: dict = field(default_factory=dict)


@dataclass
class EventSpec:
    id: int
    name: str
    codec: Codec = EMPTY
    eventgroups: tuple[int, ...] = ()
    cycle_s: float | None = None
    of_field: str | None = None   # the field whose notifier this is
    extra: dict = field(default_factory=dict)


@dataclass
class FieldSpec:
    name: str
    codec: Codec
    getter: int | None = None
    setter: int | None = None
    notifier: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ServiceInterface:
    name: str
    service_id: int
    instance_id: int = 1
    major_version: int = 1
    minor_version: int = 0
    methods: dict[int, MethodSpec] = field(default_factory=dict)
    events: dict[int, EventSpec] = field(default_factory=dict)
    fields: dict[str, FieldSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in self.fields.values():
            if spec.getter is not None:
                self.methods.setdefault(spec.getter, MethodSpec(spec.getter, f'get_{spec.name}', EMPTY, spec.codec))
            if spec.setter is not None:
                self.methods.setdefault(spec.setter,
                                        MethodSpec(spec.setter, f'set_{spec.name}', spec.codec, spec.codec))
        for method_id in self.methods:
            if method_id & 0x8000:
                raise ValueError(f'{self.name}: method id 0x{method_id:04x} has the event bit set')
        for event_id in self.events:
            if not event_id & 0x8000:
                raise ValueError(f'{self.name}: event id 0x{event_id:04x} lacks the event bit (0x8000)')

    @property
    def eventgroups(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for event in self.events.values():
            for group in event.eventgroups:
                groups.setdefault(group, []).append(event.id)
        return groups

    def method(self, name_or_id: str | int) -> MethodSpec:
        if isinstance(name_or_id, int):
            if name_or_id in self.methods:
                return self.methods[name_or_id]
        else:
            for spec in self.methods.values():
                if spec.name == name_or_id:
                    return spec
        raise KeyError(f'{self.name}: no method {name_or_id!r}; methods: {[m.name for m in self.methods.values()]}')

    def event(self, name_or_id: str | int) -> EventSpec:
        if isinstance(name_or_id, int):
            if name_or_id in self.events:
                return self.events[name_or_id]
        else:
            for spec in self.events.values():
                if spec.name == name_or_id:
                    return spec
        raise KeyError(f'{self.name}: no event {name_or_id!r}; events: {[e.name for e in self.events.values()]}')

    def field_spec(self, name: str) -> FieldSpec:
        if name not in self.fields:
            raise KeyError(f'{self.name}: no field {name!r}; fields: {sorted(self.fields)}')
        return self.fields[name]


@dataclass
class ServerStats:
    received: int = 0
    malformed: int = 0
    errors_sent: int = 0
    responses_sent: int = 0
    notifications_sent: int = 0
    handler_failures: int = 0


MethodHandler = Callable[[Any, Message], Any]


class ServiceSkeleton:
    """The server side of one service instance."""

    def __init__(self, server: 'SomeIpServer', interface: ServiceInterface):
        self.server = server
        self.interface = interface
        self.handlers: dict[int, MethodHandler] = {}
        self.field_values: dict[str, Any] = {}
        self._subscribers: dict[int, dict[Address, float]] = {}  # eventgroup -> endpoint -> expiry (monotonic)
        self._lock = threading.Lock()
        self.on_subscribed: Callable[[int, Address], None] | None = None
        for spec in interface.fields.values():
            if spec.getter is not None:
                self.handlers[spec.getter] = self._field_getter(spec)
            if spec.setter is not None:
                self.handlers[spec.setter] = self._field_setter(spec, None)

    # -- methods and fields
    def on_method(self, name_or_id: str | int, handler: MethodHandler) -> None:
        self.handlers[self.interface.method(name_or_id).id] = handler

    def on_field_set(self, name: str, handler: MethodHandler) -> None:
        """`handler(value, message)` decides a setter call: returns the value to keep (or a Future of it) or raises."""
        spec = self.interface.field_spec(name)
        if spec.setter is None:
            raise KeyError(f'field {name!r} has no setter')
        self.handlers[spec.setter] = self._field_setter(spec, handler)

    def _field_getter(self, spec: FieldSpec) -> MethodHandler:
        def getter(_value, _message):
            if spec.name not in self.field_values:
                raise ServiceError(ReturnCode.E_NOT_READY, f'field {spec.name} has no value yet')
            return self.field_values[spec.name]
        return getter

    def _field_setter(self, spec: FieldSpec, decide: MethodHandler | None) -> MethodHandler:
        def setter(value, message):
            outcome = decide(value, message) if decide else value
            if isinstance(outcome, Future):
                result: Future = Future()

                def done(inner: Future) -> None:
                    error = inner.exception()
                    if error is not None:
                        result.set_exception(error)
                        return
                    self.set_field(spec.name, inner.result())
                    result.set_result(inner.result())
                outcome.add_done_callback(done)
                return result
            self.set_field(spec.name, outcome)
            return outcome
        return setter

    def set_field(self, name: str, value: Any, notify: str = 'on_change') -> None:
        """Store a field value; its notifier fires when it changed (notify='always' | 'on_change' | 'never')."""
        spec = self.interface.field_spec(name)
        previous = self.field_values.get(name, _MISSING)
        self.field_values[name] = value
        changed = not _same(previous, value)
        if spec.notifier is not None and (notify == 'always' or (notify == 'on_change' and changed)):
            self.notify(spec.notifier, value)

    # -- events
    def subscribe(self, eventgroup: int, endpoint: Address, ttl_s: float) -> bool:
        """Add or renew a subscriber (ttl_s 0 unsubscribes). False when the eventgroup does not exist."""
        if eventgroup not in self.interface.eventgroups:
            return False
        with self._lock:
            group = self._subscribers.setdefault(eventgroup, {})
            if ttl_s <= 0:
                group.pop(tuple(endpoint), None)
                return True
            is_new = tuple(endpoint) not in group
            group[tuple(endpoint)] = time.monotonic() + ttl_s
        if is_new:
            log.info('%s: %s:%d subscribed to eventgroup %d', self.interface.name, endpoint[0], endpoint[1],
                     eventgroup)
            self._send_initial_fields(eventgroup, tuple(endpoint))
            if self.on_subscribed:
                self.on_subscribed(eventgroup, tuple(endpoint))
        return True

    def _send_initial_fields(self, eventgroup: int, endpoint: Address) -> None:
        # a new subscriber of a field's eventgroup gets its current value at once (PRS_SOMEIP initial events)
        for spec in self.interface.fields.values():
            event = self.interface.events.get(spec.notifier) if spec.notifier is not None else None
            if event and eventgroup in event.eventgroups and spec.name in self.field_values:
                self._send_event(event, self.field_values[spec.name], [endpoint])

    def subscribers(self, eventgroup: int) -> list[Address]:
        now = time.monotonic()
        with self._lock:
            group = self._subscribers.get(eventgroup, {})
            for endpoint in [e for e, expiry in group.items() if expiry < now]:
                log.info('%s: subscription of %s to eventgroup %d expired', self.interface.name, endpoint, eventgroup)
                del group[endpoint]
            return list(group)

    def notify(self, name_or_id: str | int, value: Any) -> int:
        """Send an event to every current subscriber of its eventgroups; returns how many got it."""
        event = self.interface.event(name_or_id)
        targets: dict[Address, None] = {}
        for group in event.eventgroups:
            for endpoint in self.subscribers(group):
                targets[endpoint] = None
        if targets:
            self._send_event(event, value, list(targets))
        return len(targets)

    def _send_event(self, event: EventSpec, value: Any, targets: list[Address]) -> None:
        payload = event.codec.encode(value)
        if len(payload) > MAX_UDP_PAYLOAD:
            log.error('%s.%s: %d bytes need SOME/IP-TP (not supported); not sent', self.interface.name, event.name,
                      len(payload))
            return
        message = Message(self.interface.service_id, event.id, MessageType.NOTIFICATION, payload,
                          0, 0, self.interface.major_version)
        data = message.pack()
        for endpoint in targets:
            self.server.stats.notifications_sent += 1
            self.server.endpoint.send(data, endpoint)


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a is not _MISSING and a == b


class _EndpointOwner:
    """Owns one UDP endpoint: started once, closed on exit from a `with` block."""

    def _open_endpoint(self, address: Address, name: str) -> None:
        self.endpoint = UdpEndpoint(address, self._on_datagram, name=name)
        self.address = self.endpoint.address
        self._started = False

    def _on_datagram(self, data: bytes, sender: Address) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        if not self._started:
            self._started = True
            self.endpoint.start()
        return self

    def close(self) -> None:
        self.endpoint.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class SomeIpServer(_EndpointOwner):
    """One UDP endpoint serving any number of service instances (demultiplexed by service id)."""

    def __init__(self, address: Address = ('127.0.0.1', 0), name: str = 'someip-server'):
        self.services: dict[int, ServiceSkeleton] = {}
        self.stats = ServerStats()
        self._open_endpoint(address, name)

    def add_service(self, interface: ServiceInterface) -> ServiceSkeleton:
        if interface.service_id in self.services:
            raise ValueError(f'service 0x{interface.service_id:04x} is already offered on this endpoint')
        skeleton = ServiceSkeleton(self, interface)
        self.services[interface.service_id] = skeleton
        return skeleton

    def _on_datagram(self, data: bytes, sender: Address) -> None:
        try:
            messages = parse_datagram(data)
        except SomeIpParseError as error:
            self.stats.malformed += 1
            log.debug('malformed datagram from %s: %s', sender, error.reason)
            for message in getattr(error, 'parsed', []):
                self._handle(message, sender)
            if error.header is not None and error.header.message_type == MessageType.REQUEST:
                self._send_error(error.header, sender, error.return_code, error.reason)
            return
        for message in messages:
            self._handle(message, sender)

    def _send_error(self, request: Message, sender: Address, code: int, reason: str) -> None:
        if request.message_type != MessageType.REQUEST:
            return  # fire-and-forget and events are never answered
        self.stats.errors_sent += 1  # counted before sending: the peer may look at stats once it has the answer
        self.endpoint.send(request.reply(encode_error_reason(reason), code).pack(), sender)

    def _handle(self, message: Message, sender: Address) -> None:
        self.stats.received += 1
        if message.message_type not in (MessageType.REQUEST, MessageType.REQUEST_NO_RETURN):
            # responses/notifications sent to a server endpoint are not for us
            self.stats.malformed += 1
            self._send_error(message, sender, ReturnCode.E_WRONG_MESSAGE_TYPE, 'not a request')
            return
        skeleton = self.services.get(message.service_id)
        if skeleton is None:
            self._send_error(message, sender, ReturnCode.E_UNKNOWN_SERVICE, f'no service 0x{message.service_id:04x}')
            return
        interface = skeleton.interface
        if message.interface_version != interface.major_version:
            self._send_error(message, sender, ReturnCode.E_WRONG_INTERFACE_VERSION,
                             f'interface version {message.interface_version}, offered {interface.major_version}')
            return
        spec = interface.methods.get(message.method_id)
        handler = skeleton.handlers.get(message.method_id)
        if spec is None or handler is None:
            self._send_error(message, sender, ReturnCode.E_UNKNOWN_METHOD,
                             f'no method 0x{message.method_id:04x} in {interface.name}')
            return
        try:
            value = spec.request.decode(message.payload)
        except SerializationError as error:
            self.stats.malformed += 1
            self._send_error(message, sender, ReturnCode.E_MALFORMED_MESSAGE, str(error))
            return
        try:
            outcome = handler(value, message)
        except ServiceError as error:
            self._send_error(message, sender, error.return_code, error.reason)
            return
        except Exception as error:  # noqa: BLE001 - a handler bug answers E_NOT_OK, the server lives on
            self.stats.handler_failures += 1
            log.exception('%s.%s handler failed', interface.name, spec.name)
            self._send_error(message, sender, ReturnCode.E_NOT_OK, f'internal error: {type(error).__name__}')
            return
        if isinstance(outcome, Future):
            outcome.add_done_callback(lambda f: self._respond_from_future(message, sender, spec, f))
        else:
            self._respond(message, sender, spec, outcome)

    def _respond_from_future(self, message: Message, sender: Address, spec: MethodSpec, future: Future) -> None:
        error = future.exception()
        if isinstance(error, ServiceError):
            self._send_error(message, sender, error.return_code, error.reason)
        elif error is not None:
            self.stats.handler_failures += 1
            self._send_error(message, sender, ReturnCode.E_NOT_OK, f'{type(error).__name__}: {error}')
        else:
            self._respond(message, sender, spec, future.result())

    def _respond(self, message: Message, sender: Address, spec: MethodSpec, value: Any) -> None:
        if message.message_type != MessageType.REQUEST:
            return
        try:
            payload = spec.response.encode(value)
        except SerializationError as error:
            self.stats.handler_failures += 1
            log.error('%s: response does not serialize: %s', spec.name, error)
            self._send_error(message, sender, ReturnCode.E_NOT_OK, 'response does not serialize')
            return
        if len(payload) > MAX_UDP_PAYLOAD:
            self._send_error(message, sender, ReturnCode.E_NOT_OK,
                             f'response of {len(payload)} bytes needs SOME/IP-TP, which is not supported')
            return
        self.stats.responses_sent += 1
        self.endpoint.send(message.reply(payload).pack(), sender)


EventCallback = Callable[[Any, Message], None]


class ServiceProxy:
    """The client side of one service instance at a known (or SD-discovered) server address."""

    def __init__(self, client: 'SomeIpClient', interface: ServiceInterface, server: Address | None):
        self.client = client
        self.interface = interface
        self.server = server
        self.event_callbacks: dict[int, list[EventCallback]] = {}

    def call_async(self, method: str | int, value: Any = None) -> Future:
        spec = self.interface.method(method)
        if spec.fire_and_forget:
            raise ServiceError(ReturnCode.E_WRONG_MESSAGE_TYPE, f'{spec.name} is fire-and-forget: use send()')
        return self.client._request(self, spec, spec.request.encode({} if value is None else value), True)

    def call(self, method: str | int, value: Any = None, timeout: float = 2.0) -> Any:
        future = self.call_async(method, value)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f'{self.interface.name}.{self.interface.method(method).name}: no answer in '
                               f'{timeout} s') from None

    def send(self, method: str | int, value: Any = None) -> None:
        """REQUEST_NO_RETURN: no response, no error comes back."""
        spec = self.interface.method(method)
        self.client._request(self, spec, spec.request.encode({} if value is None else value), False)

    def get_field(self, name: str, timeout: float = 2.0) -> Any:
        spec = self.interface.field_spec(name)
        if spec.getter is None:
            raise KeyError(f'field {name!r} has no getter')
        return self.call(spec.getter, None, timeout)

    def set_field(self, name: str, value: Any, timeout: float = 2.0) -> Any:
        spec = self.interface.field_spec(name)
        if spec.setter is None:
            raise KeyError(f'field {name!r} has no setter')
        return self.call(spec.setter, value, timeout)

    def on_event(self, name_or_id: str | int, callback: EventCallback) -> None:
        self.event_callbacks.setdefault(self.interface.event(name_or_id).id, []).append(callback)

    def on_field(self, name: str, callback: EventCallback) -> None:
        spec = self.interface.field_spec(name)
        if spec.notifier is None:
            raise KeyError(f'field {name!r} has no notifier')
        self.on_event(spec.notifier, callback)


@dataclass
class ClientStats:
    responses: int = 0
    errors: int = 0
    events: int = 0
    malformed: int = 0
    unmatched: int = 0


class SomeIpClient(_EndpointOwner):
    """One UDP endpoint for requests, responses and the events of every subscribed service."""

    def __init__(self, address: Address = ('127.0.0.1', 0), client_id: int = 0x0100, name: str = 'someip-client'):
        self.client_id = client_id
        self.stats = ClientStats()
        self._sessions = itertools.cycle(range(1, 0x10000))  # session 0 means "no session handling"
        self._pending: dict[tuple[int, int, int], tuple[Future, MethodSpec]] = {}
        self._lock = threading.Lock()
        self.proxies: dict[int, ServiceProxy] = {}
        self._open_endpoint(address, name)

    def proxy(self, interface: ServiceInterface, server: Address | None = None) -> ServiceProxy:
        proxy = self.proxies.get(interface.service_id)
        if proxy is None:
            proxy = self.proxies[interface.service_id] = ServiceProxy(self, interface, server)
        elif server is not None:
            proxy.server = server
        return proxy

    def close(self) -> None:
        super().close()
        with self._lock:
            pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(ConnectionError('client closed'))

    def _request(self, proxy: ServiceProxy, spec: MethodSpec, payload: bytes, expect_reply: bool) -> Future | None:
        if proxy.server is None:
            raise ServiceError(ReturnCode.E_NOT_REACHABLE, f'{proxy.interface.name} has no known server address')
        if len(payload) > MAX_UDP_PAYLOAD:
            raise SerializationError(f'{spec.name}: {len(payload)} bytes need SOME/IP-TP, which is not supported')
        with self._lock:
            session = next(self._sessions)
        interface = proxy.interface
        kind = MessageType.REQUEST if expect_reply else MessageType.REQUEST_NO_RETURN
        message = Message(interface.service_id, spec.id, kind, payload, self.client_id, session,
                          interface.major_version)
        future: Future | None = None
        if expect_reply:
            future = Future()
            key = (interface.service_id, spec.id, session)
            with self._lock:
                self._pending[key] = (future, spec)
            future.add_done_callback(lambda f, k=key: self._forget(k) if f.cancelled() else None)
        self.endpoint.send(message.pack(), proxy.server)
        return future

    def _forget(self, key) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def _on_datagram(self, data: bytes, sender: Address) -> None:
        try:
            messages = parse_datagram(data)
        except SomeIpParseError as error:
            self.stats.malformed += 1
            log.debug('malformed datagram from %s: %s', sender, error.reason)
            messages = getattr(error, 'parsed', [])
        for message in messages:
            if message.message_type == MessageType.NOTIFICATION:
                self._on_notification(message)
            elif message.message_type in (MessageType.RESPONSE, MessageType.ERROR):
                self._on_reply(message)
            else:
                self.stats.unmatched += 1

    def _on_reply(self, message: Message) -> None:
        if message.client_id != self.client_id:
            self.stats.unmatched += 1
            return
        with self._lock:
            entry = self._pending.pop((message.service_id, message.method_id, message.session_id), None)
        if entry is None:
            self.stats.unmatched += 1  # late answer after a timeout
            return
        future, spec = entry
        if future.done():
            return
        if message.message_type == MessageType.ERROR or message.return_code != ReturnCode.E_OK:
            self.stats.errors += 1
            future.set_exception(ServiceError(message.return_code, decode_error_reason(message.payload)))
            return
        self.stats.responses += 1
        try:
            future.set_result(spec.response.decode(message.payload))
        except SerializationError as error:
            self.stats.malformed += 1
            future.set_exception(ServiceError(ReturnCode.E_MALFORMED_MESSAGE, str(error)))

    def _on_notification(self, message: Message) -> None:
        proxy = self.proxies.get(message.service_id)
        event = proxy.interface.events.get(message.method_id) if proxy else None
        if event is None:
            self.stats.unmatched += 1
            return
        try:
            value = event.codec.decode(message.payload)
        except SerializationError as error:
            self.stats.malformed += 1
            log.debug('event %s: %s', event.name, error)
            return
        self.stats.events += 1
        for callback in proxy.event_callbacks.get(event.id, []):
            try:
                callback(value, message)
            except Exception:  # noqa: BLE001 - a consumer bug must not stop the receive thread
                log.exception('callback for event %s failed', event.name)
