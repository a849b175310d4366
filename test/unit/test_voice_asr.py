"""pocketsphinx with the generated grammar on espeak-ng speech: text, intent, wake phrase, LM fallback."""
import shutil
import subprocess

import numpy as np
import pytest

from qwen_vehicle.backends.voice.asr import (PocketsphinxRecognizer, Recognizer, available_recognizers,
                                             create_recognizer, recognizer_class)
from qwen_vehicle.backends.voice.audio import read_wav

pytest.importorskip('pocketsphinx')
needs_espeak = pytest.mark.skipif(shutil.which('espeak-ng') is None, reason='espeak-ng is not installed')

# (spoken, voice, speed, expected calls)
COMMANDS = [
    ('set the driver side to twenty one', 'en-us', 160, [('set_target_temperature', {'zone': 'driver', 'value': 21})]),
    ('set the fan to four', 'en-gb', 150, [('set_fan_level', {'value': 4})]),
    ('turn on the air conditioning', 'en-us+f2', 150, [('set_air_conditioning', {'value': True})]),
    ('turn off recirculation', 'en-us+m3', 170, [('set_recirculation', {'value': False})]),
    ('what is the battery status', 'en-us', 175, [('get_battery_status', {})]),
    ('find a pizza restaurant', 'en-gb', 160, [('search_restaurants', {'cuisine': 'pizza'})]),
]


