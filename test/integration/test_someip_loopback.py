"""SOME/IP request/response, fire-and-forget, events and fields between a real server and client on 127.0.0.1,
plus every error return code and a fuzz run of malformed datagrams that the server survives."""
import logging
import socket
import threading
import time
from concurrent.futures import Future

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from qwen_vehicle.someip.serialization import SerializationError, compile_type
from qwen_vehicle.someip.service import (EventSpec, FieldSpec, MethodSpec, ServiceError, ServiceInterface,
                                         SomeIpClient, SomeIpServer, decode_error_reason)
from qwen_vehicle.someip.wire import Message, MessageType, ReturnCode, parse

POINT = compile_type({'type': 'struct', 'fields': [{'name': 'x', 'type': 'sint32'}, {'name': 'y', 'type': 'sint32'}]})
TEXT = compile_type('string')


def make_interface():
    return ServiceInterface(
        'Demo', 0x1234, 1, 2, 0,
        methods={
            0x0001: MethodSpec(0x0001, 'Add', POINT, compile_type('sint64')),
            0x0002: MethodSpec(0x0002, 'Echo', TEXT, TEXT),
            0x0003: MethodSpec(0x0003, 'Log', TEXT, fire_and_forget=True),
            0x0004: MethodSpec(0x0004, 'Refuse', TEXT, TEXT),
            0x0005: MethodSpec(0x0005, 'Broken'),
            0x0006: MethodSpec(0x0006, 'Later', TEXT, TEXT),
            0x0007: MethodSpec(0x0007, 'Unhandled'),
        },
        events={0x8001: EventSpec(0x8001, 'Tick', compile_type('uint32'), (1,))},
        fields={'Mode': FieldSpec('Mode', compile_type('uint8'), getter=0x0010, setter=0x0011, notifier=0x8010)},
    )


@pytest.fixture
def pair():
    interface = make_interface()
    interface.events[0x8010] = EventSpec(0x8010, 'Mode.notifier', compile_type('uint8'), (2,), of_field='Mode')
    server = SomeIpServer(('127.0.0.1', 0)).start()
    skeleton = server.add_service(interface)
    logged = []
    skeleton.on_method('Add', lambda v, m: v['x'] + v['y'])
    skeleton.on_method('Echo', lambda v, m: v.upper())
    skeleton.on_method('Log', lambda v, m: logged.append(v))

    def refuse(value, message):
        raise ServiceError(ReturnCode.E_REFUSED, f'not now: {value}')
    skeleton.on_method('Refuse', refuse)
    skeleton.on_method('Broken', lambda v, m: 1 / 0)

    def later(value, message):
        future = Future()
        threading.Timer(0.05, lambda: future.set_result(value + '!')).start()
        return future
    skeleton.on_method('Later', later)
    client = SomeIpClient(('127.0.0.1', 0)).start()
    proxy = client.proxy(interface, server.address)
    yield server, skeleton, client, proxy, logged
    client.close()
    server.close()


