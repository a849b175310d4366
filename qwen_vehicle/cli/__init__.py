"""The `qwen-vehicle` command: one module per subcommand, each with `add_parser(subparsers)` and `run(args) -> int`.

Subcommand modules are imported one by one, so a missing or broken one is reported without breaking the others.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType

SUBCOMMANDS = ('run', 'replay', 'decode', 'say', 'monitor', 'signals', 'privacy')
_EXIT_UNAVAILABLE = 2


def _load(name: str) -> tuple[ModuleType | None, str | None]:
    """The subcommand's module, or None and why it cannot be used."""
    try:
        module = importlib.import_module(f'{__name__}.{name}')
    except ModuleNotFoundError as exc:
        if exc.name == f'{__name__}.{name}':
            return None, 'not part of this installation'
        return None, f'needs {exc.name!r}, which is not installed'
    except Exception as exc:  # noqa: BLE001 - one broken subcommand must not take down the others
        return None, f'failed to load: {type(exc).__name__}: {exc}'
    if not callable(getattr(module, 'add_parser', None)) or not callable(getattr(module, 'run', None)):
        return None, 'module has no add_parser()/run()'
    return module, None


def _unavailable(name: str, why: str):
    def run(_args: argparse.Namespace) -> int:
        print(f'qwen-vehicle {name}: unavailable ({why})', file=sys.stderr)
        return _EXIT_UNAVAILABLE
    return run


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='qwen-vehicle',
        description='An LLM assistant on the car\'s CAN buses: run the demo car, talk to a running assistant, '
                    'watch signals, replay and decode CAN logs.')
    parser.add_argument('-v', '--verbose', action='count', default=0, help='more log output (-vv for debug)')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in SUBCOMMANDS if only is None else (only,):
        module, why = _load(name)
        if module is not None:
            try:
                module.add_parser(subparsers)
            except Exception as exc:  # noqa: BLE001
                module, why = None, f'add_parser failed: {type(exc).__name__}: {exc}'
        sub = subparsers.choices.get(name)
        if module is None:
            if sub is None:
                sub = subparsers.add_parser(name, help=f'(unavailable: {why})', add_help=False)
            sub.set_defaults(_qv_run=_unavailable(name, why), _qv_unavailable=True)
        elif sub is not None:
            sub.set_defaults(_qv_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Import only the subcommand asked for; the full list only for help.
    first = next((a for a in argv if not a.startswith('-')), None)
    parser = build_parser(first if first in SUBCOMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, '_qv_unavailable', False):
        parser.error(f'unrecognized arguments: {" ".join(extra)}')
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
                        format='%(levelname)s %(name)s: %(message)s')
    run = getattr(args, '_qv_run', None)
    if run is None:
        parser.print_help()
        return 0 if args.command is None else _EXIT_UNAVAILABLE
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `qwen-vehicle signals | head`
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
