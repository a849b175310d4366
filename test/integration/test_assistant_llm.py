"""The assistant with a real local model path (transformers, a tiny Qwen2 checkpoint built here, forced output):
an open request goes to the model, its tool call is validated, policed, sent on the bus and read back; a model
failure leaves vehicle control working."""
import os
import sys

import pytest

from qwen_vehicle.backends.llm.base import LLMBackendError
from qwen_vehicle.backends.llm.fake import FakeBackend
from qwen_vehicle.backends.llm.router import Router
from qwen_vehicle.core.assistant import Assistant, LocalVehicle
from qwen_vehicle.core.intents import IntentEngine
from qwen_vehicle.core.policy import SafetyPolicy
from qwen_vehicle.core.tools import all_tools
from qwen_vehicle.core.virtual_car import VirtualCar

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytest.importorskip('transformers')
from llm_fixtures import ForcedCompletion, tiny_checkpoint  # noqa: E402

READY = ['Vehicle.Speed', 'Vehicle.LowVoltageSystemState', 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature']


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory)


@pytest.fixture
def car(signal_map):
    with VirtualCar(signal_map) as car:
        assert car.wait_for(READY)
        yield car


def test_open_request_goes_through_the_local_model_to_the_bus(car, signal_map, checkpoint):
    from qwen_vehicle.backends.llm.transformers_backend import TransformersBackend
    tools = all_tools(signal_map, services=False)
    model = TransformersBackend(checkpoint, max_new_tokens=80)
    model.logits_processors = [ForcedCompletion(model.tokenizer, [
        '<tool_call>\n{"name": "set_seat_heating", "arguments": {"zone": "driver", "value": 3}}\n</tool_call>',
        'Your seat is warming up.'])]
    router = Router(IntentEngine(tools), local=model, vehicle_tools=tools)
    policy = SafetyPolicy.load('policy.yaml', car.store, signal_map)
    assistant = Assistant(tools, policy, LocalVehicle(car.actuator, car.store), router=router)
    turn = assistant.handle('my back is freezing, do something about it', zone='driver')
    assert turn.engine == 'local'
    assert [(r.name, r.status) for r in turn.results] == [('set_seat_heating', 'done')]
    assert car.sim.plant.state.seat_heat['driver'] == 3
    assert turn.reply == 'Your seat is warming up.'


def test_model_failure_leaves_vehicle_control_working(car, signal_map):
    tools = all_tools(signal_map, services=False)

    def broken(messages, tools):
        raise LLMBackendError('model crashed')
    router = Router(IntentEngine(tools), local=FakeBackend(broken), vehicle_tools=tools)
    policy = SafetyPolicy.load('policy.yaml', car.store, signal_map)
    assistant = Assistant(tools, policy, LocalVehicle(car.actuator, car.store), router=router)
    turn = assistant.handle('tell me something interesting about this car', zone='driver')
    assert 'not available right now' in turn.reply and any(e['type'] == 'llm_error' for e in turn.events)
    turn = assistant.handle('fan level 5', zone='driver')
    assert turn.engine == 'rules' and turn.results[0].status == 'done'
