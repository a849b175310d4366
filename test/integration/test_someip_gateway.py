"""The gateway from config/someip.yaml on 127.0.0.1: SD (unicast peers), subscriptions, cyclic events carrying
vehicle signals, actuating methods whose refusals come back as SOME/IP errors with the reason, fields, and the
consumer that turns a remote service's events back into signal updates. The vehicle is the in-process fake."""
import copy
import logging
import socket
import threading
import time
from concurrent.futures import Future

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from qwen_vehicle.paths import share_path
from qwen_vehicle.someip.gateway import ConfigError, SignalConsumer, SomeIpGateway, load_config, make_sd
from qwen_vehicle.someip.runtime import Scheduler
from qwen_vehicle.someip.sd import SUBSCRIBE_EVENTGROUP, Entry, Ipv4Option, SdMessage, SdTiming, ServiceDiscovery
from qwen_vehicle.someip.service import ServiceError, SomeIpClient, decode_error_reason
from qwen_vehicle.someip.vehicle import InMemoryVehicle
from qwen_vehicle.someip.wire import Message, MessageType, ReturnCode, parse

SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed'
DRIVER_TARGET = 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature'
REAR_TARGET = 'Vehicle.Cabin.HVAC.Station.Row2.TargetTemperature'
LAT, LON = 'Vehicle.CurrentLocation.Latitude', 'Vehicle.CurrentLocation.Longitude'

with open(share_path('config', 'someip.yaml'), encoding='utf-8') as handle:
    RAW = yaml.safe_load(handle)


def fast_config(climate_cycle_ms=50):
    raw = copy.deepcopy(RAW)
    for service in raw['services']:
        for event in service.get('events', []):
            event['cycle_ms'] = climate_cycle_ms if service['name'] == 'VehicleClimate' else 50
    raw['sd'].update(initial_delay_ms=[1, 5], repetitions_base_delay_ms=10, cyclic_offer_delay_ms=200)
    return load_config(raw)


