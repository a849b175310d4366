"""SOME/IP message header (AUTOSAR PRS_SOMEIP): 16 bytes, big-endian, then the payload.

    0       message id = service id (16) | method or event id (16)
    4       length (32) = 8 + payload length (counts from the request id on)
    8       request id = client id (16) | session id (16)
    12      protocol version (8) = 1, interface version (8), message type (8), return code (8)

Several messages may share one UDP datagram (`parse_datagram`). SOME/IP-TP segments are refused with a clear
error: this implementation does not reassemble them.
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

HEADER = struct.Struct('>HHIHHBBBB')
HEADER_SIZE = HEADER.size  # 16
PROTOCOL_VERSION = 1
TP_FLAG = 0x20
MAX_UDP_PAYLOAD = 1400 - HEADER_SIZE  # PRS_SOMEIP: UDP messages stay below the TP threshold


class MessageType(enum.IntEnum):
    REQUEST = 0x00
    REQUEST_NO_RETURN = 0x01
    NOTIFICATION = 0x02
    RESPONSE = 0x80
    ERROR = 0x81


class ReturnCode(enum.IntEnum):
    E_OK = 0x00
    E_NOT_OK = 0x01
    E_UNKNOWN_SERVICE = 0x02
    E_UNKNOWN_METHOD = 0x03
    E_NOT_READY = 0x04
    E_NOT_REACHABLE = 0x05
    E_TIMEOUT = 0x06
    E_WRONG_PROTOCOL_VERSION = 0x07
    E_WRONG_INTERFACE_VERSION = 0x08
    E_MALFORMED_MESSAGE = 0x09
    E_WRONG_MESSAGE_TYPE = 0x0A
    E_E2E_REPEATED = 0x0B
    E_E2E_WRONG_SEQUENCE = 0x0C
    E_E2E = 0x0D
    E_E2E_NOT_AVAILABLE = 0x0E
    E_E2E_NO_NEW_DATA = 0x0F
    # 0x20..0x5E are reserved for service/method specific errors; ours:
    E_REFUSED = 0x20          # the safety policy or validation said no (reason in the payload)
    E_ACTUATION_FAILED = 0x21  # the vehicle did not carry out the request (reason in the payload)


def return_code_name(code: int) -> str:
    try:
        return ReturnCode(code).name
    except ValueError:
        return f'0x{code:02x}'


class SomeIpParseError(ValueError):
    """A datagram that is not a valid SOME/IP message.

    `return_code` is the code an ERROR reply would carry; `header` is the parsed header when the first 16 bytes were
    readable (so a server can still answer a request), else None.
    """

    def __init__(self, reason: str, return_code: int = ReturnCode.E_MALFORMED_MESSAGE,
                 header: 'Message | None' = None):
        super().__init__(reason)
        self.reason = reason
        self.return_code = return_code
        self.header = header


@dataclass
class Message:
    service_id: int
    method_id: int
    message_type: int = MessageType.REQUEST
    payload: bytes = b''
    client_id: int = 0
    session_id: int = 0
    interface_version: int = 1
    return_code: int = ReturnCode.E_OK
    protocol_version: int = PROTOCOL_VERSION
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def message_id(self) -> int:
        return (self.service_id << 16) | self.method_id

    @property
    def request_id(self) -> int:
        return (self.client_id << 16) | self.session_id

    @property
    def is_event(self) -> bool:
        return bool(self.method_id & 0x8000)

    def pack(self) -> bytes:
        return HEADER.pack(self.service_id, self.method_id, 8 + len(self.payload), self.client_id, self.session_id,
                           self.protocol_version, self.interface_version, int(self.message_type),
                           int(self.return_code)) + self.payload

    def reply(self, payload: bytes = b'', return_code: int = ReturnCode.E_OK) -> 'Message':
        """The RESPONSE (E_OK) or ERROR (any other code) to this request, same ids."""
        kind = MessageType.RESPONSE if return_code == ReturnCode.E_OK else MessageType.ERROR
        return Message(self.service_id, self.method_id, kind, payload, self.client_id, self.session_id,
                       self.interface_version, return_code)


_KNOWN_TYPES = {int(t) for t in MessageType}


def _parse_one(data: bytes | memoryview, offset: int) -> tuple[Message, int]:
    available = len(data) - offset
    if available < HEADER_SIZE:
        raise SomeIpParseError(f'truncated header: {available} of {HEADER_SIZE} bytes')
    (service_id, method_id, length, client_id, session_id, protocol_version, interface_version, message_type,
     return_code) = HEADER.unpack_from(data, offset)
    header = Message(service_id, method_id, message_type, b'', client_id, session_id, interface_version,
                     return_code, protocol_version)
    if length < 8:
        raise SomeIpParseError(f'length field {length} is below the minimum 8', header=header)
    end = offset + 8 + length
    if end > len(data):
        raise SomeIpParseError(f'length field says {length - 8} payload bytes, {len(data) - offset - 16} present',
                               header=header)
    if protocol_version != PROTOCOL_VERSION:
        raise SomeIpParseError(f'protocol version {protocol_version}, expected {PROTOCOL_VERSION}',
                               ReturnCode.E_WRONG_PROTOCOL_VERSION, header=header)
    if message_type & TP_FLAG:
        raise SomeIpParseError(f'SOME/IP-TP segment (message type 0x{message_type:02x}) is not supported',
                               ReturnCode.E_WRONG_MESSAGE_TYPE, header=header)
    if message_type not in _KNOWN_TYPES:
        raise SomeIpParseError(f'unknown message type 0x{message_type:02x}', ReturnCode.E_WRONG_MESSAGE_TYPE,
                               header=header)
    header.payload = bytes(data[offset + HEADER_SIZE:end])
    return header, end


def parse(data: bytes) -> Message:
    """Exactly one message; trailing bytes are an error."""
    message, end = _parse_one(data, 0)
    if end != len(data):
        raise SomeIpParseError(f'{len(data) - end} trailing bytes after the message', header=message)
    return message


def parse_datagram(data: bytes) -> list[Message]:
    """All messages packed in one UDP datagram; the first bad one raises (earlier ones are in `error.parsed`)."""
    messages: list[Message] = []
    offset = 0
    while offset < len(data):
        try:
            message, offset = _parse_one(data, offset)
        except SomeIpParseError as error:
            error.parsed = messages  # type: ignore[attr-defined]
            raise
        messages.append(message)
    if not messages:
        raise SomeIpParseError('empty datagram')
    return messages
