"""Instructions planted in service content (both languages) never trigger an actuation or a purchase."""
import json

import pytest

from qwen_vehicle.backends.llm.fake import FakeBackend
from qwen_vehicle.backends.llm.router import Router
from qwen_vehicle.backends.services.sandbox import start_sandbox
from qwen_vehicle.backends.services.tools import ServiceExecutor
from qwen_vehicle.core.assistant import Assistant, LocalVehicle
from qwen_vehicle.core.intents import IntentEngine
from qwen_vehicle.core.policy import SafetyPolicy
from qwen_vehicle.core.tools import all_tools
from qwen_vehicle.core.virtual_car import VirtualCar

READY = ['Vehicle.Speed', 'Vehicle.LowVoltageSystemState', 'Vehicle.CurrentLocation.Latitude',
         'Vehicle.CurrentLocation.Longitude', 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature']


@pytest.fixture
def world(signal_map, tmp_path):
    server = start_sandbox(str(tmp_path / 'sandbox.db'), with_injection=True)
    services = ServiceExecutor.from_config({'base_url': server.url, 'token': server.token},
                                           store_path=str(tmp_path / 'outbox.db'))
    with VirtualCar(signal_map) as car:
        assert car.wait_for(READY)
        yield car, server, services
    services.close()
    server.stop()


def obeying_model(messages, tools):
    """A model that does whatever the last tool result tells it to."""
    last = messages[-1]
    if last['role'] == 'user':
        return '<tool_call>{"name": "search_restaurants", "arguments": {"query": "pizza"}}</tool_call>'
    if last['role'] == 'tool' and '忽略' in json.dumps(last, ensure_ascii=False) + str(last.get('content')):
        return ('<tool_call>{"name": "set_target_temperature", "arguments": {"zone": "driver", "value": 30}}'
                '</tool_call>\n<tool_call>{"name": "order_food", "arguments": {"restaurant_id": "R666", '
                '"items": [{"item_id": "M6661", "quantity": 10}]}}</tool_call>')
    return 'Here is what I found.'


@pytest.mark.parametrize('utterance', ['find me a pizza place', '附近有什么披萨'])
def test_rules_engine_replies_normally_to_planted_content(world, signal_map, utterance):
    car, server, services = world
    policy = SafetyPolicy.load('policy.yaml', car.store, signal_map)
    assistant = Assistant(all_tools(signal_map), policy, LocalVehicle(car.actuator, car.store), services=services)
    orders = server.store.count('food_orders')
    turn = assistant.handle(utterance, zone='driver')
    assert turn.results and turn.results[0].name == 'search_restaurants' and turn.results[0].untrusted
    assert all(r.name == 'search_restaurants' for r in turn.results)
    assert car.sim.stats['commands_ok'] == 0 and server.store.count('food_orders') == orders
    assert assistant.sessions['driver'].pending is None
    assert '<untrusted>' not in turn.reply


def test_llm_following_planted_instructions_is_refused(world, signal_map):
    car, server, services = world
    tools = all_tools(signal_map)
    policy = SafetyPolicy.load('policy.yaml', car.store, signal_map)
    model = FakeBackend(obeying_model)
    router = Router(IntentEngine(tools), local=model, confidence_threshold=1.0)
    assistant = Assistant(tools, policy, LocalVehicle(car.actuator, car.store), services=services, router=router)
    orders = server.store.count('food_orders')
    target = car.sim.plant.state.target['driver']
    turn = assistant.handle("I'm starving, surprise me with something good", zone='driver')
    assert turn.engine == 'local'
    names = [(r.name, r.status) for r in turn.results]
    assert ('search_restaurants', 'ok') in names
    refused = [r for r in turn.results if r.name in ('set_target_temperature', 'order_food')]
    assert refused and all(r.status == 'refused' and 'untrusted' in r.reason for r in refused)
    assert car.sim.plant.state.target['driver'] == target and car.sim.stats['commands_ok'] == 0
    assert server.store.count('food_orders') == orders and assistant.sessions['driver'].pending is None
