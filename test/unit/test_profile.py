import pytest

from qwen_vehicle.core.profile import ProfileStore


def test_preferences_need_consent_and_export_delete(tmp_path):
    store = ProfileStore(str(tmp_path / 'p.db'))
    assert store.remember('alice', 'target_temperature.driver', 21.5)
    assert store.preference('alice', 'target_temperature.driver') == 21.5
    store.remember('alice', 'target_temperature.driver', 23.0)
    store.remember('alice', 'target_temperature.driver', 21.5)
    assert store.preference('alice', 'target_temperature.driver') == 21.5
    store.remember('alice', 'target_temperature.driver', 23.0)
    assert store.preference('alice', 'target_temperature.driver') == 23.0  # a tie goes to the latest
    store.audit('alice', {'utterance': 'warmer', 'plan': {'calls': []}}, location=(30.259234, 120.155311))
    exported = store.export('alice')
    assert exported['preferences'] == {'target_temperature.driver': 23.0}
    assert exported['audit'][0]['location'] == [30.26, 120.16]  # default precision: 2 decimals
    store.set_privacy('alice', consent_personalization=False)
    assert store.preferences('alice') == {}
    assert not store.remember('alice', 'x', 1)
    store.delete('alice')
    assert store.export('alice')['audit'] == []


def test_retention_and_audit_consent(tmp_path):
    store = ProfileStore(str(tmp_path / 'p.db'))
    store.set_privacy('bob', retention_days=1)
    store.audit('bob', {'utterance': 'old'})
    assert store.purge_expired(now=__import__('time').time() + 2 * 86400) == 1
    store.set_privacy('bob', consent_audit=False)
    assert not store.audit('bob', {'utterance': 'not kept'})
    assert store.audit_records('bob') == []
    with pytest.raises(ValueError, match='unknown privacy setting'):
        store.set_privacy('bob', share_with_advertisers=True)
