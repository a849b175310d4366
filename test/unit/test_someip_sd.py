"""SOME/IP-SD messages: golden bytes of an offer, entry/option round trips, and malformed input."""
import pytest
from hypothesis import given, settings, strategies as st

from qwen_vehicle.someip.sd import (FIND_SERVICE, OFFER_SERVICE, SUBSCRIBE_EVENTGROUP, SUBSCRIBE_EVENTGROUP_ACK,
                                    Entry, Ipv4Option, RawOption, SdMessage, SdParseError)
from qwen_vehicle.someip.wire import MessageType, SomeIpParseError, parse

OFFER_PAYLOAD = bytes.fromhex(
    'c0000000' '00000010'
    '01000010' '41010001' '01000003' '00000000'
    '0000000c' '0009' '04' '00' '7f000001' '00' '11' '7725')


def offer(ttl=3):
    return Entry(OFFER_SERVICE, 0x4101, 1, 1, ttl, minor_version=0, options=[Ipv4Option('127.0.0.1', 30501)])


def test_offer_golden_bytes():
    message = SdMessage([offer()], reboot=True, session_id=7).to_message()
    assert (message.service_id, message.method_id, message.client_id) == (0xFFFF, 0x8100, 0)
    assert message.message_type == MessageType.NOTIFICATION and message.session_id == 7
    assert message.payload == OFFER_PAYLOAD


def test_round_trip_of_every_entry_type():
    endpoint = Ipv4Option('127.0.0.2', 40000)
    entries = [
        Entry(FIND_SERVICE, 0x4102, 0xFFFF, 0xFF, 3, minor_version=0xFFFFFFFF),
        offer(),
        offer(ttl=0),  # StopOffer
        Entry(SUBSCRIBE_EVENTGROUP, 0x4102, 1, 1, 3, eventgroup_id=2, counter=1, options=[endpoint]),
        Entry(SUBSCRIBE_EVENTGROUP_ACK, 0x4102, 1, 1, 0, eventgroup_id=2),  # Nack
    ]
    decoded = SdMessage.from_message(parse(SdMessage(entries, session_id=3).pack()))
    assert decoded.entries == entries
    assert decoded.unicast and not decoded.reboot and decoded.session_id == 3


def test_shared_options_are_written_once():
    data = SdMessage([offer(), offer(ttl=0)]).to_message().payload
    assert data.count(bytes.fromhex('7f000001')) == 1


def test_unknown_options_are_kept_and_unknown_entries_skipped():
    raw = RawOption(0x01, b'\x00' + b'\x05abcde')  # a configuration option
    message = SdMessage([Entry(OFFER_SERVICE, 1, 1, 1, 3, options=[raw])]).to_message()
    decoded = SdMessage.from_message(message)
    assert decoded.entries[0].options == [raw]
    payload = bytearray(message.payload)
    payload[8] = 0x42  # an entry type we do not know
    message.payload = bytes(payload)
    assert SdMessage.from_message(message).entries == []


@pytest.mark.parametrize('mangle, text', [
    (lambda p: p[:10], 'shorter than 12'),
    (lambda p: p[:4] + bytes.fromhex('00000011') + p[8:], 'entries length'),
    (lambda p: p[:24] + bytes.fromhex('0000000d') + p[28:], 'options length'),
    (lambda p: p[:24] + bytes.fromhex('0000000d') + p[28:] + b'\x00', 'truncated option header'),
    (lambda p: p[:-1], 'options length'),
    (lambda p: p[:8] + b'\x01\x05' + p[10:], 'refers to options'),
    (lambda p: p[:28] + bytes.fromhex('0008') + p[30:], 'IPv4 option length'),
    (lambda p: p[:28] + bytes.fromhex('00ff') + p[30:], 'runs past'),
])
def test_malformed_sd_payloads(mangle, text):
    message = SdMessage([offer()]).to_message()
    message.payload = bytes(mangle(message.payload))
    with pytest.raises(SdParseError, match=text):
        SdMessage.from_message(message)


def test_not_an_sd_message():
    message = SdMessage([offer()]).to_message()
    message.method_id = 0x8101
    with pytest.raises(SdParseError, match='not an SD message'):
        SdMessage.from_message(message)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_random_payloads_only_raise_parse_errors(payload):
    message = SdMessage([]).to_message()
    message.payload = payload
    try:
        SdMessage.from_message(message)
    except SomeIpParseError:
        pass
