"""config/someip.yaml agrees with the signal map: every path it reads exists, every path it actuates is an
actuator there, and every actuator of the car is reachable over SOME/IP."""
import yaml

from qwen_vehicle.paths import share_path
from qwen_vehicle.someip.gateway import load_config


def _signal_map():
    with open(share_path('config', 'signals.yaml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)['signals']


def _paths(config):
    read, actuated = set(), set()
    for interface in config.services.values():
        for event in interface.events.values():
            read |= {path for path, _default, _marker in event.extra.get('signals', {}).values()}
        for field in interface.fields.values():
            if field.extra.get('signal'):
                read.add(field.extra['signal'])
                if field.setter is not None:
                    actuated.add(field.extra['signal'])
        for method in interface.methods.values():
            actuate = method.extra.get('actuate')
            if actuate:
                actuated |= {actuate['path']} if 'path' in actuate else set(actuate['paths'].values())
    return read, actuated


def test_someip_paths_exist_in_the_signal_map():
    signals = _signal_map()
    read, actuated = _paths(load_config('someip.yaml'))
    assert read and actuated
    assert sorted(read - set(signals)) == []
    assert sorted(p for p in actuated if 'actuator' not in (signals.get(p) or {})) == []


def test_every_actuator_is_offered():
    signals = _signal_map()
    _, actuated = _paths(load_config('someip.yaml'))
    assert sorted(p for p, spec in signals.items() if 'actuator' in (spec or {}) and p not in actuated) == []
