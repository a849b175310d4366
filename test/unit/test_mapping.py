import textwrap

import pytest

from qwen_vehicle.core.mapping import SignalMapError, load_signal_map
from qwen_vehicle.paths import share_path


def write_map(tmp_path, body):
    path = tmp_path / 'map.yaml'
    path.write_text(textwrap.dedent(f"""\
        buses:
          body: {{dbc: {share_path('dbc', 'qwen_body.dbc')}}}
        signals:
        """) + textwrap.indent(textwrap.dedent(body), '  '))
    return str(path)


def test_reference_map_loads_every_bus_and_actuator(signal_map):
    assert set(signal_map.buses) == {'powertrain', 'body'}
    assert len(signal_map.signals) >= 30
    acts = {s.actuator.tool for s in signal_map.actuatable()}
    assert acts == {'set_target_temperature', 'set_fan_level', 'set_air_conditioning', 'set_recirculation',
                    'set_defrost', 'set_seat_heating'}
    speed = signal_map.signals['Vehicle.Speed']
    assert speed.period_s == pytest.approx(0.02)
    heading = signal_map.signals['Vehicle.CurrentLocation.Heading']
    assert heading.period_s == pytest.approx(0.1)  # 50 ms cycle, two multiplexed pages


def test_unknown_signal_names_file_and_line(tmp_path):
    path = write_map(tmp_path, """\
        Vehicle.Cabin.Fan:
          {bus: body, message: HVAC_Status, signal: FanLevel}
        Vehicle.Cabin.Nope:
          bus: body
          message: HVAC_Status
          signal: NoSuchSignal
        """)
    with pytest.raises(SignalMapError) as err:
        load_signal_map(path)
    assert f'{path}:6:' in str(err.value)
    assert 'NoSuchSignal' in str(err.value) and 'HVAC_Status' in str(err.value)


@pytest.mark.parametrize('body, message', [
    ('X: {bus: nope, message: HVAC_Status, signal: FanLevel}\n', "unknown bus 'nope'"),
    ('X: {bus: body, message: Missing, signal: FanLevel}\n', "message 'Missing' is not in qwen_body.dbc"),
    ('X: {bus: body, message: HVAC_Status, signal: CabinTempDriver, unit: K}\n', 'disagrees with the DBC unit'),
    ('X: {bus: body, message: HVAC_Status, signal: FanLevel, ros: {topic: a, type: std_msgs/Foo}}\n',
     'ros type'),
    ('X: {bus: body, message: HVAC_Status, signal: FanLevel, actuator: {message: HVAC_Request, signal: Nope,'
     ' tool: {name: t}}}\n', 'actuator HVAC_Request.Nope'),
])
def test_map_errors_are_clear(tmp_path, body, message):
    path = write_map(tmp_path, body)
    with pytest.raises(SignalMapError, match=message) as err:
        load_signal_map(path)
    assert str(err.value).startswith(f'{path}:')


def test_topic_type_conflict_is_reported(tmp_path):
    path = write_map(tmp_path, """\
        A: {bus: body, message: HVAC_Status, signal: FanLevel, ros: {topic: t, type: std_msgs/UInt8}}
        B: {bus: body, message: HVAC_Status, signal: Defrost, ros: {topic: t, type: std_msgs/String}}
        """)
    with pytest.raises(SignalMapError, match='topic t is std_msgs/UInt8'):
        load_signal_map(path)
