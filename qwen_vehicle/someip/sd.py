"""SOME/IP Service Discovery (AUTOSAR PRS_SOMEIPServiceDiscoveryProtocol) over UDP.

An SD message is a SOME/IP NOTIFICATION of service 0xFFFF, method 0x8100, client id 0, with the payload

    flags (8: 0x80 reboot, 0x40 unicast) | reserved (24)
    length of entries (32) | entries, 16 bytes each
    length of options (32) | options: length (16, excluding length and type) | type (8) | data

Entries: FindService (0x00), OfferService (0x01; TTL 0 = StopOffer), SubscribeEventgroup (0x06; TTL 0 =
StopSubscribe), SubscribeEventgroupAck (0x07; TTL 0 = Nack). Options understood: IPv4 endpoint (0x04) and IPv4
multicast (0x14); others are kept as raw bytes and ignored.

`ServiceDiscovery` runs the protocol: offers go through an initial wait, a repetition phase (base delay doubling,
`repetitions_max` times) and a main phase (cyclic offers); finds go through the same initial and repetition
phases; a FindService is answered by a unicast offer; subscriptions are answered with Ack/Nack and expire after
their TTL; a client re-subscribes on every offer it receives. Messages go to an IPv4 multicast group (inside an
isolated network namespace) or, without multicast, to a list of unicast peers (plain 127.0.0.1 setups).
"""
from __future__ import annotations

import ipaddress
import itertools
import logging
import random
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .runtime import Address, Scheduler, UdpEndpoint
from .wire import Message, MessageType, SomeIpParseError, parse_datagram

log = logging.getLogger(__name__)

SD_SERVICE_ID = 0xFFFF
SD_METHOD_ID = 0x8100
SD_PORT = 30490
SD_MULTICAST = '224.224.224.245'
FLAG_REBOOT = 0x80
FLAG_UNICAST = 0x40
TTL_INFINITE = 0xFFFFFF
ANY_INSTANCE = 0xFFFF
ANY_MAJOR = 0xFF
ANY_MINOR = 0xFFFFFFFF

FIND_SERVICE = 0x00
OFFER_SERVICE = 0x01
SUBSCRIBE_EVENTGROUP = 0x06
SUBSCRIBE_EVENTGROUP_ACK = 0x07
SERVICE_ENTRY_TYPES = (FIND_SERVICE, OFFER_SERVICE)
EVENTGROUP_ENTRY_TYPES = (SUBSCRIBE_EVENTGROUP, SUBSCRIBE_EVENTGROUP_ACK)

OPTION_IPV4_ENDPOINT = 0x04
OPTION_IPV4_MULTICAST = 0x14
PROTO_UDP = 0x11
PROTO_TCP = 0x06

_ENTRY = struct.Struct('>BBBBHHI')      # type, index1, index2, counts, service, instance, major(8)|ttl(24)
_SERVICE_TAIL = struct.Struct('>I')     # minor version
_EVENTGROUP_TAIL = struct.Struct('>HH')  # reserved(12)|counter(4), eventgroup id
_OPTION_HEAD = struct.Struct('>HB')
_IPV4 = struct.Struct('>B4sBBH')        # reserved, address, reserved, L4 protocol, port


class SdParseError(SomeIpParseError):
    pass


@dataclass(frozen=True)
class Ipv4Option:
    address: str
    port: int
    protocol: int = PROTO_UDP
    multicast: bool = False

    @property
    def endpoint(self) -> Address:
        return self.address, self.port

    def pack(self) -> bytes:
        kind = OPTION_IPV4_MULTICAST if self.multicast else OPTION_IPV4_ENDPOINT
        return _OPTION_HEAD.pack(9, kind) + _IPV4.pack(0, ipaddress.IPv4Address(self.address).packed, 0,
                                                       self.protocol, self.port)


