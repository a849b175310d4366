"""`qwen-vehicle say "..."`: send one utterance to a running assistant, print its events and reply.

Exit status: 0 reply received, 3 no assistant listening, 4 no reply before the timeout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

from ._ros import cli_node, domain_hint, spin_until

ZONES = ('driver', 'passenger', 'rear')
EXIT_NO_ASSISTANT = 3
EXIT_TIMEOUT = 4


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser('say', help='send an utterance to a running assistant and print the reply and events',
                              description='Send one utterance (any language the assistant understands) to a running '
                                          'assistant node over ROS and print its events and reply.')
    p.add_argument('text', nargs='+', help='what the driver says, e.g. "set the temperature to 22" or "调高两度"')
    p.add_argument('--zone', choices=ZONES, help="the speaker's seat (zoned commands default to it)")
    p.add_argument('--speaker', help='speaker/driver id (selects the driver profile)')
    p.add_argument('--timeout', type=float, default=10.0, help='seconds to wait for the assistant and its reply')
    p.add_argument('--linger', type=float, default=0.3, help='seconds to keep collecting events after the reply')
    p.add_argument('--json', action='store_true', help='print one JSON document {request_id, reply, events}')
    p.add_argument('--quiet', action='store_true', help='print only the reply')
    p.add_argument('--namespace', default='', help='ROS namespace of the assistant (e.g. /car1)')
    return p


def _topic(namespace: str, name: str) -> str:
    ns = namespace.strip('/')
    return f'/{ns}/{name}' if ns else name


def parse_message(data: str) -> tuple[dict[str, Any] | None, str]:
    """(JSON object or None, display text) for a reply or event payload."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None, data
    if not isinstance(doc, dict):
        return None, data
    text = doc.get('text', doc.get('reply'))
    return doc, text if isinstance(text, str) else data


def belongs(doc: dict[str, Any] | None, request_id: str) -> bool:
    """Messages with another request id are someone else's; messages without one are taken."""
    return doc is None or doc.get('request_id') in (None, request_id)


def _call(call: dict[str, Any]) -> str:
    args = ', '.join(f'{k}={json.dumps(v, ensure_ascii=False)}' for k, v in (call.get('arguments') or {}).items())
    return f'{call.get("name", "?")}({args})'


def describe_event(doc: dict[str, Any] | None, raw: str) -> str:
    """One readable line per assistant event; unknown events as compact JSON."""
    if doc is None:
        return raw
    kind = doc.get('type', doc.get('event', 'event'))
    try:
        if kind == 'plan':
            plan = doc.get('plan') or {}
            calls = ', '.join(_call(c) for c in plan.get('calls', [])) or plan.get('clarification') or '-'
            return f'plan ({doc.get("engine", plan.get("source", "?"))}): {calls}'
        if kind == 'decision':
            verdict = 'allowed' if doc.get('allowed') else f'refused: {doc.get("reason")}'
            extra = ' (needs confirmation)' if doc.get('confirm') else ' (deferred)' if doc.get('deferred') else ''
            return f'policy: {_call(doc.get("call") or {})} {verdict}{extra}'
        if kind == 'actuation':
            return f'actuation: {_call(doc.get("call") or {})} -> {doc.get("path")}'
        if kind == 'result':
            r = doc.get('result') or {}
            content = r.get('content') if isinstance(r.get('content'), dict) else {}
            detail = r.get('reason') or ''
            if 'readback' in content:
                detail = f'read back {content["readback"]} after {content.get("elapsed_s", "?")} s'
            return f'result: {r.get("name")} {r.get("status")}' + (f' ({detail})' if detail else '')
        if kind.startswith('confirmation'):
            calls = ', '.join(_call(c) for c in doc.get('calls', []))
            return f'{kind.replace("_", " ")}' + (f': {calls}' if calls else '')
        if kind == 'error':
            return f'error: {doc.get("reason")}'
    except (AttributeError, TypeError):
        pass
    rest = {k: v for k, v in doc.items() if k not in ('event', 'type', 'request_id', 't')}
    return f'{kind}: {json.dumps(rest, ensure_ascii=False, sort_keys=True)}'


def run(args: argparse.Namespace) -> int:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    text = ' '.join(args.text).strip()
    if not text:
        print('qwen-vehicle say: nothing to say', file=sys.stderr)
        return 2
    request_id = f'cli_{uuid.uuid4().hex[:12]}'
    payload = {'text': text, 'request_id': request_id}
    if args.zone:
        payload['zone'] = args.zone
    if args.speaker:
        payload['speaker'] = args.speaker
    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    text_topic = _topic(args.namespace, 'assistant/text')
    reply_topic = _topic(args.namespace, 'assistant/reply')
    events_topic = _topic(args.namespace, 'assistant/events')
    replies: list[tuple[dict | None, str]] = []   # from the reply topic
    event_replies: list[str] = []                  # the assistant's 'reply' event for this request (preferred)
    events: list[tuple[dict | None, str]] = []

    def on_reply(msg: String) -> None:
        doc, shown = parse_message(msg.data)
        if belongs(doc, request_id):
            replies.append((doc, shown))

    def on_event(msg: String) -> None:
        doc, shown = parse_message(msg.data)
        if belongs(doc, request_id):
            events.append((doc, msg.data))
            if doc is not None and doc.get('type') == 'reply' and doc.get('request_id') == request_id:
                event_replies.append(str(doc.get('text', '')))
                return
            if not args.json and not args.quiet:
                print(f'  · {describe_event(doc, msg.data)}', flush=True)

    deadline = time.monotonic() + args.timeout
    with cli_node('qv_say') as (node, executor):
        pub = node.create_publisher(String, text_topic, reliable)
        reply_sub = node.create_subscription(String, reply_topic, on_reply, reliable)
        node.create_subscription(String, events_topic, on_event, reliable)
        # The utterance is sent only once the assistant's subscriber and reply publisher are matched.
        if not spin_until(executor, lambda: pub.get_subscription_count() > 0 and reply_sub.get_publisher_count() > 0,
                          deadline - time.monotonic()):
            print(f'qwen-vehicle say: no assistant listening on {node.resolve_topic_name(text_topic)} after '
                  f'{args.timeout:g} s (is it running? {domain_hint()})', file=sys.stderr)
            return EXIT_NO_ASSISTANT
        pub.publish(String(data=json.dumps(payload, ensure_ascii=False)))
        got = spin_until(executor, lambda: bool(replies or event_replies), max(deadline - time.monotonic(), 0.0))
        if got:
            # the reply topic and the events topic are separate streams: collect both for a moment
            spin_until(executor, lambda: bool(replies and event_replies), args.linger)
            spin_until(executor, lambda: False, args.linger)
    reply_doc, reply_text = replies[0] if replies else (None, None)
    if event_replies:
        reply_text = event_replies[0]
    if args.json:
        out = {'request_id': request_id, 'text': text, 'zone': args.zone, 'reply': reply_text,
               'reply_message': reply_doc, 'events': [d if d is not None else raw for d, raw in events]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    elif got:
        print(reply_text)
    if not got:
        print(f'qwen-vehicle say: no reply within {args.timeout:g} s', file=sys.stderr)
        return EXIT_TIMEOUT
    return 0
