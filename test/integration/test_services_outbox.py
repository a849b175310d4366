"""Offline behaviour against the real sandbox: the durable outbox under coverage loss, lost replies, timeouts,
and reads answered from the cache with their age."""
import datetime as dt
import threading
import time

import pytest

from qwen_vehicle.backends.services.food import FoodAdapter
from qwen_vehicle.backends.services.sandbox import CHINA_TZ, DEFAULT_TOKEN, start_sandbox
from qwen_vehicle.backends.services.tools import ServiceExecutor
from qwen_vehicle.core.ir import ToolCall

ORDER = {'restaurant_id': 'R002', 'items': [{'item_id': 'M0201', 'quantity': 2}]}


class Car:
    """Coverage the test can switch, a clock it can move, and what the driver was told."""

    def __init__(self):
        self.online = True
        self.now = 1_000_000.0
        self.told = []
        self.told_event = threading.Event()

    def tell(self, result):
        self.told.append(result)
        self.told_event.set()


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(str(tmp_path / 'sandbox.db'))
    yield server
    server.stop()


@pytest.fixture
def car():
    return Car()


def make_executor(sandbox, car, store, **adapter_options):
    options = {'retries': 1, 'backoff_s': 0.01, **adapter_options}
    return ServiceExecutor.from_config({'base_url': sandbox.url, 'token': DEFAULT_TOKEN, **options},
                                       store_path=store, coverage=lambda: car.online, on_outcome=car.tell,
                                       clock=lambda: car.now)


@pytest.fixture
def executor(sandbox, car, tmp_path):
    ex = make_executor(sandbox, car, str(tmp_path / 'car.db'))
    yield ex
    ex.close()


def order(ex, key, args=ORDER):
    return ex.execute(ToolCall('order_food', args), idempotency_key=key)


def test_no_coverage_queues_then_sends_once_when_coverage_returns(executor, sandbox, car):
    car.online = False
    queued = order(executor, 'offline-order-01')
    assert queued.status == 'queued'
    assert 'coverage' in queued.content['message']['en'] and '网络' in queued.content['message']['zh']
    assert sandbox.store.count('food_orders') == 0
    assert executor.flush() == [] and car.told == []  # still offline: nothing sent, nothing told
    car.now += 42
    assert executor.outbox.counts() == {'pending': 1, 'delivered': 0, 'failed': 0, 'oldest_pending_age_s': 42.0}

    car.online = True
    outcomes = executor.flush()
    assert [r.status for r in outcomes] == ['ok'] and car.told == outcomes
    told = car.told[0]
    assert told.call_id == queued.call_id and told.content['from_outbox']
    assert 'gone through' in told.content['message']['en']
    assert told.content['order']['total_cny'] == 47.0
    assert sandbox.store.count('food_orders') == 1
    assert executor.flush() == [] and len(car.told) == 1  # delivered once, told once
    assert [e.state for e in executor.outbox.entries()] == ['delivered']
    assert executor.outbox.counts()['pending'] == 0 and executor.outbox.counts()['delivered'] == 1
    # the driver repeating the confirmed request gets the stored result, not a second order
    assert order(executor, 'offline-order-01').content['order']['order_id'] == told.content['order']['order_id']
    assert sandbox.store.count('food_orders') == 1


def test_background_flusher_sends_when_coverage_returns(executor, sandbox, car):
    car.online = False
    for key, item in (('bg-order-0001', 'M0201'), ('bg-order-0002', 'M0202')):
        assert order(executor, key, {'restaurant_id': 'R002', 'items': [{'item_id': item, 'quantity': 1}]}
                     ).status == 'queued'
    executor.start_flusher(interval_s=0.05)
    car.online = True
    for _ in range(2):
        assert car.told_event.wait(10), 'the flusher did not report'
        car.told_event.clear()
        if len(car.told) == 2:
            break
    executor.close()
    assert [r.status for r in car.told] == ['ok', 'ok']
    assert sandbox.store.count('food_orders') == 2


def test_queued_request_survives_an_executor_restart(sandbox, car, tmp_path):
    store = str(tmp_path / 'car.db')
    car.online = False
    first = make_executor(sandbox, car, store)
    assert first.execute(ToolCall('redirect_parcel', {'tracking_number': 'ZT5566778899001', 'destination': 'office'}),
                         idempotency_key='redirect-0001').status == 'queued'
    first.close()
    car.online = True
    second = make_executor(sandbox, car, store)
    try:
        outcomes = second.flush()
    finally:
        second.close()
    assert [r.status for r in outcomes] == ['ok']
    assert outcomes[0].content['parcel']['destination'] == 'office'