@dataclass(frozen=True)
class RawOption:
    type: int
    data: bytes

    def pack(self) -> bytes:
        return _OPTION_HEAD.pack(len(self.data), self.type) + self.data


Option = Ipv4Option | RawOption


@dataclass
class Entry:
    type: int
    service_id: int
    instance_id: int
    major_version: int
    ttl: int
    minor_version: int = 0          # service entries
    eventgroup_id: int = 0          # eventgroup entries
    counter: int = 0                # eventgroup entries
    options: list = field(default_factory=list)

    @property
    def is_service_entry(self) -> bool:
        return self.type in SERVICE_ENTRY_TYPES

    def endpoint(self, protocol: int = PROTO_UDP) -> Address | None:
        for option in self.options:
            if isinstance(option, Ipv4Option) and not option.multicast and option.protocol == protocol:
                return option.endpoint
        return None


@dataclass
class SdMessage:
    entries: list[Entry] = field(default_factory=list)
    reboot: bool = False
    unicast: bool = True
    session_id: int = 1

    def to_message(self) -> Message:
        options: list = []
        entry_bytes = bytearray()
        for entry in self.entries:
            indices = []
            for option in entry.options:
                if option not in options:
                    options.append(option)
                indices.append(options.index(option))
            # one run of consecutive options per entry (we always place them consecutively when new)
            first = min(indices) if indices else 0
            if indices and sorted(indices) != list(range(first, first + len(indices))):
                options.extend(entry.options)
                first = len(options) - len(entry.options)
            entry_bytes += _ENTRY.pack(entry.type, first, 0, (len(entry.options) & 0xF) << 4, entry.service_id,
                                       entry.instance_id, ((entry.major_version & 0xFF) << 24) | (entry.ttl & 0xFFFFFF))
            if entry.is_service_entry:
                entry_bytes += _SERVICE_TAIL.pack(entry.minor_version)
            else:
                entry_bytes += _EVENTGROUP_TAIL.pack(entry.counter & 0xF, entry.eventgroup_id)
        option_bytes = b''.join(o.pack() for o in options)
        flags = (FLAG_REBOOT if self.reboot else 0) | (FLAG_UNICAST if self.unicast else 0)
        payload = (struct.pack('>B3xI', flags, len(entry_bytes)) + bytes(entry_bytes)
                   + struct.pack('>I', len(option_bytes)) + option_bytes)
        return Message(SD_SERVICE_ID, SD_METHOD_ID, MessageType.NOTIFICATION, payload, 0, self.session_id, 1)

    def pack(self) -> bytes:
        return self.to_message().pack()

    @classmethod
    def from_message(cls, message: Message) -> 'SdMessage':
        if message.service_id != SD_SERVICE_ID or message.method_id != SD_METHOD_ID:
            raise SdParseError(f'not an SD message: 0x{message.service_id:04x}.0x{message.method_id:04x}')
        if message.message_type != MessageType.NOTIFICATION:
            raise SdParseError(f'SD message type must be NOTIFICATION, got 0x{message.message_type:02x}')
        data = message.payload
        if len(data) < 12:
            raise SdParseError(f'SD payload of {len(data)} bytes is shorter than 12')
        flags, entries_length = struct.unpack_from('>B3xI', data, 0)
        if entries_length % 16 or 8 + entries_length + 4 > len(data):
            raise SdParseError(f'entries length {entries_length} does not fit the {len(data)}-byte payload')
        options_at = 8 + entries_length
        options_length = struct.unpack_from('>I', data, options_at)[0]
        if options_at + 4 + options_length != len(data):
            raise SdParseError(f'options length {options_length} does not match the payload')
        options = _parse_options(data[options_at + 4:])
        entries = []
        for offset in range(8, options_at, 16):
            kind, index1, index2, counts, service_id, instance_id, major_ttl = _ENTRY.unpack_from(data, offset)
            count1, count2 = counts >> 4, counts & 0xF
            picked = []
            for index, count in ((index1, count1), (index2, count2)):
                if count and index + count > len(options):
                    raise SdParseError(f'entry refers to options {index}..{index + count - 1}, '
                                       f'{len(options)} present')
                picked += options[index:index + count] if count else []
            entry = Entry(kind, service_id, instance_id, major_ttl >> 24, major_ttl & 0xFFFFFF, options=picked)
            if kind in SERVICE_ENTRY_TYPES:
                entry.minor_version = _SERVICE_TAIL.unpack_from(data, offset + 12)[0]
            elif kind in EVENTGROUP_ENTRY_TYPES:
                reserved_counter, entry.eventgroup_id = _EVENTGROUP_TAIL.unpack_from(data, offset + 12)
                entry.counter = reserved_counter & 0xF
            else:
                continue  # unknown entry type: skipped, the rest still counts
            entries.append(entry)
        return cls(entries, bool(flags & FLAG_REBOOT), bool(flags & FLAG_UNICAST), message.session_id)


