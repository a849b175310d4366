"""Wireshark's own dissector reads what our endpoints actually sent (recorded by a tap into a classic pcap) as
valid SOME/IP and SOME/IP-SD with the ids and values we meant."""
import shutil
import socket
import struct
import subprocess
import time

import pytest

from qwen_vehicle.someip.gateway import SignalConsumer, SomeIpGateway, load_config, make_sd
from qwen_vehicle.someip.pcap import PcapRecorder
from qwen_vehicle.someip.runtime import Scheduler
from qwen_vehicle.someip.service import ServiceError, SomeIpClient
from qwen_vehicle.someip.vehicle import InMemoryVehicle

pytestmark = pytest.mark.skipif(shutil.which('tshark') is None, reason='tshark (Wireshark CLI) is not installed')

FIELDS = ['someip.serviceid', 'someip.methodid', 'someip.messagetype', 'someip.returncode', 'someip.clientid',
          'someip.sessionid', 'someip.interfaceversion', 'someip.protoversion', 'someip.payload',
          'someipsd.entry.type', 'someipsd.entry.serviceid', 'someipsd.entry.ttl', 'someipsd.entry.eventgroupid',
          'someipsd.option.port', 'someipsd.option.ipv4address', '_ws.malformed', '_ws.expert.severity']


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.01)
    return condition()


def tshark_rows(pcap, ports):
    command = ['tshark', '-r', str(pcap), '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a',
               '-E', 'aggregator=,']
    for port in ports:
        command += ['-d', f'udp.port=={port},someip']
    for name in FIELDS:
        command += ['-e', name]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    return [dict(zip(FIELDS, line.split('|'))) for line in out.splitlines() if line.strip()]


def num(text):
    return int(text, 0)


@pytest.fixture(scope='module')
def capture(tmp_path_factory):
    config = load_config('someip.yaml')
    scheduler = Scheduler()
    recorder = PcapRecorder()
    service_port, sd_port = free_port(), free_port()
    vehicle = InMemoryVehicle({'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed': 81.5},
                              policy=lambda p, v: 'outside 16..30 degC' if isinstance(v, float) and v > 30 else None)
    server_sd = make_sd(config, scheduler, port=sd_port)
    client_sd = make_sd(config, scheduler, port=0)
    server_sd.peers, client_sd.peers = [client_sd.address], [server_sd.address]
    gateway = SomeIpGateway(config, vehicle, ('127.0.0.1', service_port), sd=server_sd, scheduler=scheduler)
    client = SomeIpClient(client_id=0x0042)
    for endpoint in (server_sd.unicast, client_sd.unicast, gateway.server.endpoint, client.endpoint):
        endpoint.taps.append(recorder.tap)
    server_sd.start(), client_sd.start(), gateway.start(), client.start()
    consumer = SignalConsumer(config, lambda *a: None, client_sd)
    try:
        consumer.add('VehicleBattery')
        assert wait_for(lambda: all(consumer.subscribed.values()))
        gateway.publish_events(gateway.skeletons['VehicleBattery'])
        climate = client.proxy(config.service('VehicleClimate'), gateway.address)
        climate.call('SetTargetTemperature', {'zone': 'driver', 'value': 22.5})
        with pytest.raises(ServiceError):
            climate.call('SetTargetTemperature', {'zone': 'driver', 'value': 35.0})
        time.sleep(0.1)
    finally:
        consumer.close()
        client.close()
        gateway.close()
        server_sd.close()
        client_sd.close()
        scheduler.close()
    pcap = tmp_path_factory.mktemp('pcap') / 'someip.pcap'
    assert recorder.write(str(pcap)) > 5
    rows = tshark_rows(pcap, [service_port, sd_port])
    for row in rows:
        row['service_port'] = service_port
    return rows


def test_every_packet_is_clean_someip(capture):
    assert capture
    for row in capture:
        assert row['someip.serviceid'], row
        assert num(row['someip.protoversion']) == 1
        assert row['_ws.malformed'] == '', row
        assert 'Error' not in row['_ws.expert.severity'] and 'Warning' not in row['_ws.expert.severity'], row


def test_request_response_and_error_ids(capture):
    calls = [r for r in capture if r['someip.serviceid'] and num(r['someip.serviceid']) == 0x4102
             and num(r['someip.methodid']) == 0x0001]
    kinds = [(num(r['someip.messagetype']), num(r['someip.returncode']), num(r['someip.sessionid'])) for r in calls]
    assert kinds == [(0x00, 0, 1), (0x80, 0, 1), (0x00, 0, 2), (0x81, 0x20, 2)]
    assert all(num(r['someip.clientid']) == 0x42 and num(r['someip.interfaceversion']) == 1 for r in calls)
    request = bytes.fromhex(calls[0]['someip.payload'].replace(':', ''))
    assert request[0] == 0 and struct.unpack('>f', request[1:5])[0] == 22.5     # zone driver, 22.5 degC
    error = bytes.fromhex(calls[3]['someip.payload'].replace(':', ''))
    assert error[4:7] == b'\xef\xbb\xbf' and b'outside 16..30 degC' in error    # reason string with BOM


def test_notification_carries_the_signal(capture):
    events = [r for r in capture if num(r['someip.serviceid']) == 0x4101 and num(r['someip.methodid']) == 0x8001]
    assert events and all(num(r['someip.messagetype']) == 0x02 for r in events)
    payload = bytes.fromhex(events[0]['someip.payload'].replace(':', ''))
    valid, soc = struct.unpack('>If', payload[:8])
    assert valid == 0b1 and soc == 81.5     # only the state of charge is known at the vehicle


def test_sd_offer_subscribe_ack_stopoffer(capture):
    sd = [r for r in capture if num(r['someip.serviceid']) == 0xFFFF]
    assert sd and all(num(r['someip.methodid']) == 0x8100 and num(r['someip.messagetype']) == 0x02 for r in sd)
    entries = [(num(t), num(s), num(ttl), g) for r in sd for t, s, ttl, g in zip(
        r['someipsd.entry.type'].split(','), r['someipsd.entry.serviceid'].split(','),
        r['someipsd.entry.ttl'].split(','), (r['someipsd.entry.eventgroupid'].split(',') + [''] * 9))]
    assert (0x01, 0x4101, 3, '') in [(t, s, ttl, '') for t, s, ttl, _ in entries]            # OfferService
    assert any(t == 0x06 and s == 0x4101 and ttl == 3 for t, s, ttl, _ in entries)            # Subscribe
    assert any(t == 0x07 and s == 0x4101 and ttl == 3 for t, s, ttl, _ in entries)            # Ack
    assert any(t == 0x01 and s == 0x4101 and ttl == 0 for t, s, ttl, _ in entries)            # StopOffer
    # offers point at the gateway's service endpoint (IPv4 endpoint option, UDP)
    assert any(r['someipsd.entry.type'] == '0x01' and r['someipsd.option.ipv4address'] == '127.0.0.1'
               and num(r['someipsd.option.port']) == r['service_port'] for r in sd)
