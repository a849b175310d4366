"""Audio in: PCM helpers and sources (WAV file, chunks from a topic, a microphone through `arecord`).

Everything the recognisers see is 16 kHz mono signed 16-bit PCM (`numpy.int16`). Other rates are resampled here
with an FFT (band-limited, no `audioop`, which Python 3.13 removed). Nothing here imports rclpy.
"""
from __future__ import annotations

import io
import logging
import math
import shutil
import subprocess
import threading
import wave
from dataclasses import dataclass
from typing import Iterator

import numpy as np

log = logging.getLogger(__name__)

ASR_RATE = 16000
MIN_RATE, MAX_RATE = 4000, 192000


class AudioFormatError(ValueError):
    """Audio that cannot be turned into 16 kHz mono PCM; the message says why."""


def check_rate(rate: int) -> int:
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or not MIN_RATE <= int(rate) <= MAX_RATE:
        raise AudioFormatError(f'sample rate {rate!r} is outside {MIN_RATE}..{MAX_RATE} Hz')
    return int(rate)


def as_int16(pcm: bytes | bytearray | memoryview | np.ndarray | list) -> np.ndarray:
    """PCM as a 1-D int16 array: raw little-endian bytes, an int16 array, or floats in -1..1."""
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        raw = bytes(pcm)
        if len(raw) % 2:
            raise AudioFormatError(f'16-bit PCM needs an even number of bytes, got {len(raw)}')
        return np.frombuffer(raw, dtype='<i2').astype(np.int16)
    arr = np.asarray(pcm)
    if arr.ndim != 1:
        raise AudioFormatError(f'expected mono PCM (1-D), got shape {arr.shape}')
    if arr.dtype == np.int16:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.round(arr * 32767.0), -32768, 32767).astype(np.int16)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < -32768 or arr.max() > 32767):
            raise AudioFormatError('integer PCM samples outside the int16 range')
        return arr.astype(np.int16)
    raise AudioFormatError(f'unsupported PCM dtype {arr.dtype}')


