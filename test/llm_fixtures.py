"""Tiny Qwen2-architecture checkpoints built on the spot (no weights exist here), shared by tests and bench.

- a byte-level BPE tokenizer trained with `tokenizers` on a small corpus, with the Qwen special tokens;
- a Qwen2.5-style chat template with tools (Hermes dialect) and a Qwen3-Coder-style one (XML dialect);
- a Qwen2ForCausalLM with random weights, saved with `save_pretrained` like a real checkpoint folder;
- the assistant's tool set (common brief) as ToolSpecs, for realistic prompts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qwen_vehicle.core.ir import ToolSpec

SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
TAG_TOKENS = ['<tool_call>', '</tool_call>', '<think>', '</think>', '<tool_response>', '</tool_response>']

# Modelled on Qwen2.5-Instruct's template, plus Qwen3's enable_thinking switch.
HERMES_TEMPLATE = r"""
{%- if tools %}
{{- '<|im_start|>system\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content }}{%- else %}{{- 'You are Qwen, a helpful in-car assistant.' }}{%- endif %}
{{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
{%- for tool in tools %}{{- "\n" }}{{- tool | tojson }}{%- endfor %}
{{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) or (message.role == 'assistant' and not message.tool_calls) %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant' }}
{%- if message.content %}{{- '\n' + message.content }}{%- endif %}
{%- for tool_call in message.tool_calls %}
{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
{{- '\n<tool_call>\n{"name": "' + tool_call.name + '", "arguments": ' }}{{- tool_call.arguments | tojson }}{{- '}\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\n' }}
{%- elif message.role == 'tool' %}
{%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\n\n</think>\n\n' }}{%- endif %}
{%- endif %}
""".strip()

# Modelled on Qwen3-Coder's template: tools described in XML, calls as <function=...><parameter=...>.
XML_TEMPLATE = r"""
{%- if messages[0].role == 'system' %}{%- set system_message = messages[0].content %}{%- else %}{%- set system_message = 'You are Qwen, a helpful in-car assistant.' %}{%- endif %}
{{- '<|im_start|>system\n' + system_message }}
{%- if tools %}
{{- "\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>" }}
{%- for tool in tools %}
{%- set fn = tool.function if tool.function is defined else tool %}
{{- "\n<function>\n<name>" + fn.name + "</name>\n<description>" + fn.description + "</description>\n<parameters>" }}
{%- for pname, p in fn.parameters.properties.items() %}
{{- "\n<parameter>\n<name>" + pname + "</name>\n<type>" + (p.type | default('string')) + "</type>" }}
{%- if p.enum is defined %}{{- "\n<enum>" + (p.enum | tojson) + "</enum>" }}{%- endif %}
{{- "\n</parameter>" }}
{%- endfor %}
{{- "\n</parameters>\n</function>" }}
{%- endfor %}
{{- "\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n</function>\n</tool_call>" }}
{%- endif %}
{{- '<|im_end|>\n' }}
{%- for message in messages %}
{%- if message.role == 'system' and loop.first %}
{%- elif message.role == 'user' or message.role == 'system' or (message.role == 'assistant' and not message.tool_calls) %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant\n' + (message.content or '') }}
{%- for tool_call in message.tool_calls %}
{%- set tc = tool_call.function if tool_call.function is defined else tool_call %}
{{- '\n<tool_call>\n<function=' + tc.name + '>\n' }}
{%- for k, v in tc.arguments.items() %}{{- '<parameter=' + k + '>\n' + (v if v is string else (v | tojson)) + '\n</parameter>\n' }}{%- endfor %}
{{- '</function>\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>\n' }}
{%- elif message.role == 'tool' %}
{%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
{{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\n' }}{%- endif %}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
""".strip()


def _schema(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {'type': 'object', 'properties': props, 'required': required or [], 'additionalProperties': False}


ZONE3 = {'type': 'string', 'enum': ['driver', 'passenger', 'rear']}
ZONE2 = {'type': 'string', 'enum': ['driver', 'passenger']}
DATE = {'type': 'string', 'description': 'YYYY-MM-DD'}


def vehicle_tool_specs() -> list[ToolSpec]:
    """The assistant's tool set from the common brief (names and arguments fixed there)."""
    s = ToolSpec
    return [
        s('set_target_temperature', 'Set the target cabin temperature of a zone in degC.',
          _schema({'zone': ZONE3, 'value': {'type': 'number', 'minimum': 16, 'maximum': 30, 'multipleOf': 0.5}},
                  ['zone', 'value']), kind='set', risk='medium'),
        s('set_fan_level', 'Set the blower fan level (0 = off).',
          _schema({'value': {'type': 'integer', 'minimum': 0, 'maximum': 7}}, ['value']), kind='set'),
        s('set_air_conditioning', 'Switch the A/C compressor on or off.',
          _schema({'value': {'type': 'boolean'}}, ['value']), kind='set'),
        s('set_recirculation', 'Switch air recirculation on or off.',
          _schema({'value': {'type': 'boolean'}}, ['value']), kind='set'),
        s('set_defrost', 'Set window defrost.',
          _schema({'value': {'type': 'string', 'enum': ['Off', 'Front', 'Rear', 'Both']}}, ['value']), kind='set'),
        s('set_seat_heating', 'Set seat heating level of a seat.',
          _schema({'zone': ZONE2, 'value': {'type': 'integer', 'minimum': 0, 'maximum': 3}}, ['zone', 'value']),
          kind='set'),
        s('get_cabin_temperature', 'Read cabin and target temperatures.', _schema({'zone': ZONE3})),
        s('get_climate_status', 'Read fan, A/C, recirculation, defrost, seat heating, outside temperature.',
          _schema({})),
        s('get_battery_status', 'Read state of charge, range, charging state and power, pack V/A/temp, 12 V.',
          _schema({})),
        s('get_location', 'Read latitude, longitude, altitude, fix, heading, ground speed.', _schema({})),
        s('get_vehicle_state', 'Read speed, gear, parking brake, ignition.', _schema({})),
        s('search_restaurants', 'Search restaurants nearby.',
          _schema({'query': {'type': 'string'}, 'cuisine': {'type': 'string'},
                   'max_distance_km': {'type': 'number', 'minimum': 0}}), kind='service'),
        s('get_menu', 'Get the menu of a restaurant.', _schema({'restaurant_id': {'type': 'string'}},
                                                                ['restaurant_id']), kind='service'),
        s('order_food', 'Order food (costs money; needs the driver to confirm).',
          _schema({'restaurant_id': {'type': 'string'},
                   'items': {'type': 'array', 'minItems': 1, 'items': _schema(
                       {'item_id': {'type': 'string'}, 'quantity': {'type': 'integer', 'minimum': 1}},
                       ['item_id', 'quantity'])},
                   'note': {'type': 'string'}}, ['restaurant_id', 'items']),
          kind='service', risk='high', needs_confirmation=True),
        s('food_order_status', 'Status of a food order.', _schema({'order_id': {'type': 'string'}}), kind='service'),
        s('cancel_food_order', 'Cancel a food order (needs confirmation).',
          _schema({'order_id': {'type': 'string'}}, ['order_id']), kind='service', risk='high',
          needs_confirmation=True),
        s('search_trains', 'Search trains.', _schema({'origin': {'type': 'string'}, 'destination': {'type': 'string'},
                                                      'date': DATE}, ['destination']), kind='service'),
        s('search_flights', 'Search flights.', _schema({'origin': {'type': 'string'},
                                                        'destination': {'type': 'string'}, 'date': DATE},
                                                       ['destination']), kind='service'),
        s('search_hotels', 'Search hotels.', _schema({'city': {'type': 'string'}, 'check_in': DATE,
                                                      'nights': {'type': 'integer', 'minimum': 1}}, ['city']),
          kind='service'),
        s('book_travel', 'Book a travel offer (costs money; needs confirmation).',
          _schema({'offer_id': {'type': 'string'}, 'passengers': {'type': 'integer', 'minimum': 1}}, ['offer_id']),
          kind='service', risk='high', needs_confirmation=True),
        s('get_itinerary', 'The booked itinerary.', _schema({}), kind='service'),
        s('change_booking', 'Change a booking (needs confirmation).',
          _schema({'booking_id': {'type': 'string'}, 'new_offer_id': {'type': 'string'}},
                  ['booking_id', 'new_offer_id']), kind='service', risk='high', needs_confirmation=True),
        s('list_parcels', 'List parcels on their way.', _schema({}), kind='service'),
        s('track_parcel', 'Track a parcel.', _schema({'tracking_number': {'type': 'string'}}, ['tracking_number']),
          kind='service'),
        s('redirect_parcel', 'Redirect a parcel (needs confirmation).',
          _schema({'tracking_number': {'type': 'string'},
                   'destination': {'type': 'string', 'enum': ['home', 'office', 'locker']}},
                  ['tracking_number', 'destination']), kind='service', risk='high', needs_confirmation=True),
    ]


def _corpus(tools: list[ToolSpec]) -> list[str]:
    tool_json = [json.dumps(t.to_openai()) for t in tools]
    calls = [
        '{"name": "set_target_temperature", "arguments": {"zone": "driver", "value": 22.5}}',
        '{"name": "set_fan_level", "arguments": {"value": 3}}',
        '{"name": "get_battery_status", "arguments": {}}',
        '<function=set_defrost>\n<parameter=value>\nFront\n</parameter>\n</function>',
    ]
    text = [
        'You are Qwen, a helpful in-car assistant. You may call one or more functions to assist with the user query.',
        'set the temperature to 22 degrees please', 'turn on the air conditioning', 'how much battery is left',
        'where am I', 'order food from the noodle place', 'find a train to Shanghai tomorrow', 'track my parcel',
        '把温度调到二十二度', '打开空调', '电量还剩多少', '我在哪里', 'status ok result error reason refused',
        'The temperature is set. Fan level three. 0123456789 true false null',
    ]
    return (text + tool_json + calls) * 3


def build_tokenizer(path: Path, template: str = HERMES_TEMPLATE, vocab_size: int = 1200,
                    tools: list[ToolSpec] | None = None):
    """Train a byte-level BPE tokenizer with the Qwen special tokens and save it (with `template`) to `path`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(tools or vehicle_tool_specs()), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token='<|im_end|>', pad_token='<|endoftext|>',
                                   bos_token=None, unk_token=None)
    fast.add_special_tokens({'additional_special_tokens': ['<|im_start|>']})
    fast.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    fast.chat_template = template
    path.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(path))
    return fast


def qwen2_config(size: str = 'tiny', vocab_size: int | None = None):
    """Qwen2 configs: 'tiny' for tests, or the real Qwen2.5 0.5B / 1.5B / 7B dimensions."""
    from transformers import Qwen2Config

    dims = {
        'tiny': dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=1280, tie_word_embeddings=True),
        '0.5B': dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                     num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
        '1.5B': dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                     num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
        '7B': dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                   num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    }[size]
    if vocab_size is not None:
        dims['vocab_size'] = vocab_size
    return Qwen2Config(max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
                       bos_token_id=None, eos_token_id=None, **dims)


def build_tiny_checkpoint(path: Path, template: str = HERMES_TEMPLATE, seed: int = 0) -> Path:
    """A complete local checkpoint folder: tokenizer + chat template + tiny random Qwen2 model."""
    import torch
    from transformers import Qwen2ForCausalLM

    tokenizer = build_tokenizer(path, template)
    config = qwen2_config('tiny', vocab_size=max(len(tokenizer), 64))
    config.eos_token_id = tokenizer.convert_tokens_to_ids('<|im_end|>')
    config.pad_token_id = tokenizer.convert_tokens_to_ids('<|endoftext|>')
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(str(path))
    return path


class ForcedCompletion:
    """A logits processor that makes a random-weight model write given completions, one per model round.

    Works with our decode loop and with `model.generate(logits_processor=[...])`: a new round is detected when the
    sequence does not grow by exactly one token. `steps` counts the tokens forced so far (to see when a call ran).
    """

    def __init__(self, tokenizer, completions, stop_token: str = '<|im_end|>'):
        stop_id = tokenizer.convert_tokens_to_ids(stop_token)
        self.rounds = [list(tokenizer(c, add_special_tokens=False)['input_ids']) + [stop_id] for c in completions]
        self.round, self.pos, self.steps = -1, 0, 0
        self._last_len = None

    def reset(self):
        self.round, self.pos, self.steps, self._last_len = -1, 0, 0, None

    def __call__(self, input_ids, scores):
        import torch

        n = input_ids.shape[1]
        if self._last_len is None or n != self._last_len + 1:
            self.round += 1
            self.pos = 0
        self._last_len = n
        ids = self.rounds[min(self.round, len(self.rounds) - 1)]
        token = ids[min(self.pos, len(ids) - 1)]
        self.pos += 1
        self.steps += 1
        forced = torch.full_like(scores, float('-inf'))
        forced[..., token] = 0.0
        return forced


class BiasToken:
    """Adds `bias` to one token's logit (to make a random model want to open a tool call)."""

    def __init__(self, token_id: int, bias: float = 50.0):
        self.token_id, self.bias = token_id, bias

    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[..., self.token_id] += self.bias
        return scores


_CHECKPOINTS: dict[tuple[str, str], Path] = {}


def tiny_checkpoint(tmp_path_factory, dialect: str = 'hermes') -> Path:
    """Build each dialect's tiny checkpoint once per test session."""
    key = (str(tmp_path_factory.getbasetemp()), dialect)
    if key not in _CHECKPOINTS:
        template = XML_TEMPLATE if dialect == 'xml' else HERMES_TEMPLATE
        _CHECKPOINTS[key] = build_tiny_checkpoint(tmp_path_factory.mktemp(f'tiny-qwen-{dialect}'), template)
    return _CHECKPOINTS[key]
