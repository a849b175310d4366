"""SOME/IP-SD over real multicast: two ECUs (127.0.0.1 offers, 127.0.0.2 consumes) as separate processes in a
network namespace the test creates with only `lo` up. Find, offer, subscribe and ack go through the multicast
group 224.224.224.245:30490; then events flow and a method call is refused with its reason.

Needs root (CAP_SYS_ADMIN) and iproute2; skipped with the reason otherwise. Run by hand:
    python test/integration/test_someip_netns.py server|client   (inside a namespace)
"""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

GROUP = '224.224.224.245'
SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed'


def _config(address):
    import yaml
    from qwen_vehicle.paths import share_path
    from qwen_vehicle.someip.gateway import load_config
    with open(share_path('config', 'someip.yaml'), encoding='utf-8') as handle:
        raw = yaml.safe_load(handle)
    raw['sd'].update(address=address, multicast=GROUP, port=30490, initial_delay_ms=[1, 10],
                     repetitions_base_delay_ms=20, cyclic_offer_delay_ms=300)
    for service in raw['services']:
        for event in service.get('events', []):
            event['cycle_ms'] = 100
    return load_config(raw)


def run_server(seconds):
    from qwen_vehicle.someip.gateway import SomeIpGateway, make_sd
    from qwen_vehicle.someip.runtime import Scheduler
    from qwen_vehicle.someip.vehicle import InMemoryVehicle
    config = _config('127.0.0.1')
    scheduler = Scheduler()
    vehicle = InMemoryVehicle({SOC: 77.5}, policy=lambda p, v: 'blocked while driving' if v == 29.0 else None)
    sd = make_sd(config, scheduler).start()
    gateway = SomeIpGateway(config, vehicle, sd=sd, scheduler=scheduler).start()
    print('READY', flush=True)
    try:
        sys.stdin.readline()  # the test closes stdin to stop us
    finally:
        gateway.close()
        sd.close()
        scheduler.close()
    print(json.dumps({'requests': vehicle.requests}), flush=True)


def run_client(seconds):
    from qwen_vehicle.someip.gateway import SignalConsumer, make_sd
    from qwen_vehicle.someip.runtime import Scheduler
    from qwen_vehicle.someip.service import ServiceError, SomeIpClient
    config = _config('127.0.0.2')
    scheduler = Scheduler()
    sd = make_sd(config, scheduler).start()
    signals = {}
    consumer = SignalConsumer(config, lambda path, value, stamp: signals.__setitem__(path, value), sd)
    consumer.add('VehicleBattery')
    result = {'offered_at': None, 'signals': signals}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (SOC in signals and all(consumer.subscribed.values())):
        time.sleep(0.02)
    result['subscribed'] = all(consumer.subscribed.values()) and bool(consumer.subscribed)
    found = []
    sd.find(0x4102, 1, found.append)
    while time.monotonic() < deadline and not found:
        time.sleep(0.02)
    if found and found[0] is not None:
        result['offered_at'] = list(found[0].endpoint)
        with SomeIpClient(('127.0.0.2', 0)) as client:
            climate = client.proxy(config.service('VehicleClimate'), found[0].endpoint)
            result['done'] = climate.call('SetTargetTemperature', {'zone': 'driver', 'value': 22.0})
            try:
                climate.call('SetTargetTemperature', {'zone': 'driver', 'value': 29.0})
            except ServiceError as error:
                result['refused'] = [error.return_code, error.reason]
    result['sd_malformed'] = sd.malformed
    consumer.close()
    sd.close()
    scheduler.close()
    print(json.dumps(result), flush=True)


def _ip(*args, netns=None):
    command = (['ip', 'netns', 'exec', netns] if netns else []) + ['ip', *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=10)


@pytest.fixture
def netns():
    if shutil.which('ip') is None:
        pytest.skip('iproute2 (ip) is not installed')
    name = f'qv_someip_{uuid.uuid4().hex[:8]}'
    made = _ip('netns', 'add', name)
    if made.returncode != 0:
        pytest.skip(f'cannot create a network namespace here: {made.stderr.strip() or made.returncode}')
    try:
        for args in (('link', 'set', 'lo', 'up'), ('link', 'set', 'lo', 'multicast', 'on'),
                     ('route', 'add', '224.0.0.0/4', 'dev', 'lo')):
            step = _ip(*args, netns=name)
            if step.returncode != 0:
                pytest.skip(f'cannot set up lo for multicast in the namespace: {step.stderr.strip()}')
        yield name
    finally:
        _ip('netns', 'del', name)


def test_discovery_subscription_and_calls_over_multicast(netns):
    here = os.path.abspath(__file__)
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    server = subprocess.Popen(['ip', 'netns', 'exec', netns, sys.executable, here, 'server'], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout.readline().strip() == 'READY', server.stderr.read()
        client = subprocess.run(['ip', 'netns', 'exec', netns, sys.executable, here, 'client'], capture_output=True,
                                text=True, timeout=30, env=env)
        assert client.returncode == 0, client.stderr
        result = json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        out, err = server.communicate('', timeout=15)
    served = json.loads(out.strip().splitlines()[-1])
    assert result['subscribed'] is True
    assert result['signals'][SOC] == 77.5
    assert result['offered_at'] == ['127.0.0.1', 30501]
    assert result['done'] == {'status': 'done'}
    assert result['refused'] == [0x20, 'blocked while driving']
    assert result['sd_malformed'] == 0
    assert served['requests'] == [['Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature', 22.0],
                                  ['Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature', 29.0]]


if __name__ == '__main__':
    {'server': run_server, 'client': run_client}[sys.argv[1]](10.0)
