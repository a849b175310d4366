"""Per-driver profiles and the audit log in SQLite, with privacy settings (consent, retention, precision)."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS drivers (
  driver TEXT PRIMARY KEY,
  consent_personalization INTEGER NOT NULL DEFAULT 1,
  consent_audit INTEGER NOT NULL DEFAULT 1,
  retention_days INTEGER NOT NULL DEFAULT 30,
  location_precision INTEGER NOT NULL DEFAULT 2,
  created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS preferences (
  driver TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 1, updated REAL NOT NULL,
  PRIMARY KEY (driver, key)
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ts REAL NOT NULL, driver TEXT, zone TEXT, request_id TEXT, utterance TEXT, language TEXT, engine TEXT,
  plan TEXT, decisions TEXT, results TEXT, timings TEXT, location TEXT
);
CREATE INDEX IF NOT EXISTS audit_driver_ts ON audit(driver, ts);
"""


@dataclass
class PrivacySettings:
    consent_personalization: bool = True
    consent_audit: bool = True
    retention_days: int = 30
    location_precision: int = 2   # decimal places of lat/lon kept in logs (2 ~ 1 km)


class ProfileStore:
    def __init__(self, path: str = ':memory:') -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _ensure(self, driver: str) -> None:
        self._db.execute('INSERT OR IGNORE INTO drivers(driver, created) VALUES (?, ?)', (driver, time.time()))

    def privacy(self, driver: str) -> PrivacySettings:
        with self._lock:
            self._ensure(driver)
            row = self._db.execute('SELECT consent_personalization, consent_audit, retention_days, location_precision '
                                   'FROM drivers WHERE driver=?', (driver,)).fetchone()
        return PrivacySettings(bool(row[0]), bool(row[1]), int(row[2]), int(row[3]))

    def set_privacy(self, driver: str, **settings: Any) -> PrivacySettings:
        allowed = set(PrivacySettings.__dataclass_fields__)
        bad = set(settings) - allowed
        if bad:
            raise ValueError(f'unknown privacy setting(s) {sorted(bad)}; settings: {sorted(allowed)}')
        if 'retention_days' in settings and not 0 <= int(settings['retention_days']) <= 3650:
            raise ValueError('retention_days must be within 0..3650')
        if 'location_precision' in settings and not 0 <= int(settings['location_precision']) <= 6:
            raise ValueError('location_precision must be within 0..6 decimal places')
        with self._lock:
            self._ensure(driver)
            for key, value in settings.items():
                self._db.execute(f'UPDATE drivers SET {key}=? WHERE driver=?', (int(value), driver))  # noqa: S608
        if not self.privacy(driver).consent_personalization:
            with self._lock:
                self._db.execute('DELETE FROM preferences WHERE driver=?', (driver,))
        return self.privacy(driver)

    # ---- preferences --------------------------------------------------------------------------------------
    def remember(self, driver: str, key: str, value: Any) -> bool:
        """Count a choice; the preference is the value chosen most often (latest wins a tie)."""
        if not self.privacy(driver).consent_personalization:
            return False
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        with self._lock:
            row = self._db.execute('SELECT value FROM preferences WHERE driver=? AND key=?', (driver, key)).fetchone()
            history = json.loads(row[0]) if row else {}
            history = {k: v for k, v in history.items() if k != text}
            history[text] = (json.loads(row[0]).get(text, 0) if row else 0) + 1
            self._db.execute(
                'INSERT INTO preferences(driver, key, value, count, updated) VALUES (?, ?, ?, ?, ?) '
                'ON CONFLICT(driver, key) DO UPDATE SET value = excluded.value, count = excluded.count, '
                'updated = excluded.updated',
                (driver, key, json.dumps(history, ensure_ascii=False), sum(history.values()), time.time()))
        return True

    @staticmethod
    def _favourite(history_text: str) -> Any:
        history = json.loads(history_text)
        best = max(reversed(list(history.items())), key=lambda kv: kv[1])[0]  # most often; latest on a tie
        return json.loads(best)

    def preference(self, driver: str, key: str) -> Any:
        with self._lock:
            row = self._db.execute('SELECT value FROM preferences WHERE driver=? AND key=?', (driver, key)).fetchone()
        return self._favourite(row[0]) if row else None

    def preferences(self, driver: str) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute('SELECT key, value FROM preferences WHERE driver=?', (driver,)).fetchall()
        return {k: self._favourite(v) for k, v in rows}

    # ---- audit ----------------------------------------------------------------------------------------------
    def audit(self, driver: str, record: dict[str, Any], location: tuple[float, float] | None = None) -> bool:
        settings = self.privacy(driver)
        if not settings.consent_audit:
            return False
        loc = None
        if location is not None:
            p = settings.location_precision
            loc = json.dumps([round(location[0], p), round(location[1], p)])
        dump = lambda v: json.dumps(v, ensure_ascii=False, default=str)  # noqa: E731
        with self._lock:
            self._db.execute(
                'INSERT INTO audit(ts, driver, zone, request_id, utterance, language, engine, plan, decisions, results,'
                ' timings, location) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
                (time.time(), driver, record.get('zone'), record.get('request_id'), record.get('utterance'),
                 record.get('language'), record.get('engine'), dump(record.get('plan')),
                 dump(record.get('decisions')), dump(record.get('results')), dump(record.get('timings')), loc))
        return True

    def audit_records(self, driver: str) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute('SELECT * FROM audit WHERE driver=? ORDER BY id', (driver,))
            cols = [c[0] for c in cur.description]
            rows = cur.fetchall()
        out = []
        for row in rows:
            rec = dict(zip(cols, row))
            for key in ('plan', 'decisions', 'results', 'timings', 'location'):
                if rec.get(key):
                    rec[key] = json.loads(rec[key])
            out.append(rec)
        return out

    def purge_expired(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                'DELETE FROM audit WHERE id IN (SELECT a.id FROM audit a JOIN drivers d ON a.driver = d.driver '
                'WHERE a.ts < ? - d.retention_days * 86400.0)', (now,))
            return cur.rowcount

    # ---- export / delete --------------------------------------------------------------------------------------
    def export(self, driver: str) -> dict[str, Any]:
        settings = self.privacy(driver)
        return {'driver': driver, 'privacy': settings.__dict__, 'preferences': self.preferences(driver),
                'audit': self.audit_records(driver)}

    def delete(self, driver: str) -> None:
        with self._lock:
            for table in ('audit', 'preferences', 'drivers'):
                self._db.execute(f'DELETE FROM {table} WHERE driver=?', (driver,))  # noqa: S608
