#!/usr/bin/env python3
"""Time from utterance to the first parsed tool call: our local Qwen path vs plain `generate()`, same run.

Qwen2.5-0.5B / 1.5B / 7B architectures (real dimensions, random weights: no weights exist here), the assistant's
full tool set in the prompt, and a recorded ~40-token tool call forced by a logits processor so random weights
still produce it. Both paths use the same prompt, the same processor and greedy decoding.

  ours      prefix KV cache prefilled once at start-up and reused; only the utterance is prefilled; manual greedy
            loop with the streaming parser; on CUDA a static cache and a compiled decode step (CUDA graphs)
  generate  model.generate() on the whole prompt (eager, dynamic cache), parse the output
  generate+static (CUDA only) generate(cache_implementation='static'), HF's own compiled static-cache path

Usage:
  python bench/bench_llm.py                       # CPU: 0.5B, float32
  python bench/bench_llm.py --sizes 0.5B,1.5B,7B  # CUDA default: bf16, all three sizes
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'test'))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from llm_fixtures import ForcedCompletion, build_tokenizer, qwen2_config, vehicle_tool_specs  # noqa: E402
from qwen_vehicle.backends.llm.parsing import parse_completion, render_call  # noqa: E402
from qwen_vehicle.backends.llm.transformers_backend import TransformersBackend, resolve_device_dtype  # noqa: E402
from qwen_vehicle.core.ir import ToolCall, ToolResult  # noqa: E402

SYSTEM = ('You are the in-car assistant of this vehicle. Use the tools to read and change the car state and to '
          'order food, book travel and track parcels. Ask before anything that costs money.')
UTTERANCES = ['Set the driver side to twenty-two and a half degrees please',
              'It is a bit cold on my side, make it 22.5',
              '把主驾温度调到二十二度半',
              'driver temperature 22.5 please and thanks']
RECORDED_CALL = ToolCall('set_target_temperature', {'zone': 'driver', 'value': 22.5})


def progress(message: str) -> None:
    print(f'#   {time.strftime("%H:%M:%S")} {message}', file=sys.stderr, flush=True)


def build_model(size: str, vocab_size: int, device, dtype):
    from transformers import Qwen2ForCausalLM

    config = qwen2_config(size)
    if config.vocab_size < vocab_size:
        config.vocab_size = vocab_size
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            torch.manual_seed(0)
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def fit_call_tokens(tokenizer, target: int) -> str:
    """A recorded call of about `target` tokens with this tokenizer: the temperature call when it is close enough,
    else a restaurant search whose query grows until it is long enough."""
    text = render_call(RECORDED_CALL, 'hermes')
    if abs(len(tokenizer(text, add_special_tokens=False)['input_ids']) - target) <= 4:
        return text
    query = 'noodles'
    words = ['near', 'the', 'office', 'with', 'parking', 'open', 'late', 'and', 'cheap', 'please']
    for i in range(200):
        text = render_call(ToolCall('search_restaurants', {'query': query, 'max_distance_km': 5}), 'hermes')
        if len(tokenizer(text, add_special_tokens=False)['input_ids']) >= target:
            break
        query += ' ' + words[i % len(words)]
    return text


def percentiles(samples):
    s = sorted(samples)
    return {'median': statistics.median(s), 'p90': s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))],
            'min': s[0]}


def run_size(size: str, args, device, dtype, tmp: Path) -> dict:
    tools = vehicle_tool_specs()
    tokenizer = build_tokenizer(tmp / f'tok-{size}', vocab_size=args.vocab, tools=tools)
    t = time.perf_counter()
    model = build_model(size, len(tokenizer), device, dtype)
    build_s = time.perf_counter() - t
    progress(f'{size}: model built in {build_s:.1f} s')
    params = sum(p.numel() for p in model.parameters())
    call_text = fit_call_tokens(tokenizer, args.call_tokens)
    call_tokens = len(tokenizer(call_text, add_special_tokens=False)['input_ids'])
    forced = ForcedCompletion(tokenizer, [call_text])
    expected = parse_completion(call_text, 'hermes', tools).calls[0].key()  # the first call

    def messages(i):
        return [{'role': 'system', 'content': SYSTEM}, {'role': 'user', 'content': UTTERANCES[i % len(UTTERANCES)]}]

    def execute(call):
        return ToolResult(call.id, call.name, 'ok')

    # -- ours
    on_cuda = device.type == 'cuda'
    backend = TransformersBackend(model=model, tokenizer=tokenizer, device=str(device), dtype=str(dtype).split('.')[-1],
                                  max_new_tokens=call_tokens + 8, static_cache=on_cuda and not args.no_static,
                                  compile=on_cuda and not args.no_compile and not args.no_static,
                                  max_cache_len=args.max_cache_len, logits_processors=[forced])
    t = time.perf_counter()
    warm_ms = backend.warm_up(tools, messages(0)[:1])
    prefix_tokens = len(backend._prefix_ids)
    progress(f'{size}: prefix of {prefix_tokens} tokens prefilled in {warm_ms:.0f} ms')
    for i in range(args.warmup):  # compiles / captures CUDA graphs on CUDA
        forced.reset()
        backend.respond(messages(i), tools, execute, max_rounds=1)
    startup_s = time.perf_counter() - t
    # -- plain generate()
    def plain(i, **gen_kwargs):
        forced.reset()
        start = time.perf_counter()
        text = tokenizer.apply_chat_template(messages(i), tools=[s.to_openai() for s in tools], tokenize=False,
                                             add_generation_prompt=True, enable_thinking=False)
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)['input_ids']], device=device)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=call_tokens + 1,
                                 do_sample=False, logits_processor=[forced], pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.convert_tokens_to_ids('<|im_end|>'), **gen_kwargs)
        completion = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=False)
        calls = parse_completion(completion, 'hermes', tools).calls
        elapsed = (time.perf_counter() - start) * 1000.0
        assert calls and calls[0].key() == expected, 'forced call not parsed (generate)'
        return elapsed

    variants = {'generate': {}}
    if on_cuda and not args.no_static:
        variants['generate+static'] = {'cache_implementation': 'static'}
    for name, kwargs in variants.items():
        # a static cache is sized to the prompt: one utterance keeps generate's compiled graphs valid
        for i in range(args.warmup if on_cuda else 0):  # nothing to warm on CPU
            plain(0 if kwargs else i, **kwargs)

    # -- timed runs, interleaved so that drift in machine load hits both paths alike
    ours, split, prompt_tokens, reused = [], [], 0, 0
    samples = {name: [] for name in variants}
    for i in range(args.repeats):
        forced.reset()
        turn = backend.respond(messages(i), tools, execute, max_rounds=1)
        assert turn.calls and turn.calls[0].key() == expected, 'forced call not parsed'
        ours.append(turn.timings['first_call_ms'])
        split.append((turn.timings['rounds'][0]['prefill_ms'], turn.timings['rounds'][0].get('first_call_decode_ms')))
        prompt_tokens = turn.timings['rounds'][0]['prompt_tokens']
        reused = turn.timings['rounds'][0]['reused_tokens']
        line = (f'{size}: run {i + 1}: ours {ours[-1]:.1f} ms (prefill {split[-1][0]:.1f} ms, decode to the call '
                f'{split[-1][1]:.1f} ms)')
        for name, kwargs in variants.items():
            samples[name].append(plain(0 if kwargs else i, **kwargs))
            line += f', {name} {samples[name][-1]:.1f} ms'
        progress(line)
    generate = {name: percentiles(values) for name, values in samples.items()}

    result = {'size': size, 'params_M': round(params / 1e6, 1), 'device': str(device),
              'device_name': torch.cuda.get_device_name(device) if on_cuda else 'cpu',
              'dtype': str(dtype).replace('torch.', ''), 'prompt_tokens': prompt_tokens, 'prefix_tokens': prefix_tokens,
              'reused_tokens': reused, 'call_tokens': call_tokens, 'static_cache': backend.static_cache,
              'compiled': backend.compile, 'prefix_prefill_ms': round(warm_ms, 1),
              'startup_s': round(startup_s, 1), 'model_build_s': round(build_s, 1),
              'ours_ms': {k: round(v, 1) for k, v in percentiles(ours).items()},
              'ours_prefill_ms': round(statistics.median(p for p, _ in split), 1),
              'ours_decode_ms': round(statistics.median(d for _, d in split), 1),
              'generate_ms': {n: {k: round(v, 1) for k, v in p.items()} for n, p in generate.items()},
              'repeats': args.repeats}
    if on_cuda:
        # the floor: every decode step streams all weights from memory once
        bandwidth = args.bandwidth_gbs * 1e9
        weight_bytes = params * torch.finfo(dtype).bits / 8
        result['bandwidth_floor_ms'] = round(call_tokens * weight_bytes / bandwidth * 1000.0, 1)
    backend.close()
    if on_cuda:
        torch.cuda.empty_cache()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', help='comma list of 0.5B,1.5B,7B (default: 0.5B on CPU, all on CUDA)')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--dtype', default='auto', help='auto = bfloat16 on CUDA, float32 on CPU')
    parser.add_argument('--repeats', type=int, help='timed runs per variant (default 10 CUDA, 3 CPU)')
    parser.add_argument('--warmup', type=int, help='untimed runs first (default 3 CUDA, 1 CPU)')
    parser.add_argument('--call-tokens', type=int, default=40)
    parser.add_argument('--vocab', type=int, default=4000, help='size of the locally trained tokenizer')
    parser.add_argument('--max-cache-len', type=int, default=4096)
    parser.add_argument('--no-static', action='store_true', help='no static cache (and no CUDA graphs)')
    parser.add_argument('--no-compile', action='store_true', help='static cache but no torch.compile')
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--bandwidth-gbs', type=float, default=3350.0, help='GPU memory bandwidth for the floor '
                                                                              '(H100 SXM 3350, H200 4800)')
    parser.add_argument('--json', action='store_true', help='print one JSON line per size as well')
    args = parser.parse_args()
    device, dtype = resolve_device_dtype(args.device, args.dtype)
    on_cuda = device.type == 'cuda'
    sizes = (args.sizes or ('0.5B,1.5B,7B' if on_cuda else '0.5B')).split(',')
    args.repeats = args.repeats or (10 if on_cuda else 3)
    args.warmup = args.warmup if args.warmup is not None else (3 if on_cuda else 1)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f'# bench_llm: {device} {str(dtype).replace("torch.", "")}, torch {torch.__version__}, '
          f'{torch.get_num_threads()} CPU threads, sizes {",".join(sizes)}')
    header = (f'{"size":>5} {"prompt":>6} {"reused":>6} {"call":>4} {"ours p50":>9} {"ours p90":>9} '
              f'{"generate p50":>12} {"speedup":>7}  other')
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            r = run_size(size.strip(), args, device, dtype, Path(tmp))
            gen = r['generate_ms']['generate']['median']
            ours = r['ours_ms']['median']
            other = ', '.join(f'{n} p50 {p["median"]:.1f} ms' for n, p in r['generate_ms'].items() if n != 'generate')
            if 'bandwidth_floor_ms' in r:
                other += f'{", " if other else ""}floor {r["bandwidth_floor_ms"]} ms'
            print(f'{r["size"]:>5} {r["prompt_tokens"]:>6} {r["reused_tokens"]:>6} {r["call_tokens"]:>4} '
                  f'{ours:>7.1f}ms {r["ours_ms"]["p90"]:>7.1f}ms {gen:>10.1f}ms {gen / ours:>6.1f}x  {other}')
            if args.json:
                print(json.dumps(r))
            sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
