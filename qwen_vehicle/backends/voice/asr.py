"""Speech recognisers: a registry of name -> "module:Class" and the pocketsphinx implementation.

>>> from qwen_vehicle.backends.voice.asr import create_recognizer
>>> asr = create_recognizer('pocketsphinx', wake_phrase='hello car')
>>> asr.recognize(pcm, sample_rate=22050).text

Third-party recognisers (a Mandarin engine, say) register under the entry point group ``qwen_vehicle.asr``
and subclass `Recognizer`: the public `recognize()` validates and resamples, the `_decode()` hook decodes 16 kHz
mono int16 PCM. Importing this module imports neither pocketsphinx nor the intent engine.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

import numpy as np

from ..registry import Registry
from .audio import ASR_RATE, as_int16, check_rate, noise_floor_dbfs, resample
from .grammar import (SPOKEN_FORMS, CommandGrammar, arpa_from_sentences, build_grammar, expand_sentences,
                      words_to_digits)

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = 'qwen_vehicle.asr'

# prefixes whose dictionary entry (if any) is not how they sound inside a compound
PREFIX_PHONES = {'re': 'R IY', 'pre': 'P R IY', 'de': 'D IY', 'un': 'AH N'}

# common English pronunciations the dictionary lacks (added as alternatives where the grammar uses the word)
EXTRA_PRONUNCIATIONS = {'beijing(2)': 'B EY JH IH NG', 'shenzhen(2)': 'SH EH N ZH AH N', 'hangzhou': 'HH AA NG ZH UW',
                        'hangzhou(2)': 'HH AE NG ZH UW',
                        'guangzhou(2)': 'G W AA NG ZH UW', 'chengdu(2)': 'CH EH NG G D UW'}

# Input quieter than this between words gets white noise up to it: the acoustic model (trained on real recordings)
# and its spectral noise removal mishear speech over near-digital silence ("shenzhen" as "tianjin"). Accuracy with
# bench/eval_voice.py was flat from -49 to -44 dBFS targets and lower below; input already noisier is left alone.
MIN_NOISE_FLOOR_DBFS = -44.0
NOISE_SEED = 20261124
# Grammar results scoring below this (`path_confidence`) are rejected as out-of-grammar speech. On both voice sets of
# bench/eval_voice.py, 501 of 502 correctly recognised commands score above it; of its 20 out-of-grammar sentences in
# six voices, 11 of 120 do ("turn on the radio" as "turn on the rear defrost").
MIN_CONFIDENCE = -3.7

Source = Literal['grammar', 'grammar_lm', 'lm', 'none', 'asleep']


@dataclass
class Recognition:
    text: str                     # what goes to the assistant ('' when nothing usable was heard)
    # 'grammar', 'grammar_lm' (the grammar's trigram model), 'lm' (general fallback), 'none', 'asleep' (no wake)
    source: Source = 'none'
    confidence: float = 0.0       # recogniser-specific; for pocketsphinx the per-frame margin over a phone loop
    words: str = ''               # the raw word string before number words became digits
    language: str = 'en'
    woke: bool = False            # the wake phrase was heard in this utterance
    audio_s: float = 0.0
    decode_s: float = 0.0        # wall clock
    cpu_s: float = 0.0           # CPU time of the decoding thread (what the real-time factor is taken from)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        """Real-time factor on one core: decoding CPU time / audio duration."""
        return self.cpu_s / self.audio_s if self.audio_s else 0.0


def path_confidence(hyp, frames: int) -> float:
    """pocketsphinx renormalises scores to the best path every frame: a path's log score per frame (x1000) says how
    far below the unconstrained best it stayed (0 = never)."""
    return math.log(max(hyp.score, 1e-300)) / max(frames, 1) * 1000.0


class Recognizer:
    """Base class: `recognize()` checks and converts the audio, `_decode()` does the recognition."""

    language = 'en'

    def recognize(self, pcm, sample_rate: int = ASR_RATE) -> Recognition:
        rate = check_rate(sample_rate)
        samples = as_int16(pcm)
        if rate != ASR_RATE:
            samples = resample(samples, rate)
        audio_s = samples.size / ASR_RATE
        if samples.size < ASR_RATE // 10:
            return Recognition('', 'none', audio_s=audio_s, details={'reason': 'shorter than 0.1 s'})
        start, cpu_start = time.perf_counter(), time.thread_time()
        result = self._decode(samples)
        result.decode_s = time.perf_counter() - start
        result.cpu_s = time.thread_time() - cpu_start
        result.audio_s = audio_s
        result.language = self.language
        return result

    def _decode(self, pcm16: np.ndarray) -> Recognition:
        raise NotImplementedError

    def close(self) -> None:
        """Release native resources; idempotent."""


RECOGNIZERS: dict[str, str] = {
    'pocketsphinx': 'qwen_vehicle.backends.voice.asr:PocketsphinxRecognizer',
}
_registry = Registry('recogniser', ENTRY_POINT_GROUP, RECOGNIZERS, Recognizer)


def available_recognizers() -> list[str]:
    return _registry.names()


def recognizer_class(name: str) -> type[Recognizer]:
    """The class registered as `name`; an unknown name raises ValueError listing the valid ones."""
    return _registry.get(name)


def create_recognizer(name: str, **config: Any) -> Recognizer:
    return _registry.create(name, **config)


def default_phrases(language: str = 'en') -> list[str]:
    """The intent engine's example phrases (imported late: the engine is optional for this module)."""
    from qwen_vehicle.core.intents import grammar_phrases
    return list(grammar_phrases(language=language))


