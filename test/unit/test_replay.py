"""Replay onto python-can virtual buses: pacing (real time, scaled, as fast as possible, gaps), the account, the
CLI commands."""
import json
import os
import uuid

import can
import pytest

from qwen_vehicle.cli import main as cli_main
from qwen_vehicle.core.mapping import load_signal_map
from qwen_vehicle.core.replay import BusMap, Replayer

DATA = os.path.join(os.path.dirname(__file__), '..', 'data')
ASC = os.path.join(DATA, 'two_bus.asc')


@pytest.fixture(scope='module')
def smap():
    return load_signal_map('signals.yaml')


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = 0.0

    def clock(self):
        return self.now

    def sleep(self, s):
        assert s > 0
        self.slept += s
        self.now += s


def virtual_pair(channel):
    return (can.Bus(interface='virtual', channel=channel, ignore_config=True),
            can.Bus(interface='virtual', channel=channel, ignore_config=True))


def drain(bus):
    out = []
    while (m := bus.recv(0.0)) is not None:
        out.append(m)
    return out


def test_fast_replay_sends_every_frame_in_order(smap):
    name = uuid.uuid4().hex
    (pt_tx, pt_rx), (body_tx, body_rx) = virtual_pair(f'{name}_pt'), virtual_pair(f'{name}_body')
    try:
        rep = Replayer(smap, {'powertrain': pt_tx, 'body': body_tx}, BusMap(smap.buses, {'0': 'powertrain',
                                                                                     '1': 'body'}), speed=0)
        result = rep.run([ASC])
        got_pt, got_body = drain(pt_rx), drain(body_rx)
    finally:
        for b in (pt_tx, pt_rx, body_tx, body_rx):
            b.shutdown()
    acc = result.account
    assert acc.sent == {'powertrain': 65, 'body': 10} and not acc.send_failed
    assert len(got_pt) == 65 and len(got_body) == 10
    assert sum(m.is_error_frame for m in got_pt) == 1
    assert acc.balanced(), acc.table()
    assert acc.codecs['powertrain'].account.decoded['BMS_PackStatus'] == 21     # what a bridge would decode
    assert result.log_span_s == pytest.approx(1.92)


@pytest.mark.parametrize('speed,expected', [(1.0, 1.92), (10.0, 0.192), (0.5, 3.84)])
def test_pacing_follows_the_log_clock(smap, speed, expected):
    t = FakeTime()
    tx, rx = virtual_pair(uuid.uuid4().hex)
    try:
        rep = Replayer(smap, {'powertrain': tx}, BusMap(smap.buses, {'0': 'powertrain'}), speed=speed,
                       clock=t.clock, sleep=t.sleep)
        result = rep.run([ASC])
    finally:
        tx.shutdown()
        rx.shutdown()
    assert t.slept == pytest.approx(expected, rel=1e-6)
    assert result.account.unmapped == {'1': 10} and result.account.balanced()


def test_max_gap_shortens_silences(smap, tmp_path):
    f = tmp_path / 'gap.log'
    f.write_text('(10.000000) can0 3A0#25B33E83FF410000\n(70.000000) can0 3A0#25B33E83FF410000\n'
                 '(70.100000) can0 3A0#25B33E83FF410000\n')
    t = FakeTime()
    tx, rx = virtual_pair(uuid.uuid4().hex)
    try:
        Replayer(smap, {'powertrain': tx}, BusMap(smap.buses, {'can0': 'powertrain'}), speed=1.0, max_gap=0.5,
                 clock=t.clock, sleep=t.sleep).run([str(f)])
    finally:
        tx.shutdown()
        rx.shutdown()
    assert t.slept == pytest.approx(0.6)


class BrokenBus(can.BusABC):
    def __init__(self):
        super().__init__(channel='broken')

    def send(self, msg, timeout=None):
        raise can.CanOperationError('adapter unplugged')

    def _recv_internal(self, timeout):
        return None, False


def test_send_failures_are_accounted(smap):
    bus = BrokenBus()
    rep = Replayer(smap, {'powertrain': bus}, BusMap(smap.buses, {'0': 'powertrain', '1': 'body'}), speed=0)
    acc = rep.run([ASC]).account
    assert acc.send_failed == {'powertrain': 65, 'body': 10}     # body has no bus to send on
    assert any('adapter unplugged' in e for e in acc.send_errors)
    assert any('no bus to send on' in e for e in acc.send_errors)
    assert acc.balanced()


def test_replayer_refuses_buses_not_in_the_map(smap):
    with pytest.raises(ValueError, match='not in the signal map'):
        Replayer(smap, {'chassis': BrokenBus()})


def test_cli_decode_writes_rows_and_account(tmp_path, capsys):
    out, account = tmp_path / 'out.jsonl', tmp_path / 'account.json'
    rc = cli_main(['decode', os.path.join(DATA, 'two_bus_gvret.csv'), '--bus', '0=powertrain', '--bus', '1=body',
                   '--as', 'jsonl', '-o', str(out), '--account-json', str(account)])
    assert rc == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    soc = [r for r in rows if r['path'] == 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed']
    assert len(soc) == 21 and sum(not r['valid'] for r in soc) == 1
    doc = json.loads(account.read_text())
    assert doc['balanced'] and doc['frames'] == 74 and len(doc['log']['clock_resets']) == 2
    err = capsys.readouterr().err
    assert 'every frame accounted for' in err and 'clock reset' in err


def test_cli_decode_all_signals_and_bad_input(tmp_path, capsys):
    out = tmp_path / 'out.csv'
    assert cli_main(['decode', os.path.join(DATA, 'two_bus.trc'), '--bus', '1=powertrain', '--bus', '2=body',
                     '--all-signals', '-o', str(out), '-q']) == 0
    text = out.read_text()
    assert 'powertrain.BMS_CellStats' not in text        # not in the log
    assert 'body.HVAC_Status.SeatHeatDriver' in text     # not in the signal map, decoded anyway
    assert cli_main(['decode', str(tmp_path / 'missing.log'), '-o', str(out)]) == 2
    assert cli_main(['decode', os.path.join(DATA, 'two_bus.asc'), '--bus', '0=nowhere']) == 2
    assert 'no such bus' in capsys.readouterr().err


def test_cli_replay_onto_virtual_buses(capsys):
    channel = f'qv_{uuid.uuid4().hex[:8]}'
    rx = can.Bus(interface='virtual', channel=channel, ignore_config=True)
    try:
        rc = cli_main(['replay', os.path.join(DATA, 'two_bus.candump.log'), '--bus', 'can0=powertrain',
                       '--interface', 'virtual', '--channel', f'powertrain={channel}', '--speed', '20'])
        got = drain(rx)
    finally:
        rx.shutdown()
    assert rc == 0
    assert len(got) == 65
    err = capsys.readouterr().err
    assert 'replayed 65 frames of 75' in err and 'every frame accounted for' in err
