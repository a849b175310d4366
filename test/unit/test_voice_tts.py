"""espeak-ng synthesis (external program) and the synthesizer registry."""
import shutil

import pytest

from qwen_vehicle.backends.voice.audio import read_wav
from qwen_vehicle.backends.voice.tts import (EspeakSynthesizer, SynthesisError, available_synthesizers, clip_text,
                                             create_synthesizer, is_chinese)

needs_espeak = pytest.mark.skipif(shutil.which('espeak-ng') is None, reason='espeak-ng is not installed')


def test_registry_lists_valid_names_on_unknown():
    assert 'espeak-ng' in available_synthesizers()
    with pytest.raises(ValueError, match=r"unknown synthesizer 'festival'; valid synthesizers: .*espeak-ng"):
        create_synthesizer('festival')


def test_language_detection_and_clipping():
    assert is_chinese('空调已打开') and is_chinese('温度 22 度') and not is_chinese('A/C on, 22 degrees')
    long = 'Sentence one. ' * 300
    assert len(clip_text(long)) <= 2000 and clip_text(long).endswith('.')


@needs_espeak
def test_english_and_mandarin_voices(tmp_path):
    tts = create_synthesizer('espeak-ng', speed=170)
    en = tts.synthesize('The air conditioning is on.')
    zh = tts.synthesize('空调已打开，温度二十二度。')
    assert (en.voice, zh.voice) == ('en-us', 'cmn')
    assert 0.5 < en.seconds < 5 and 0.5 < zh.seconds < 8
    assert en.pcm.std() > 100   # not silence
    path = en.save(str(tmp_path / 'out' / 'reply.wav'))
    pcm, rate = read_wav(path)
    assert rate == en.sample_rate and pcm.size == en.pcm.size


@needs_espeak
def test_text_is_never_read_as_an_option_and_errors_are_clear():
    tts = EspeakSynthesizer()
    assert tts.synthesize('--help me').seconds > 0.3      # spoken, not interpreted
    with pytest.raises(SynthesisError, match='xx-nope'):
        tts.synthesize('hello', voice='xx-nope')
    with pytest.raises(ValueError, match='empty'):
        tts.synthesize('   ')
    with pytest.raises(ValueError, match='speed'):
        EspeakSynthesizer(speed=10)


def test_missing_program_is_a_clear_error():
    with pytest.raises(SynthesisError, match='not installed'):
        EspeakSynthesizer(executable='espeak-ng-that-does-not-exist')
