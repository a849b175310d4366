"""Test-wide settings: DDS stays on this machine, each run in its own ROS domain, shared-data paths."""
import os
import random
import sys

import pytest

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(1, 100)))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REALDATA = os.path.join(os.path.dirname(REPO_ROOT), 'shared', 'realdata')
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.fixture(scope='session')
def realdata_dir():
    if not os.path.isdir(REALDATA):
        pytest.skip(f'real vehicle data not found at {REALDATA} (../shared/realdata beside the repository)')
    return REALDATA


@pytest.fixture(scope='session')
def signal_map():
    from qwen_vehicle.core.mapping import load_signal_map
    return load_signal_map('signals.yaml')
