"""Deterministic bilingual (Chinese/English) intent engine: utterance + dialogue context -> Plan of tool calls.

    engine = IntentEngine()
    plan = engine.parse('打开空调，温度调到二十二度', DialogueContext(speaker_zone='driver'))
    engine.update_context(context, plan)

See docs/intents.md.
"""
from .engine import DialogueContext, IntentEngine, RulePlan, detect_language
from .grammar import grammar_phrases
from .numbers import normalize_numbers, parse_en_number, parse_number, parse_zh_number

__all__ = ['DialogueContext', 'IntentEngine', 'RulePlan', 'detect_language', 'grammar_phrases', 'normalize_numbers',
           'parse_en_number', 'parse_number', 'parse_zh_number']
