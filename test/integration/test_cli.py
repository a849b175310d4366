"""The `qwen-vehicle` CLI: subcommand discovery, `signals`, `monitor` and `say` against real nodes over DDS.

`monitor` and `say` run as separate processes (python -m qwen_vehicle.cli), so discovery crosses processes as it does
for a user; the car runs in this process on virtual buses (Bringup).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from qwen_vehicle import cli

rclpy = pytest.importorskip('rclpy')

from ros_stand_in import SpunNode  # noqa: E402


def qv(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'qwen_vehicle.cli', *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


# ---- discovery -------------------------------------------------------------------------------------------------
def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_a_broken_subcommand_does_not_break_the_others(monkeypatch, capsys):
    real_import = cli.importlib.import_module

    def fake_import(name, *a, **kw):
        if name == 'qwen_vehicle.cli.monitor':
            raise RuntimeError('boom')
        return real_import(name, *a, **kw)

    monkeypatch.setattr(cli.importlib, 'import_module', fake_import)
    assert cli.main(['monitor', '--once']) == 2
    assert 'unavailable (failed to load: RuntimeError: boom)' in capsys.readouterr().err
    assert cli.main(['signals', '--no-tools']) == 0
    assert 'Vehicle.Speed' in capsys.readouterr().out


def test_unknown_subcommand_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(['fly'])
    assert exc.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err


# ---- signals -----------------------------------------------------------------------------------------------------
def test_signals_lists_mapped_signals_and_generated_tools(capsys):
    assert cli.main(['signals']) == 0
    out = capsys.readouterr().out
    assert 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature' in out
    assert 'HVAC_Status.TargetTempDriver' in out
    assert 'set_target_temperature zone=driver' in out
    assert 'vehicle/battery (sensor_msgs/BatteryState)' in out
    assert 'set_target_temperature  set' in out


def test_signals_json_agrees_with_the_signal_map(capsys):
    from qwen_vehicle.core.mapping import load_signal_map
    smap = load_signal_map('signals.yaml')
    assert cli.main(['signals', '--json']) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r['path'] for r in doc['signals']} == set(smap.signals)
    tools = {t['function']['name']: t for t in doc['tools']}
    for name in ('set_target_temperature', 'set_fan_level', 'set_air_conditioning', 'set_recirculation',
                 'set_defrost', 'set_seat_heating', 'get_cabin_temperature', 'get_climate_status',
                 'get_battery_status', 'get_location', 'get_vehicle_state'):
        assert name in tools, name
    temp = tools['set_target_temperature']['function']['parameters']['properties']
    assert temp['zone']['enum'] == ['driver', 'passenger', 'rear']
    assert (temp['value']['minimum'], temp['value']['maximum']) == (16, 30)
    assert tools['set_fan_level']['kind'] == 'set'


def test_signals_bus_filter_and_bad_inputs(capsys, tmp_path):
    assert cli.main(['signals', '--bus', 'body', '--json', '--no-tools']) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc['signals'] and {r['bus'] for r in doc['signals']} == {'body'}
    assert 'tools' not in doc
    assert cli.main(['signals', '--bus', 'chassis']) == 1
    assert "no bus 'chassis'" in capsys.readouterr().err
    bad = tmp_path / 'bad.yaml'
    bad.write_text('version: 1\nbuses:\n  body: {dbc: qwen_body.dbc}\nsignals:\n'
                   '  X.Y: {bus: body, message: NoSuchMessage, signal: Z, unit: ""}\n')
    assert cli.main(['signals', '--signal-map', str(bad)]) == 1
    err = capsys.readouterr().err
    assert 'NoSuchMessage' in err and 'bad.yaml' in err


# ---- monitor ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def car():
    from qwen_vehicle.bringup import Bringup
    # one car per module (two can_bridge nodes on one domain would share names and topics)
    with Bringup(('vehicle_sim', 'can_bridge', 'assistant')) as bringup:
        time.sleep(0.5)
        yield bringup


def test_monitor_once_shows_fresh_valid_signals(car):
    res = qv('monitor', '--once', '--json', '--timeout', '20')
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    by_path = {r['path']: r for r in doc['signals']}
    soc = by_path['Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed']
    assert soc['status'] == 'ok' and soc['valid'] and soc['fresh'] and soc['unit'] == '%'
    assert 0 < soc['value'] <= 100
    assert by_path['Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature']['unit'] == 'degC'


def test_monitor_table_marks_silenced_message_stale(car):
    from rclpy.parameter import Parameter
    sim = car.nodes['vehicle_sim']
    store = car.nodes['can_bridge'].store
    sim.set_parameters([Parameter('silence', value=['BMS_Energy'])])
    try:
        # stale after stale_factor x the cycle time; then one more state period for vehicle/state to carry it
        deadline = time.monotonic() + 30.0
        while store.get('Vehicle.Powertrain.Range').fresh and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        res = qv('monitor', '--once', '--filter', 'Powertrain.Range', '--timeout', '20')
    finally:
        sim.set_parameters([Parameter('silence', value=[''])])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ['SIGNAL', 'VALUE']
    row = next(line for line in lines if line.startswith('Vehicle.Powertrain.Range'))
    assert 'stale' in row.split()
    assert lines[-1].startswith('1 signals:') and '1 stale' in lines[-1]


def test_monitor_without_a_bridge_fails_clearly():
    res = qv('monitor', '--once', '--topic', 'nobody/publishes/this', '--timeout', '1')
    assert res.returncode == 1
    assert 'nothing on /nobody/publishes/this' in res.stderr


def test_monitor_rows_report_missing_and_invalid():
    from qwen_vehicle.cli.monitor import render, rows
    doc = {'stamp': 100.0, 'signals': {
        'A.Ok': {'value': 1.5, 'valid': True, 'fresh': True, 'reason': None, 'stamp': 99.5},
        'A.Sna': {'value': None, 'valid': False, 'fresh': True, 'reason': 'SNA', 'stamp': 99.9}}}
    table = rows(doc, {'A.Ok': 'V', 'A.Never': 'km'})
    status = {r['path']: r['status'] for r in table}
    assert status == {'A.Ok': 'ok', 'A.Sna': 'invalid', 'A.Never': 'missing'}
    assert next(r for r in table if r['path'] == 'A.Ok')['age_s'] == pytest.approx(0.5)
    text = render(table)
    assert 'invalid (SNA)' in text and 'missing (never received)' in text
    assert text.splitlines()[-1] == '3 signals: 1 ok, 0 stale, 1 invalid, 1 missing'


# ---- say -----------------------------------------------------------------------------------------------------------
class EchoAssistant(SpunNode):
    """Stands in for the assistant node's topic contract only (the CLI's own layer): JSON text in, reply + events out,
    plus an event and a reply for another request id that `say` must ignore. In namespace /echo, apart from the car."""

    def __init__(self) -> None:
        from std_msgs.msg import String

        from qwen_vehicle.nodes import qos
        super().__init__('echo_assistant', namespace='echo')
        self.received: list[dict] = []
        self.reply = self.node.create_publisher(String, 'assistant/reply', qos.EVENTS)
        self.events = self.node.create_publisher(String, 'assistant/events', qos.EVENTS)
        self.node.create_subscription(String, 'assistant/text', self._on_text, qos.COMMANDS)
        self.start_spinning()

    def _on_text(self, msg) -> None:
        from std_msgs.msg import String
        doc = json.loads(msg.data)
        self.received.append(doc)
        rid = doc['request_id']
        self.events.publish(String(data=json.dumps({'type': 'plan', 'request_id': 'someone_else', 'calls': []})))
        self.events.publish(String(data=json.dumps({'type': 'reply', 'request_id': 'someone_else', 'text': 'no'})))
        self.reply.publish(String(data=json.dumps({'request_id': 'someone_else', 'text': 'not yours'})))
        self.events.publish(String(data=json.dumps(
            {'type': 'plan', 'request_id': rid, 'engine': 'rules',
             'plan': {'calls': [{'name': 'set_fan_level', 'arguments': {'value': 3}}]}})))
        self.events.publish(String(data=json.dumps(
            {'type': 'result', 'request_id': rid,
             'result': {'name': 'set_fan_level', 'status': 'done', 'content': {'readback': 3, 'elapsed_s': 0.1}}})))
        self.events.publish(String(data=json.dumps({'type': 'reply', 'request_id': rid, 'text': f'echo: {doc["text"]}'})))
        self.reply.publish(String(data=f'echo: {doc["text"]}'))


@pytest.fixture
def echo_assistant():
    a = EchoAssistant()
    yield a
    a.close()


def test_say_sends_json_and_prints_only_its_own_reply_and_events(echo_assistant):
    res = qv('say', '--namespace', 'echo', '--zone', 'passenger', '--speaker', 'alice', '--json', '--timeout', '20',
             '--linger', '0.5',
             '调高两度')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    sent = echo_assistant.received[-1]
    assert sent == {'text': '调高两度', 'zone': 'passenger', 'speaker': 'alice', 'request_id': out['request_id']}
    assert out['reply'] == 'echo: 调高两度'
    assert [e['type'] for e in out['events']] == ['plan', 'result', 'reply']
    assert all(e['request_id'] == out['request_id'] for e in out['events'])


def test_say_human_output(echo_assistant):
    res = qv('say', '--namespace', '/echo', '--timeout', '20', 'turn', 'the', 'fan', 'to', '3')
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == 'echo: turn the fan to 3'
    assert lines[:2] == ['  · plan (rules): set_fan_level(value=3)', '  · result: set_fan_level done (read back 3 after 0.1 s)']
    assert 'zone' not in echo_assistant.received[-1]


def test_say_without_an_assistant_exits_3():
    res = qv('say', '--timeout', '1', '--namespace', 'nobody_here', 'hello')
    assert res.returncode == 3
    assert 'no assistant listening on /nobody_here/assistant/text' in res.stderr


def test_say_rejects_a_bad_zone(capsys):
    with pytest.raises(SystemExit):
        cli.main(['say', '--zone', 'roof', 'hi'])
    assert "invalid choice: 'roof'" in capsys.readouterr().err


def test_say_to_the_real_assistant_actuates_the_simulated_car(car):
    """End to end across processes: say -> assistant -> bridge parameter -> CAN -> simulated ECU -> read-back."""
    res = qv('say', '--json', '--timeout', '30', '--linger', '0.5', 'set the fan to 5')
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    types = [e['type'] for e in out['events']]
    assert 'plan' in types and 'reply' in types
    results = [e['result'] for e in out['events'] if e['type'] == 'result']
    assert any(r['name'] == 'set_fan_level' and r['status'] == 'done' for r in results), results
    assert out['reply']
    assert car.nodes['can_bridge'].store.value('Vehicle.Cabin.HVAC.FanLevel') == 5




def test_say_event_lines_are_readable():
    from qwen_vehicle.cli.say import describe_event
    call = {'name': 'set_target_temperature', 'arguments': {'zone': 'driver', 'value': 21}}
    assert describe_event({'type': 'plan', 'engine': 'rules', 'plan': {'calls': [call]}}, '') == \
        'plan (rules): set_target_temperature(zone="driver", value=21)'
    assert describe_event({'type': 'decision', 'call': call, 'allowed': False, 'reason': 'speed is unknown'}, '') == \
        'policy: set_target_temperature(zone="driver", value=21) refused: speed is unknown'
    assert describe_event({'type': 'result', 'result': {'name': 'set_fan_level', 'status': 'done',
                                                        'content': {'readback': 3, 'elapsed_s': 0.12}}}, '') == \
        'result: set_fan_level done (read back 3 after 0.12 s)'
    assert describe_event({'type': 'confirmation_requested', 'calls': [{'name': 'order_food', 'arguments': {}}]},
                          '') == 'confirmation requested: order_food()'
    assert describe_event({'type': 'outbox_delivered', 'x': 1}, '') == 'outbox_delivered: {"x": 1}'
    assert describe_event(None, 'plain') == 'plain'
