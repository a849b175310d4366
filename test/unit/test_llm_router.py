"""Routing: rules first, LLM when unsure or open, local vs cloud, offline fallback, vehicle control on the car."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_fixtures import vehicle_tool_specs  # noqa: E402
from qwen_vehicle.backends.llm.base import LLMBackend, LLMBackendError  # noqa: E402
from qwen_vehicle.backends.llm.fake import FakeBackend  # noqa: E402
from qwen_vehicle.backends.llm.router import Router  # noqa: E402
from qwen_vehicle.core.ir import Plan, ToolCall, ToolResult  # noqa: E402

TOOLS = vehicle_tool_specs()

PLANS = {
    'warmer': Plan(calls=[ToolCall('set_target_temperature', {'zone': 'driver', 'value': 23})], confidence=0.95),
    'maybe warmer': Plan(calls=[ToolCall('set_target_temperature', {'zone': 'driver', 'value': 23})],
                         confidence=0.3),
    'hello': Plan(reply='Hello!', confidence=0.9),
    'plan my weekend': Plan(confidence=0.0),
    'maybe noodles': Plan(calls=[ToolCall('search_restaurants', {'query': 'noodles'})], confidence=0.4),
    '你好': Plan(language='zh', confidence=0.1),
}


def rules(text, context):
    return PLANS[text]


def make(local=True, cloud=True, online=True, **kwargs):
    state = {'online': online}
    router = Router(rules, FakeBackend(['local'], name='local') if local else None,
                    FakeBackend(['cloud'], name='cloud', runs_on_vehicle=False) if cloud else None,
                    connectivity=lambda: state['online'], **kwargs)
    return router, state


def test_confident_rules_win():
    router, _ = make()
    decision = router.route('warmer')
    assert decision.engine == 'rules' and decision.plan is PLANS['warmer'] and decision.vehicle_control
    assert router.route('hello').engine == 'rules'


def test_open_request_goes_to_the_preferred_model():
    router, _ = make(prefer='cloud')
    decision = router.route('plan my weekend')
    assert decision.engine == 'cloud' and 'open request' in decision.reason and decision.notice is None
    router, _ = make(prefer='local')
    assert router.route('plan my weekend').engine == 'local'


def test_unsure_service_request_goes_to_a_model():
    router, _ = make(prefer='cloud')
    decision = router.route('maybe noodles')
    assert decision.engine == 'cloud' and 'not confident' in decision.reason


def test_offline_falls_back_to_the_car_and_says_so():
    router, state = make(prefer='cloud', online=False)
    decision = router.route('plan my weekend')
    assert decision.engine == 'local' and decision.offline and 'offline' in decision.notice
    zh = router.route('你好')
    assert zh.engine == 'local' and '网络' in zh.notice
    state['online'] = True
    assert router.route('plan my weekend').engine == 'cloud'


def test_offline_without_onboard_model_keeps_the_rules_and_says_so():
    router, _ = make(local=False, prefer='cloud', online=False)
    decision = router.route('maybe noodles')
    assert decision.engine == 'rules' and decision.offline and decision.notice
    decision = router.route('plan my weekend')
    assert decision.engine == 'none' and decision.notice


def test_vehicle_control_never_goes_to_the_cloud():
    router, _ = make(prefer='cloud')
    decision = router.route('maybe warmer')
    assert decision.engine == 'local' and decision.vehicle_control
    cloud_only, _ = make(local=False, prefer='cloud')
    decision = cloud_only.route('maybe warmer')
    assert decision.engine == 'rules' and decision.plan.calls[0].name == 'set_target_temperature'
    offline, _ = make(local=False, prefer='cloud', online=False)
    assert offline.route('maybe warmer').engine == 'rules'


def test_latency_budget_switches_engines():
    router, _ = make(prefer='local', latency_budget_ms=500)
    for ms in (900, 1000, 1100):
        router.record_latency('local', ms)
    decision = router.route('plan my weekend')
    assert decision.engine == 'cloud' and 'budget' in decision.reason
    for ms in (1500, 1600, 1700):
        router.record_latency('cloud', ms)
    assert router.route('plan my weekend').engine == 'local'  # both over: preference decides


def test_connectivity_probe_that_raises_counts_as_offline():
    def probe():
        raise OSError('modem gone')

    router = Router(rules, FakeBackend(name='local'), FakeBackend(name='cloud'), connectivity=probe,
                    prefer='cloud')
    decision = router.route('plan my weekend')
    assert decision.engine == 'local' and decision.offline


def test_plan_given_by_the_caller_is_used():
    router = Router(None, FakeBackend(name='local'), None)
    assert router.route('x', None, Plan(reply='hi', confidence=1.0)).engine == 'rules'
    assert router.route('x', None, Plan(confidence=0.0)).engine == 'local'


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match='prefer'):
        Router(rules, prefer='edge')
    with pytest.raises(ValueError, match='confidence_threshold'):
        Router(rules, confidence_threshold=2)


class FailingCloud(LLMBackend):
    name = 'cloud'
    runs_on_vehicle = False

    def __init__(self, call_first=False):
        super().__init__()
        self.call_first = call_first

    def _generate(self, messages, tools, *, tool_choice, deadline):
        if self.call_first:
            yield ToolCall('search_restaurants', {'query': 'noodles'})
        raise LLMBackendError('cloud: HTTP 503')


def test_cloud_failure_falls_back_to_the_onboard_model_and_cools_down():
    local = FakeBackend(['on-board answer'], name='local')
    router = Router(rules, local, FailingCloud(), prefer='cloud')
    decision = router.route('plan my weekend')
    assert decision.engine == 'cloud'
    turn, final = router.respond(decision, [{'role': 'user', 'content': 'plan my weekend'}], TOOLS,
                                 lambda c: ToolResult(c.id, c.name, 'ok'))
    assert turn.text == 'on-board answer' and final.engine == 'local' and final.offline and final.notice
    assert router.route('plan my weekend').engine == 'local'  # cloud in cool-down
    assert router.recent_latency_ms('cloud') is not None


def test_cloud_failure_after_an_executed_call_is_not_repeated():
    router = Router(rules, FakeBackend(['x'], name='local'), FailingCloud(call_first=True), prefer='cloud')
    ran = []

    def execute(call):
        ran.append(call.name)
        return ToolResult(call.id, call.name, 'ok')

    with pytest.raises(LLMBackendError):
        router.respond(router.route('plan my weekend'), [{'role': 'user', 'content': 'x'}], TOOLS, execute)
    assert ran == ['search_restaurants']


def test_decision_serialises():
    router, _ = make()
    data = router.route('warmer').to_dict()
    assert json.loads(json.dumps(data))['engine'] == 'rules'


def test_an_intent_engine_object_can_be_the_rules():
    class Engine:
        def parse(self, text, context):
            return PLANS[text]

    router = Router(Engine(), FakeBackend(name='local'), None)
    assert router.route('warmer').engine == 'rules'
    assert router.route('plan my weekend').engine == 'local'