def _parse_options(data: bytes) -> list:
    options: list = []
    offset = 0
    while offset < len(data):
        if offset + 3 > len(data):
            raise SdParseError('truncated option header')
        length, kind = _OPTION_HEAD.unpack_from(data, offset)
        end = offset + 3 + length  # the length counts everything after the type, reserved byte included
        if length < 1 or end > len(data):
            raise SdParseError(f'option length {length} runs past the options array')
        body = bytes(data[offset + 3:end])
        if kind in (OPTION_IPV4_ENDPOINT, OPTION_IPV4_MULTICAST):
            if length != 9:
                raise SdParseError(f'IPv4 option length must be 9, got {length}')
            _, raw_address, _, protocol, port = _IPV4.unpack(body)
            options.append(Ipv4Option(str(ipaddress.IPv4Address(raw_address)), port, protocol,
                                      kind == OPTION_IPV4_MULTICAST))
        else:
            options.append(RawOption(kind, body))
        offset = end
    return options


@dataclass
class SdTiming:
    initial_delay_min: float = 0.01
    initial_delay_max: float = 0.05
    repetitions_base_delay: float = 0.03
    repetitions_max: int = 3
    cyclic_offer_delay: float = 1.0
    ttl: int = 3                    # seconds, offers and subscriptions
    subscribe_retry: float = 0.5    # resend an unanswered subscription this often


@dataclass
class Offer:
    """A local service instance offered through SD; `on_subscribe(eventgroup, endpoint, ttl_s) -> bool`."""
    service_id: int
    instance_id: int
    major_version: int
    minor_version: int
    endpoint: Address
    on_subscribe: Callable[[int, Address, float], bool]
    timer: object = None
    active: bool = True


@dataclass
class RemoteService:
    service_id: int
    instance_id: int
    major_version: int
    minor_version: int
    endpoint: Address | None
    sd_address: Address
    expires: float

    @property
    def alive(self) -> bool:
        return self.expires > time.monotonic()


@dataclass
class Subscription:
    service_id: int
    instance_id: int
    major_version: int
    eventgroup_id: int
    endpoint: Address               # where we want the events
    on_state: Callable[[bool], None] | None = None
    acked: bool = False
    last_sent: float = 0.0


