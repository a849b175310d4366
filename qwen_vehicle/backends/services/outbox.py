"""Durable outbox for money/irreversible requests and a read cache, both in SQLite (WAL).

Every write request is recorded here with its idempotency key *before* it is sent; a process that dies at any
point leaves a pending row that `ServiceExecutor.flush()` sends again with the same key, and the provider answers
a repeated key with the first result. So an order is neither lost nor duplicated.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
  key TEXT PRIMARY KEY, call_id TEXT NOT NULL, tool TEXT NOT NULL, arguments TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')), attempts INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL, updated_at REAL NOT NULL, result TEXT, reason TEXT, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, created_at);
CREATE TABLE IF NOT EXISTS read_cache (
  tool TEXT NOT NULL, arguments TEXT NOT NULL, content TEXT NOT NULL, fetched_at REAL NOT NULL,
  PRIMARY KEY (tool, arguments));
"""


class OutboxConflict(ValueError):
    """An idempotency key already used for a different request."""


@dataclass
class OutboxEntry:
    key: str
    call_id: str
    tool: str
    arguments: dict[str, Any]
    state: str
    attempts: int
    created_at: float
    updated_at: float
    result: dict[str, Any] | None
    reason: str | None
    last_error: str | None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(',', ':'))


class _Db:
    def __init__(self, path: str, clock: Callable[[], float]):
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute('PRAGMA busy_timeout=10000')
        if path != ':memory:':
            self._conn.execute('PRAGMA journal_mode=WAL')
            self._conn.execute('PRAGMA synchronous=FULL')  # a delivered/queued row survives power loss
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Outbox(_Db):
    """Write requests keyed by idempotency key: pending -> delivered | failed."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time):
        super().__init__(path, clock)

    def put(self, key: str, call_id: str, tool: str, arguments: dict[str, Any]) -> tuple[OutboxEntry, bool]:
        """Record a request (durably) unless its key is known: (entry, created). OutboxConflict on key reuse."""
        args = _canonical(arguments)
        now = self.clock()
        with self._lock:
            self._conn.execute('BEGIN IMMEDIATE')
            try:
                row = self._conn.execute('SELECT * FROM outbox WHERE key=?', (key,)).fetchone()
                if row is None:
                    self._conn.execute('INSERT INTO outbox (key, call_id, tool, arguments, state, created_at, '
                                       "updated_at) VALUES (?,?,?,?,'pending',?,?)",
                                       (key, call_id, tool, args, now, now))
                self._conn.execute('COMMIT')
            except BaseException:
                self._conn.execute('ROLLBACK')
                raise
        if row is not None:
            if row['tool'] != tool or row['arguments'] != args:
                raise OutboxConflict(f'idempotency key {key!r} was already used for another request '
                                     f'({row["tool"]})')
            return _entry(row), False
        entry = self.get(key)
        assert entry is not None
        return entry, True

    def get(self, key: str) -> OutboxEntry | None:
        with self._lock:
            row = self._conn.execute('SELECT * FROM outbox WHERE key=?', (key,)).fetchone()
        return _entry(row) if row else None

    def pending(self) -> list[OutboxEntry]:
        return self._select("state='pending'")

    def entries(self) -> list[OutboxEntry]:
        return self._select('1')

    def _select(self, where: str) -> list[OutboxEntry]:
        with self._lock:
            rows = self._conn.execute(f'SELECT * FROM outbox WHERE {where} ORDER BY created_at').fetchall()
        return [_entry(r) for r in rows]

    def counts(self) -> dict[str, Any]:
        """{'pending': n, 'delivered': n, 'failed': n, 'oldest_pending_age_s': seconds or None} for diagnostics."""
        with self._lock:
            rows = self._conn.execute('SELECT state, COUNT(*), MIN(created_at) FROM outbox GROUP BY state').fetchall()
        out: dict[str, Any] = {'pending': 0, 'delivered': 0, 'failed': 0, 'oldest_pending_age_s': None}
        for state, count, oldest in rows:
            out[state] = count
            if state == 'pending':
                out['oldest_pending_age_s'] = round(max(0.0, self.clock() - oldest), 1)
        return out

    def record_attempt(self, key: str, error: str | None) -> None:
        self._update('UPDATE outbox SET attempts=attempts+1, last_error=?, updated_at=? WHERE key=?',
                     (error, self.clock(), key))

    def mark_delivered(self, key: str, result: dict[str, Any]) -> None:
        self._update("UPDATE outbox SET state='delivered', attempts=attempts+1, result=?, last_error=NULL, "
                     "updated_at=? WHERE key=? AND state='pending'", (_canonical(result), self.clock(), key))

    def mark_failed(self, key: str, reason: str) -> None:
        self._update("UPDATE outbox SET state='failed', attempts=attempts+1, reason=?, updated_at=? "
                     "WHERE key=? AND state='pending'", (reason, self.clock(), key))

    def _update(self, sql: str, params: tuple) -> None:
        with self._lock:
            self._conn.execute(sql, params)


class ReadCache(_Db):
    """Last good answer per (tool, arguments), so reads can still answer offline and say how old they are."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time):
        super().__init__(path, clock)

    def put(self, tool: str, arguments: dict[str, Any], content: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute('INSERT OR REPLACE INTO read_cache VALUES (?,?,?,?)',
                               (tool, _canonical(arguments), _canonical(content), self.clock()))

    def get(self, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], float] | None:
        """(content, age in seconds) or None."""
        with self._lock:
            row = self._conn.execute('SELECT content, fetched_at FROM read_cache WHERE tool=? AND arguments=?',
                                     (tool, _canonical(arguments))).fetchone()
        if row is None:
            return None
        return json.loads(row['content']), max(0.0, self.clock() - row['fetched_at'])


def _entry(row: sqlite3.Row) -> OutboxEntry:
    return OutboxEntry(key=row['key'], call_id=row['call_id'], tool=row['tool'],
                       arguments=json.loads(row['arguments']), state=row['state'], attempts=row['attempts'],
                       created_at=row['created_at'], updated_at=row['updated_at'],
                       result=json.loads(row['result']) if row['result'] else None, reason=row['reason'],
                       last_error=row['last_error'])
