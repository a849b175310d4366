"""SOME/IP for qwen_vehicle: wire format, serialization, service discovery, services and the gateway (no rclpy)."""
from .serialization import SerializationError, compile_type
from .service import (EventSpec, FieldSpec, MethodSpec, ServiceError, ServiceInterface, SomeIpClient,
                      SomeIpServer)
from .wire import Message, MessageType, ReturnCode, SomeIpParseError, parse, parse_datagram

__all__ = ['EventSpec', 'FieldSpec', 'Message', 'MessageType', 'MethodSpec', 'ReturnCode', 'SerializationError',
           'ServiceError', 'ServiceInterface', 'SomeIpClient', 'SomeIpParseError', 'SomeIpServer', 'compile_type',
           'parse', 'parse_datagram']