def resample(pcm: np.ndarray, rate: int, target: int = ASR_RATE) -> np.ndarray:
    """Band-limited resampling of a whole buffer (FFT; the spectrum above the new Nyquist is dropped)."""
    rate, target = check_rate(rate), check_rate(target)
    pcm = as_int16(pcm)
    if rate == target or pcm.size == 0:
        return pcm
    n = pcm.size
    m = max(1, int(round(n * target / rate)))
    spectrum = np.fft.rfft(pcm.astype(np.float64))
    keep = min(spectrum.size, m // 2 + 1)
    out = np.zeros(m // 2 + 1, dtype=complex)
    out[:keep] = spectrum[:keep]
    y = np.fft.irfft(out, m) * (m / n)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def noise_floor_dbfs(pcm16: np.ndarray, frame: int = 400, percentile: float = 10.0) -> float:
    """The quiet end of the frame energies (10th percentile of 25 ms RMS at 16 kHz) in dBFS; -inf if silent."""
    pcm16 = as_int16(pcm16)
    count = pcm16.size // frame
    if count == 0:
        return float('-inf')
    frames = pcm16[:count * frame].astype(np.float64).reshape(count, frame)
    floor = float(np.percentile(np.sqrt((frames ** 2).mean(axis=1)), percentile))
    return 20.0 * math.log10(floor / 32768.0) if floor > 0 else float('-inf')


def downmix(frames: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:
        return frames
    usable = frames.size - frames.size % channels
    return frames[:usable].reshape(-1, channels).mean(axis=1).round().astype(np.int16)


def read_wav(source: str | bytes) -> tuple[np.ndarray, int]:
    """(int16 mono samples, rate) from a 16-bit PCM WAV path or WAV bytes."""
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with wave.open(handle, 'rb') as w:
            if w.getsampwidth() != 2:
                raise AudioFormatError(f'only 16-bit PCM WAV is supported, got {8 * w.getsampwidth()}-bit')
            rate, channels = w.getframerate(), w.getnchannels()
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype='<i2').astype(np.int16)
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f'not a readable WAV file: {exc}') from exc
    return downmix(frames, channels), check_rate(rate)


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(check_rate(rate))
        w.writeframes(as_int16(pcm).astype('<i2').tobytes())
    return buf.getvalue()


def load_for_asr(source: str | bytes) -> np.ndarray:
    """A WAV file (any rate, mono or stereo) as 16 kHz mono int16."""
    pcm, rate = read_wav(source)
    return resample(pcm, rate)


@dataclass
class Utterance:
    pcm: np.ndarray          # 16 kHz mono int16
    start_s: float = 0.0     # offset in the stream

    @property
    def seconds(self) -> float:
        return self.pcm.size / ASR_RATE


class WavFileSource:
    """One WAV file, cut into utterances by voice activity (or handed over whole with `whole=True`)."""

    def __init__(self, path: str, whole: bool = True):
        self.path, self.whole = path, whole

    def utterances(self) -> Iterator[Utterance]:
        pcm = load_for_asr(self.path)
        if self.whole:
            yield Utterance(pcm)
            return
        segmenter = ChunkSource(ASR_RATE)
        yield from segmenter.feed(pcm)
        yield from segmenter.flush()


class ChunkSource:
    """PCM chunks as they arrive (e.g. from a ROS topic) cut into utterances by pocketsphinx's endpointer.

    `feed()` returns the utterances that ended inside the chunk; `flush()` ends the stream (an empty chunk on the
    topic does the same). Chunks at any rate are resampled to 16 kHz first; an odd trailing byte is kept for the
    next chunk. An utterance is capped at `max_seconds` so a stuck VAD cannot grow memory without bound.
    """

    def __init__(self, sample_rate: int = ASR_RATE, max_seconds: float = 15.0, vad_mode: int = 2,
                 window_s: float = 0.3):
        from pocketsphinx import Endpointer
        self.sample_rate = check_rate(sample_rate)
        self._ep = Endpointer(window=window_s, vad_mode=vad_mode, sample_rate=ASR_RATE)
        self._frame = self._ep.frame_bytes
        self._pending = b''
        self._speech: list[bytes] = []
        self._max_bytes = int(max_seconds * ASR_RATE) * 2
        self._start = 0.0

    def feed(self, chunk: bytes | np.ndarray) -> list[Utterance]:
        pcm = as_int16(chunk)
        pcm16 = resample(pcm, self.sample_rate) if self.sample_rate != ASR_RATE else pcm
        self._pending += pcm16.astype('<i2').tobytes()
        done: list[Utterance] = []
        while len(self._pending) >= self._frame:
            frame, self._pending = self._pending[:self._frame], self._pending[self._frame:]
            was_in_speech = self._ep.in_speech
            speech = self._ep.process(frame)
            if speech is not None:
                if not was_in_speech:
                    self._start = self._ep.speech_start
                self._speech.append(speech)
                if not self._ep.in_speech or sum(map(len, self._speech)) >= self._max_bytes:
                    done.append(self._take())
        return done

    def flush(self) -> list[Utterance]:
        done: list[Utterance] = []
        if self._ep.in_speech:
            tail = self._ep.end_stream(self._pending[:self._frame])
            if tail:
                self._speech.append(tail)
        self._pending = b''
        if self._speech:
            done.append(self._take())
        return done

    def _take(self) -> Utterance:
        pcm = np.frombuffer(b''.join(self._speech), dtype='<i2').astype(np.int16)
        self._speech = []
        return Utterance(pcm, self._start)


class MicrophoneSource:
    """The default capture device through ALSA's `arecord` (an external program), where one exists."""

    def __init__(self, device: str = 'default', sample_rate: int = ASR_RATE, chunk_ms: int = 100):
        self.device, self.sample_rate, self.chunk_ms = device, check_rate(sample_rate), chunk_ms
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()

    @staticmethod
    def available() -> bool:
        return shutil.which('arecord') is not None

    def chunks(self) -> Iterator[bytes]:
        if not self.available():
            raise RuntimeError('no microphone capture: `arecord` (alsa-utils) is not installed')
        cmd = ['arecord', '-q', '-D', self.device, '-f', 'S16_LE', '-c', '1', '-r', str(self.sample_rate), '-t', 'raw']
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        size = self.sample_rate * 2 * self.chunk_ms // 1000
        try:
            while not self._stop.is_set():
                data = self._proc.stdout.read(size)
                if not data:
                    err = self._proc.stderr.read().decode(errors='replace').strip()
                    if err:
                        log.warning('arecord stopped: %s', err)
                    return
                yield data
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
