"""Numbers as people say them: digits, English words and Chinese numerals.

`normalize_numbers` rewrites every number in an utterance as digits, so the rules downstream only look for `\\d`.
Words that merely look like numbers are left alone: "the first one", "低一点" (a bit lower), "一下", "两边" (both sides),
"周一" (Monday).
"""
from __future__ import annotations

import re
import unicodedata

_EN_UNITS = {
    'zero': 0, 'one': 1, 'two': 2, 'three': 3, 'four': 4, 'five': 5, 'six': 6, 'seven': 7, 'eight': 8, 'nine': 9,
    'ten': 10, 'eleven': 11, 'twelve': 12, 'thirteen': 13, 'fourteen': 14, 'fifteen': 15, 'sixteen': 16,
    'seventeen': 17, 'eighteen': 18, 'nineteen': 19,
}
_EN_TENS = {'twenty': 20, 'thirty': 30, 'forty': 40, 'fifty': 50, 'sixty': 60, 'seventy': 70, 'eighty': 80,
            'ninety': 90}
_U = '|'.join(sorted(_EN_UNITS, key=len, reverse=True))
_D = 'one|two|three|four|five|six|seven|eight|nine'
_D0 = 'zero|oh|' + _D
_T = '|'.join(_EN_TENS)
_EN_INT = (rf'(?:(?:{_U}|a)\s+hundred(?:\s+(?:and\s+)?(?:(?:{_T})(?:[\s-](?:{_D}))?|(?:{_U})))?'
           rf'|(?:{_T})(?:[\s-](?:{_D}))?|(?:{_U}))')
EN_NUMBER_RE = re.compile(rf'\b{_EN_INT}(?:\s+point(?:\s+(?:{_D0}))+)?(?:\s+and\s+a\s+half)?\b')
# "one" after these words is a pronoun, not a number: "the first one", "this one"
_EN_ONE_PRONOUN = re.compile(
    r'(?:first|second|third|fourth|fifth|last|next|this|that|the|which|each|any|no|every|usual|same|another|'
    r'other|cheapest|fastest|earliest|latest|best|nearest|closest|top|new|right|good|cheaper|other)\s+$')

_ZH_DIGITS = {'零': 0, '〇': 0, '一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}
_ZH_UNITS = {'十': 10, '百': 100, '千': 1000, '万': 10000}
ZH_NUMBER_RE = re.compile(r'[零〇一二两三四五六七八九十百千万]+(?:点[零〇一二三四五六七八九]+)?')
# a lone 一/两 is a number only before a measure word: 一度, 两档, 第一个; 一点/一下/一样 stay words
_ZH_MEASURE = set('度个晚档级张位人天号日份碗杯夜名班趟家件月周岁条项单次公千米分')
_ZH_KEEP_BEFORE = {'两': set('边侧'), '十': set('分')}
_ZH_KEEP_AFTER = set('周期拜')  # 周一, 星期三, 礼拜五
_DIGIT_POINT_RE = re.compile(r'(\d+)点(\d+)')
_HALF_RE = re.compile(r'(\d+)(度|档|个)半')


def _as_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


def parse_en_number(text: str) -> int | float | None:
    """'twenty-two point five' -> 22.5, '22' -> 22, 'one hundred and five' -> 105; None when it is not a number."""
    text = text.strip().lower()
    if not text:
        return None
    try:
        return _as_number(float(text))
    except ValueError:
        pass
    if not EN_NUMBER_RE.fullmatch(text):
        return None
    half = 0.0
    if text.endswith('and a half'):
        half, text = 0.5, text[:-len('and a half')].strip()
    integer_part, _, fraction_part = text.partition(' point ')
    words = re.split(r'[\s-]+', integer_part.replace(' and ', ' '))
    total, current = 0, 0
    for word in words:
        if word in _EN_UNITS:
            current += _EN_UNITS[word]
        elif word in _EN_TENS:
            current += _EN_TENS[word]
        elif word == 'a':
            current += 1
        elif word == 'hundred':
            current = max(current, 1) * 100
    total += current
    value = float(total)
    if fraction_part:
        digits = ''.join(str(0 if w in ('zero', 'oh') else _EN_UNITS[w]) for w in fraction_part.split())
        value = float(f'{total}.{digits}')
    return _as_number(value + half)


def _parse_zh_int(text: str) -> int:
    if len(text) > 1 and all(c in _ZH_DIGITS for c in text):
        return int(''.join(str(_ZH_DIGITS[c]) for c in text))  # read digit by digit: 一一零 -> 110
    total, section, number = 0, 0, 0
    for char in text:
        if char in _ZH_DIGITS:
            number = _ZH_DIGITS[char]
        else:
            unit = _ZH_UNITS[char]
            if unit == 10000:
                total += (section + number) * unit
                section = 0
            else:
                section += (number or 1) * unit  # 十八: a leading 十 means 1 x 10
            number = 0
    return total + section + number


def parse_zh_number(text: str) -> int | float | None:
    """'二十二点五' -> 22.5, '两' -> 2, '十八' -> 18, '一百零五' -> 105, '22' -> 22; None when it is not a number."""
    text = text.strip()
    if not text:
        return None
    try:
        return _as_number(float(text))
    except ValueError:
        pass
    if not ZH_NUMBER_RE.fullmatch(text):
        return None
    integer_part, _, fraction_part = text.partition('点')
    try:
        value = _parse_zh_int(integer_part) if integer_part else 0
    except KeyError:
        return None
    if fraction_part:
        return _as_number(float(f'{value}.' + ''.join(str(_ZH_DIGITS[c]) for c in fraction_part)))
    return value


def parse_number(text: str) -> int | float | None:
    """Any of digits, English words or Chinese numerals."""
    value = parse_en_number(text)
    return value if value is not None else parse_zh_number(text)


def _en_sub(match: re.Match) -> str:
    words = match.group(0)
    if words == 'one' and _EN_ONE_PRONOUN.search(match.string, 0, match.start()):
        return words
    value = parse_en_number(words)
    return words if value is None else str(value)


def _zh_sub(match: re.Match) -> str:
    chars = match.group(0)
    text, end = match.string, match.end()
    after = text[end] if end < len(text) else ''
    before = text[match.start() - 1] if match.start() > 0 else ''
    if before in _ZH_KEEP_AFTER and len(chars) == 1:
        return chars
    if chars in ('一', '两') and after not in _ZH_MEASURE and before != '第':
        return chars
    if chars[-1:] in _ZH_KEEP_BEFORE and after in _ZH_KEEP_BEFORE[chars[-1]]:
        return chars
    value = parse_zh_number(chars)
    return chars if value is None else str(value)


def normalize_text(text: str) -> str:
    """NFKC (full-width digits and punctuation to ASCII), lower case, single spaces."""
    text = unicodedata.normalize('NFKC', text).lower()
    return re.sub(r'\s+', ' ', text).strip()


def normalize_numbers(text: str) -> str:
    """Rewrite English number words and Chinese numerals in already normalized text as digits."""
    if any('\u4e00' <= c <= '\u9fff' for c in text):
        text = ZH_NUMBER_RE.sub(_zh_sub, text)
        text = _DIGIT_POINT_RE.sub(r'\1.\2', text)
        text = _HALF_RE.sub(lambda m: f'{m.group(1)}.5{m.group(2)}', text)
    return EN_NUMBER_RE.sub(_en_sub, text)
