import pytest

from qwen_vehicle.core.codec import (INVALID_RANGE, INVALID_SNA, SKIP_UNKNOWN_ID, SKIP_UNKNOWN_MUX,
                                     SKIP_WRONG_LENGTH, BusCodec)
from qwen_vehicle.core.vehicle_model import Plant, encode_physical


@pytest.fixture
def codecs(signal_map):
    return {n: BusCodec(n, b.database, signal_map.by_bus(n)) for n, b in signal_map.buses.items()}


def paths(updates):
    return {u.path: u for u in updates}


def test_round_trip_every_status_message(signal_map, codecs):
    values = Plant('driving').values()
    for bus_name, codec in codecs.items():
        for msg in codec.messages:
            pages = sorted({i for s in msg.signals for i in (s.multiplexer_ids or ())}) or [None]
            for page in pages:
                data = encode_physical(msg, values, page)
                got = paths(codec.decode(msg.frame_id, data, 1.5, msg.is_extended_frame))
                assert got, msg.name
                for u in got.values():
                    sig = signal_map.signals[u.path]
                    assert u.valid, (u.path, u.reason)
                    assert u.timestamp == 1.5
                    expected = values[sig.signal]
                    if isinstance(u.value, str):
                        assert u.value == expected
                    else:
                        assert u.value == pytest.approx(expected, abs=sig.dbc_signal.conversion.scale)
    assert all(c.account.balanced() and not c.account.skipped for c in codecs.values())


def test_29_bit_and_fd_messages(codecs, signal_map):
    pt = codecs['powertrain']
    gnss = signal_map.buses['powertrain'].database.get_message_by_name('GNSS_Position')
    assert gnss.is_extended_frame and gnss.frame_id > 0x7FF
    data = encode_physical(gnss, {'Latitude': 30.2592, 'Longitude': 120.1553})
    got = paths(pt.decode(gnss.frame_id, data, 0.0, True))
    assert got['Vehicle.CurrentLocation.Latitude'].value == pytest.approx(30.2592)
    # the same ID as an 11-bit frame is not this message
    assert pt.decode(gnss.frame_id & 0x7FF, data, 0.0, False) == []
    cells = signal_map.buses['powertrain'].database.get_message_by_name('BMS_CellStats')
    assert cells.is_fd and cells.length == 16
    data = encode_physical(cells, {'CellVoltageMin': 3.712, 'CellVoltageMax': 3.725})
    got = paths(pt.decode(cells.frame_id, data, 0.0, False))
    assert got['Vehicle.Powertrain.TractionBattery.CellVoltage.Max'].value == pytest.approx(3.725)


def test_multiplexed_pages_and_unknown_mux(codecs, signal_map):
    pt = codecs['powertrain']
    msg = signal_map.buses['powertrain'].database.get_message_by_name('GNSS_Status')
    page0 = paths(pt.decode(msg.frame_id, encode_physical(msg, {'Altitude': 12.5, 'FixType': 'Fix3D'}, 0), 0, True))
    page1 = paths(pt.decode(msg.frame_id, encode_physical(msg, {'Heading': 271.25, 'GroundSpeed': 13.4}, 1), 0, True))
    assert page0['Vehicle.CurrentLocation.Altitude'].value == pytest.approx(12.5)
    assert page0['Vehicle.CurrentLocation.GNSSReceiver.FixType'].value == 'Fix3D'
    assert 'Vehicle.CurrentLocation.Heading' not in page0
    assert page1['Vehicle.CurrentLocation.Heading'].value == pytest.approx(271.25)
    data = bytearray(encode_physical(msg, {}, 0))
    data[0] = (data[0] & ~0x3) | 3  # page 3 is not defined
    assert pt.decode(msg.frame_id, bytes(data), 0, True) == []
    assert pt.account.skipped[SKIP_UNKNOWN_MUX]['GNSS_Status'] == 1


def test_bad_frames_are_counted_and_skipped(codecs, signal_map):
    body = codecs['body']
    hvac = signal_map.buses['body'].database.get_message_by_name('HVAC_Status')
    assert body.decode(hvac.frame_id, b'\x00' * 5, 0) == []
    assert body.decode(0x7AB, b'\x00' * 8, 0) == []
    assert body.decode(hvac.frame_id, b'\x00' * 8, 0, is_error_frame=True) == []
    acc = body.account
    assert acc.skipped[SKIP_WRONG_LENGTH]['HVAC_Status'] == 1
    assert acc.skipped[SKIP_UNKNOWN_ID]['0x7AB'] == 1
    assert acc.frames == 3 and acc.balanced()
    assert 'every frame accounted for' in acc.table()


def test_sna_and_out_of_range_are_marked_invalid(codecs, signal_map):
    body = codecs['body']
    hvac = signal_map.buses['body'].database.get_message_by_name('HVAC_Status')
    values = Plant().values()
    values['CabinTempDriver'] = None           # encoded as SNA
    data = bytearray(encode_physical(hvac, values))
    data[3] |= 0xF0                            # FanLevel raw 15 = SNA
    got = paths(body.decode(hvac.frame_id, bytes(data), 0))
    cabin = got['Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature']
    assert not cabin.valid and cabin.reason == INVALID_SNA
    fan = got['Vehicle.Cabin.HVAC.FanLevel']
    assert not fan.valid and fan.reason == INVALID_SNA
    # TargetTempDriver raw 40 -> 36 degC, outside the 16..30 range
    raw = bytearray(encode_physical(hvac, Plant().values()))
    raw[2] = (raw[2] & 0xC0) | 40
    got = paths(body.decode(hvac.frame_id, bytes(raw), 0))
    target = got['Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature']
    assert not target.valid and target.reason == INVALID_RANGE and target.value == pytest.approx(36.0)
    assert body.account.invalid[INVALID_SNA]['HVAC_Status'] >= 2


def test_receive_filters_pass_only_mapped_ids(codecs, signal_map):
    filters = codecs['powertrain'].can_filters()
    ids = {(f['can_id'], f['extended']) for f in filters}
    assert (0x120, False) in ids and (0x18FF0110, True) in ids
    assert all(f['can_mask'] == (0x1FFFFFFF if f['extended'] else 0x7FF) for f in filters)
