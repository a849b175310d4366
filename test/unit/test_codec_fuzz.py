"""Property tests: random frames, lengths and DBC-valid-but-extreme values never make the decoder raise, and every
frame lands in exactly one bucket of the account."""
import math

import can
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_vehicle.core.codec import BusCodec, CAN_FD_LENGTHS
from qwen_vehicle.core.mapping import load_signal_map
from qwen_vehicle.core.replay import make_codecs

OURS = load_signal_map('signals.yaml')
KONA = load_signal_map('kona_signals.yaml', strict_dbc=False)
CODECS = {**{f'ours.{k}': v for k, v in make_codecs(OURS).items()},
          **{f'ours_all.{k}': v for k, v in make_codecs(OURS, all_signals=True).items()},
          **{f'kona_all.{k}': v for k, v in make_codecs(KONA, all_signals=True).items()}}
KNOWN_IDS = sorted({(m.frame_id, bool(m.is_extended_frame)) for c in CODECS.values() for m in c.database.messages})
ENCODE_FAILURES: set[str] = set()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame_ids():
    return st.one_of(st.sampled_from(KNOWN_IDS),
                     st.tuples(st.integers(0, 0x7FF), st.just(False)),
                     st.tuples(st.integers(0, 0x1FFFFFFF), st.just(True)))


def check(codec: BusCodec, updates, before: int) -> None:
    acc = codec.account
    assert acc.frames == before + 1
    assert acc.balanced()
    for u in updates:
        assert u.valid or u.reason in ('signal_not_available', 'out_of_range')
        if u.valid and isinstance(u.value, float):
            assert math.isfinite(u.value)


@FUZZ
@given(name=st.sampled_from(sorted(CODECS)), ident=frame_ids(),
       data=st.binary(min_size=0, max_size=64), error=st.booleans(), remote=st.booleans())
def test_random_frames_never_raise(name, ident, data, error, remote):
    codec = CODECS[name]
    before = codec.account.frames
    fid, ext = ident
    updates = codec.decode(fid, data, 1.0, ext, is_error_frame=error and remote, is_remote_frame=remote and not error)
    check(codec, updates, before)


@FUZZ
@given(name=st.sampled_from(sorted(CODECS)), data=st.data())
def test_known_ids_with_every_length(name, data):
    codec = CODECS[name]
    msg = data.draw(st.sampled_from(codec.messages)) if codec.messages else None
    if msg is None:
        return
    length = data.draw(st.sampled_from(CAN_FD_LENGTHS))
    payload = data.draw(st.binary(min_size=length, max_size=length))
    before = codec.account.frames
    updates = codec.decode(msg.frame_id, payload, 0.0, bool(msg.is_extended_frame))
    check(codec, updates, before)
    if length != msg.length:
        assert not updates


def raw_extremes(sig):
    if sig.is_float:
        return [0.0]
    if sig.is_signed:
        return [-(1 << (sig.length - 1)), (1 << (sig.length - 1)) - 1, 0, -1]
    return [0, (1 << sig.length) - 1, 1, (1 << sig.length) - 2]


def mapped_messages():
    out = []
    for key, codec in CODECS.items():
        for msg in codec.messages:
            out.append((key, msg.name))
    return sorted(set(out))


@FUZZ
@given(target=st.sampled_from(mapped_messages()), data=st.data())
def test_dbc_valid_extreme_values_decode_or_are_marked_invalid(target, data):
    """Every signal at a raw extreme its bit width allows (encoded by cantools, so the frame is DBC-valid)."""
    codec = CODECS[target[0]]
    msg = codec.database.get_message_by_name(target[1])
    mux = next((s for s in msg.signals if s.is_multiplexer), None)
    page = data.draw(st.sampled_from(sorted({i for s in msg.signals for i in (s.multiplexer_ids or [])}))) \
        if mux is not None else None
    values = {}
    for sig in msg.signals:
        if sig.multiplexer_ids and page not in sig.multiplexer_ids:
            continue
        values[sig.name] = page if sig is mux else data.draw(st.sampled_from(raw_extremes(sig)))
    try:
        payload = msg.encode(values, scaling=False, strict=False, padding=False)
    except Exception:  # noqa: BLE001 - overlapping signals in a field DBC: cantools cannot compose such a frame
        ENCODE_FAILURES.add(msg.name)
        return
    before = codec.account.frames
    updates = codec.decode(msg.frame_id, payload, 0.0, bool(msg.is_extended_frame))
    check(codec, updates, before)
    assert codec.account.decoded[msg.name] >= 1
    by_name = {u.path.rsplit('.', 1)[-1]: u for u in updates}
    for sig in msg.signals:
        u = by_name.get(sig.name)
        if u is None or not u.valid or isinstance(u.value, str):
            continue
        if sig.minimum is not None:
            assert u.value >= sig.minimum - 1e-9
        if sig.maximum is not None:
            assert u.value <= sig.maximum + 1e-9


def test_python_can_messages_with_odd_flags():
    codec = CODECS['ours.powertrain']
    before = codec.account.frames
    odd = [can.Message(is_error_frame=True), can.Message(arbitration_id=0x3A0, is_remote_frame=True, dlc=8),
           can.Message(arbitration_id=0x3A0, data=b'', check=False),
           can.Message(arbitration_id=0x3B0, is_fd=True, data=bytes(64))]
    for m in odd:
        codec.decode_message(m)
    assert codec.account.frames == before + 4 and codec.account.balanced()


def test_extreme_values_were_really_encoded():
    """The extreme-value property above must not pass by failing to build frames: most messages encode."""
    failures = set()
    for key, name in mapped_messages():
        msg = CODECS[key].database.get_message_by_name(name)
        mux = next((s for s in msg.signals if s.is_multiplexer), None)
        page = min((i for s in msg.signals for i in (s.multiplexer_ids or [])), default=None)
        values = {s.name: (page if s is mux else raw_extremes(s)[1 if not s.is_float else 0]) for s in msg.signals
                  if not s.multiplexer_ids or page in s.multiplexer_ids}
        try:
            msg.encode(values, scaling=False, strict=False, padding=False)
        except Exception:  # noqa: BLE001
            failures.add(name)
    assert len(failures) < len(mapped_messages()) / 4, failures
