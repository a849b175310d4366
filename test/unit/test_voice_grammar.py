"""Grammar generation from phrases and tool schemas; number words both ways (no pocketsphinx needed)."""
import pytest

from qwen_vehicle.backends.voice.grammar import (build_grammar, normalize, number_rules, number_to_words,
                                                 words_to_digits)
from qwen_vehicle.core.ir import ToolSpec

ZONE = {'type': 'string', 'enum': ['driver', 'passenger', 'rear']}
TOOLS = [
    ToolSpec('set_target_temperature', '', {'type': 'object', 'properties': {
        'zone': ZONE, 'value': {'type': 'number', 'minimum': 16, 'maximum': 30}}}, kind='set'),
    ToolSpec('set_fan_level', '', {'type': 'object', 'properties': {
        'value': {'type': 'integer', 'minimum': 0, 'maximum': 7}}}, kind='set'),
    ToolSpec('redirect_parcel', '', {'type': 'object', 'properties': {
        'destination': {'type': 'string', 'enum': ['home', 'office', 'locker']}}}, kind='service'),
]


@pytest.mark.parametrize('value, words', [(0, 'zero'), (7, 'seven'), (16, 'sixteen'), (21.5, 'twenty one point five'),
                                          (30, 'thirty'), (105, 'one hundred five')])
def test_number_to_words(value, words):
    assert number_to_words(value) == words


@pytest.mark.parametrize('text, digits', [
    ('set the driver side to twenty one point five', 'set the driver side to 21.5'),
    ('set it to twenty two and a half degrees', 'set it to 22.5 degrees'),
    ('set the fan to zero', 'set the fan to 0'),
    ('book the first one', 'book the first 1'),
    ('where am i', 'where am i'),
])
def test_words_to_digits(text, digits):
    assert words_to_digits(text) == digits


def test_normalize_spells_out_digits_units_and_punctuation():
    assert normalize('Set the A/C to 21.5°C, please!') == \
        'set the a c to twenty one point five degrees please'.split()
    assert normalize("What's my range?") == ["what's", 'my', 'range']
    assert normalize('Set the fan to 4.') == ['set', 'the', 'fan', 'to', 'four']


def test_slots_generalise_numbers_zones_and_enums():
    g = build_grammar(['set the driver side to twenty two', 'set the fan to 3',
                       'redirect my parcel to the locker', 'book the first one'], TOOLS)
    assert g.templates == ['set the <zone> side to <number>', 'set the fan to <number>',
                           'redirect my parcel to the <redirect_parcel_destination>', 'book the first one']
    assert '<zone> = driver | passenger | rear;' in g.jsgf
    assert g.matches('set the rear side to twenty one point five')
    assert g.matches('set the fan to seven')
    assert g.matches('redirect my parcel to the office')
    assert not g.matches('set the fan to')              # a partial path is not a sentence
    assert not g.matches('set the roof side to twenty')
    assert not g.matches('book the first two')          # "one" after an ordinal is a pronoun, not a number


def test_duplicates_collapse_and_unknown_words_are_dropped_with_reason():
    known = {'set', 'the', 'fan', 'to', 'turn', 'on'}.__contains__
    g = build_grammar(['set the fan to 1', 'set the fan to 2', 'turn on the flux capacitor'], [],
                      known_word=lambda w: known(w) or w in ('one', 'two', 'zero'))
    assert g.templates == ['set the fan to <number>']
    assert len(g.dropped) == 1 and 'flux' in g.dropped[0] and 'capacitor' in g.dropped[0]


def test_empty_phrase_list_is_an_error():
    with pytest.raises(ValueError, match='no usable phrases'):
        build_grammar([], TOOLS)


def test_number_rules_cover_zero_to_thirty_and_halves():
    rules = '\n'.join(number_rules(30))
    assert '<number> = <int> [point five | and a half];' in rules
    assert 'twenty [<digit9>] | thirty;' in rules
    assert 'forty' not in rules


