from qwen_vehicle.core import e2e


def test_crc8_sae_j1850_check_value():
    # the catalogued check value of CRC-8/SAE-J1850 for "123456789"
    assert e2e.crc8_j1850(b'123456789') == 0x4B


def test_checksum_verifies_and_detects_corruption():
    data = bytearray(b'\x10\x20\x30\x40\x50\x60\x70\x00')
    data[7] = e2e.compute_checksum(bytes(data), 0x2E0, 7)
    assert e2e.verify(bytes(data), 0x2E0, 7)
    assert not e2e.verify(bytes(data), 0x2E1, 7)  # same payload, other ID
    data[1] ^= 0x01
    assert not e2e.verify(bytes(data), 0x2E0, 7)


def test_counter_rules():
    assert e2e.counter_ok(None, 7)
    assert e2e.counter_ok(14, 15) and e2e.counter_ok(15, 0) and e2e.counter_ok(3, 6)
    assert not e2e.counter_ok(5, 5)      # stuck sender
    assert not e2e.counter_ok(5, 12)     # jump too large