def wait_for(condition, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def policy(path, value):
    if path.endswith('TargetTemperature') and not 16 <= value <= 30:
        return f'target temperature {value} outside 16..30 degC'
    return None


@pytest.fixture
def rig(request):
    config = fast_config(getattr(request, 'param', 50))
    scheduler = Scheduler()
    vehicle = InMemoryVehicle({SOC: 81.5, DRIVER_TARGET: 21.0, LAT: 31.2304167, LON: 121.4737010,
                               'Vehicle.Cabin.HVAC.Defrost': 'Off', 'Vehicle.Cabin.HVAC.FanLevel': 3},
                              policy=policy)
    server_sd = make_sd(config, scheduler, port=0)
    client_sd = make_sd(config, scheduler, port=0)
    server_sd.peers, client_sd.peers = [client_sd.address], [server_sd.address]
    server_sd.start(), client_sd.start()
    gateway = SomeIpGateway(config, vehicle, ('127.0.0.1', 0), sd=server_sd, scheduler=scheduler,
                            actuation_timeout_s=0.3).start()
    client = SomeIpClient().start()
    climate = client.proxy(config.service('VehicleClimate'), gateway.address)
    yield {'config': config, 'gateway': gateway, 'vehicle': vehicle, 'client_sd': client_sd, 'climate': climate,
           'server_sd': server_sd, 'scheduler': scheduler}
    client.close()
    gateway.close()
    server_sd.close()
    client_sd.close()
    scheduler.close()


def test_set_target_temperature_reaches_the_vehicle(rig):
    assert rig['climate'].call('SetTargetTemperature', {'zone': 'driver', 'value': 22.5}) == {'status': 'done'}
    assert rig['climate'].call('SetTargetTemperature', {'zone': 'rear', 'value': 19.3}) == {'status': 'done'}
    # float32 on the wire, the number the caller meant at the vehicle
    assert rig['vehicle'].requests == [(DRIVER_TARGET, 22.5), (REAR_TARGET, 19.3)]


def test_other_climate_methods(rig):
    climate, vehicle = rig['climate'], rig['vehicle']
    climate.call('SetFanLevel', {'value': 5})
    climate.call('SetAirConditioning', {'value': True})
    climate.call('SetDefrost', {'value': 'Both'})
    climate.call('SetSeatHeating', {'zone': 'passenger', 'value': 2})
    assert vehicle.requests == [('Vehicle.Cabin.HVAC.FanLevel', 5), ('Vehicle.Cabin.HVAC.IsAirConditioningActive', True),
                                ('Vehicle.Cabin.HVAC.Defrost', 'Both'), ('Vehicle.Cabin.Seat.Row1.PassengerSide.Heating', 2)]


def test_policy_refusal_is_a_someip_error_with_the_reason(rig):
    with pytest.raises(ServiceError) as caught:
        rig['climate'].call('SetTargetTemperature', {'zone': 'driver', 'value': 35.0})
    assert caught.value.return_code == ReturnCode.E_REFUSED == 0x20
    assert caught.value.reason == 'target temperature 35.0 outside 16..30 degC'
    assert rig['vehicle'].signals[DRIVER_TARGET] == 21.0


def test_unknown_enum_number_is_refused_before_the_vehicle(rig):
    request = Message(0x4102, 0x0005, MessageType.REQUEST, b'\x09', 1, 1, 1)  # defrost 9 has no label
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(request.pack(), rig['gateway'].address)
        reply = parse(sock.recvfrom(2048)[0])
    assert reply.message_type == MessageType.ERROR and reply.return_code == ReturnCode.E_REFUSED
    assert 'value 9 is not one of' in decode_error_reason(reply.payload)
    assert rig['vehicle'].requests == []


def test_no_outcome_in_time_is_e_timeout(rig):
    rig['vehicle'].actuate = lambda path, value: Future()  # never resolves
    with pytest.raises(ServiceError) as caught:
        rig['climate'].call('SetFanLevel', {'value': 1})
    assert caught.value.return_code == ReturnCode.E_TIMEOUT and 'within 0.3 s' in caught.value.reason


def test_vehicle_unreachable_is_e_not_ready(rig):
    def broken(path, value):
        raise ConnectionError('bridge down')
    rig['vehicle'].actuate = broken
    with pytest.raises(ServiceError) as caught:
        rig['climate'].call('SetFanLevel', {'value': 1})
    assert caught.value.return_code == ReturnCode.E_NOT_READY and 'bridge down' in caught.value.reason


def test_field_getter_and_setter_go_through_the_policy(rig):
    climate = rig['climate']
    assert wait_for(lambda: rig['gateway'].skeletons['VehicleClimate'].field_values.get('DriverTargetTemperature'))
    assert climate.get_field('DriverTargetTemperature') == 21.0
    with pytest.raises(ServiceError) as caught:
        climate.set_field('DriverTargetTemperature', 12.0)
    assert caught.value.return_code == ReturnCode.E_REFUSED
    assert climate.set_field('DriverTargetTemperature', 23.5) == 23.5
    assert climate.get_field('DriverTargetTemperature') == 23.5
    assert rig['vehicle'].signals[DRIVER_TARGET] == 23.5


def test_consumer_gets_signals_through_sd_subscriptions(rig):
    updates = {}
    lock = threading.Lock()

    def on_signal(path, value, stamp):
        with lock:
            updates[path] = (value, stamp)
    consumer = SignalConsumer(rig['config'], on_signal, rig['client_sd'])
    try:
        for name in ('VehicleBattery', 'VehicleClimate', 'VehicleLocation'):
            consumer.add(name)
        assert wait_for(lambda: all(consumer.subscribed.values()))
        assert consumer.subscribed == {('VehicleBattery', 1): True, ('VehicleClimate', 1): True,
                                       ('VehicleClimate', 2): True, ('VehicleLocation', 1): True}
        assert wait_for(lambda: {SOC, LAT, LON, DRIVER_TARGET} <= set(updates))
        assert updates[SOC][0] == 81.5
        assert updates[LAT][0] == 31.2304167 and updates[LON][0] == 121.4737010   # float64 exact
        assert updates['Vehicle.Cabin.HVAC.FanLevel'][0] == 3
        assert updates['Vehicle.Cabin.HVAC.Defrost'][0] == 'Off'
        assert 'Vehicle.Powertrain.Range' not in updates   # no value at the vehicle: not reported
        assert 'Vehicle.Cabin.HVAC.IsAirConditioningActive' not in updates   # a bool without value: the mask says so
        assert abs(updates[SOC][1] - time.time()) < 5
        rig['vehicle'].set(SOC, 64.0)
        assert wait_for(lambda: updates[SOC][0] == 64.0)
        # StopOffer when the gateway goes away: the consumer's subscriptions drop
        rig['gateway'].close()
        assert wait_for(lambda: not any(consumer.subscribed.values()))
    finally:
        consumer.close()


@pytest.mark.parametrize('rig', [60000], indirect=True)
def test_fire_and_forget_publish_now(rig):
    seen = []
    consumer = SignalConsumer(rig['config'], lambda p, v, t: seen.append(p), rig['client_sd'])
    try:
        consumer.add('VehicleClimate')
        assert wait_for(lambda: all(consumer.subscribed.values()))
        time.sleep(0.1)
        seen.clear()
        rig['climate'].send('PublishNow')
        assert wait_for(lambda: 'Vehicle.Cabin.HVAC.FanLevel' in seen, timeout=2.0)  # long before the 60 s cycle
    finally:
        consumer.close()


def test_subscribing_an_unknown_eventgroup_is_nacked(rig):
    states = []
    rig['client_sd'].subscribe(0x4101, 1, 1, 77, ('127.0.0.1', 9), states.append)
    assert wait_for(lambda: states)
    assert states[0] is False


@pytest.mark.parametrize('mutate, text', [
    (lambda r: r['services'][0]['events'][0].update(type='NoSuchType'), 'unknown type'),
    (lambda r: r['services'][0]['events'][0].update(id=0x0001), 'id 1 must be'),
    (lambda r: r['services'][1]['methods'][0]['actuate'].update(value='temperature'), 'not a request field'),
    (lambda r: r['services'][1]['methods'][0].pop('id'), 'SetTargetTemperature: id None'),
    (lambda r: r['services'][1]['methods'][6].update(action='reboot'), 'unknown action'),
    (lambda r: r.update(consume=[{'service': 'Nope'}]), 'unknown service'),
    (lambda r: r['services'].append(dict(r['services'][0])), 'defined twice'),
    (lambda r: r['types']['ClimateStatus']['fields'][8].update(default=300), 'does not fit'),
    (lambda r: r['types']['ClimateStatus']['fields'][0].update(type='uint8'), 'do not fit a uint8 mask'),
    (lambda r: r['types']['ClimateStatus']['fields'][0].update(type='float32'), 'one valid_mask field'),
])
def test_config_errors_are_clear(mutate, text):
    raw = copy.deepcopy(RAW)
    mutate(raw)
    with pytest.raises(ConfigError, match=text):
        load_config(raw)


def test_shipped_config_loads():
    config = load_config('someip.yaml')
    assert set(config.services) == {'VehicleBattery', 'VehicleClimate', 'VehicleLocation'}
    climate = config.service('VehicleClimate')
    assert climate.service_id == 0x4102 and climate.method('SetTargetTemperature').id == 1
    assert config.service('VehicleBattery').event('BatteryStatus').cycle_s == 1.0


def test_offer_ttl_expiry_drops_the_subscription(rig):
    states = []
    server_sd, client_sd = rig['server_sd'], rig['client_sd']
    client_sd.timing.subscribe_retry = 0.05
    client_sd.subscribe(0x4101, 1, 1, 1, ('127.0.0.1', 9), states.append)
    assert wait_for(lambda: states == [True])
    server_sd.peers = []          # the server's cyclic offers no longer reach us
    remote = client_sd.remotes[(0x4101, 1)]
    remote.expires = time.monotonic() + 0.1   # as if its 3 s TTL were nearly over
    assert wait_for(lambda: states[-1] is False and client_sd.remote(0x4101, 1) is None, timeout=2.0)


def test_events_follow_their_configured_cycle_times():
    config = load_config('someip.yaml')   # shipped cycles: location 200 ms, climate 500 ms
    vehicle = InMemoryVehicle({LAT: 1.0, LON: 2.0})
    gateway = SomeIpGateway(config, vehicle, ('127.0.0.1', 0)).start()
    stamps = {'LocationStatus': [], 'ClimateStatus': []}
    try:
        with SomeIpClient() as client:
            for name, event in (('VehicleLocation', 'LocationStatus'), ('VehicleClimate', 'ClimateStatus')):
                proxy = client.proxy(config.service(name), gateway.address)
                proxy.on_event(event, lambda value, message, e=event: stamps[e].append(time.monotonic()))
                gateway.skeletons[name].subscribe(1, client.address, ttl_s=10)
            assert wait_for(lambda: len(stamps['ClimateStatus']) >= 4, timeout=5)
    finally:
        gateway.close()
    for event, cycle in (('LocationStatus', 0.2), ('ClimateStatus', 0.5)):
        gaps = sorted(b - a for a, b in zip(stamps[event], stamps[event][1:]))
        median = gaps[len(gaps) // 2]
        assert 0.5 * cycle < median < 1.5 * cycle, (event, gaps)


@pytest.fixture(scope='module')
def fuzz_gateway():
    config = fast_config()
    scheduler = Scheduler()
    sd = make_sd(config, scheduler, port=0).start()
    gateway = SomeIpGateway(config, InMemoryVehicle({SOC: 50.0}, policy=policy), ('127.0.0.1', 0), sd=sd,
                            scheduler=scheduler).start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(('127.0.0.1', 0))
    errors = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = errors.append
    logging.getLogger('qwen_vehicle.someip').addHandler(handler)
    yield gateway, sd, sender, errors
    logging.getLogger('qwen_vehicle.someip').removeHandler(handler)
    sender.close()
    gateway.close()
    sd.close()
    scheduler.close()


SET_TEMPERATURE = Message(0x4102, 0x0001, MessageType.REQUEST, bytes.fromhex('0041b40000'), 1, 1, 1).pack()
SD_SUBSCRIBE = SdMessage([Entry(SUBSCRIBE_EVENTGROUP, 0x4101, 1, 1, 3, eventgroup_id=1,
                                options=[Ipv4Option('127.0.0.1', 9)])]).pack()


def _mutations(valid):
    return st.one_of(
        st.integers(0, len(valid) - 1).map(lambda n: valid[:n]),
        st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=6).map(
            lambda flips: bytes(dict(flips).get(i, b) for i, b in enumerate(valid))),
        st.binary(max_size=8).map(lambda tail: valid + tail))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_mutations(SET_TEMPERATURE).map(lambda d: ('service', d)),
                 _mutations(SD_SUBSCRIBE).map(lambda d: ('sd', d)),
                 st.binary(max_size=100).map(lambda d: ('sd', d))))