def default_tools() -> list:
    """The assistant's tool specs (vehicle + service) for the grammar's slot rules; [] where unavailable."""
    from .tooling import assistant_tool_specs
    return assistant_tool_specs()


def gated_grammar(jsgf: str, wake_phrase: str) -> str:
    """The command grammar with an optional wake phrase in front, as the top rule."""
    body = jsgf.replace('public <command> =', '<command> =', 1)
    head, sep, rest = body.partition(';\n')            # '#JSGF V1.0' line
    head2, sep2, rest2 = rest.partition(';\n')         # 'grammar name' line
    return f'{head}{sep}{head2}{sep2}public <gated> = {wake_phrase} [<command>] | <command>;\n{rest2}'


class PocketsphinxRecognizer(Recognizer):
    """CMU pocketsphinx with the en-us model from its wheel.

    Search order per utterance: the generated command grammar (with the wake phrase, when set, as an optional
    prefix that gates the command); optionally (`domain_lm=True`) a trigram model of the grammar's sentences when
    the strict search reaches no end state; when nothing is found, or the grammar path's per-frame score is below
    `min_confidence` (likely speech outside the grammar), the general language model (the wheel's en-us LM, second
    decoder) decodes the utterance. Numbers take the range of the tool argument they fill (`typed_numbers`), and
    input over near-digital silence gets a noise floor first (`min_noise_floor_dbfs`).
    """

    def __init__(self, grammar: CommandGrammar | str | None = None, phrases: Iterable[str] | None = None,
                 tools: Iterable | None = None, *, words: dict[str, Iterable[str]] | None = None,
                 extra_phrases: Iterable[str] | None = None, wake_phrase: str = '', kws_threshold: float = 1e-40,
                 awake_seconds: float = 8.0, fallback_lm: bool = True, min_confidence: float = MIN_CONFIDENCE,
                 digits: bool = True, dither: bool = True, hmm: str | None = None, dictionary: str | None = None,
                 lm: str | None = None, beam: float = 1e-80, wbeam: float = 1e-60, domain_lm: bool = False,
                 decoder_options: dict[str, Any] | None = None, typed_numbers: bool = True,
                 min_noise_floor_dbfs: float | None = MIN_NOISE_FLOOR_DBFS, loglevel: str = 'FATAL'):
        import pocketsphinx
        self._lock = threading.Lock()
        self.fallback_lm, self.min_confidence, self.digits = fallback_lm, float(min_confidence), digits
        self.min_noise_floor_dbfs = None if min_noise_floor_dbfs is None else float(min_noise_floor_dbfs)
        self.wake_phrase = ' '.join(wake_phrase.lower().split())
        self.awake_seconds = float(awake_seconds)
        self._awake_until = 0.0
        self._new_words: dict[str, str] = {}
        # Two decoders: the grammar one (strict grammar, plus a trigram model of the grammar's sentences for when
        # the strict search reaches no end state) and the general LM one, used only as a fallback.
        # dither: digitally silent input (zeros) otherwise breaks the features; a fixed seed keeps runs repeatable
        common: dict[str, Any] = {'loglevel': loglevel, 'dither': dither, 'seed': 1}
        if hmm:
            common['hmm'] = hmm
        if dictionary:
            common['dict'] = dictionary
        # wide beams: narrower ones (1e-48/7e-29) pruned the right path of whole sentences ("where am i", en-gb)
        grammar_options = {'lm': None, 'fsgusefiller': True, 'beam': beam, 'pbeam': beam, 'wbeam': wbeam,
                           'fwdflat': False, 'bestpath': False, **(decoder_options or {})}
        self._decoder = pocketsphinx.Decoder(**common, **grammar_options)
        self._lm_decoder = None
        if fallback_lm:
            self._lm_decoder = pocketsphinx.Decoder(**common, **({'lm': lm} if lm else {}), fwdflat=False,
                                                    bestpath=False)
        if isinstance(grammar, CommandGrammar):
            self.grammar = grammar
        elif isinstance(grammar, str):
            self.grammar = CommandGrammar(grammar, [], set())
        else:
            from .tooling import intent_interpreter, service_words
            self.grammar = build_grammar(default_phrases() if phrases is None else phrases,
                                         default_tools() if tools is None else tools, known_word=self.ensure_word,
                                         service_words=service_words() if words is None else words,
                                         interpret=intent_interpreter() if typed_numbers else None,
                                         extra_phrases=SPOKEN_FORMS if extra_phrases is None else extra_phrases)
        self._add_queued_words()
        self._decoder.add_jsgf_string('grammar', self.grammar.jsgf)
        self._has_domain_lm = False
        if domain_lm and self.grammar.templates:
            self._add_domain_lm()
        if self.wake_phrase:
            unknown = [w for w in self.wake_phrase.split() if not self.known_word(w)]
            if unknown:
                raise ValueError(f'wake phrase {wake_phrase!r}: word(s) {unknown} are not in the dictionary')
            # The gate: the whole utterance decoded as "[wake phrase] command" competes "wake phrase" against no
            # wake phrase. Keyphrase spotting alone (kept for wake phrase + out-of-grammar speech) missed most
            # synthetic wake phrases at thresholds without false alarms.
            self._decoder.add_jsgf_string('gated', gated_grammar(self.grammar.jsgf, self.wake_phrase))
            self._decoder.config['kws_threshold'] = float(kws_threshold)
            self._decoder.add_keyphrase('wake', self.wake_phrase)
        log.info('pocketsphinx: grammar with %d templates, %d words; wake phrase %r; LM fallback %s',
                 len(self.grammar.templates), len(self.grammar.vocabulary), self.wake_phrase or None,
                 self._lm_decoder is not None)

    def known_word(self, word: str) -> bool:
        return self._decoder.lookup_word(word) is not None

    def ensure_word(self, word: str) -> bool:
        """True when the dictionary has `word` or it is a compound of two known words ("re" + "circulation");
        compounds are queued and added by `_add_queued_words()`."""
        if self.known_word(word) or word in self._new_words:
            return True
        for cut in range(len(word) - 3, 1, -1):
            head, tail = word[:cut], word[cut:]
            head_ph = PREFIX_PHONES.get(head) or self._decoder.lookup_word(head)
            tail_ph = self._decoder.lookup_word(tail)
            if head_ph and tail_ph:
                self._new_words[word] = f'{head_ph} {tail_ph}'
                return True
        return False

    def _add_queued_words(self) -> None:
        words = dict(self._new_words)
        words.update((w, p) for w, p in EXTRA_PRONUNCIATIONS.items()
                     if w.split('(')[0] in self.grammar.vocabulary and not self.known_word(w))
        items = list(words.items())
        for i, (word, phones) in enumerate(items):
            self._decoder.add_word(word, phones, i == len(items) - 1)   # rebuild once, after the last
            log.debug('pocketsphinx: added %r = %s', word, phones)

    def _add_domain_lm(self) -> None:
        import tempfile
        arpa = arpa_from_sentences(expand_sentences(self.grammar))
        with tempfile.TemporaryDirectory(prefix='qv-voice-') as folder:
            path = os.path.join(folder, 'commands.arpa')
            with open(path, 'w', encoding='utf-8') as f:
                f.write(arpa)
            self._decoder.add_lm_file('domain', path)
        self._has_domain_lm = True

    @property
    def awake(self) -> bool:
        return not self.wake_phrase or time.monotonic() < self._awake_until

    def _with_noise_floor(self, pcm16: np.ndarray, details: dict[str, Any]) -> np.ndarray:
        """`pcm16` with white noise added where its noise floor is under `min_noise_floor_dbfs` (a fixed seed: the same
        audio gets the same noise whatever was decoded before)."""
        if self.min_noise_floor_dbfs is None:
            return pcm16
        floor = noise_floor_dbfs(pcm16)
        details['noise_floor_dbfs'] = round(floor, 1)
        if floor >= self.min_noise_floor_dbfs:
            return pcm16
        target = 32768.0 * 10 ** (self.min_noise_floor_dbfs / 20)
        have = 32768.0 * 10 ** (floor / 20) if floor > float('-inf') else 0.0
        noise = np.random.default_rng(NOISE_SEED).normal(0.0, math.sqrt(target ** 2 - have ** 2), pcm16.size)
        return np.clip(np.round(pcm16 + noise), -32768, 32767).astype(np.int16)

    def _run(self, search: str | None, pcm16: np.ndarray):
        d = self._decoder if search else self._lm_decoder
        if search:
            d.activate_search(search)
        d.start_utt()
        d.process_raw(pcm16.astype('<i2').tobytes(), full_utt=True)
        d.end_utt()
        return d.hyp(), d.n_frames()

    def _decode(self, pcm16: np.ndarray) -> Recognition:
        with self._lock:
            return self._decode_locked(pcm16)

    def _decode_locked(self, pcm16: np.ndarray) -> Recognition:
        details: dict[str, Any] = {}
        pcm16 = self._with_noise_floor(pcm16, details)
        woke = False
        awake = self.awake
        search = 'grammar' if awake else 'gated'
        hyp, frames = self._run(search, pcm16)
        words = hyp.hypstr.strip() if hyp is not None else ''
        if self.wake_phrase and (words + ' ').startswith(self.wake_phrase + ' '):
            woke, words = True, words[len(self.wake_phrase):].strip()
            self._awake_until = time.monotonic() + self.awake_seconds
            if not words:   # the wake phrase alone, or followed by speech the grammar does not cover
                pcm16 = pcm16[self._wake_end_frame() * ASR_RATE // 100:]
                if pcm16.size < int(0.4 * ASR_RATE):
                    return Recognition('', 'none', woke=True, details={'reason': 'wake phrase only'})
        if self.wake_phrase and not awake and not woke and not words and self._spot_wake(pcm16, details):
            woke = True                       # wake phrase + something the grammar does not cover
            self._awake_until = time.monotonic() + self.awake_seconds
            pcm16 = pcm16[int(details['wake_end_s'] * ASR_RATE):]
        if self.wake_phrase and not awake and not woke:
            return Recognition('', 'asleep', details={**details, 'reason': 'wake phrase not heard'})
        source: Source = 'grammar'
        confidence = float('-inf')
        if words and not self.grammar.matches(words):
            details['partial'] = words     # no path reached the grammar's end: a best partial path
            words = ''
        if words:
            confidence = path_confidence(hyp, frames)
            if confidence < self.min_confidence:
                details['rejected'] = words    # more likely speech outside the grammar forced onto a command
                words = ''
        if not words and self._has_domain_lm and (awake or woke):
            # second chance inside the grammar: a trigram model of its sentences, accepted only when it decodes a
            # complete grammar sentence
            dom, dom_frames = self._run('domain', pcm16)
            dom_words = dom.hypstr.strip() if dom is not None else ''
            if self.wake_phrase and (dom_words + ' ').startswith(self.wake_phrase + ' '):
                dom_words = dom_words[len(self.wake_phrase):].strip()
            details['domain'] = dom_words
            if dom_words and self.grammar.matches(dom_words):
                dom_confidence = path_confidence(dom, dom_frames)
                if dom_confidence >= self.min_confidence:
                    words, source, confidence = dom_words, 'grammar_lm', dom_confidence
        if words:
            details['grammar'] = words
        details['grammar_confidence'] = confidence
        if not words and self._lm_decoder is not None:
            lm_hyp, _ = self._run(None, pcm16)
            lm_words = lm_hyp.hypstr.strip() if lm_hyp is not None else ''
            if self.wake_phrase and (lm_words + ' ').startswith(self.wake_phrase + ' '):
                lm_words = lm_words[len(self.wake_phrase):].strip()
            details['lm'] = lm_words
            if lm_words:
                words, source = lm_words, 'lm'
        if not words:
            return Recognition('', 'none', confidence, woke=woke, details=details)
        if self.wake_phrase:
            self._awake_until = 0.0   # one command per wake phrase
        text = words_to_digits(words) if self.digits else words
        return Recognition(text, source, confidence, words=words, woke=woke, details=details)

    def _wake_end_frame(self) -> int:
        """End (frames, exclusive) of the wake phrase in the last grammar decode's segmentation."""
        wanted = self.wake_phrase.split()
        seen = 0
        for seg in self._decoder.seg():
            if seg.word.split('(')[0] == wanted[min(seen, len(wanted) - 1)]:
                seen += 1
                if seen == len(wanted):
                    return seg.end_frame + 1
        return 0

    def _spot_wake(self, pcm16: np.ndarray, details: dict[str, Any]) -> bool:
        """Keyphrase search for the wake phrase; sets details['wake_end_s'] when found."""
        hyp, _ = self._run('wake', pcm16)
        if hyp is None or not hyp.hypstr.strip():
            return False
        end = max((s.end_frame for s in self._decoder.seg()), default=-1)
        details['wake_end_s'] = (end + 1) / 100   # 100 frames per second
        return True

    def close(self) -> None:
        self._decoder = self._lm_decoder = None
