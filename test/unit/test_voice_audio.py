"""PCM helpers and audio sources."""
import shutil
import subprocess

import numpy as np
import pytest

from qwen_vehicle.backends.voice.audio import (AudioFormatError, ChunkSource, MicrophoneSource, WavFileSource,
                                               as_int16, noise_floor_dbfs, read_wav, resample, wav_bytes)


def tone(freq, seconds, rate, amp=8000):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(pcm, rate):
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    return np.argmax(spectrum) * rate / pcm.size


@pytest.mark.parametrize('rate', [8000, 22050, 44100, 48000])
def test_resample_keeps_duration_and_pitch(rate):
    out = resample(tone(440, 1.0, rate), rate, 16000)
    assert abs(out.size - 16000) <= 1
    assert abs(dominant_hz(out, 16000) - 440) < 2


def test_resample_drops_content_above_the_new_nyquist():
    out = resample(tone(10000, 1.0, 48000), 48000, 16000)   # 10 kHz cannot exist at 16 kHz
    assert np.abs(out).max() < 50


def test_as_int16_accepts_bytes_arrays_and_floats_and_refuses_garbage():
    assert as_int16(b'\x01\x00\xff\xff').tolist() == [1, -1]
    assert as_int16(np.array([0.5, -1.0])).tolist() == [16384, -32767]
    assert as_int16([1, 2, 3]).dtype == np.int16
    with pytest.raises(AudioFormatError, match='even number'):
        as_int16(b'\x01\x00\x02')
    with pytest.raises(AudioFormatError, match='int16 range'):
        as_int16(np.array([70000]))
    with pytest.raises(AudioFormatError, match='mono'):
        as_int16(np.zeros((2, 2), dtype=np.int16))
    with pytest.raises(AudioFormatError, match='sample rate'):
        resample(np.zeros(10, dtype=np.int16), 100)


def test_wav_round_trip_and_stereo_downmix(tmp_path):
    pcm = tone(300, 0.2, 22050)
    back, rate = read_wav(wav_bytes(pcm, 22050))
    assert rate == 22050 and np.array_equal(back, pcm)
    import wave
    path = tmp_path / 'stereo.wav'
    with wave.open(str(path), 'wb') as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.stack([pcm, pcm], axis=1).astype('<i2').tobytes())
    mono, rate = read_wav(str(path))
    assert rate == 16000 and np.array_equal(mono, pcm)
    with pytest.raises(AudioFormatError, match='not a readable WAV'):
        read_wav(b'RIFF nonsense')


@pytest.fixture(scope='module')
def speech16k():
    if shutil.which('espeak-ng') is None:
        pytest.skip('espeak-ng is not installed')
    wav = subprocess.run(['espeak-ng', '-v', 'en-us', '--stdout', 'set the fan to three'], capture_output=True,
                         check=True).stdout
    pcm, rate = read_wav(wav)
    return resample(pcm, rate)


def noisy(parts, seed=0):
    x = np.concatenate(parts).astype(float)
    x += np.random.default_rng(seed).normal(0, 30, x.size)
    return np.clip(x, -32768, 32767).astype(np.int16)


def test_chunk_source_cuts_two_utterances_from_small_chunks(speech16k):
    silence = np.zeros(16000, dtype=np.int16)
    stream = noisy([silence, speech16k, silence, speech16k, silence])
    src = ChunkSource(16000)
    found = []
    for start in range(0, stream.size, 1600):   # 100 ms chunks, as from a topic
        found += src.feed(stream[start:start + 1600])
    found += src.flush()
    assert len(found) == 2
    for utt in found:
        assert abs(utt.seconds - speech16k.size / 16000) < 0.8


def test_chunk_source_resamples_and_flushes_an_open_utterance(speech16k):
    stream48 = resample(noisy([np.zeros(8000, dtype=np.int16), speech16k]), 16000, 48000)
    src = ChunkSource(48000)
    assert src.feed(stream48.astype('<i2').tobytes()) == []   # still in speech at the end of the data
    (utt,) = src.flush()
    assert utt.seconds > 0.5


def test_wav_file_source(tmp_path, speech16k):
    path = tmp_path / 'cmd.wav'
    path.write_bytes(wav_bytes(speech16k, 16000))
    (whole,) = WavFileSource(str(path)).utterances()
    assert whole.pcm.size == speech16k.size
    path.write_bytes(wav_bytes(noisy([np.zeros(8000, dtype=np.int16), speech16k, np.zeros(16000, dtype=np.int16)] * 2),
                               16000))
    assert len(list(WavFileSource(str(path), whole=False).utterances())) == 2


def test_microphone_source_reports_a_missing_arecord():
    if MicrophoneSource.available():
        pytest.skip('arecord is installed here; nothing to check about its absence')
    with pytest.raises(RuntimeError, match='arecord'):
        next(MicrophoneSource().chunks())


def test_noise_floor_is_the_quiet_end_of_the_frame_energies():
    rng = np.random.default_rng(0)
    hiss = rng.normal(0, 40, 16000)                                  # 40 rms = -58.3 dBFS
    speech_and_hiss = hiss + np.concatenate([np.zeros(4000), tone(300, 0.5, 16000, 10000), np.zeros(4000)])
    assert noise_floor_dbfs(np.round(hiss).astype(np.int16)) == pytest.approx(-58.3, abs=0.5)
    # the speech in the middle does not raise the floor
    assert noise_floor_dbfs(np.round(speech_and_hiss).astype(np.int16)) == pytest.approx(-58.3, abs=0.5)
    assert noise_floor_dbfs(np.zeros(16000, dtype=np.int16)) == float('-inf')
    assert noise_floor_dbfs(np.ones(100, dtype=np.int16)) == float('-inf')                # under one frame
