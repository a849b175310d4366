"""A JSGF command grammar generated from the intent engine's phrases and the tool schemas.

Phrases are normalised to the words a speaker says ("21.5" -> "twenty one point five"); a number that fills a
bounded tool argument gets that argument's rule (<set_fan_level_value> = zero .. seven), other numbers a shared
<number> rule (0..30 and halves), zone words a <zone> rule, other enum values from the schemas (defrost modes,
parcel destinations) a rule per property, so one phrase covers every value of its slots. Words the pronunciation
dictionary lacks are dropped with the phrase that uses them (logged), since pocketsphinx refuses a grammar with
unknown words.

The opposite direction, `words_to_digits`, turns recognised number words back into digits for the text path.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

log = logging.getLogger(__name__)

ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve',
        'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen']
TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety']
ORDINALS = {'first': 1, 'second': 2, 'third': 3}
NUMBER_WORDS = set(ONES) | set(TENS[2:]) | {'hundred', 'point', 'half', 'and', 'a'}


def number_to_words(value: float) -> str:
    """0..999 with an optional .5 (or other single decimal) as spoken English: 21.5 -> 'twenty one point five'."""
    if value < 0 or value >= 1000:
        raise ValueError(f'{value} is outside 0..999')
    whole = int(value)
    frac = round(value - whole, 3)
    words = _int_words(whole)
    if frac:
        digits = f'{frac:.3f}'.split('.')[1].rstrip('0')
        words += ' point ' + ' '.join(ONES[int(d)] for d in digits)
    return words


def _int_words(n: int) -> str:
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + ('' if ones == 0 else ' ' + ONES[ones])
    hundreds, rest = divmod(n, 100)
    return ONES[hundreds] + ' hundred' + ('' if rest == 0 else ' ' + _int_words(rest))


_NUM_RE = re.compile(r'(?<!\w)(?<!\d\.)(\d+(?:\.\d+)?)(?!\w|\.\d)')
_UNIT_RE = [(re.compile(r'(\d)\s*(°\s*c|℃|°)(?!\w)', re.IGNORECASE), r'\1 degrees'),
            (re.compile(r'(\d)\s*km\b', re.IGNORECASE), r'\1 kilometers'),
            (re.compile(r'(\d)\s*%'), r'\1 percent')]


def normalize(text: str) -> list[str]:
    """Spoken words of a written phrase: lower case, units and digits spelt out, punctuation gone."""
    text = text.lower().replace('a/c', 'a c').replace('\u2019', "'")
    for pattern, repl in _UNIT_RE:
        text = pattern.sub(repl, text)
    text = _NUM_RE.sub(lambda m: ' ' + number_to_words(float(m.group(1))) + ' ' if float(m.group(1)) < 1000
                       else m.group(1), text)
    text = re.sub(r"[^a-z0-9' ]+", ' ', text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def words_to_digits(text: str) -> str:
    """'set it to twenty one point five' -> 'set it to 21.5'; 'twenty one and a half' -> '21.5'."""
    tokens = text.split()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        value, used = _parse_number(tokens, i)
        if used:
            out.append(_fmt(value))
            i += used
        else:
            out.append(tokens[i])
            i += 1
    return ' '.join(out)


def _parse_number(tokens: Sequence[str], i: int) -> tuple[float, int]:
    start = i
    value = 0
    seen = False
    if i < len(tokens) and tokens[i] in ONES[1:10] and i + 1 < len(tokens) and tokens[i + 1] == 'hundred':
        value, i, seen = 100 * ONES.index(tokens[i]), i + 2, True
        if i < len(tokens) and tokens[i] == 'and' and i + 1 < len(tokens) and _is_int_word(tokens[i + 1]):
            i += 1
    if i < len(tokens) and tokens[i] in TENS[2:]:
        value += 10 * TENS.index(tokens[i])
        i, seen = i + 1, True
        if i < len(tokens) and tokens[i] in ONES[1:10]:
            value += ONES.index(tokens[i])
            i += 1
    elif i < len(tokens) and tokens[i] in ONES:
        value += ONES.index(tokens[i])
        i, seen = i + 1, True
    if not seen:
        return 0, 0
    frac = 0.0
    if i + 1 < len(tokens) and tokens[i] == 'point' and tokens[i + 1] in ONES[:10]:
        frac = ONES.index(tokens[i + 1]) / 10
        i += 2
    elif i + 2 < len(tokens) and tokens[i:i + 3] == ['and', 'a', 'half']:
        frac = 0.5
        i += 3
    return value + frac, i - start


def _is_int_word(word: str) -> bool:
    return word in ONES or word in TENS[2:]


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f'{value:g}'


@dataclass
class SlotClass:
    name: str                   # JSGF rule name without brackets
    values: list[list[str]]     # each value as spoken words

    def rule(self) -> str:
        return f'<{self.name}> = ' + ' | '.join(' '.join(v) for v in self.values) + ';'


@dataclass
class CommandGrammar:
    """The generated grammar: JSGF text plus what went into it (for logs and tests)."""
    jsgf: str
    templates: list[str]
    vocabulary: set[str]
    dropped: list[str] = field(default_factory=list)   # phrases left out, with the reason

    slots: dict[str, list[list[str]]] = field(default_factory=dict)
    _regex: Any = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.templates)

    def matches(self, words: str) -> bool:
        """Whether `words` is a complete sentence of the grammar (pocketsphinx may return a partial path)."""
        if self._regex is None:
            alts = {name: '(?:' + '|'.join(re.escape(' '.join(v)) for v in sorted(values, key=len, reverse=True))
                    + ')' for name, values in self.slots.items()}
            bodies = [' '.join(alts.get(tok[1:-1], r'\S+') if tok.startswith('<') else re.escape(tok)
                               for tok in t.split()) for t in self.templates]
            self._regex = re.compile('^(?:' + '|'.join(bodies) + ')$')
        return bool(self._regex.match(' '.join(words.split())))


def number_rules(high: int = 30, halves: bool = True) -> list[str]:
    """JSGF rules for the integers 0..high (high <= 99) with an optional half, written compactly."""
    high = max(0, min(int(high), 99))
    small = ' | '.join(ONES[:min(high, 19) + 1])
    tens = [TENS[t] for t in range(2, high // 10 + 1)]
    parts = [small]
    for t in tens:
        full = 10 * TENS.index(t) + 9 <= high
        last = high % 10 if not full else 9
        if last == 0 and not full:
            parts.append(t)
        else:
            parts.append(f'{t} [<digit{last}>]')
    rules = ['<int> = ' + ' | '.join(parts) + ';']
    for last in sorted({9 if 10 * TENS.index(t) + 9 <= high else high % 10 for t in tens} - {0}):
        rules.append(f'<digit{last}> = ' + ' | '.join(ONES[1:last + 1]) + ';')
    suffix = ' [point five | and a half]' if halves else ''
    return ['<number> = <int>' + suffix + ';'] + rules


def number_values(high: int = 30, halves: bool = True) -> list[list[str]]:
    """The spoken forms `number_rules` accepts (for tests and the matcher)."""
    values = [_int_words(n).split() for n in range(0, high + 1)]
    if halves:
        values += [(_int_words(n) + ' point five').split() for n in range(0, high + 1)]
        values += [(_int_words(n) + ' and a half').split() for n in range(0, high + 1)]
    return values


def slot_classes(tools: Iterable = (), service_words: dict[str, Iterable[str]] | None = None) -> list[SlotClass]:
    """<number>, <zone>, one rule per enum property (from the ir.ToolSpec list) and the service word classes."""
    zones: list[str] = []
    enums: dict[str, list[str]] = {}
    for spec in tools:
        for prop, schema in (spec.parameters or {}).get('properties', {}).items():
            values = [str(v) for v in schema.get('enum', []) if isinstance(v, str)]
            if not values:
                continue
            if prop == 'zone':
                zones += [v for v in values if v not in zones]
            else:
                name = f'{spec.name}_{prop}'
                enums[name] = values
    classes = [SlotClass('number', number_values(NUMBER_HIGH))]
    if zones:
        classes.append(SlotClass('zone', [normalize(z) for z in zones]))
    for name, values in enums.items():
        if name not in GENERALISED_ENUMS:
            continue
        classes.append(SlotClass(name, [normalize(v) for v in values]))
    for name, values in (service_words or {}).items():
        spoken = []
        for value in values:
            words = normalize(value)
            if words and words not in spoken:
                spoken.append(words)
        if spoken:
            classes.append(SlotClass(name, spoken))
    return classes


NUMBER_HIGH = 30   # numbers in commands: temperatures 16..30, fan 0..7, seats 0..3, nights, passengers

# Enum properties whose values are interchangeable inside a phrase ("redirect my parcel to the locker|office").
# Others (defrost Off/Front/...) share words with unrelated phrases ("turn off the fan") and stay literal.
GENERALISED_ENUMS = {'redirect_parcel_destination'}

NOT_NUMBER_BEFORE_ONE = {'the', 'this', 'that', 'which', 'first', 'second', 'third', 'last', 'next', 'other', 'cheap',
                         'cheapest', 'fastest', 'earliest', 'latest', 'every', 'any', 'no'}

_WORD_RE = re.compile(r"^[a-z][a-z']*$")


# (phrase text with digits) -> the (tool name, arguments) it means; lets a number slot take its argument's range
Interpret = Callable[[str], Iterable[tuple[str, dict]]]


def numeric_slot_classes(tools: Iterable = ()) -> list[SlotClass]:
    """A rule per bounded numeric tool property, e.g. <set_fan_level_value> = zero .. seven: the values its schema
    allows (integers, and halves where `multipleOf` is 0.5), spoken. Continuous or wide ranges get none."""
    classes = []
    for spec in tools:
        for prop, schema in (spec.parameters or {}).get('properties', {}).items():
            kind, low, high = schema.get('type'), schema.get('minimum'), schema.get('maximum')
            step = schema.get('multipleOf', 1 if kind == 'integer' else None)
            if kind not in ('integer', 'number') or low is None or high is None or high > 99 or step not in (1, 0.5):
                continue
            values = []
            for n in range(math.ceil(low), math.floor(high) + 1):
                values.append(_int_words(n).split())
                if step == 0.5 and n + 0.5 <= high:
                    values += [(_int_words(n) + ' point five').split(), (_int_words(n) + ' and a half').split()]
            classes.append(SlotClass(f'{spec.name}_{prop}', values))
    return classes


def build_grammar(phrases: Iterable[str], tools: Iterable = (), *, known_word: Callable[[str], bool] | None = None,
                  service_words: dict[str, Iterable[str]] | None = None, extra_phrases: Iterable[str] = (),
                  interpret: Interpret | None = None, name: str = 'commands') -> CommandGrammar:
    """JSGF for the phrases, with numbers/zones/enum values generalised into slot rules from the tool schemas.

    `known_word(w)` (the recogniser's dictionary lookup) decides which words can be used; phrases with other words
    are dropped and listed in `dropped`. With `interpret`, a number the phrase passes to a bounded tool argument
    gets that argument's rule ("set the fan to <set_fan_level_value>": never "eleven"); other numbers, and every
    number without `interpret`, use the shared <number> rule.
    """
    tools = list(tools)
    classes = slot_classes(tools, service_words)
    typed = {c.name: c for c in numeric_slot_classes(tools)} if interpret is not None else {}
    word_slots: dict[tuple[str, ...], str] = {}
    for cls in classes:
        if cls.name == 'number':
            continue
        for value in cls.values:
            word_slots.setdefault(tuple(value), cls.name)   # the first class wins (zone before the others)
    templates: list[str] = []
    dropped: list[str] = []
    seen: set[str] = set()
    used_slots: set[str] = set()
    for phrase in list(phrases) + list(extra_phrases):
        words = normalize(phrase)
        if not words:
            continue
        number_slots = _number_slots(words, interpret, typed) if typed else {}
        tokens = _templatise(words, word_slots, number_slots)
        plain = [t for t in tokens if not t.startswith('<')]
        bad = [w for w in plain if not _WORD_RE.match(w) or (known_word is not None and not known_word(w))]
        if bad:
            dropped.append(f'{phrase!r}: unknown word(s) {sorted(set(bad))}')
            continue
        template = ' '.join(tokens)
        if template not in seen:
            seen.add(template)
            templates.append(template)
            used_slots.update(t[1:-1] for t in tokens if t.startswith('<'))
    if not templates:
        raise ValueError('no usable phrases for the grammar' + (f' ({len(dropped)} dropped)' if dropped else ''))
    for reason in dropped:
        log.info('grammar: dropped %s', reason)
    rules = [c for c in classes + list(typed.values()) if c.name in used_slots]
    vocab = {w for t in templates for w in t.split() if not w.startswith('<')}
    for cls in rules:
        if known_word is not None:
            cls.values = [v for v in cls.values if all(known_word(w) for w in v)]
        vocab.update(w for v in cls.values for w in v)
    lines = ['#JSGF V1.0;', f'grammar {name};', 'public <command> = ' + ' | '.join(f'( {t} )' for t in templates) + ';']
    for cls in rules:
        if cls.name == 'number':
            lines += number_rules(NUMBER_HIGH)
        elif cls.values:
            lines.append(cls.rule())
    log.debug('grammar: %d templates, %d words', len(templates), len(vocab))
    return CommandGrammar('\n'.join(lines) + '\n', templates, vocab, dropped,
                          {c.name: c.values for c in rules})


def _number_slots(words: list[str], interpret: Interpret, typed: dict[str, SlotClass]) -> dict[int, str]:
    """{word index of a number: the typed rule of the argument it becomes} for one phrase."""
    if not any(_parse_number(words, i)[1] for i in range(len(words))):
        return {}                      # nothing to type: the engine need not parse it
    try:
        calls = list(interpret(words_to_digits(' '.join(words))))
    except Exception as exc:  # noqa: BLE001 - an uninterpretable phrase keeps the generic rule
        log.debug('grammar: %r not interpreted (%s)', ' '.join(words), exc)
        return {}
    out: dict[int, str] = {}
    i = 0
    while i < len(words):
        value, used = _parse_number(words, i)
        if not used:
            i += 1
            continue
        for tool, args in calls:
            slot = next((f'{tool}_{prop}' for prop, arg in args.items()
                         if f'{tool}_{prop}' in typed and isinstance(arg, (int, float))
                         and not isinstance(arg, bool) and float(arg) == value), None)
            if slot and words[i:i + used] in typed[slot].values:
                out[i] = slot
                break
        i += used
    return out


def _templatise(words: list[str], word_slots: dict[tuple[str, ...], str],
                number_slots: dict[int, str] | None = None) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        _, used = _parse_number(words, i)
        pronoun_one = used == 1 and words[i] == 'one' and i > 0 and words[i - 1] in NOT_NUMBER_BEFORE_ONE
        if used and not pronoun_one:
            out.append(f'<{(number_slots or {}).get(i, "number")}>')
            i += used
            continue
        for size in (3, 2, 1):
            key = tuple(words[i:i + size])
            if len(key) == size and key in word_slots:
                out.append(f'<{word_slots[key]}>')
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


# Spoken forms the voice path adds to the engine's phrases (slots are generalised like theirs).
SPOKEN_FORMS = [
    'set the driver temperature to twenty two degrees', 'set the temperature in the rear to twenty two degrees',
    'set the driver seat heating to two', 'turn off the driver seat heating', 'set the fan speed to three',
    'turn on the front defrost', 'turn on the rear defrost', 'what is the cabin temperature',
    'what is the driver temperature', 'what is the temperature in the rear', 'what is the battery status',
    'what is the state of charge', 'what is my location', 'what gear am i in', 'what is the vehicle state',
    'find a pizza restaurant', 'find restaurants nearby', 'find a train to shanghai', 'find a flight to beijing',
    'find a hotel in shanghai', 'show my itinerary', 'where are my parcels', 'track my parcel',
    'what is the status of my order', 'where is my food order', 'what is on my itinerary',
    'how much range do i have',
    'turn on the air conditioning and set the fan to three',
    'set the driver temperature to twenty two degrees and the passenger temperature to twenty four degrees',
]


def expand_sentences(grammar: CommandGrammar, max_per_template: int = 200) -> list[list[str]]:
    """Sentences of the grammar: every template with its slots filled so that each slot value occurs at least once."""
    out: list[list[str]] = []
    for template in grammar.templates:
        tokens = template.split()
        slots = [grammar.slots.get(t[1:-1], [[t]]) if t.startswith('<') else None for t in tokens]
        count = min(max([len(s) for s in slots if s] or [1]), max_per_template)
        for i in range(count):
            words: list[str] = []
            for k, (tok, values) in enumerate(zip(tokens, slots)):
                words += values[(i + 7 * k) % len(values)] if values else [tok]
            out.append(words)
    return out


def arpa_from_sentences(sentences: Iterable[Sequence[str]], discount: float = 0.5) -> str:
    """A trigram language model (ARPA text) with absolute discounting and back-off: a soft version of the grammar
    that still finds the right words when the strict grammar search reaches no end state."""
    import math
    from collections import Counter, defaultdict
    c1: Counter = Counter()
    c2: Counter = Counter()
    c3: Counter = Counter()
    for sent in sentences:
        toks = ['<s>'] + list(sent) + ['</s>']
        c1.update(toks)
        c2.update(zip(toks, toks[1:]))
        c3.update(zip(toks, toks[1:], toks[2:]))
    vocab = sorted(c1)
    total = sum(v for w, v in c1.items() if w != '<s>')
    p1 = {w: (c1[w] + 1) / (total + len(vocab)) for w in vocab if w != '<s>'}
    ctx1: Counter = Counter()
    for (u, _), n in c2.items():
        ctx1[u] += n
    p2 = {(u, w): (n - discount) / ctx1[u] for (u, w), n in c2.items()}
    seen2: dict[str, list[str]] = defaultdict(list)
    for (u, w) in c2:
        seen2[u].append(w)
    bow1 = {}
    for u, ws in seen2.items():
        left = 1 - sum(p2[(u, w)] for w in ws)
        denom = 1 - sum(p1.get(w, 0) for w in ws)
        bow1[u] = left / denom if denom > 0 else 1.0

    def p2bo(u: str, w: str) -> float:
        return p2[(u, w)] if (u, w) in p2 else bow1.get(u, 1.0) * p1.get(w, 1e-9)

    ctx2: Counter = Counter()
    for (u, v, _), n in c3.items():
        ctx2[(u, v)] += n
    p3 = {(u, v, w): (n - discount) / ctx2[(u, v)] for (u, v, w), n in c3.items()}
    seen3: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (u, v, w) in c3:
        seen3[(u, v)].append(w)
    bow2 = {}
    for (u, v), ws in seen3.items():
        left = 1 - sum(p3[(u, v, w)] for w in ws)
        denom = 1 - sum(p2bo(v, w) for w in ws)
        bow2[(u, v)] = left / denom if denom > 1e-12 else 1.0

    def lg(x: float) -> str:
        return f'{math.log10(x):.4f}' if x > 0 else '-99'

    lines = ['\\data\\', f'ngram 1={len(vocab)}', f'ngram 2={len(p2)}', f'ngram 3={len(p3)}', '', '\\1-grams:']
    for w in vocab:
        prob = '-99' if w == '<s>' else lg(p1[w])
        lines.append(f'{prob} {w} {lg(bow1[w])}' if w in bow1 else f'{prob} {w}')
    lines += ['', '\\2-grams:']
    for (u, w), p in sorted(p2.items()):
        lines.append(f'{lg(p)} {u} {w} {lg(bow2[(u, w)])}' if (u, w) in bow2 else f'{lg(p)} {u} {w}')
    lines += ['', '\\3-grams:']
    lines += [f'{lg(p)} {u} {v} {w}' for (u, v, w), p in sorted(p3.items())]
    lines += ['', '\\end\\', '']
    return '\n'.join(lines)
