"""Where the package's share data (dbc/, config/, launch/) lives: colcon, pip or a source checkout."""
import os
import sys
from functools import lru_cache

PACKAGE = 'qwen_vehicle'


@lru_cache(maxsize=None)
def share_dir() -> str:
    """The folder holding dbc/, config/ and launch/."""
    source_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isfile(os.path.join(source_root, 'package.xml')) and os.path.isdir(os.path.join(source_root, 'dbc')):
        return source_root
    try:
        from ament_index_python.packages import get_package_share_directory
        return get_package_share_directory(PACKAGE)
    except Exception:  # noqa: BLE001 - ament index absent or package not registered
        pass
    candidate = os.path.join(sys.prefix, 'share', PACKAGE)
    if os.path.isdir(candidate):
        return candidate
    raise FileNotFoundError(f'cannot find the {PACKAGE} share folder (dbc/, config/)')


def share_path(*parts: str) -> str:
    return os.path.join(share_dir(), *parts)


def resolve(path: str, folder: str) -> str:
    """An absolute path for `path`, looked up in the share `folder` when it is a bare name."""
    if os.path.isabs(path) or os.path.exists(path):
        return os.path.abspath(path)
    return share_path(folder, path)
