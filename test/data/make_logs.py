"""Regenerate the small CAN logs in test/data/ from the project's own DBCs with python-can's writers.

    .venv/bin/python test/data/make_logs.py

Two buses: log bus 0 = powertrain (qwen_powertrain.dbc), log bus 1 = body (qwen_body.dbc); 2 s of traffic. The
expected contents are in EXPECTED (test/unit/test_logs.py reads them back). Planted faults, the same in every
format that can carry them: one unknown ID, one wrong-length BMS_PackStatus, one GNSS_Status with an unknown
multiplexer page, one SNA state of charge, one error frame (formats with error frames). The GVRET CSV also has a
clock reset, a small step back and a malformed line; the readable candump files a malformed line.
"""
from __future__ import annotations

import os
import sys

import can
import cantools

HERE = os.path.dirname(os.path.abspath(__file__))
DBC = os.path.join(HERE, '..', '..', 'dbc')
T0 = 1700000000.0

EXPECTED = {
    'frames': 0,            # filled below
    'soc_pct': 80.5, 'pack_voltage_v': 401.2, 'cabin_driver_c': 21.5,
    'unknown_id': 0x7AB, 'wrong_length': 1, 'unknown_mux': 1, 'sna': 1, 'error_frames': 1,
}


def frames() -> list[can.Message]:
    pt = cantools.database.load_file(os.path.join(DBC, 'qwen_powertrain.dbc'))
    body = cantools.database.load_file(os.path.join(DBC, 'qwen_body.dbc'))
    pack, state = pt.get_message_by_name('BMS_PackStatus'), pt.get_message_by_name('VCU_VehicleState')
    gnss, hvac = pt.get_message_by_name('GNSS_Status'), body.get_message_by_name('HVAC_Status')
    out = []

    def add(t, db_msg, values, channel):
        out.append(can.Message(timestamp=T0 + t, arbitration_id=db_msg.frame_id,
                               is_extended_id=db_msg.is_extended_frame, data=db_msg.encode(values),
                               channel=channel))

    for i in range(20):                        # 2 s: 100 ms steps
        t = i * 0.1
        add(t, pack, {'StateOfCharge': 80.5, 'PackVoltage': 401.2, 'PackCurrent': -12.5, 'PackTemperature': 25,
                      'ChargingState': 'NotConnected'}, 0)
        add(t + 0.01, state, {'VehicleSpeed': 0, 'Gear': 'P', 'ParkingBrake': 'Applied', 'Ignition': 'On',
                              'Odometer': 12345.6}, 0)
        page = {'GNSS_Page': 0, 'Altitude': 35.5, 'FixType': 'Fix3D', 'Satellites': 9} if i % 2 == 0 else \
            {'GNSS_Page': 1, 'Heading': 90.0, 'GroundSpeed': 0.0, 'HorizontalAccuracy': 1.5}
        add(t + 0.02, gnss, page, 0)
        if i % 2 == 0:
            add(t + 0.05, hvac, {'CabinTempDriver': 21.5, 'CabinTempPassenger': 22.0, 'CabinTempRear': 22.5,
                                 'TargetTempDriver': 21.0, 'TargetTempPassenger': 21.0, 'TargetTempRear': 21.0,
                                 'FanLevel': 3, 'AirConditioning': 'On', 'Recirculation': 'Off', 'Defrost': 'Off',
                                 'SeatHeatDriver': 0, 'SeatHeatPassenger': 0, 'OutsideTemp': 12.0}, 1)
    # planted faults
    out.append(can.Message(timestamp=T0 + 1.031, arbitration_id=0x7AB, is_extended_id=False, data=b'\x01\x02',
                           channel=0))
    out.append(can.Message(timestamp=T0 + 1.032, arbitration_id=pack.frame_id, is_extended_id=False,
                           data=bytes(5), channel=0))
    mux_bad = bytearray(gnss.encode({'GNSS_Page': 0, 'Altitude': 1.0, 'FixType': 'Fix3D', 'Satellites': 9}))
    mux_bad[0] = (mux_bad[0] & ~0x03) | 0x03       # page 3 is not defined
    out.append(can.Message(timestamp=T0 + 1.033, arbitration_id=gnss.frame_id, is_extended_id=True,
                           data=bytes(mux_bad), channel=0))
    sna = bytearray(pack.encode({'StateOfCharge': 0, 'PackVoltage': 401.2, 'PackCurrent': 0, 'PackTemperature': 25,
                                 'ChargingState': 'NotConnected'}))
    sna[0], sna[1] = 0xFF, (sna[1] & ~0x03) | 0x03  # StateOfCharge raw 1023 = SNA
    out.append(can.Message(timestamp=T0 + 1.034, arbitration_id=pack.frame_id, is_extended_id=False,
                           data=bytes(sna), channel=0))
    out.sort(key=lambda m: m.timestamp)
    return out


