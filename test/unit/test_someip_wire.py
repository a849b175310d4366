"""SOME/IP header: golden bytes, every rejection path, and random input that only ever raises SomeIpParseError."""
import pytest
from hypothesis import given, settings, strategies as st

from qwen_vehicle.someip.wire import (HEADER_SIZE, Message, MessageType, ReturnCode, SomeIpParseError, parse,
                                      parse_datagram)

GOLDEN = bytes.fromhex('12340421 0000000a 00010002 01010000 0102')


def test_pack_matches_the_spec_layout():
    message = Message(0x1234, 0x0421, MessageType.REQUEST, b'\x01\x02', client_id=1, session_id=2)
    assert message.pack() == GOLDEN
    assert message.message_id == 0x12340421
    assert message.request_id == 0x00010002


def test_parse_golden():
    message = parse(GOLDEN)
    assert (message.service_id, message.method_id, message.client_id, message.session_id) == (0x1234, 0x421, 1, 2)
    assert message.message_type == MessageType.REQUEST and message.payload == b'\x01\x02'
    assert message.interface_version == 1 and message.return_code == ReturnCode.E_OK


def test_reply_keeps_ids_and_picks_the_type():
    request = parse(GOLDEN)
    ok = request.reply(b'\xff')
    error = request.reply(b'', ReturnCode.E_REFUSED)
    assert (ok.message_type, ok.session_id, ok.client_id) == (MessageType.RESPONSE, 2, 1)
    assert (error.message_type, error.return_code) == (MessageType.ERROR, 0x20)


@pytest.mark.parametrize('data, code, text', [
    (GOLDEN[:10], ReturnCode.E_MALFORMED_MESSAGE, 'truncated header'),
    (GOLDEN[:-1], ReturnCode.E_MALFORMED_MESSAGE, 'payload bytes'),
    (GOLDEN[:4] + bytes.fromhex('00000004') + GOLDEN[8:], ReturnCode.E_MALFORMED_MESSAGE, 'below the minimum'),
    (GOLDEN[:12] + b'\x02' + GOLDEN[13:], ReturnCode.E_WRONG_PROTOCOL_VERSION, 'protocol version 2'),
    (GOLDEN[:14] + b'\x20' + GOLDEN[15:], ReturnCode.E_WRONG_MESSAGE_TYPE, 'SOME/IP-TP'),
    (GOLDEN[:14] + b'\x05' + GOLDEN[15:], ReturnCode.E_WRONG_MESSAGE_TYPE, 'unknown message type'),
    (GOLDEN + b'\x00', ReturnCode.E_MALFORMED_MESSAGE, 'trailing'),
])
def test_rejections_name_the_problem(data, code, text):
    with pytest.raises(SomeIpParseError) as caught:
        parse(data)
    assert caught.value.return_code == code
    assert text in caught.value.reason


def test_header_is_kept_when_readable_so_a_server_can_answer():
    with pytest.raises(SomeIpParseError) as caught:
        parse(GOLDEN[:12] + b'\x02' + GOLDEN[13:])
    assert caught.value.header.session_id == 2


def test_several_messages_in_one_datagram():
    second = Message(0x1234, 0x8001, MessageType.NOTIFICATION, b'abc').pack()
    messages = parse_datagram(GOLDEN + second)
    assert [m.method_id for m in messages] == [0x0421, 0x8001]
    with pytest.raises(SomeIpParseError) as caught:
        parse_datagram(GOLDEN + second[:5])
    assert [m.method_id for m in caught.value.parsed] == [0x0421]


def test_empty_datagram():
    with pytest.raises(SomeIpParseError):
        parse_datagram(b'')


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_raise_anything_else(data):
    try:
        for message in parse_datagram(data):
            assert len(message.payload) + HEADER_SIZE <= len(data)
    except SomeIpParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.sampled_from(list(MessageType)), st.binary(max_size=40),
       st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255))
def test_round_trip(service, method, kind, payload, client, session, version, code):
    message = Message(service, method, kind, payload, client, session, version, code)
    assert parse(message.pack()) == message


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(0, 60))
def test_truncation_of_a_valid_message_is_always_caught(payload, cut):
    data = Message(1, 2, MessageType.REQUEST, payload).pack()
    cut = min(cut, len(data) - 1)
    with pytest.raises(SomeIpParseError):
        parse(data[:cut])