def test_malformed_packets_never_crash_the_gateway(fuzz_gateway, target_and_data):
    gateway, sd, sender, _ = fuzz_gateway
    target, data = target_and_data
    sender.sendto(data, gateway.address if target == 'service' else sd.address)


def test_gateway_still_serves_after_the_fuzzing(fuzz_gateway):
    gateway, sd, _, errors = fuzz_gateway
    with SomeIpClient() as client:
        climate = client.proxy(gateway.config.service('VehicleClimate'), gateway.address)
        assert climate.call('SetTargetTemperature', {'zone': 'driver', 'value': 20.0}) == {'status': 'done'}
    assert gateway.server.stats.malformed > 0 and sd.malformed > 0   # the fuzzing reached both endpoints
    assert gateway.server.endpoint._thread.is_alive() and sd.unicast._thread.is_alive()
    assert errors == []   # nothing escaped into a receive loop


def test_subscription_for_another_hosts_endpoint_is_nacked(rig):
    states = []
    rig['client_sd'].subscribe(0x4101, 1, 1, 1, ('127.0.0.99', 40000), states.append)
    assert wait_for(lambda: states)
    assert states[0] is False
    assert rig['gateway'].skeletons['VehicleBattery'].subscribers(1) == []


def test_offer_phases_initial_wait_repetitions_then_cyclic():
    scheduler = Scheduler()
    timing = SdTiming(initial_delay_min=0.01, initial_delay_max=0.02, repetitions_base_delay=0.05,
                      repetitions_max=3, cyclic_offer_delay=0.3, ttl=3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(('127.0.0.1', 0))
        peer.settimeout(2.0)
        sd = ServiceDiscovery(scheduler, ('127.0.0.1', 0), peers=[peer.getsockname()], timing=timing).start()
        try:
            started = time.monotonic()
            sd.offer(0x4101, 1, 1, 0, ('127.0.0.1', 30501), lambda *a: True)
            stamps = []
            while len(stamps) < 6:
                message = SdMessage.from_message(parse(peer.recv(2048)))
                assert [(e.type, e.service_id, e.ttl) for e in message.entries] == [(0x01, 0x4101, 3)]
                stamps.append(time.monotonic() - started)
        finally:
            sd.close()
            scheduler.close()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert stamps[0] >= 0.01                                   # initial wait
    for gap, expected in zip(gaps, (0.05, 0.1, 0.2, 0.3, 0.3)):  # repetitions double, then the cyclic phase
        assert gap >= expected * 0.8, (gaps, expected)