def error_frame() -> can.Message:
    return can.Message(timestamp=T0 + 1.5, is_error_frame=True, channel=0, arbitration_id=0x20000040, data=bytes(8))


def readable(msgs, timestamps: bool) -> str:
    lines = []
    for m in msgs:
        ident = f'{m.arbitration_id:08X}' if m.is_extended_id else f'{m.arbitration_id:03X}'
        data = ' '.join(f'{b:02X}' for b in m.data)
        prefix = f'({m.timestamp:.6f})  ' if timestamps else '  '
        lines.append(f'{prefix}can{m.channel}  {ident}   [{m.dlc}]  {data}')
    lines.insert(5, '  can0  this line is garbage')
    return '\n'.join(lines) + '\n'


def gvret(msgs) -> str:
    """SavvyCAN GVRET CSV with a clock reset after frame 30, a 3 ms step back on bus 0 and a malformed line."""
    rows = ['Time Stamp,ID,Extended,Dir,Bus,LEN,D1,D2,D3,D4,D5,D6,D7,D8']
    back = next(i for i in range(10, len(msgs)) if msgs[i].channel == 0 and msgs[i - 1].channel == 0)
    for i, m in enumerate(msgs):
        us = int(round((m.timestamp - T0 + 5.0) * 1e6))
        if i >= 30:
            us -= 4_000_000                       # the logger's clock jumps back 4 s
        if i == back:
            us -= int(round((m.timestamp - msgs[i - 1].timestamp) * 1e6)) + 3000   # 3 ms before its predecessor
        data = ','.join(f'{b:02X}' for b in m.data)
        rows.append(f'{us},{m.arbitration_id:08X},{str(m.is_extended_id).lower()},Rx,{m.channel},{m.dlc},{data},')
    rows.insert(8, '12345,NOTHEX,false,Rx,0,8,00')
    return '\n'.join(rows) + '\n'


def write_with(writer_cls, path, msgs):
    w = writer_cls(path)
    for m in msgs:
        w.on_message_received(m)
    w.stop()


def main() -> int:
    msgs = frames()
    with_error = sorted(msgs + [error_frame()], key=lambda m: m.timestamp)
    write_with(can.CanutilsLogWriter, os.path.join(HERE, 'two_bus.candump.log'), with_error)
    write_with(can.ASCWriter, os.path.join(HERE, 'two_bus.asc'), with_error)
    write_with(can.BLFWriter, os.path.join(HERE, 'two_bus.blf'), with_error)
    write_with(can.MF4Writer, os.path.join(HERE, 'two_bus.mf4'), with_error)
    # python-can's TRC writer has no error frames; TRC numbers buses from 1
    write_with(can.TRCWriter, os.path.join(HERE, 'two_bus.trc'),
               [can.Message(timestamp=m.timestamp, arbitration_id=m.arbitration_id, is_extended_id=m.is_extended_id,
                            data=m.data, channel=m.channel) for m in msgs])
    with open(os.path.join(HERE, 'two_bus_readable_t.txt'), 'w') as fh:
        fh.write(readable(msgs, True))
    with open(os.path.join(HERE, 'two_bus_readable.txt'), 'w') as fh:
        fh.write(readable(msgs, False))
    with open(os.path.join(HERE, 'two_bus_gvret.csv'), 'w') as fh:
        fh.write(gvret(msgs))
    # python-can's own CSV has no bus column: a powertrain-only file
    write_with(can.CSVWriter, os.path.join(HERE, 'powertrain.pycan.csv'), [m for m in msgs if m.channel == 0])
    print(f'{len(msgs)} frames (+1 error frame) written to {HERE}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
