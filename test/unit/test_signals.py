from qwen_vehicle.core.codec import SignalUpdate
from qwen_vehicle.core.signals import SignalStore


def test_freshness_follows_k_times_cycle(signal_map):
    t = [10.0]
    store = SignalStore(signal_map, stale_factor=5, clock=lambda: t[0])
    speed, soc = 'Vehicle.Speed', 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed'
    store.apply([SignalUpdate(speed, 12.0, 1200, 1.0), SignalUpdate(soc, 50.0, 500, 1.0)])
    t[0] += 0.09
    assert store.value(speed) == 12.0            # 20 ms cycle: stale after 100 ms
    t[0] += 0.02
    assert store.value(speed) is None and store.get(speed).fresh is False
    assert store.value(soc) == 50.0              # 100 ms cycle: stale after 500 ms
    assert store.stale([speed, soc, 'Vehicle.Missing']) == [speed, 'Vehicle.Missing']


def test_invalid_values_are_never_usable(signal_map):
    store = SignalStore(signal_map)
    store.apply([SignalUpdate('Vehicle.Speed', 'SNA', 65535, 0.0, False, 'signal_not_available')])
    assert store.value('Vehicle.Speed') is None
    assert store.get('Vehicle.Speed').reason == 'signal_not_available'