def speak(text, voice='en-us', speed=160, seed=0):
    """espeak-ng speech at its own 22.05 kHz with a low noise floor (a real microphone is never digitally silent)."""
    wav = subprocess.run(['espeak-ng', '-v', voice, '-s', str(speed), '--stdout', text], capture_output=True,
                         check=True).stdout
    pcm, rate = read_wav(wav)
    pad = np.zeros(rate // 4)
    x = np.concatenate([pad, pcm.astype(float), pad])
    x += np.random.default_rng(seed).normal(0, 40, x.size)
    return np.clip(x, -32768, 32767).astype(np.int16), rate


@pytest.fixture(scope='module')
def asr():
    return create_recognizer('pocketsphinx')   # grammar from grammar_phrases() + tool schemas + service words


def test_registry():
    assert 'pocketsphinx' in available_recognizers()
    assert recognizer_class('pocketsphinx') is PocketsphinxRecognizer
    with pytest.raises(ValueError, match=r"unknown recogniser 'whisper'; valid recognisers: pocketsphinx"):
        create_recognizer('whisper')


def test_entry_point_recognisers_are_found(monkeypatch):
    import qwen_vehicle.backends.voice.asr as asr_mod

    class MandarinStub(Recognizer):
        language = 'zh'

    class EP:
        name = 'mandarin'

        def load(self):
            return MandarinStub

    monkeypatch.setattr(asr_mod._registry, '_entry_points', lambda: {'mandarin': EP()})
    assert 'mandarin' in available_recognizers()
    assert recognizer_class('mandarin') is MandarinStub


@needs_espeak
@pytest.mark.parametrize('text, voice, speed, expected', COMMANDS, ids=[c[0] for c in COMMANDS])
def test_spoken_command_gives_the_expected_plan(asr, text, voice, speed, expected):
    from qwen_vehicle.core.intents import DialogueContext, IntentEngine
    from qwen_vehicle.core.ir import ToolCall
    pcm, rate = speak(text, voice, speed)
    result = asr.recognize(pcm, sample_rate=rate)     # 22050 Hz in: resampled inside
    assert result.source == 'grammar', result
    plan = IntentEngine().parse(result.text, DialogueContext(speaker_zone=None, state={}))
    assert [c.key() for c in plan.calls] == [ToolCall(n, a).key() for n, a in expected], result.text
    assert result.audio_s > 0.5 and result.cpu_s > 0


@needs_espeak
def test_numbers_come_out_as_digits(asr):
    pcm, rate = speak('set the temperature to twenty two point five')
    result = asr.recognize(pcm, rate)
    assert result.words == 'set the temperature to twenty two point five'
    assert result.text == 'set the temperature to 22.5'


@needs_espeak
def test_out_of_grammar_speech_falls_back_to_the_language_model():
    asr = PocketsphinxRecognizer(phrases=['set the fan to three', 'turn on the air conditioning'], tools=[],
                                 words={}, extra_phrases=[])
    pcm, rate = speak('play some jazz music please')
    result = asr.recognize(pcm, rate)
    assert result.source == 'lm', result          # the grammar reached no end state: it found nothing
    assert result.text and not asr.grammar.matches(result.words)   # free text for the assistant (LLM) path


@needs_espeak
def test_wake_phrase_gates_recognition():
    asr = PocketsphinxRecognizer(phrases=['set the fan to three', 'turn on the air conditioning'], tools=[],
                                 words={}, extra_phrases=[], wake_phrase='hello car', fallback_lm=False)
    pcm, rate = speak('turn on the air conditioning')
    asleep = asr.recognize(pcm, rate)
    assert (asleep.text, asleep.source) == ('', 'asleep')
    pcm, rate = speak('hello car turn on the air conditioning', seed=1)
    woke = asr.recognize(pcm, rate)
    assert woke.woke and woke.text == 'turn on the air conditioning'
    # the wake phrase alone opens a window for the next utterance, which closes after one command
    pcm, rate = speak('hello car', seed=2)
    assert asr.recognize(pcm, rate).woke
    pcm, rate = speak('set the fan to three', seed=3)
    assert asr.recognize(pcm, rate).text == 'set the fan to 3'
    pcm, rate = speak('set the fan to three', seed=4)
    assert asr.recognize(pcm, rate).source == 'asleep'


def test_quiet_input_is_raised_to_the_noise_floor_and_noisy_input_left_alone():
    from qwen_vehicle.backends.voice.asr import MIN_NOISE_FLOOR_DBFS
    from qwen_vehicle.backends.voice.audio import noise_floor_dbfs
    asr = PocketsphinxRecognizer(phrases=['set the fan to three'], tools=[], words={}, extra_phrases=[],
                                 fallback_lm=False)
    quiet = np.round(np.random.default_rng(1).normal(0, 40, 32000)).astype(np.int16)
    details = {}
    raised = asr._with_noise_floor(quiet, details)
    assert details['noise_floor_dbfs'] == pytest.approx(-58.3, abs=0.5)
    assert noise_floor_dbfs(raised) == pytest.approx(MIN_NOISE_FLOOR_DBFS, abs=0.5)
    assert np.array_equal(raised, asr._with_noise_floor(quiet, {}))        # the same audio, the same noise
    silent = asr._with_noise_floor(np.zeros(32000, dtype=np.int16), {})
    assert noise_floor_dbfs(silent) == pytest.approx(MIN_NOISE_FLOOR_DBFS, abs=0.5)
    noisy = np.round(np.random.default_rng(2).normal(0, 400, 32000)).astype(np.int16)
    assert asr._with_noise_floor(noisy, {}) is noisy
    off = PocketsphinxRecognizer(phrases=['set the fan to three'], tools=[], words={}, extra_phrases=[],
                                 fallback_lm=False, min_noise_floor_dbfs=None)
    assert off._with_noise_floor(quiet, {}) is quiet


@needs_espeak
def test_digitally_silent_speech_is_recognised(asr):
    wav = subprocess.run(['espeak-ng', '-v', 'en-us', '-s', '160', '--stdout', 'find a hotel in hangzhou'],
                         capture_output=True, check=True).stdout
    pcm, rate = read_wav(wav)                               # espeak's own output: exact zeros around the speech
    result = asr.recognize(np.concatenate([np.zeros(rate // 4, np.int16), pcm]), rate)
    assert result.text == 'find a hotel in hangzhou', result
    assert result.details['noise_floor_dbfs'] < -80


def test_numbers_in_the_default_grammar_take_the_tool_ranges(asr):
    assert '<set_fan_level_value> = zero | one | two | three | four | five | six | seven;' in asr.grammar.jsgf
    assert asr.grammar.matches('set the fan to seven') and not asr.grammar.matches('set the fan to eleven')
    assert asr.grammar.matches('set the passenger temperature to nineteen point five degrees')
    assert not asr.grammar.matches('set the passenger temperature to nine degrees')   # 16..30 only


def test_bad_input_is_refused_clearly():
    asr = PocketsphinxRecognizer(phrases=['set the fan to three'], tools=[], words={}, extra_phrases=[],
                                 fallback_lm=False)
    assert asr.recognize(np.zeros(800, dtype=np.int16)).details['reason'] == 'shorter than 0.1 s'
    with pytest.raises(ValueError, match='sample rate'):
        asr.recognize(np.zeros(16000, dtype=np.int16), sample_rate=0)
    with pytest.raises(ValueError, match='not in the dictionary'):
        PocketsphinxRecognizer(phrases=['set the fan to three'], tools=[], words={}, extra_phrases=[],
                               wake_phrase='hello qwenvehicle')


@needs_espeak
def test_grammar_trigram_second_pass_is_loaded_and_only_accepts_grammar_sentences():
    asr = PocketsphinxRecognizer(phrases=['set the fan to three', 'turn on the air conditioning'], tools=[],
                                 words={}, extra_phrases=[], fallback_lm=False, domain_lm=True)
    assert asr._has_domain_lm
    pcm, rate = speak('play some jazz music please')
    result = asr.recognize(pcm, rate)
    assert result.source == 'none' and result.text == ''          # nothing outside the grammar is made up
    assert 'domain' in result.details and not asr.grammar.matches(result.details['domain'])