class ServiceDiscovery:
    """One SD endpoint: offers local services, finds and subscribes to remote ones."""

    def __init__(self, scheduler: Scheduler, unicast: Address = ('127.0.0.1', SD_PORT),
                 multicast_group: str | None = None, peers: list[Address] = (),
                 timing: SdTiming | None = None):
        self.scheduler = scheduler
        self.timing = timing or SdTiming()
        self.multicast_group = multicast_group
        self.peers = [tuple(p) for p in peers]
        self.offers: list[Offer] = []
        self.remotes: dict[tuple[int, int], RemoteService] = {}
        self.subscriptions: list[Subscription] = []
        self.find_callbacks: list[tuple[int, int, Callable[[RemoteService | None], None]]] = []
        self.malformed = 0
        self._lock = threading.RLock()
        self._sessions = itertools.cycle(range(1, 0x10000))
        self._reboot = True
        self._sent = 0
        self.unicast = UdpEndpoint(unicast, self._on_datagram, name='someip-sd',
                                   interface_ip=unicast[0] if multicast_group else None)
        self.address = self.unicast.address
        self.multicast = (UdpEndpoint(self.address, self._on_datagram, name='someip-sd-mc',
                                      multicast_group=multicast_group, interface_ip=self.address[0])
                          if multicast_group else None)
        self._timers = []

    def start(self) -> 'ServiceDiscovery':
        self.unicast.start()
        if self.multicast:
            self.multicast.start()
        self._timers.append(self.scheduler.call_every(self.timing.subscribe_retry, self._retry_subscriptions))
        return self

    def close(self) -> None:
        for offer in list(self.offers):
            self.stop_offer(offer)
        for sub in list(self.subscriptions):
            self.unsubscribe(sub)
        for timer in self._timers:
            timer.cancel()
        self.unicast.close()
        if self.multicast:
            self.multicast.close()

    # -- sending
    def _send(self, entries: list[Entry], target: Address | None) -> None:
        with self._lock:
            session = next(self._sessions)
            if session == 1 and self._sent:
                self._reboot = False  # the session counter wrapped: no longer "just rebooted"
            self._sent += 1
            data = SdMessage(entries, self._reboot, True, session).pack()
        if target is not None:
            self.unicast.send(data, target)
        elif self.multicast_group:
            self.unicast.send(data, (self.multicast_group, self.address[1]))
        else:
            for peer in self.peers:
                self.unicast.send(data, peer)

    def _offer_entry(self, offer: Offer, ttl: int) -> Entry:
        return Entry(OFFER_SERVICE, offer.service_id, offer.instance_id, offer.major_version, ttl,
                     minor_version=offer.minor_version, options=[Ipv4Option(offer.endpoint[0], offer.endpoint[1])])

    # -- server side
    def offer(self, service_id: int, instance_id: int, major_version: int, minor_version: int, endpoint: Address,
              on_subscribe: Callable[[int, Address, float], bool]) -> Offer:
        offer = Offer(service_id, instance_id, major_version, minor_version, tuple(endpoint), on_subscribe)
        with self._lock:
            self.offers.append(offer)
        t = self.timing
        delays = [random.uniform(t.initial_delay_min, t.initial_delay_max)]
        delays += [t.repetitions_base_delay * (2 ** n) for n in range(t.repetitions_max)]
        self._schedule_offer_phase(offer, delays)
        return offer

    def _schedule_offer_phase(self, offer: Offer, delays: list[float]) -> None:
        if not delays:
            # main phase: cyclic offers
            offer.timer = self.scheduler.call_every(self.timing.cyclic_offer_delay,
                                                    lambda: offer.active and self._send(
                                                        [self._offer_entry(offer, self.timing.ttl)], None))
            return

        def fire() -> None:
            if offer.active:
                self._send([self._offer_entry(offer, self.timing.ttl)], None)
                self._schedule_offer_phase(offer, delays[1:])
        offer.timer = self.scheduler.call_later(delays[0], fire)

    def stop_offer(self, offer: Offer) -> None:
        with self._lock:
            if offer not in self.offers:
                return
            self.offers.remove(offer)
        offer.active = False
        if offer.timer is not None:
            offer.timer.cancel()
        self._send([self._offer_entry(offer, 0)], None)

    # -- client side
    def find(self, service_id: int, instance_id: int = ANY_INSTANCE,
             callback: Callable[[RemoteService | None], None] | None = None) -> None:
        """Look for a service; `callback(remote)` on each offer, `callback(None)` on StopOffer."""
        if callback:
            with self._lock:
                self.find_callbacks.append((service_id, instance_id, callback))
        known = self.remote(service_id, instance_id)
        if known is not None:
            if callback:
                callback(known)
            return
        t = self.timing
        delays = [random.uniform(t.initial_delay_min, t.initial_delay_max)]
        delays += [t.repetitions_base_delay * (2 ** n) for n in range(t.repetitions_max)]
        entry = Entry(FIND_SERVICE, service_id, instance_id, ANY_MAJOR, self.timing.ttl, minor_version=ANY_MINOR)

        def step(remaining: list[float]) -> None:
            if self.remote(service_id, instance_id) is not None or not remaining:
                return
            self._send([entry], None)
            self.scheduler.call_later(remaining[0], lambda: step(remaining[1:]))
        self.scheduler.call_later(delays[0], lambda: step(delays[1:] + [0.0]))

    def remote(self, service_id: int, instance_id: int = ANY_INSTANCE) -> RemoteService | None:
        with self._lock:
            for (sid, iid), remote in list(self.remotes.items()):
                if sid == service_id and instance_id in (ANY_INSTANCE, iid):
                    if remote.alive:
                        return remote
                    del self.remotes[(sid, iid)]
        return None

    def subscribe(self, service_id: int, instance_id: int, major_version: int, eventgroup_id: int,
                  endpoint: Address, on_state: Callable[[bool], None] | None = None) -> Subscription:
        sub = Subscription(service_id, instance_id, major_version, eventgroup_id, tuple(endpoint), on_state)
        with self._lock:
            self.subscriptions.append(sub)
        remote = self.remote(service_id, instance_id)
        if remote is not None:
            self._send_subscribe(sub, remote, self.timing.ttl)
        else:
            self.find(service_id, instance_id)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self.subscriptions:
                self.subscriptions.remove(sub)
        remote = self.remote(sub.service_id, sub.instance_id)
        if remote is not None:
            self._send_subscribe(sub, remote, 0)

    def _send_subscribe(self, sub: Subscription, remote: RemoteService, ttl: int) -> None:
        sub.last_sent = time.monotonic()
        self._send([Entry(SUBSCRIBE_EVENTGROUP, sub.service_id, remote.instance_id, sub.major_version, ttl,
                          eventgroup_id=sub.eventgroup_id, options=[Ipv4Option(*sub.endpoint)])], remote.sd_address)

    def _retry_subscriptions(self) -> None:
        now = time.monotonic()
        for sub in list(self.subscriptions):
            remote = self.remote(sub.service_id, sub.instance_id)
            if remote is None and sub.acked:
                log.info('service 0x%04x.%d: offer TTL expired', sub.service_id, sub.instance_id)
                self._set_acked(sub, False)   # the offer's TTL ran out without renewal
            elif remote is not None and not sub.acked and now - sub.last_sent >= self.timing.subscribe_retry:
                self._send_subscribe(sub, remote, self.timing.ttl)

    # -- receiving
    def _on_datagram(self, data: bytes, sender: Address) -> None:
        if tuple(sender) == tuple(self.address):
            return  # our own multicast, looped back
        try:
            messages = [SdMessage.from_message(m) for m in parse_datagram(data)]
        except SomeIpParseError as error:
            self.malformed += 1
            log.debug('malformed SD datagram from %s: %s', sender, error.reason)
            return
        for message in messages:
            for entry in message.entries:
                handler = {FIND_SERVICE: self._on_find, OFFER_SERVICE: self._on_offer,
                           SUBSCRIBE_EVENTGROUP: self._on_subscribe,
                           SUBSCRIBE_EVENTGROUP_ACK: self._on_ack}.get(entry.type)
                if handler:
                    handler(entry, tuple(sender))

    def _on_find(self, entry: Entry, sender: Address) -> None:
        for offer in list(self.offers):
            if (entry.service_id == offer.service_id and entry.instance_id in (ANY_INSTANCE, offer.instance_id)
                    and entry.major_version in (ANY_MAJOR, offer.major_version)):
                self._send([self._offer_entry(offer, self.timing.ttl)], sender)

    def _on_offer(self, entry: Entry, sender: Address) -> None:
        key = (entry.service_id, entry.instance_id)
        if entry.ttl == 0:
            with self._lock:
                gone = self.remotes.pop(key, None)
            if gone is not None:
                log.info('service 0x%04x.%d stopped being offered', *key)
                for sub in list(self.subscriptions):
                    if sub.service_id == entry.service_id and sub.instance_id in (ANY_INSTANCE, entry.instance_id):
                        self._set_acked(sub, False)
                self._call_find_callbacks(entry, None)
            return
        ttl_s = float('inf') if entry.ttl == TTL_INFINITE else entry.ttl
        remote = RemoteService(entry.service_id, entry.instance_id, entry.major_version, entry.minor_version,
                               entry.endpoint(), sender, time.monotonic() + ttl_s)
        with self._lock:
            is_new = key not in self.remotes
            self.remotes[key] = remote
        if is_new:
            log.info('service 0x%04x.%d offered at %s', entry.service_id, entry.instance_id, remote.endpoint)
        self._call_find_callbacks(entry, remote)
        # every offer (re)subscribes the eventgroups we want: keeps them alive within the TTL
        for sub in list(self.subscriptions):
            if sub.service_id == entry.service_id and sub.instance_id in (ANY_INSTANCE, entry.instance_id):
                self._send_subscribe(sub, remote, self.timing.ttl)

    def _call_find_callbacks(self, entry: Entry, remote: RemoteService | None) -> None:
        for service_id, instance_id, callback in list(self.find_callbacks):
            if service_id == entry.service_id and instance_id in (ANY_INSTANCE, entry.instance_id):
                try:
                    callback(remote)
                except Exception:  # noqa: BLE001
                    log.exception('find callback failed')

    def _on_subscribe(self, entry: Entry, sender: Address) -> None:
        offer = next((o for o in self.offers if o.service_id == entry.service_id
                      and o.instance_id == entry.instance_id), None)
        endpoint = entry.endpoint()
        ok = False
        if endpoint is not None and endpoint[0] != sender[0]:
            # events go only to the host that asked: no reflecting a stream onto a third party
            log.info('Nack: subscriber %s names endpoint %s of another host', sender, endpoint)
            endpoint = None
        if offer is not None and endpoint is not None and entry.major_version in (ANY_MAJOR, offer.major_version):
            ttl_s = float('inf') if entry.ttl == TTL_INFINITE else float(entry.ttl)
            ok = bool(offer.on_subscribe(entry.eventgroup_id, endpoint, ttl_s))
        if entry.ttl == 0:
            return  # StopSubscribe is not acknowledged
        ack = Entry(SUBSCRIBE_EVENTGROUP_ACK, entry.service_id, entry.instance_id, entry.major_version,
                    entry.ttl if ok else 0, eventgroup_id=entry.eventgroup_id, counter=entry.counter)
        if not ok:
            log.info('Nack: subscription to 0x%04x.%d eventgroup %d from %s', entry.service_id, entry.instance_id,
                     entry.eventgroup_id, sender)
        self._send([ack], sender)

    def _on_ack(self, entry: Entry, sender: Address) -> None:
        for sub in list(self.subscriptions):
            if (sub.service_id == entry.service_id and sub.instance_id in (ANY_INSTANCE, entry.instance_id)
                    and sub.eventgroup_id == entry.eventgroup_id):
                self._set_acked(sub, entry.ttl > 0)

    def _set_acked(self, sub: Subscription, acked: bool) -> None:
        changed = sub.acked != acked
        sub.acked = acked
        if sub.on_state and (changed or not acked):
            try:
                sub.on_state(acked)
            except Exception:  # noqa: BLE001
                log.exception('subscription callback failed')
