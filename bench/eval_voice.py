#!/usr/bin/env python3
"""Voice path evaluation: espeak-ng speech -> pocketsphinx -> IntentEngine -> plan, compared with the expected plan.

Each command is synthesised with espeak-ng in several voices and speeds, resampled to 16 kHz, mixed with a low
Gaussian noise floor (fixed seed) and recognised with the grammar generated from the intent engine's phrases and the
tool schemas. Prints word error rate, intent accuracy (plan equal to the expected plan by ToolCall.key()) and the
real-time factor (decode time / audio time, one core).

    .venv/bin/python bench/eval_voice.py                 # all commands, 4 voice/speed variants each
    .venv/bin/python bench/eval_voice.py --limit 10 -v   # quick look, print every miss
    .venv/bin/python bench/eval_voice.py --held-out      # voices/speeds no setting was tuned on
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

# (spoken command, expected calls as (tool name, arguments))
COMMANDS: list[tuple[str, list[tuple[str, dict]]]] = [
    # climate: temperatures (zones, halves)
    ('set the driver temperature to 22 degrees', [('set_target_temperature', {'zone': 'driver', 'value': 22})]),
    ('set the passenger temperature to 20 degrees', [('set_target_temperature', {'zone': 'passenger', 'value': 20})]),
    ('set the rear temperature to 24 degrees', [('set_target_temperature', {'zone': 'rear', 'value': 24})]),
    ('set the driver temperature to 21.5 degrees', [('set_target_temperature', {'zone': 'driver', 'value': 21.5})]),
    ('set the passenger temperature to 19.5 degrees',
     [('set_target_temperature', {'zone': 'passenger', 'value': 19.5})]),
    ('set the driver temperature to 18 degrees', [('set_target_temperature', {'zone': 'driver', 'value': 18})]),
    ('set the rear temperature to 26 degrees', [('set_target_temperature', {'zone': 'rear', 'value': 26})]),
    ('set the passenger temperature to 23 degrees', [('set_target_temperature', {'zone': 'passenger', 'value': 23})]),
    ('set the driver temperature to 25.5 degrees', [('set_target_temperature', {'zone': 'driver', 'value': 25.5})]),
    ('set the rear temperature to 17 degrees', [('set_target_temperature', {'zone': 'rear', 'value': 17})]),
    ('set the driver temperature to 28 degrees', [('set_target_temperature', {'zone': 'driver', 'value': 28})]),
    ('set the passenger temperature to 16 degrees', [('set_target_temperature', {'zone': 'passenger', 'value': 16})]),
    # fan
    ('set the fan to 3', [('set_fan_level', {'value': 3})]),
    ('set the fan to 5', [('set_fan_level', {'value': 5})]),
    ('set the fan to 1', [('set_fan_level', {'value': 1})]),
    ('set the fan to 7', [('set_fan_level', {'value': 7})]),
    ('set the fan to 0', [('set_fan_level', {'value': 0})]),
    ('set the fan to 2', [('set_fan_level', {'value': 2})]),
    ('set the fan to 6', [('set_fan_level', {'value': 6})]),
    # A/C, recirculation, defrost
    ('turn on the air conditioning', [('set_air_conditioning', {'value': True})]),
    ('turn off the air conditioning', [('set_air_conditioning', {'value': False})]),
    ('turn on recirculation', [('set_recirculation', {'value': True})]),
    ('turn off recirculation', [('set_recirculation', {'value': False})]),
    ('turn on the front defrost', [('set_defrost', {'value': 'Front'})]),
    ('turn on the rear defrost', [('set_defrost', {'value': 'Rear'})]),
    ('turn off the defrost', [('set_defrost', {'value': 'Off'})]),
    # seat heating
    ('set the driver seat heating to 2', [('set_seat_heating', {'zone': 'driver', 'value': 2})]),
    ('set the passenger seat heating to 3', [('set_seat_heating', {'zone': 'passenger', 'value': 3})]),
    ('set the driver seat heating to 1', [('set_seat_heating', {'zone': 'driver', 'value': 1})]),
    ('set the passenger seat heating to 0', [('set_seat_heating', {'zone': 'passenger', 'value': 0})]),
    ('turn off the driver seat heating', [('set_seat_heating', {'zone': 'driver', 'value': 0})]),
    # reads
    ('what is the cabin temperature', [('get_cabin_temperature', {})]),
    ('what is the temperature in the rear', [('get_cabin_temperature', {'zone': 'rear'})]),
    ('what is the passenger temperature', [('get_cabin_temperature', {'zone': 'passenger'})]),
    ('what is the climate status', [('get_climate_status', {})]),
    ('what is the battery status', [('get_battery_status', {})]),
    ('how much range do i have', [('get_battery_status', {})]),
    ('what is the state of charge', [('get_battery_status', {})]),
    ('where am i', [('get_location', {})]),
    ('what is my location', [('get_location', {})]),
    ('how fast am i going', [('get_vehicle_state', {})]),
    ('what gear am i in', [('get_vehicle_state', {})]),
    ('what is the vehicle state', [('get_vehicle_state', {})]),
    # food
    ('find a pizza restaurant', [('search_restaurants', {'cuisine': 'pizza'})]),
    ('find a chinese restaurant', [('search_restaurants', {'cuisine': 'chinese'})]),
    ('find a sushi restaurant', [('search_restaurants', {'cuisine': 'japanese'})]),
    ('find restaurants nearby', [('search_restaurants', {})]),
    ('where is my food order', [('food_order_status', {})]),
    ('what is the status of my order', [('food_order_status', {})]),
    # travel
    ('find a train to shanghai', [('search_trains', {'destination': 'Shanghai'})]),
    ('find a train to beijing', [('search_trains', {'destination': 'Beijing'})]),
    ('find a flight to shenzhen', [('search_flights', {'destination': 'Shenzhen'})]),
    ('find a flight to shanghai', [('search_flights', {'destination': 'Shanghai'})]),
    ('find a flight to beijing', [('search_flights', {'destination': 'Beijing'})]),
    ('find a hotel in beijing', [('search_hotels', {'city': 'Beijing'})]),
    ('find a hotel in hangzhou', [('search_hotels', {'city': 'Hangzhou'})]),
    ('find a hotel in shanghai', [('search_hotels', {'city': 'Shanghai'})]),
    ('show my itinerary', [('get_itinerary', {})]),
    ('what is on my itinerary', [('get_itinerary', {})]),
    # parcels
    ('list my parcels', [('list_parcels', {})]),
    ('where are my parcels', [('list_parcels', {})]),
    ('where is my parcel', [('list_parcels', {})]),
    # combinations
    ('turn on the air conditioning and set the fan to 4',
     [('set_air_conditioning', {'value': True}), ('set_fan_level', {'value': 4})]),
    ('set the driver temperature to 22 degrees and the passenger temperature to 24 degrees',
     [('set_target_temperature', {'zone': 'driver', 'value': 22}),
      ('set_target_temperature', {'zone': 'passenger', 'value': 24})]),
]

# speech the grammar does not cover: each should be rejected (LM fallback text, no command), not forced onto a command
OUT_OF_GRAMMAR = [
    'play some jazz music please', 'tell me a joke', 'what is the weather like tomorrow', 'call my mother',
    'how are you today', 'navigate to the nearest gas station', 'open the sunroof', 'read my messages',
    'who won the football game', 'remind me to buy milk', 'i think we should leave early',
    'the meeting was moved to friday', 'can you recommend a good movie', 'lock the doors', 'turn on the radio',
    'what time is it in london', 'send a text to john', 'how tall is mount everest', 'good morning everyone',
    'this song is great',
]

VARIANTS = [('en-us', 160), ('en-gb', 150), ('en-us+m3', 175), ('en-us+f2', 140)]
# voices and speeds no recogniser setting was chosen on (--held-out): a check that the settings generalise
HELD_OUT_VARIANTS = [('en-us+m1', 165), ('en-gb-x-rp', 155), ('en-us-nyc', 150), ('en-us+f4', 170)]
NOISE_RMS = 40.0   # int16 units: about -58 dBFS, a quiet cabin at a close microphone


def synthesize(text: str, voice: str, speed: int) -> tuple[np.ndarray, int]:
    from qwen_vehicle.backends.voice.audio import read_wav
    wav = subprocess.run(['espeak-ng', '-v', voice, '-s', str(speed), '--stdout', text],
                         capture_output=True, check=True, timeout=30).stdout
    return read_wav(wav)


def with_noise(pcm16: np.ndarray, rng: np.random.Generator, rms: float = NOISE_RMS, pad_s: float = 0.3) -> np.ndarray:
    pad = np.zeros(int(16000 * pad_s))
    x = np.concatenate([pad, pcm16.astype(np.float64), pad])
    x += rng.normal(0.0, rms, x.size)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def word_errors(ref: list[str], hyp: list[str]) -> int:
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)]


def plan_keys(calls) -> list:
    return [c.key() for c in calls]


def expected_keys(expected) -> list:
    from qwen_vehicle.core.ir import ToolCall
    return [ToolCall(name, dict(args)).key() for name, args in expected]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--limit', type=int, default=0, help='only the first N commands')
    parser.add_argument('--variants', type=int, default=len(VARIANTS), help='voice/speed variants per command')
    parser.add_argument('--held-out', action='store_true',
                        help='the held-out voices/speeds (and noise seed 11) instead of the main ones')
    parser.add_argument('--seed', type=int, default=None, help='noise seed (default 7, 11 with --held-out)')
    parser.add_argument('--noise-rms', type=float, default=NOISE_RMS)
    parser.add_argument('--no-fallback', action='store_true', help='grammar only, no general LM fallback')
    parser.add_argument('--ps', action='append', default=[], metavar='KEY=VALUE',
                        help='pocketsphinx option for the grammar decoder, e.g. --ps wip=1e-3 (repeatable)')
    parser.add_argument('--domain-lm', action='store_true', help="with the grammar's trigram second pass")
    parser.add_argument('-v', '--verbose', action='store_true')
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '1')

    from qwen_vehicle.backends.voice.asr import create_recognizer
    from qwen_vehicle.backends.voice.audio import resample
    from qwen_vehicle.backends.voice.grammar import normalize
    from qwen_vehicle.core.intents import DialogueContext, IntentEngine

    t0 = time.perf_counter()
    options = {}
    for item in args.ps:
        key, _, value = item.partition('=')
        options[key] = {'true': True, 'false': False}.get(value.lower(), None)
        if options[key] is None:
            options[key] = float(value) if any(c in value for c in '.e') else int(value)
    asr = create_recognizer('pocketsphinx', fallback_lm=not args.no_fallback, domain_lm=args.domain_lm,
                            decoder_options=options)
    setup_s = time.perf_counter() - t0
    engine = IntentEngine()
    if args.seed is None:
        args.seed = 11 if args.held_out else 7
    rng = np.random.default_rng(args.seed)
    commands = COMMANDS[:args.limit] if args.limit else COMMANDS
    variants = (HELD_OUT_VARIANTS if args.held_out else VARIANTS)[:max(1, args.variants)]

    n = errors = ref_words = intent_ok = text_ok = fallbacks = second_pass = 0
    audio_s = decode_s = cpu_s = 0.0
    rtfs: list[float] = []
    for text, expected in commands:
        want = expected_keys(expected)
        text_plan = engine.parse(text, DialogueContext(speaker_zone=None, state={}))
        text_ok += plan_keys(text_plan.calls) == want
        for voice, speed in variants:
            pcm, rate = synthesize(text, voice, speed)
            audio = with_noise(resample(pcm, rate), rng, args.noise_rms)
            result = asr.recognize(audio, 16000)
            plan = engine.parse(result.text, DialogueContext(speaker_zone=None, state={})) if result.text else None
            got = plan_keys(plan.calls) if plan is not None else []
            ok = got == want
            ref = normalize(text)
            hyp = result.words.split()
            errors += word_errors(ref, hyp)
            ref_words += len(ref)
            n += 1
            intent_ok += ok
            fallbacks += result.source == 'lm'
            second_pass += result.source == 'grammar_lm'
            audio_s += result.audio_s
            decode_s += result.decode_s
            cpu_s += result.cpu_s
            rtfs.append(result.rtf)
            if args.verbose and (not ok or hyp != ref):
                print(f'{"MISS" if not ok else "wer "} [{voice} {speed}] {text!r} -> {result.words!r} '
                      f'({result.source}, conf {result.confidence:.2f}) plan {got}')
    forced = forced_commands = oog_n = 0
    if not args.limit:
        for text in OUT_OF_GRAMMAR:
            for voice, speed in variants:
                pcm, rate = synthesize(text, voice, speed)
                result = asr.recognize(with_noise(resample(pcm, rate), rng, args.noise_rms), 16000)
                oog_n += 1
                if result.source in ('grammar', 'grammar_lm'):
                    forced += 1
                    plan = engine.parse(result.text, DialogueContext(speaker_zone=None, state={}))
                    forced_commands += bool(plan.calls)
                    if args.verbose:
                        print(f'FORCED [{voice} {speed}] {text!r} -> {result.words!r} '
                              f'(conf {result.confidence:.2f}) plan {plan_keys(plan.calls)}')
    if options:
        print(f'pocketsphinx grammar decoder options: {options}')
    print(f'voices: {", ".join(f"{v} {s} wpm" for v, s in variants)}{" (held out)" if args.held_out else ""}')
    print(f'commands: {len(commands)} x {len(variants)} voice/speed variants = {n} utterances '
          f'({audio_s:.1f} s of audio), noise floor rms {args.noise_rms:g}, seed {args.seed}')
    print(f'grammar: {len(asr.grammar.templates)} templates, {len(asr.grammar.vocabulary)} words, '
          f'{len(asr.grammar.dropped)} phrases dropped; recogniser setup {setup_s:.2f} s')
    print(f'text path (reference text -> IntentEngine): {text_ok}/{len(commands)} '
          f'= {100 * text_ok / len(commands):.1f} %')
    print(f'word error rate: {100 * errors / max(ref_words, 1):.2f} % ({errors} errors / {ref_words} words)')
    print(f'intent accuracy: {100 * intent_ok / n:.1f} % ({intent_ok}/{n})')
    print(f"grammar trigram second pass used: {second_pass}/{n}; general LM fallbacks: {fallbacks}/{n}")
    if oog_n:
        print(f'out-of-grammar speech ({len(OUT_OF_GRAMMAR)} sentences): taken as a grammar sentence {forced}/{oog_n} '
              f'({forced_commands} of them a tool call); the rest rejected to the general LM')
    print(f'real-time factor (decoder CPU time / audio time, one core): {cpu_s / audio_s:.3f} overall, '
          f'median {statistics.median(rtfs):.3f}, max {max(rtfs):.3f}; wall clock {decode_s / audio_s:.3f} '
          f'(shared machine, load {os.getloadavg()[0]:.1f})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