def raw_request(server, message, timeout=1.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        sock.settimeout(timeout)
        sock.sendto(message if isinstance(message, bytes) else message.pack(), server.address)
        try:
            return parse(sock.recvfrom(65535)[0])
        except socket.timeout:
            return None


def test_request_response(pair):
    server, _, client, proxy, _ = pair
    assert proxy.call('Add', {'x': 40, 'y': 2}) == 42
    assert proxy.call('Echo', 'héllo') == 'HÉLLO'
    assert server.stats.responses_sent == 2 and client.stats.responses == 2


def test_asynchronous_handler_answers_later(pair):
    assert pair[3].call('Later', 'wait') == 'wait!'


def test_fire_and_forget_gets_no_answer(pair):
    server, _, client, proxy, logged = pair
    proxy.send('Log', 'one')
    deadline = time.monotonic() + 2
    while not logged and time.monotonic() < deadline:
        time.sleep(0.01)
    assert logged == ['one']
    assert server.stats.responses_sent == 0 and server.stats.errors_sent == 0


def test_refusal_is_an_error_message_with_the_reason(pair):
    with pytest.raises(ServiceError) as caught:
        pair[3].call('Refuse', 'x')
    assert caught.value.return_code == ReturnCode.E_REFUSED
    assert caught.value.reason == 'not now: x'


def test_handler_bug_answers_not_ok_and_the_server_lives_on(pair):
    server, _, _, proxy, _ = pair
    with pytest.raises(ServiceError) as caught:
        proxy.call('Broken')
    assert caught.value.return_code == ReturnCode.E_NOT_OK and 'ZeroDivisionError' in caught.value.reason
    assert proxy.call('Add', {'x': 1, 'y': 1}) == 2


@pytest.mark.parametrize('message, code', [
    (Message(0x9999, 1, MessageType.REQUEST, b'', 1, 1, 2), ReturnCode.E_UNKNOWN_SERVICE),
    (Message(0x1234, 0x0099, MessageType.REQUEST, b'', 1, 1, 2), ReturnCode.E_UNKNOWN_METHOD),
    (Message(0x1234, 0x0007, MessageType.REQUEST, b'', 1, 1, 2), ReturnCode.E_UNKNOWN_METHOD),
    (Message(0x1234, 1, MessageType.REQUEST, b'\x00\x00\x00\x01', 1, 1, 2), ReturnCode.E_MALFORMED_MESSAGE),
    (Message(0x1234, 1, MessageType.REQUEST, b'\x00' * 8, 1, 1, 9), ReturnCode.E_WRONG_INTERFACE_VERSION),
    (Message(0x1234, 1, MessageType.REQUEST, b'\x00' * 8, 1, 1, 2, protocol_version=3),
     ReturnCode.E_WRONG_PROTOCOL_VERSION),
    (Message(0x1234, 1, MessageType.RESPONSE, b'', 1, 1, 2), None),
])
def test_error_return_codes(pair, message, code):
    reply = raw_request(pair[0], message, timeout=1.0 if code else 0.3)
    if code is None:
        assert reply is None  # answers are never answered
        return
    assert reply.message_type == MessageType.ERROR and reply.return_code == code
    assert (reply.client_id, reply.session_id) == (1, 1)
    assert decode_error_reason(reply.payload)


def test_truncated_request_with_readable_header_gets_malformed_error(pair):
    data = Message(0x1234, 1, MessageType.REQUEST, b'\x00' * 8, 5, 6, 2).pack()[:-3]
    reply = raw_request(pair[0], data)
    assert reply.return_code == ReturnCode.E_MALFORMED_MESSAGE and reply.session_id == 6


def test_fire_and_forget_errors_are_silent(pair):
    assert raw_request(pair[0], Message(0x1234, 0x0099, MessageType.REQUEST_NO_RETURN, b'', 1, 1, 2), 0.3) is None


def test_events_reach_subscribers_only(pair):
    server, skeleton, client, proxy, _ = pair
    received = []
    proxy.on_event('Tick', lambda value, message: received.append(value))
    assert skeleton.notify('Tick', 1) == 0
    assert skeleton.subscribe(1, client.address, ttl_s=5)
    assert not skeleton.subscribe(99, client.address, ttl_s=5)  # no such eventgroup
    assert skeleton.notify('Tick', 2) == 1
    deadline = time.monotonic() + 2
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert received == [2]
    skeleton.subscribe(1, client.address, ttl_s=0)
    assert skeleton.notify('Tick', 3) == 0


def test_subscription_expires_after_its_ttl(pair):
    _, skeleton, client, _, _ = pair
    skeleton.subscribe(1, client.address, ttl_s=0.1)
    assert skeleton.subscribers(1) == [client.address]
    time.sleep(0.2)
    assert skeleton.subscribers(1) == []


def test_field_getter_setter_notifier(pair):
    _, skeleton, client, proxy, _ = pair
    with pytest.raises(ServiceError) as caught:
        proxy.get_field('Mode')
    assert caught.value.return_code == ReturnCode.E_NOT_READY
    skeleton.set_field('Mode', 1)
    seen = []
    proxy.on_field('Mode', lambda value, message: seen.append(value))
    skeleton.subscribe(2, client.address, ttl_s=5)  # a new subscriber gets the current value at once
    assert proxy.get_field('Mode') == 1
    assert proxy.set_field('Mode', 3) == 3
    assert proxy.get_field('Mode') == 3
    deadline = time.monotonic() + 2
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [1, 3]


def test_call_times_out_without_a_server():
    interface = make_interface()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent, SomeIpClient() as client:
        silent.bind(('127.0.0.1', 0))
        proxy = client.proxy(interface, silent.getsockname())
        with pytest.raises(TimeoutError, match='no answer'):
            proxy.call('Add', {'x': 1, 'y': 2}, timeout=0.2)
        assert not client._pending


@pytest.fixture(scope='module')
def fuzz_target():
    server = SomeIpServer(('127.0.0.1', 0)).start()
    skeleton = server.add_service(make_interface())
    skeleton.on_method('Add', lambda v, m: v['x'] + v['y'])
    skeleton.on_method('Echo', lambda v, m: v)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    errors = _Collector()
    logging.getLogger('qwen_vehicle.someip').addHandler(errors)
    yield server, sock, errors
    logging.getLogger('qwen_vehicle.someip').removeHandler(errors)
    sock.close()
    server.close()


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


VALID = Message(0x1234, 0x0002, MessageType.REQUEST, TEXT.encode('abc'), 1, 1, 2).pack()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=120),
    st.tuples(st.integers(0, len(VALID)), st.binary(max_size=8)).map(lambda t: VALID[:t[0]] + t[1]),
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4).map(
        lambda flips: bytes(b if i not in dict(flips) else dict(flips)[i] for i, b in enumerate(VALID))),
))
def test_malformed_datagrams_never_crash_the_server(fuzz_target, data):
    server, sock, _ = fuzz_target
    sock.sendto(data, server.address)


def test_server_still_answers_after_the_fuzzing(fuzz_target):
    server, sock, errors = fuzz_target
    with SomeIpClient() as client:
        proxy = client.proxy(make_interface(), server.address)
        assert proxy.call('Add', {'x': 2, 'y': 3}) == 5
        assert proxy.call('Echo', 'still here') == 'still here'
    assert server.endpoint._thread.is_alive()
    assert server.stats.handler_failures == 0
    assert server.stats.malformed > 0   # the fuzz run really reached the server
    assert errors.records == []   # no exception escaped into the receive loop


def test_payloads_beyond_udp_need_tp_and_are_refused_clearly(pair):
    proxy = pair[3]
    with pytest.raises(SerializationError, match='SOME/IP-TP'):
        proxy.call('Echo', 'x' * 2000)
    # 1376 characters fit one UDP message (1384 payload bytes); 'Later' answers one byte more
    with pytest.raises(ServiceError) as caught:
        proxy.call('Later', 'y' * 1376)
    assert caught.value.return_code == ReturnCode.E_NOT_OK and 'SOME/IP-TP' in caught.value.reason
