"""Write SOME/IP datagrams to a classic libpcap file (LINKTYPE_RAW: IPv4 + UDP headers around our bytes), so
Wireshark/tshark can dissect exactly what an endpoint sent: `recorder = PcapRecorder(); endpoint.taps.append(
recorder.tap)`, then `recorder.write(path)`."""
from __future__ import annotations

import ipaddress
import struct
import threading
import time

LINKTYPE_RAW = 101
_GLOBAL = struct.Struct('<IHHiIII')
_RECORD = struct.Struct('<IIII')


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\x00'
    total = sum(struct.unpack(f'>{len(data) // 2}H', data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp_packet(src: tuple[str, int], dst: tuple[str, int], payload: bytes, ident: int = 0) -> bytes:
    """An IPv4 packet carrying one UDP datagram, checksums filled in."""
    src_ip, dst_ip = ipaddress.IPv4Address(src[0]).packed, ipaddress.IPv4Address(dst[0]).packed
    udp_length = 8 + len(payload)
    pseudo = src_ip + dst_ip + struct.pack('>BBH', 0, 17, udp_length)
    udp = struct.pack('>HHHH', src[1], dst[1], udp_length, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack('>H', udp_sum) + udp[8:]
    header = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + udp_length, ident & 0xFFFF, 0x4000, 64, 17, 0, src_ip, dst_ip)
    header = header[:10] + struct.pack('>H', _checksum(header)) + header[12:]
    return header + udp


def write_pcap(path: str, packets: list[tuple[float, tuple[str, int], tuple[str, int], bytes]]) -> None:
    """packets: (timestamp, source, destination, UDP payload)."""
    with open(path, 'wb') as handle:
        handle.write(_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        for index, (stamp, src, dst, payload) in enumerate(packets):
            packet = ipv4_udp_packet(src, dst, payload, index)
            seconds = int(stamp)
            handle.write(_RECORD.pack(seconds, int((stamp - seconds) * 1e6), len(packet), len(packet)))
            handle.write(packet)


class PcapRecorder:
    """Collects what endpoints send (taps) and writes it as a pcap."""

    def __init__(self, directions: tuple[str, ...] = ('tx',)):
        self.directions = directions
        self.packets: list[tuple[float, tuple[str, int], tuple[str, int], bytes]] = []
        self._lock = threading.Lock()

    def tap(self, direction: str, data: bytes, local: tuple[str, int], remote: tuple[str, int]) -> None:
        if direction not in self.directions:
            return
        src, dst = (local, remote) if direction == 'tx' else (remote, local)
        with self._lock:
            self.packets.append((time.time(), tuple(src), tuple(dst), bytes(data)))

    def write(self, path: str) -> int:
        with self._lock:
            packets = list(self.packets)
        write_pcap(path, packets)
        return len(packets)
