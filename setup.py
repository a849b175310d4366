"""qwen_vehicle: an LLM assistant on the vehicle's CAN and SOME/IP buses (ament_python and pip)."""
import os
from glob import glob

from setuptools import find_packages, setup

package_name = 'qwen_vehicle'
here = os.path.dirname(os.path.abspath(__file__))


def share(folder, pattern='*'):
    files = sorted(f for f in glob(os.path.join(folder, pattern)) if os.path.isfile(f))
    return (os.path.join('share', package_name, folder), files)


NODES = {
    'can_bridge': 'qwen_vehicle.nodes.can_bridge:main',
    'vehicle_sim': 'qwen_vehicle.nodes.vehicle_sim:main',
    'assistant': 'qwen_vehicle.nodes.assistant:main',
    'voice': 'qwen_vehicle.nodes.voice:main',
    'someip_gateway': 'qwen_vehicle.nodes.someip_gateway:main',
    'services_sandbox': 'qwen_vehicle.backends.services.sandbox:main',
}

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'bench']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        share('launch', '*.launch.py'),
        share('config', '*.yaml'),
        share('dbc', '*.dbc'),
        share('dbc/kona'),
    ],
    package_data={package_name: ['py.typed']},
    install_requires=['setuptools', 'python-can>=4.4', 'cantools>=40', 'pyyaml', 'numpy'],
    extras_require={
        'voice': ['pocketsphinx'],
        'llm': ['torch', 'transformers', 'tokenizers', 'jinja2'],
        'mf4': ['asammdf'],
    },
    zip_safe=True,
    maintainer='qwen_vehicle developers',
    maintainer_email='qwen-vehicle@example.com',
    description='ROS 2 nodes that decode DBC-defined CAN traffic and let an assistant read and actuate car state safely.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [f'{name} = {target}' for name, target in NODES.items()]
        + ['qwen-vehicle = qwen_vehicle.cli:main'],
    },
)
