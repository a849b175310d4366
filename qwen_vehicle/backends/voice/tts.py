"""Speech synthesis: a registry of name -> "module:Class" and espeak-ng run as an external program.

>>> from qwen_vehicle.backends.voice.tts import create_synthesizer
>>> tts = create_synthesizer('espeak-ng', speed=160)
>>> speech = tts.synthesize('空调已打开')          # Mandarin voice picked from the text
>>> speech.save('/tmp/reply.wav'); tts.play(speech)  # aplay, where an audio device and aplay exist

espeak-ng is GPL-3.0: it is only ever executed as a separate program (subprocess), never linked or imported.
Third-party synthesizers register under the entry point group ``qwen_vehicle.tts`` and subclass `Synthesizer`.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry import Registry
from .audio import read_wav, wav_bytes

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = 'qwen_vehicle.tts'
MAX_TEXT = 2000   # characters per reply; longer text is cut at a sentence end


class SynthesisError(RuntimeError):
    """The synthesizer failed; the message says why."""


@dataclass
class Speech:
    pcm: np.ndarray     # mono int16
    sample_rate: int
    text: str
    voice: str

    @property
    def seconds(self) -> float:
        return self.pcm.size / self.sample_rate

    def wav(self) -> bytes:
        return wav_bytes(self.pcm, self.sample_rate)

    def save(self, path: str) -> str:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        tmp = path + '.part'
        with open(tmp, 'wb') as f:
            f.write(self.wav())
        os.replace(tmp, path)   # readers never see half a file
        return path


def is_chinese(text: str) -> bool:
    han = sum('\u4e00' <= ch <= '\u9fff' for ch in text)
    return han > 0 and han >= sum(ch.isascii() and ch.isalpha() for ch in text) / 4


def clip_text(text: str, limit: int = MAX_TEXT) -> str:
    text = ' '.join(text.split())
    if len(text) <= limit:
        return text
    cut = max(text.rfind(p, 0, limit) for p in '.!?。！？')
    return text[:cut + 1] if cut > limit // 2 else text[:limit]


class Synthesizer:
    """Base class: `synthesize()` validates the text and picks the voice, `_synthesize()` makes the audio."""

    def __init__(self, voice_en: str = 'en-us', voice_zh: str = 'cmn', speed: int = 160):
        if not 80 <= int(speed) <= 450:
            raise ValueError(f'speed {speed} words per minute is outside 80..450')
        self.voice_en, self.voice_zh, self.speed = voice_en, voice_zh, int(speed)

    def voice_for(self, text: str, language: str | None = None) -> str:
        if language is None:
            language = 'zh' if is_chinese(text) else 'en'
        return self.voice_zh if language == 'zh' else self.voice_en

    def synthesize(self, text: str, language: str | None = None, voice: str | None = None) -> Speech:
        if not isinstance(text, str) or not text.strip():
            raise ValueError('nothing to say: empty text')
        text = clip_text(text)
        voice = voice or self.voice_for(text, language)
        return self._synthesize(text, voice)

    def _synthesize(self, text: str, voice: str) -> Speech:
        raise NotImplementedError

    def play(self, speech: Speech, device: str | None = None) -> bool:
        """Play on an audio device with ALSA's `aplay`; False (logged) where there is none."""
        if shutil.which('aplay') is None:
            log.info('no audio output: `aplay` (alsa-utils) is not installed')
            return False
        cmd = ['aplay', '-q'] + (['-D', device] if device else []) + ['-']
        try:
            proc = subprocess.run(cmd, input=speech.wav(), capture_output=True, timeout=speech.seconds + 10,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning('aplay failed: %s', exc)
            return False
        if proc.returncode != 0:
            log.warning('aplay failed: %s', proc.stderr.decode(errors='replace').strip())
            return False
        return True


class EspeakSynthesizer(Synthesizer):
    """espeak-ng (external program): `espeak-ng -v VOICE -s SPEED -w out.wav TEXT`, read back as PCM."""

    def __init__(self, voice_en: str = 'en-us', voice_zh: str = 'cmn', speed: int = 160, executable: str = 'espeak-ng',
                 timeout_s: float = 20.0):
        super().__init__(voice_en, voice_zh, speed)
        path = shutil.which(executable)
        if path is None:
            raise SynthesisError(f'{executable} is not installed (apt-get install espeak-ng)')
        self.executable, self.timeout_s = path, timeout_s

    def _synthesize(self, text: str, voice: str) -> Speech:
        # text on stdin, not argv: a reply can start with '-' and must never be read as an option
        cmd = [self.executable, '-v', voice, '-s', str(self.speed), '--stdout']
        try:
            proc = subprocess.run(cmd, input=text.encode('utf-8'), capture_output=True, timeout=self.timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise SynthesisError(f'espeak-ng took longer than {self.timeout_s:g} s') from exc
        err = proc.stderr.decode(errors='replace').strip()
        if proc.returncode != 0 or not proc.stdout:
            raise SynthesisError(f'espeak-ng failed (voice {voice!r}): {err or "no audio"}')
        pcm, rate = read_wav(proc.stdout)
        return Speech(pcm, rate, text, voice)

    def voices(self) -> list[str]:
        out = subprocess.run([self.executable, '--voices'], capture_output=True, text=True, timeout=10,
                             check=False).stdout
        return [line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1]


SYNTHESIZERS: dict[str, str] = {
    'espeak-ng': 'qwen_vehicle.backends.voice.tts:EspeakSynthesizer',
}
_registry = Registry('synthesizer', ENTRY_POINT_GROUP, SYNTHESIZERS, Synthesizer)


def available_synthesizers() -> list[str]:
    return _registry.names()


def synthesizer_class(name: str) -> type[Synthesizer]:
    return _registry.get(name)


def create_synthesizer(name: str, **config: Any) -> Synthesizer:
    return _registry.create(name, **config)
