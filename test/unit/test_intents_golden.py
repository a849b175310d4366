"""Golden utterances (test/unit/golden/intents.yaml) through the rule intent engine, compared by ToolCall.key()."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from qwen_vehicle.core.intents import DialogueContext, IntentEngine, detect_language
from qwen_vehicle.core.ir import Plan, ToolCall

GOLDEN = yaml.safe_load((Path(__file__).parent / 'golden' / 'intents.yaml').read_text(encoding='utf-8'))
NOW = dt.date.fromisoformat(GOLDEN['now'])
CASES = GOLDEN['cases']
REQUIRED_TAGS = {'single', 'multi', 'follow_up', 'pending', 'missing_slot', 'out_of_range', 'driving', 'irrelevant',
                 'unsupported', 'relative', 'zones', 'speaker_zone', 'words', 'synonyms', 'query', 'food', 'travel',
                 'parcel', 'entities', 'smalltalk'}
SERVICE_TOOLS = {'search_restaurants', 'get_menu', 'order_food', 'food_order_status', 'cancel_food_order',
                 'search_trains', 'search_flights', 'search_hotels', 'book_travel', 'get_itinerary', 'change_booking',
                 'list_parcels', 'track_parcel', 'redirect_parcel'}
ENGINE = IntentEngine()


def _has_cjk(text: str) -> bool:
    return any('\u4e00' <= c <= '\u9fff' for c in text)


def _keys(calls) -> list:
    return [ToolCall(name, dict(args or {})).key() for name, args in calls]


def _context(spec: dict | None) -> DialogueContext:
    spec = spec or {}
    ctx = DialogueContext(speaker_zone=spec.get('speaker_zone'), state=dict(spec.get('state') or {}),
                          entities=dict(spec.get('entities') or {}))
    for text in spec.get('history') or []:
        ENGINE.update_context(ctx, ENGINE.parse(text, ctx, now=NOW))
    if spec.get('last_plan'):
        ctx.last_plan = Plan(calls=[ToolCall(name, dict(args)) for name, args in spec['last_plan']])
    return ctx


def _case_id(case: dict) -> str:
    history = (case.get('context') or {}).get('history')
    return (' > '.join(history) + ' > ' if history else '') + case['text']


@pytest.mark.parametrize('case', CASES, ids=[_case_id(c) for c in CASES])
def test_golden(case):
    ctx = _context(case.get('context'))
    plan = ENGINE.parse(case['text'], ctx, now=NOW)
    assert plan.source == 'rules'
    assert [c.key() for c in plan.calls] == _keys(case.get('calls') or []), plan.to_dict()
    assert bool(plan.clarification) == bool(case.get('clarify', False)), plan.to_dict()
    if 'outcome' in case:
        assert plan.outcome == case['outcome'], plan.to_dict()
    assert plan.language == detect_language(case['text'])
    for text in (plan.clarification, plan.reply):
        if text:  # answers come in the utterance's language
            assert _has_cjk(text) == (plan.language == 'zh'), text
    if not plan.calls and not plan.clarification:
        assert plan.reply, 'a plan with nothing to do must say something'
    assert 0.0 <= plan.confidence <= 1.0
    if 'max_confidence' in case:
        assert plan.confidence <= case['max_confidence']
    if 'min_confidence' in case:
        assert plan.confidence >= case['min_confidence']
    if plan.calls and not plan.clarification and 'unknown' != plan.outcome:
        assert plan.confidence >= 0.5


def test_golden_suite_is_broad():
    assert len(CASES) >= 160
    zh = sum(_has_cjk(c['text']) for c in CASES)
    assert 0.4 <= zh / len(CASES) <= 0.6, f'{zh} Chinese of {len(CASES)}'
    tags = {t for c in CASES for t in c.get('tags', [])}
    assert REQUIRED_TAGS <= tags, REQUIRED_TAGS - tags
    named = {name for c in CASES for name, _ in c.get('calls') or []}
    assert SERVICE_TOOLS <= named, SERVICE_TOOLS - named
    texts = [_case_id(c) + repr(c.get('context')) for c in CASES]
    assert len(texts) == len(set(texts)), 'duplicate golden cases'


def test_golden_calls_match_the_generated_tool_schemas():
    """Every planned call names a real tool with its argument names (values are the policy's business)."""
    from qwen_vehicle.core.mapping import load_signal_map
    from qwen_vehicle.core.tools import all_tools
    from qwen_vehicle.paths import resolve
    specs = {s.name: s for s in all_tools(load_signal_map(resolve('signals.yaml', 'config')))}
    for case in CASES:
        for name, args in case.get('calls') or []:
            assert name in specs, name
            props = specs[name].parameters.get('properties', {})
            assert set(args or {}) <= set(props), (case['text'], name, args)
            assert set(specs[name].parameters.get('required', [])) <= set(args or {}), (case['text'], name, args)
