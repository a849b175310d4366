"""Unit tests of the rule intent engine: number parsers, language detection, API contract, context handling."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_vehicle.core.intents import (DialogueContext, IntentEngine, RulePlan, detect_language, grammar_phrases,
                                       normalize_numbers, parse_en_number, parse_number, parse_zh_number)
from qwen_vehicle.core.ir import Plan, ToolCall, ToolSpec

NOW = dt.date(2026, 11, 24)  # a Tuesday
ENGINE = IntentEngine()


def _calls(plan):
    return [(c.name, c.arguments) for c in plan.calls]


@pytest.mark.parametrize('text, value', [
    ('twenty two', 22), ('twenty-two', 22), ('twenty-two point five', 22.5), ('eighteen', 18), ('zero', 0),
    ('seven', 7), ('one hundred and five', 105), ('a hundred', 100), ('twenty one and a half', 21.5),
    ('nineteen point two five', 19.25), ('22', 22), ('22.5', 22.5), (' Thirty ', 30),
])
def test_parse_en_number(text, value):
    assert parse_en_number(text) == value


@pytest.mark.parametrize('text', ['', 'twenty twenty twenty', 'warm', 'point five', 'the first'])
def test_parse_en_number_rejects(text):
    assert parse_en_number(text) is None


@pytest.mark.parametrize('text, value', [
    ('二十二', 22), ('二十二点五', 22.5), ('两', 2), ('十八', 18), ('十', 10), ('二十', 20), ('一百零五', 105),
    ('三千五百', 3500), ('一一零', 110), ('零点五', 0.5), ('〇', 0), ('22', 22),
])
def test_parse_zh_number(text, value):
    assert parse_zh_number(text) == value


@pytest.mark.parametrize('text', ['', '温度', '点五', 'abc'])
def test_parse_zh_number_rejects(text):
    assert parse_zh_number(text) is None


def test_parse_number_either_language():
    assert parse_number('twenty two') == 22
    assert parse_number('二十二') == 22
    assert parse_number('nonsense') is None


@pytest.mark.parametrize('text, normalized', [
    ('温度调到二十二度', '温度调到22度'),
    ('二十二点五度', '22.5度'),
    ('二十二度半', '22.5度'),
    ('调高两度', '调高2度'),
    ('温度低一点', '温度低一点'),       # 一点 = a bit
    ('调一下', '调一下'),
    ('两边都调到十八度', '两边都调到18度'),  # 两边 = both sides
    ('下周一', '下周一'),               # Monday
    ('就订第一个', '就订第1个'),
    ('十分感谢', '十分感谢'),
    ('22点5度', '22.5度'),
    ('set it to twenty-two point five degrees', 'set it to 22.5 degrees'),
    ('book the first one', 'book the first one'),
    ('this one please', 'this one please'),
    ('for two nights', 'for 2 nights'),
])
def test_normalize_numbers(text, normalized):
    assert normalize_numbers(text) == normalized


@pytest.mark.parametrize('text, language', [
    ('turn on the A/C', 'en'), ('打开空调', 'zh'), ('打开A/C', 'zh'), ('', 'en'), ('22', 'en'), ('SF123 快递', 'zh'),
])
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_full_width_digits_and_punctuation():
    plan = ENGINE.parse('温度调到２２度！', DialogueContext(), now=NOW)
    assert _calls(plan) == [('set_target_temperature', {'zone': 'driver', 'value': 22})]


def test_plan_contract():
    plan = ENGINE.parse('turn on the A/C, set it to 22 and tell me my range', DialogueContext(), now=NOW)
    assert isinstance(plan, Plan) and isinstance(plan, RulePlan)
    assert plan.source == 'rules' and plan.language == 'en' and plan.confidence == 1.0
    assert plan.clarification is None and plan.reply is None and plan.outcome == 'calls'
    assert len({c.id for c in plan.calls}) == 3
    data = plan.to_dict()
    assert data['calls'][1]['arguments'] == {'zone': 'driver', 'value': 22}
    assert data['outcome'] == 'calls' and data['pending'] is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parse_never_raises(text):
    plan = ENGINE.parse(text, DialogueContext(), now=NOW)
    assert isinstance(plan, RulePlan)
    assert 0.0 <= plan.confidence <= 1.0
    assert plan.calls or plan.clarification or plan.reply


def test_parse_survives_malformed_context(caplog):
    ctx = DialogueContext(speaker_zone='roof', state={'target_temperature.driver': 'hot', 'fan_level': None},
                          entities={'offers': 'not a list', 'parcels': [], 'menu': [None]})
    with caplog.at_level(logging.ERROR, logger='qwen_vehicle'):
        for text in ['a bit warmer', 'book the first one', 'redirect my parcel to the locker', 'fan up',
                     'order the first one', '就订第一个']:
            plan = ENGINE.parse(text, ctx, now=NOW)
            assert plan.calls or plan.clarification or plan.reply
    assert not caplog.records, 'a rule raised'
    # an unknown speaker zone falls back to the driver; an unreadable state asks instead of guessing
    assert ENGINE.parse('a bit warmer', ctx, now=NOW).clarification


def test_update_context_carries_last_plan_and_pending():
    ctx = DialogueContext()
    asked = ENGINE.parse('set the passenger temperature', ctx, now=NOW)
    assert asked.clarification and not asked.calls
    assert asked.pending['tool'] == 'set_target_temperature' and asked.pending['missing'] == 'value'
    assert ENGINE.update_context(ctx, asked) is ctx
    assert ctx.pending == asked.pending and ctx.last_plan is None  # a question is not a plan to follow up on
    answered = ENGINE.parse('twenty four', ctx, now=NOW)
    assert _calls(answered) == [('set_target_temperature', {'zone': 'passenger', 'value': 24})]
    ENGINE.update_context(ctx, answered)
    assert ctx.pending is None and ctx.last_plan is answered
    warmer = ENGINE.parse('warmer', ctx, now=NOW)  # no live value: the last plan's value is the base
    assert _calls(warmer) == [('set_target_temperature', {'zone': 'passenger', 'value': 25})]
    ctx.state['target_temperature.passenger'] = 20  # the live value wins once it is known
    assert _calls(ENGINE.parse('warmer', ctx, now=NOW)) == [('set_target_temperature',
                                                             {'zone': 'passenger', 'value': 21})]


def test_update_context_accepts_llm_plans():
    ctx = DialogueContext(pending={'tool': 'set_fan_level', 'calls': [{}], 'missing': 'value', 'slot': 'fan_level',
                                   'list': None, 'language': 'en'})
    llm_plan = Plan(calls=[ToolCall('set_fan_level', {'value': 2})], source='qwen')
    ENGINE.update_context(ctx, llm_plan)
    assert ctx.pending is None and ctx.last_plan is llm_plan
    assert _calls(ENGINE.parse('higher', ctx, now=NOW)) == [('set_fan_level', {'value': 3})]


def test_pending_unanswered_asks_again():
    ctx = DialogueContext()
    ENGINE.update_context(ctx, ENGINE.parse('book a train', ctx, now=NOW))
    again = ENGINE.parse('hmm let me think', ctx, now=NOW)
    assert again.clarification == 'Where would you like to go?' and again.pending == ctx.pending
    assert again.confidence <= 0.5


def test_pending_keeps_earlier_slots_and_date():
    ctx = DialogueContext()
    ENGINE.update_context(ctx, ENGINE.parse('帮我订个酒店', ctx, now=NOW))
    plan = ENGINE.parse('明天去杭州', ctx, now=NOW)
    assert _calls(plan) == [('search_hotels', {'city': 'Hangzhou', 'check_in': '2026-11-25'})]


def test_clarification_next_to_complete_calls():
    plan = ENGINE.parse('turn on the A/C and set the temperature', DialogueContext(), now=NOW)
    assert _calls(plan) == [('set_air_conditioning', {'value': True})]
    assert plan.clarification == 'What temperature would you like?' and plan.outcome == 'clarify'


@pytest.mark.parametrize('text, date', [
    ('train to Shanghai today', '2026-11-24'), ('train to Shanghai tomorrow', '2026-11-25'),
    ('train to Shanghai the day after tomorrow', '2026-11-26'), ('train to Shanghai in 3 days', '2026-11-27'),
    ('train to Shanghai on Tuesday', '2026-11-24'), ('train to Shanghai on Monday', '2026-11-30'),
    ('train to Shanghai next Tuesday', '2026-12-01'), ('train to Shanghai on March 3', '2027-03-03'),
    ('train to Shanghai on the 28th', '2026-11-28'), ('train to Shanghai on 2026-12-24', '2026-12-24'),
    ('大后天去上海的高铁', '2026-11-27'), ('周日去上海的高铁', '2026-11-29'), ('下周一去上海的高铁', '2026-11-30'),
    ('三月五号去上海的高铁', '2027-03-05'), ('三天后去上海的高铁', '2026-11-27'),
])
def test_dates_are_absolute(text, date):
    plan = ENGINE.parse(text, DialogueContext(), now=dt.datetime(2026, 11, 24, 9, 30))
    assert plan.calls[0].arguments.get('date') == date, plan.to_dict()


def test_restricted_tools_say_what_is_missing():
    spec = ToolSpec('set_air_conditioning', 'A/C on or off',
                    {'type': 'object', 'properties': {'value': {'type': 'boolean'}}, 'required': ['value']}, kind='set')
    engine = IntentEngine([spec])
    plan = engine.parse('turn on the A/C and set the fan to 3', DialogueContext(), now=NOW)
    assert _calls(plan) == [('set_air_conditioning', {'value': True})]
    assert 'set_fan_level' in plan.reply
    plan = engine.parse('set the fan to 3', DialogueContext(), now=NOW)
    assert not plan.calls and plan.outcome == 'unsupported' and 'set_fan_level' in plan.reply


@pytest.mark.parametrize('language', ['en', 'zh'])
def test_grammar_phrases_are_understood(language):
    phrases = grammar_phrases(language)
    assert len(phrases) > 100 and len(set(phrases)) == len(phrases)
    assert all(p == p.lower() for p in phrases)
    if language == 'en':
        assert not any(ch.isdigit() for p in phrases for ch in p), 'spoken phrases spell numbers out'
    needs_context = {'and the passenger side too', 'both sides', 'book the first one', 'book the second one',
                     '副驾也一样', '就订第一个'}
    for phrase in phrases:
        plan = ENGINE.parse(phrase, DialogueContext(), now=NOW)
        if phrase not in needs_context:
            assert plan.outcome != 'unknown', phrase
        assert plan.language == language


def test_no_clamping_and_no_safety_filtering():
    driving = DialogueContext(state={'vehicle_speed': 120})
    assert _calls(ENGINE.parse('set the temperature to 99', driving, now=NOW)) == [
        ('set_target_temperature', {'zone': 'driver', 'value': 99})]
    assert _calls(ENGINE.parse('风量调到九档', driving, now=NOW)) == [('set_fan_level', {'value': 9})]
    assert _calls(ENGINE.parse('取消订单', DialogueContext(state={'vehicle_speed': 120}, entities={'orders': ['O-1']}),
                               now=NOW)) == [('cancel_food_order', {'order_id': 'O-1'})]
