"""Constrained decoding with xgrammar: tool calls that are always well-formed, and tool choice auto/required/none.

Free text stays free; from the moment the model opens `<tool_call>` a grammar matcher masks the logits until the
call is closed, so the call body is valid JSON (Hermes) or valid `<function=...>` XML naming a known tool with
schema-shaped arguments. 'none' bans the opening tag; 'required' starts inside a call.

xgrammar is optional: `available()` says whether it imports, and the backend refuses `constrained=True` with a
clear error when it does not.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Sequence

from qwen_vehicle.core.ir import ToolSpec

from .parsing import CALL_CLOSE, CALL_OPEN, Dialect

log = logging.getLogger(__name__)


def available() -> bool:
    try:
        import xgrammar  # noqa: F401
    except Exception:  # ImportError, or a broken native library
        return False
    return True


def _call_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    variants = []
    for spec in tools:
        params = dict(spec.parameters) or {'type': 'object', 'properties': {}}
        variants.append({'type': 'object', 'properties': {'name': {'const': spec.name}, 'arguments': params},
                         'required': ['name', 'arguments'], 'additionalProperties': False})
    return {'anyOf': variants}


def _lit(text: str) -> str:
    return json.dumps(text)  # EBNF string literals take JSON escapes


def _xml_value_rule(schema: dict[str, Any]) -> str:
    if 'enum' in schema:
        return '(' + ' | '.join(_lit(str(v)) for v in schema['enum']) + ')'
    kind = schema.get('type')
    if kind == 'integer':
        return '"-"? [0-9]+'
    if kind == 'number':
        return '"-"? [0-9]+ ("." [0-9]+)?'
    if kind == 'boolean':
        return '("true" | "false")'
    return '[^<]+'


def xml_call_ebnf(tools: Sequence[ToolSpec]) -> str:
    """EBNF for what follows `<tool_call>` in the XML dialect, up to and including `</tool_call>`."""
    rules, alternatives = [], []
    for i, spec in enumerate(tools):
        props = spec.parameters.get('properties', {})
        required = set(spec.parameters.get('required', []))
        parts = []
        for j, (pname, pschema) in enumerate(props.items()):
            rule = f'p{i}_{j}'
            rules.append(f'{rule} ::= {_lit(f"<parameter={pname}>" + chr(10))} {_xml_value_rule(pschema)} '
                         f'{_lit(chr(10) + "</parameter>" + chr(10))}')
            parts.append(rule if pname in required else f'{rule}?')
        body = ' '.join([_lit(f'<function={spec.name}>' + '\n')] + parts + [_lit('</function>')])
        rules.append(f'f{i} ::= {body}')
        alternatives.append(f'f{i}')
    root = f'root ::= {_lit(chr(10))} ({" | ".join(alternatives)}) {_lit(chr(10) + CALL_CLOSE)}'
    return '\n'.join([root] + rules)


class ToolCallGrammar:
    """Compiled once per (tokenizer, tool set, dialect); hands out a fresh `RoundConstraint` per model round."""

    def __init__(self, tokenizer: Any, vocab_size: int, tools: Sequence[ToolSpec], dialect: Dialect,
                 stop_token_ids: Sequence[int]):
        import xgrammar as xgr

        self._xgr = xgr
        self.vocab_size = vocab_size
        self.open_id = tokenizer.convert_tokens_to_ids(CALL_OPEN)
        if not isinstance(self.open_id, int) or self.open_id == getattr(tokenizer, 'unk_token_id', None):
            raise ValueError(f'the tokenizer has no single token for {CALL_OPEN}; constrained decoding needs it')
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size,
                                                  stop_token_ids=list(stop_token_ids))
        compiler = xgr.GrammarCompiler(info, max_threads=2)
        if not tools:
            self.compiled = None
        elif dialect == 'xml':
            self.compiled = compiler.compile_grammar(xml_call_ebnf(tools))
        else:
            body = xgr.Grammar.from_json_schema(json.dumps(_call_schema(tools)), any_whitespace=False,
                                                strict_mode=True)
            grammar = xgr.Grammar.concat(xgr.Grammar.from_ebnf(f'root ::= {_lit(chr(10))}'), body,
                                         xgr.Grammar.from_ebnf(f'root ::= {_lit(chr(10) + CALL_CLOSE)}'))
            self.compiled = compiler.compile_grammar(grammar)

    def start(self, tool_choice: str, inside_call: bool = False) -> 'RoundConstraint':
        return RoundConstraint(self, tool_choice, inside_call)


class RoundConstraint:
    """Masks one round's logits: free text, or a matcher while inside a tool call."""

    def __init__(self, grammar: ToolCallGrammar, tool_choice: str, inside_call: bool):
        self.grammar = grammar
        self.tool_choice = tool_choice
        self._matcher = None
        self._bitmask = None
        if tool_choice == 'required' and not inside_call:
            raise ValueError('tool_choice=required starts inside a call: seed the prompt with the opening tag')
        if inside_call:
            self._open_matcher()

    @property
    def inside_call(self) -> bool:
        return self._matcher is not None

    def _open_matcher(self) -> None:
        if self.grammar.compiled is None:
            raise ValueError('constrained tool call requested with no tools')
        xgr = self.grammar._xgr
        self._matcher = xgr.GrammarMatcher(self.grammar.compiled, terminate_without_stop_token=True)
        if self._bitmask is None:
            self._bitmask = xgr.allocate_token_bitmask(1, self.grammar.vocab_size)

    def mask(self, scores):
        """Mask `scores` (1-D logits, float) in place for the next token and return it."""
        if self._matcher is not None:
            self._matcher.fill_next_token_bitmask(self._bitmask)
            row = scores.view(1, -1)
            bitmask = self._bitmask.to(scores.device) if scores.device.type != 'cpu' else self._bitmask
            self.grammar._xgr.apply_token_bitmask_inplace(row, bitmask, vocab_size=self.grammar.vocab_size)
        elif self.tool_choice == 'none' or self.grammar.compiled is None:
            scores[self.grammar.open_id] = float('-inf')
        return scores

    def accept(self, token_id: int) -> None:
        if self._matcher is not None:
            if not self._matcher.accept_token(token_id):
                log.warning('grammar rejected token %d; leaving the call unconstrained', token_id)
                self._matcher = None
            elif self._matcher.is_terminated():
                self._matcher = None
        elif token_id == self.grammar.open_id and self.tool_choice != 'none':
            self._open_matcher()
