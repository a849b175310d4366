"""`qwen-vehicle run`: the demo car in one process.

Simulated ECUs + CAN bridge + assistant on python-can virtual buses, the services sandbox on 127.0.0.1, and a
short scripted conversation in English and Chinese (text path). Runs until Ctrl-C or --duration.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time

DEMO_SCRIPT = [
    ('driver', "what's my battery level?"),
    ('driver', 'turn on the A/C and set the temperature to 21 degrees'),
    ('passenger', '把副驾温度调到二十三度'),
    ('driver', 'set the fan to 9'),
    ('driver', 'where am I?'),
    ('driver', 'find a noodle place nearby'),
    ('driver', '我的快递到哪了'),
    ('driver', 'how warm is it in here?'),
]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser('run', help='run the demo car (simulated ECUs, CAN bridge, assistant) in one process',
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--duration', type=float, default=0.0, help='stop after this many seconds (0: until Ctrl-C)')
    p.add_argument('--scenario', choices=('parked', 'driving', 'charging'), default='parked')
    p.add_argument('--no-script', action='store_true', help='do not play the scripted conversation')
    p.add_argument('--no-services', action='store_true', help='do not start the lifestyle services sandbox')
    p.add_argument('--no-assistant', action='store_true', help='only the simulated car and the bridge')
    p.add_argument('--external-pose', action='store_true',
                   help='take position and speed from gazebo/navsat and gazebo/odom (Gazebo via ros_gz_bridge)')
    p.add_argument('--someip', action='store_true',
                   help='also offer the vehicle services on SOME/IP (UDP on 127.0.0.1:30501, SD on 30490)')
    p.add_argument('--signal-map', default='signals.yaml')
    p.add_argument('--data-dir', default='', help='where SQLite files go (default: a temporary folder)')
    p.add_argument('--llm-local-model', default='', help='a local Qwen checkpoint folder (transformers)')
    p.add_argument('--llm-endpoint', default='', help='an OpenAI-compatible base URL (DashScope, vLLM, Ollama)')
    p.add_argument('--llm-model', default='', help='the model name at the endpoint')


def run(args) -> int:
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    from rclpy.node import Node
    from std_msgs.msg import String

    from ..bringup import Bringup
    from ..nodes import qos

    data_dir = args.data_dir or tempfile.mkdtemp(prefix='qwen_vehicle_')
    os.makedirs(data_dir, exist_ok=True)
    sandbox = None
    params: dict[str, dict] = {'vehicle_sim': {'scenario': args.scenario, 'external_pose': args.external_pose}}
    nodes = ['vehicle_sim', 'can_bridge']
    if not args.no_assistant:
        nodes.append('assistant')
        params['assistant'] = {'profile_db': os.path.join(data_dir, 'profiles.db'),
                               'services_db': os.path.join(data_dir, 'outbox.db'),
                               'llm_local_model': args.llm_local_model, 'llm_model': args.llm_model,
                               'llm_endpoint': args.llm_endpoint}
        if not args.no_services:
            from ..backends.services.sandbox import start_sandbox
            sandbox = start_sandbox(os.path.join(data_dir, 'sandbox.db'))
            params['assistant']['services_url'] = sandbox.url
            os.environ['QV_SERVICES_TOKEN'] = sandbox.token or ''
            print(f'services sandbox: {sandbox.url}')
    if args.someip:
        nodes.append('someip_gateway')
    bringup = Bringup(nodes, params, signal_map=args.signal_map)
    stop = threading.Event()
    try:
        bringup.start()
        print(f'demo car running: nodes {", ".join(nodes)} on virtual buses {bringup.channel_prefix}_*')
        probe = Node('demo_console', context=bringup.context)
        replies: list[str] = []
        got_reply = threading.Event()

        def on_reply(msg: String) -> None:
            replies.append(msg.data)
            print(f'  assistant> {msg.data}', flush=True)
            got_reply.set()

        probe.create_subscription(String, 'assistant/reply', on_reply, qos.EVENTS)
        text_pub = probe.create_publisher(String, 'assistant/text', qos.COMMANDS)
        bringup.add_node(probe)
        bridge = bringup.nodes['can_bridge']
        t_end = time.monotonic() + args.duration if args.duration > 0 else None
        time.sleep(1.5)  # let the first status frames arrive
        if not args.no_assistant and not args.no_script:
            for zone, text in DEMO_SCRIPT:
                if t_end and time.monotonic() > t_end:
                    break
                print(f'[{zone}] {text}', flush=True)
                got_reply.clear()
                text_pub.publish(String(data=json.dumps({'text': text, 'zone': zone}, ensure_ascii=False)))
                got_reply.wait(8.0)
        last = 0.0
        while not stop.is_set() and (t_end is None or time.monotonic() < t_end):
            if time.monotonic() - last >= 5.0:
                last = time.monotonic()
                store = bridge.store
                values = {label: store.value(path) for label, path in (
                    ('soc%', 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed'),
                    ('cabin_drv', 'Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature'),
                    ('target_drv', 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature'),
                    ('speed', 'Vehicle.Speed'), ('lat', 'Vehicle.CurrentLocation.Latitude'),
                    ('lon', 'Vehicle.CurrentLocation.Longitude'))}
                print('car: ' + '  '.join(f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}'
                                          for k, v in values.items()), flush=True)
            time.sleep(0.2)
        account = {n: c.account.to_dict()['frames'] for n, c in bridge.codecs.items()}
        print(f'stopping; frames decoded per bus: {account}')
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        bringup.stop()
        if sandbox is not None:
            sandbox.stop()
