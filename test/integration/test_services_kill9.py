"""Exactly-once: a car process SIGKILLed in the middle of an order neither loses nor duplicates it.

The child places an order through the executor and its SQLite outbox against the sandbox (real HTTP, real
SQLite) and stops at a test hook: before the request is sent, or after the provider answered but before the
answer is stored. The parent kills it with SIGKILL, starts a new process on the same outbox, flushes, and counts
the orders in the sandbox's own database.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from qwen_vehicle.backends.services.sandbox import start_sandbox

KEY = 'kill9-order-000001'

CHILD_ORDER = r'''
import sys, time
from qwen_vehicle.backends.services.tools import ServiceExecutor
from qwen_vehicle.core.ir import ToolCall
url, store, phase, marker = sys.argv[1:5]

def stop_here(entry):
    with open(marker, 'w') as f:
        f.write(entry.key)
    time.sleep(60)  # killed here

ex = ServiceExecutor.from_config({'base_url': url, 'token': 'sandbox-token'}, store_path=store,
                                 _hooks={phase: stop_here})
ex.execute(ToolCall('order_food', {'restaurant_id': 'R001', 'items': [{'item_id': 'M0102', 'quantity': 1},
           {'item_id': 'M0104', 'quantity': 2}]}), idempotency_key=sys.argv[5])
print('not killed', flush=True)
'''

CHILD_FLUSH = r'''
import json, sys
from qwen_vehicle.backends.services.tools import ServiceExecutor
url, store = sys.argv[1:3]
ex = ServiceExecutor.from_config({'base_url': url, 'token': 'sandbox-token'}, store_path=store)
print(json.dumps([r.to_dict() for r in ex.flush()], ensure_ascii=False))
ex.close()
'''


def run_child(code, *args, timeout=60):
    return subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True, timeout=timeout)


def query(db, sql):
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize('phase, orders_at_kill', [('before_send', 0), ('after_send', 1)])
def test_sigkill_mid_order_neither_loses_nor_duplicates(tmp_path, phase, orders_at_kill):
    sandbox_db, store, marker = str(tmp_path / 'sandbox.db'), str(tmp_path / 'car.db'), str(tmp_path / 'at-hook')
    with start_sandbox(sandbox_db) as sandbox:
        child = subprocess.Popen([sys.executable, '-c', CHILD_ORDER, sandbox.url, store, phase, marker, KEY],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(marker):
                assert child.poll() is None, f'child exited early: {child.communicate()}'
                assert time.monotonic() < deadline, 'child never reached the hook'
                time.sleep(0.02)
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.communicate(timeout=10)
        assert child.returncode == -signal.SIGKILL

        # the state the dead process left behind
        assert query(sandbox_db, 'SELECT COUNT(*) FROM food_orders')[0][0] == orders_at_kill
        assert query(store, 'SELECT key, state FROM outbox') == [(KEY, 'pending')]

        restarted = run_child(CHILD_FLUSH, sandbox.url, store)
        assert restarted.returncode == 0, restarted.stderr
        outcomes = json.loads(restarted.stdout)
        assert [o['status'] for o in outcomes] == ['ok']

        # a second restart has nothing left to send
        again = run_child(CHILD_FLUSH, sandbox.url, store)
        assert json.loads(again.stdout) == []

    orders = query(sandbox_db, 'SELECT order_id, idempotency_key, total_cny FROM food_orders')
    assert len(orders) == 1, orders
    order_id, key, total = orders[0]
    assert key == KEY and total == 58.0 + 2 * 3.0 + 6.0
    rows = query(store, 'SELECT state, result FROM outbox')
    assert len(rows) == 1 and rows[0][0] == 'delivered'
    assert json.loads(rows[0][1])['order']['order_id'] == order_id
    assert '<untrusted>' not in rows[0][1]  # the outbox keeps the raw answer; marking happens on the way out
