"""`qwen-vehicle privacy`: a driver's data in the assistant's profile database: show or change the privacy
settings, export everything as JSON, delete everything, purge audit records past their retention."""
from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser('privacy', help="export, delete or configure a driver's stored data",
                              description=__doc__)
    p.add_argument('--db', required=True, help='the assistant profile database (its profile_db parameter)')
    sub = p.add_subparsers(dest='action', required=True)
    for name, text in (('show', 'print the privacy settings'), ('export', 'print all stored data as JSON'),
                       ('delete', 'delete all stored data of the driver')):
        sp = sub.add_parser(name, help=text)
        sp.add_argument('driver')
    sp = sub.add_parser('set', help='change privacy settings')
    sp.add_argument('driver')
    sp.add_argument('--personalization', choices=('on', 'off'))
    sp.add_argument('--audit', choices=('on', 'off'))
    sp.add_argument('--retention-days', type=int)
    sp.add_argument('--location-precision', type=int, help='decimal places of lat/lon kept in the audit log')
    sub.add_parser('purge', help='delete audit records older than each driver\'s retention')


def run(args: argparse.Namespace) -> int:
    from ..core.profile import ProfileStore
    store = ProfileStore(args.db)
    try:
        if args.action == 'show':
            print(json.dumps(store.privacy(args.driver).__dict__, indent=2))
        elif args.action == 'export':
            print(json.dumps(store.export(args.driver), ensure_ascii=False, indent=2, default=str))
        elif args.action == 'delete':
            store.delete(args.driver)
            print(f'deleted all data of {args.driver}')
        elif args.action == 'set':
            changes = {k: v for k, v in (
                ('consent_personalization', None if args.personalization is None else args.personalization == 'on'),
                ('consent_audit', None if args.audit is None else args.audit == 'on'),
                ('retention_days', args.retention_days), ('location_precision', args.location_precision))
                if v is not None}
            try:
                print(json.dumps(store.set_privacy(args.driver, **changes).__dict__, indent=2))
            except ValueError as exc:
                print(f'qwen-vehicle privacy: {exc}', file=sys.stderr)
                return 2
        elif args.action == 'purge':
            print(f'purged {store.purge_expired()} audit record(s)')
        return 0
    finally:
        store.close()