def test_provider_outage_keeps_the_request_queued(executor, sandbox, car):
    sandbox.add_fault('/v1/food/orders', status=503, times=2)  # both attempts of the first send
    queued = order(executor, 'outage-order-01')
    assert queued.status == 'queued' and '503' in queued.content['queued_because']
    assert executor.outbox.get('outage-order-01').attempts == 1
    outcomes = executor.flush()
    assert [r.status for r in outcomes] == ['ok']
    assert sandbox.store.count('food_orders') == 1


def test_lost_reply_after_commit_is_not_a_second_order(executor, sandbox, car):
    # the provider commits, then the reply is lost (twice: the retry is lost too)
    sandbox.add_fault('/v1/food/orders', status=502, times=2, after=True)
    assert order(executor, 'lost-reply-0001').status == 'queued'
    assert sandbox.store.count('food_orders') == 1  # it did happen on the provider side
    outcomes = executor.flush()
    assert [r.status for r in outcomes] == ['ok']
    assert sandbox.store.count('food_orders') == 1
    orders = FoodAdapter(sandbox.url, DEFAULT_TOKEN).order_status()['orders']
    assert outcomes[0].content['order']['order_id'] == orders[0]['order_id']


def test_timeout_then_retry_is_not_a_second_order(sandbox, car, tmp_path):
    ex = make_executor(sandbox, car, str(tmp_path / 'car.db'), timeout_s=0.3, retries=0)
    try:
        sandbox.add_fault('/v1/travel/bookings', status=0, delay_s=1.0)  # slow, but it still books
        offer = f'HT-H301-{dt.datetime.now(CHINA_TZ).date():%Y%m%d}-1'
        booked = ex.execute(ToolCall('book_travel', {'offer_id': offer}), idempotency_key='slow-book-0001')
        assert booked.status == 'queued' and 'unreachable' in booked.content['queued_because']
        for _ in range(100):  # the slow request finishes on the provider side
            if sandbox.store.count('bookings') == 1:
                break
            time.sleep(0.05)
        ex.adapters['travel'].timeout_s = 10.0
        outcomes = ex.flush()
    finally:
        ex.close()
    assert [r.status for r in outcomes] == ['ok']
    assert sandbox.store.count('bookings') == 1


def test_queued_request_that_fails_later_tells_the_driver_why(executor, sandbox, car):
    car.online = False
    closed = order(executor, 'closed-order-01', {'restaurant_id': 'R012', 'items': [{'item_id': 'M1201',
                                                                                     'quantity': 1}]})
    assert closed.status == 'queued'
    car.online = True
    outcomes = executor.flush()
    assert [r.status for r in outcomes] == ['error'] and 'closed' in outcomes[0].reason
    assert 'could not be completed' in car.told[0].content['message']['en']
    assert executor.outbox.get('closed-order-01').state == 'failed'
    assert sandbox.store.count('food_orders') == 0


def test_offline_reads_come_from_the_cache_with_their_age(executor, sandbox, car):
    online = executor.execute(ToolCall('list_parcels'))
    assert online.status == 'ok' and 'cached' not in online.content
    car.online = False
    car.now += 300
    cached = executor.execute(ToolCall('list_parcels'))
    assert cached.status == 'ok' and cached.untrusted
    assert cached.content['cached'] is True and cached.content['cached_age_s'] == pytest.approx(300)
    assert '5 min' in cached.content['message']['en'] and '5 分钟' in cached.content['message']['zh']
    assert cached.content['parcels'] == online.content['parcels']
    car.now += 3300
    older = executor.execute(ToolCall('list_parcels'))
    assert older.content['cached_age_s'] == pytest.approx(3600) and '60 min' in older.content['message']['en']
    missing = executor.execute(ToolCall('track_parcel', {'tracking_number': 'SF1402938475610'}))
    assert missing.status == 'error' and 'no saved copy' in missing.reason


def test_provider_down_while_online_falls_back_to_the_cache(executor, sandbox, car):
    assert executor.execute(ToolCall('get_menu', {'restaurant_id': 'R001'})).status == 'ok'
    car.now += 60
    sandbox.stop()
    cached = executor.execute(ToolCall('get_menu', {'restaurant_id': 'R001'}))
    assert cached.status == 'ok' and cached.content['cached_age_s'] == pytest.approx(60)
    assert 'unreachable' in cached.content['message']['en']


def test_concurrent_flushes_send_and_report_each_request_once(executor, sandbox, car):
    car.online = False
    keys = [f'race-order-{n:04d}' for n in range(3)]
    for key in keys:
        assert order(executor, key).status == 'queued'
    car.online = True
    threads = [threading.Thread(target=executor.flush) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(r.content['idempotency_key'] for r in car.told) == keys
    assert sandbox.store.count('food_orders') == 3
