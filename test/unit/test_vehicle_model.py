import can
import pytest

from qwen_vehicle.core.actuation import Actuator
from qwen_vehicle.core.signals import SignalStore
from qwen_vehicle.core.vehicle_model import EcuSimulator, Plant, haversine_m


def test_cabin_follows_target_with_ac_and_fan():
    plant = Plant()
    plant.state.air_conditioning, plant.state.fan_level = True, 5
    plant.state.target['driver'] = 20.0
    start = plant.state.cabin['driver']
    for _ in range(600):
        plant.step(0.1)
    assert plant.state.cabin['driver'] < start - 5
    hot = Plant()
    hot.state.fan_level = 0
    for _ in range(600):
        hot.step(0.1)
    assert hot.state.cabin['driver'] > start - 0.5  # no airflow, no cooling


def test_soc_drains_driving_and_rises_charging():
    driving, charging = Plant('driving'), Plant('charging')
    soc0 = driving.state.soc
    for _ in range(3000):
        driving.step(0.1)
        charging.step(0.1)
    assert driving.state.soc < soc0 and charging.state.soc > soc0
    assert driving.state.pack_current < 0 < charging.state.pack_current


def test_gnss_follows_route_at_speed():
    plant = Plant('driving')
    lat0, lon0 = plant.state.lat, plant.state.lon
    for _ in range(600):
        plant.step(0.1)
    moved = haversine_m(lat0, lon0, plant.state.lat, plant.state.lon)
    assert 200 < moved < 60 / 3.6 * 60 + 50
    assert plant.state.speed_kmh > 20 and 0 <= plant.state.heading < 360


def test_external_pose_overrides_route():
    plant = Plant('driving')
    plant.set_external_pose(lat=31.0, lon=121.0, speed_mps=5.0, heading_deg=45.0)
    plant.step(0.1)
    assert (plant.state.lat, plant.state.lon) == (31.0, 121.0)
    assert plant.state.speed_kmh == pytest.approx(18.0) and plant.state.heading == 45.0


def test_simulator_obeys_only_valid_commands(signal_map):
    sent = []
    sim = EcuSimulator(signal_map, {'body': sent.append, 'powertrain': sent.append})
    store = SignalStore(signal_map)
    act = Actuator(signal_map, {'body': lambda f: sim.on_frame('body', f), 'powertrain': lambda f: None}, store)
    act.request('Vehicle.Cabin.HVAC.FanLevel', 6)
    assert sim.plant.state.fan_level == 6 and sim.stats['commands_ok'] == 1
    channel = next(iter(act.channels.values()))
    frame = channel.frame()
    bad = bytearray(frame.data)
    bad[7] ^= 0xFF
    assert not sim.on_frame('body', can.Message(arbitration_id=frame.arbitration_id, is_extended_id=False, data=bytes(bad)))
    assert sim.stats['bad_checksum'] == 1
    assert sim.on_frame('body', frame)
    assert not sim.on_frame('body', frame)     # the same counter again: a stuck sender
    assert sim.stats['bad_counter'] == 1


def test_simulator_sends_status_at_cycle_times(signal_map):
    sent = []
    t = [0.0]
    sim = EcuSimulator(signal_map, {'body': sent.append, 'powertrain': sent.append}, clock=lambda: t[0])
    for _ in range(100):   # one simulated second in 10 ms steps
        sim.tick()
        t[0] += 0.01
    counts = {}
    for f in sent:
        counts[f.arbitration_id] = counts.get(f.arbitration_id, 0) + 1
    assert counts[0x120] == 50 and counts[0x3A0] == 10 and counts[0x2F0] == 5
    assert counts[0x18FF0210] == 20 and all(f.is_extended_id for f in sent if f.arbitration_id == 0x18FF0210)