def test_grammar_from_the_intent_engine_phrases():
    intents = pytest.importorskip('qwen_vehicle.core.intents')
    g = build_grammar(intents.grammar_phrases('en'), TOOLS)
    assert len(g.templates) < len(intents.grammar_phrases('en'))   # slot generalisation merged phrases
    assert g.matches('set the temperature to twenty two')
    assert g.matches('set the passenger side to nineteen point five')


def test_grammar_sentences_and_their_trigram_model():
    from qwen_vehicle.backends.voice.grammar import arpa_from_sentences, expand_sentences
    g = build_grammar(['set the driver side to twenty two', 'set the fan to 3', 'where am i'], TOOLS)
    sentences = expand_sentences(g)
    assert ['where', 'am', 'i'] in sentences
    assert all(g.matches(' '.join(s)) for s in sentences)
    values = {' '.join(s[-3:]) for s in sentences if s[:2] == ['set', 'the'] and s[2] in ('driver', 'rear')}
    assert 'twenty one point' in ' '.join(values) or len(values) > 10     # slots filled with many values
    zones = {s[2] for s in sentences if s[3:4] == ['side']}
    assert zones == {'driver', 'passenger', 'rear'}
    arpa = arpa_from_sentences(sentences)
    assert arpa.startswith('\\data\\\nngram 1=') and arpa.rstrip().endswith('\\end\\')
    unigrams = arpa.split('\\1-grams:\n')[1].split('\n\n')[0].splitlines()
    total = sum(10 ** float(line.split()[0]) for line in unigrams if line.split()[1] != '<s>')
    assert abs(total - 1.0) < 1e-3        # a proper distribution


def _interpret(text):
    """Stand-in for the intent engine: the fan phrase sets the fan, the zone phrase a temperature."""
    value = float(text.split()[-1])
    return [('set_fan_level', {'value': value})] if 'fan' in text else [('set_target_temperature', {'value': value})]


def test_numeric_slot_classes_follow_the_schema_ranges():
    from qwen_vehicle.backends.voice.grammar import numeric_slot_classes
    halves = ToolSpec('set_t', '', {'type': 'object', 'properties': {
        'value': {'type': 'number', 'minimum': 16, 'maximum': 17, 'multipleOf': 0.5},
        'radius': {'type': 'number', 'minimum': 0.1, 'maximum': 50}}}, kind='set')
    classes = {c.name: c.values for c in numeric_slot_classes(TOOLS + [halves])}
    assert classes['set_fan_level_value'] == [[w] for w in 'zero one two three four five six seven'.split()]
    assert [' '.join(v) for v in classes['set_t_value']] == [
        'sixteen', 'sixteen point five', 'sixteen and a half', 'seventeen']         # no 17.5 above the maximum
    assert 'set_t_radius' not in classes and 'set_target_temperature_value' not in classes   # continuous: generic


def test_interpreted_numbers_get_their_arguments_range():
    g = build_grammar(['set the fan to 3', 'set the driver side to twenty two'], TOOLS, interpret=_interpret)
    assert g.templates == ['set the fan to <set_fan_level_value>', 'set the <zone> side to <number>']
    assert '<set_fan_level_value> = zero | one | two | three | four | five | six | seven;' in g.jsgf
    assert g.matches('set the fan to seven') and not g.matches('set the fan to eleven')
    assert g.matches('set the passenger side to twenty one point five')   # no multipleOf in TOOLS: generic rule
    plain = build_grammar(['set the fan to 3'], TOOLS)
    assert plain.templates == ['set the fan to <number>'] and plain.matches('set the fan to eleven')


def test_a_phrase_the_interpreter_fails_on_keeps_the_generic_rule():
    def broken(text):
        raise RuntimeError('engine unavailable')
    g = build_grammar(['set the fan to 3'], TOOLS, interpret=broken)
    assert g.templates == ['set the fan to <number>']
