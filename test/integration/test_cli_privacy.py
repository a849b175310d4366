"""`qwen-vehicle privacy`: export and delete a driver's data, change settings (real SQLite file)."""
import json
import subprocess
import sys

from qwen_vehicle.core.profile import ProfileStore


def cli(*args):
    return subprocess.run([sys.executable, '-m', 'qwen_vehicle.cli', *args], capture_output=True, text=True,
                          timeout=60)


def test_export_set_delete(tmp_path):
    db = str(tmp_path / 'profiles.db')
    store = ProfileStore(db)
    store.remember('alice', 'target_temperature.driver', 21.5)
    store.audit('alice', {'utterance': 'warmer'}, location=(30.259234, 120.155311))
    store.close()
    out = cli('privacy', '--db', db, 'export', 'alice')
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data['preferences'] == {'target_temperature.driver': 21.5}
    assert data['audit'][0]['utterance'] == 'warmer' and data['audit'][0]['location'] == [30.26, 120.16]
    out = cli('privacy', '--db', db, 'set', 'alice', '--personalization', 'off', '--location-precision', '1')
    assert json.loads(out.stdout)['consent_personalization'] is False
    assert json.loads(cli('privacy', '--db', db, 'export', 'alice').stdout)['preferences'] == {}
    bad = cli('privacy', '--db', db, 'set', 'alice', '--retention-days', '99999')
    assert bad.returncode == 2 and 'retention_days must be within' in bad.stderr
    assert cli('privacy', '--db', db, 'delete', 'alice').returncode == 0
    assert json.loads(cli('privacy', '--db', db, 'export', 'alice').stdout)['audit'] == []
