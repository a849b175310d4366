"""Every adapter against the sandbox over real HTTP on 127.0.0.1 (state in SQLite), through the executor."""
import concurrent.futures
import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from qwen_vehicle.backends.services.base import ServiceAuthError, ServiceRejected
from qwen_vehicle.backends.services.food import FoodAdapter
from qwen_vehicle.backends.services.parcels import ParcelsAdapter
from qwen_vehicle.backends.services.sandbox import CHINA_TZ, DEFAULT_TOKEN, check_loopback, start_sandbox
from qwen_vehicle.backends.services.tools import ServiceExecutor, plain_text
from qwen_vehicle.backends.services.travel import TravelAdapter
from qwen_vehicle.core.ir import ToolCall

WEST_LAKE = (30.2500, 120.1500)


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(str(tmp_path / 'sandbox.db'))
    yield server
    server.stop()


@pytest.fixture
def executor(sandbox, tmp_path):
    ex = ServiceExecutor.from_config({'base_url': sandbox.url, 'token': DEFAULT_TOKEN, 'retries': 1,
                                      'backoff_s': 0.01}, store_path=str(tmp_path / 'car.db'))
    yield ex
    ex.close()


def run(ex, name, key=None, **args):
    return ex.execute(ToolCall(name, args), idempotency_key=key, position=WEST_LAKE)


def day(offset):
    return (dt.datetime.now(CHINA_TZ).date() + dt.timedelta(days=offset)).isoformat()


def test_food_flow_near_the_car(executor, sandbox):
    found = run(executor, 'search_restaurants', max_distance_km=3)
    assert found.status == 'ok' and found.untrusted
    restaurants = found.content['restaurants']
    distances = [r['distance_km'] for r in restaurants]
    assert distances == sorted(distances) and 0 < len(restaurants) and max(distances) <= 3
    assert all(r['restaurant_id'] not in ('R009', 'R010', 'R011') for r in restaurants)  # Jiaxing, Shanghai: far
    noodles = run(executor, 'search_restaurants', query='片儿川').content['restaurants']
    assert [r['restaurant_id'] for r in noodles] == ['R004']
    assert plain_text(noodles[0]['name_en']) == "Hefang Street Pian'erchuan Noodles"

    menu = run(executor, 'get_menu', restaurant_id='R002')
    assert menu.status == 'ok'
    prices = {i['item_id']: i['price_cny'] for i in menu.content['items']}
    assert prices['M0201'] == 22.0

    order = run(executor, 'order_food', 'drv-order-0001', restaurant_id='R002',
                items=[{'item_id': 'M0201', 'quantity': 2}, {'item_id': 'M0204', 'quantity': 1}], note='不要辣')
    assert order.status == 'ok', order.reason
    placed = order.content['order']
    assert placed['total_cny'] == 2 * 22.0 + 5.0 + 3.0 and placed['status'] == 'placed'
    status = run(executor, 'food_order_status', order_id=placed['order_id'])
    assert status.content['order']['order_id'] == placed['order_id']
    latest = run(executor, 'food_order_status')
    assert latest.content['orders'][0]['order_id'] == placed['order_id']

    cancel = run(executor, 'cancel_food_order', 'drv-cancel-0001', order_id=placed['order_id'])
    assert cancel.status == 'ok' and cancel.content['order']['status'] == 'cancelled'
    assert sandbox.store.count('food_orders') == 1


def test_food_errors_are_clear(executor, sandbox):
    unknown = run(executor, 'get_menu', restaurant_id='R999')
    assert unknown.status == 'error' and "unknown restaurant 'R999'" in unknown.reason
    bad_item = run(executor, 'order_food', 'drv-order-0002', restaurant_id='R002',
                   items=[{'item_id': 'M0101', 'quantity': 1}])
    assert bad_item.status == 'error' and 'not on the menu' in bad_item.reason
    closed = run(executor, 'order_food', 'drv-order-0003', restaurant_id='R012',
                 items=[{'item_id': 'M1201', 'quantity': 1}])
    assert closed.status == 'error' and 'closed' in closed.reason
    small = run(executor, 'order_food', 'drv-order-0004', restaurant_id='R005',
                items=[{'item_id': 'M0504', 'quantity': 1}])
    assert small.status == 'error' and 'minimum order' in small.reason
    negative = run(executor, 'order_food', 'drv-order-0005', restaurant_id='R002',
                   items=[{'item_id': 'M0201', 'quantity': -3}])
    assert negative.status == 'refused' and '-3' in negative.reason
    nowhere = executor.execute(ToolCall('search_restaurants', {}))
    assert nowhere.status == 'error' and 'position' in nowhere.reason
    assert sandbox.store.count('food_orders') == 0
    assert [e.state for e in executor.outbox.entries()] == ['failed', 'failed', 'failed']


def test_travel_flow(executor, sandbox):
    trains = run(executor, 'search_trains', destination='上海', date=day(1))
    assert trains.status == 'ok'
    assert 'Hangzhou' in plain_text(trains.content['origin'])  # from the car's position
    offers = trains.content['offers']
    second = [o for o in offers if o['class'] == 'second']
    assert second and all(o['price_cny'] == 73.0 for o in second)
    flights = run(executor, 'search_flights', origin='Hangzhou', destination='北京', date=day(2))
    assert {o['number'] for o in flights.content['offers']} == {'CA1701', 'MU5251'}
    hotels = run(executor, 'search_hotels', city='Shanghai', check_in=day(1), nights=2)
    assert hotels.content['offers'][0]['total_cny'] == 2 * hotels.content['offers'][0]['price_per_night_cny']

    booked = run(executor, 'book_travel', 'drv-book-0001', offer_id=second[0]['offer_id'], passengers=2)
    assert booked.status == 'ok', booked.reason
    booking = booked.content['booking']
    assert booking['total_cny'] == 146.0 and booking['status'] == 'confirmed'
    itinerary = run(executor, 'get_itinerary')
    assert [b['booking_id'] for b in itinerary.content['bookings']] == [booking['booking_id']]
    again = run(executor, 'search_trains', destination='Shanghai', date=day(1))
    left = {o['offer_id']: o['seats_left'] for o in again.content['offers']}
    assert left[second[0]['offer_id']] == 38

    changed = run(executor, 'change_booking', 'drv-change-0001', booking_id=booking['booking_id'],
                  new_offer_id=second[1]['offer_id'])
    assert changed.status == 'ok', changed.reason
    assert changed.content['booking']['offer_id'] == second[1]['offer_id']
    assert len(changed.content['booking']['changes']) == 1
    cross = run(executor, 'change_booking', 'drv-change-0002', booking_id=booking['booking_id'],
                new_offer_id=hotels.content['offers'][0]['offer_id'])
    assert cross.status == 'error' and 'train' in cross.reason
    assert sandbox.store.count('bookings') == 1


def test_travel_bad_input(executor):
    past = run(executor, 'search_trains', destination='Shanghai', date='2020-01-01')
    assert past.status == 'error' and 'in the past' in past.reason
    far = run(executor, 'search_flights', destination='Beijing', date=day(400))
    assert far.status == 'error' and 'days ahead' in far.reason
    nowhere = run(executor, 'search_trains', destination='Atlantis')
    assert nowhere.status == 'error' and 'unknown city' in nowhere.reason and 'Shanghai' in nowhere.reason
    bogus = run(executor, 'book_travel', 'drv-book-0002', offer_id='TR-G9999-20300101-2')
    assert bogus.status == 'error'
    impossible = run(executor, 'book_travel', 'drv-book-0003', offer_id='TR-G20-20260231-2')
    assert impossible.status == 'error' and 'impossible date' in impossible.reason
    too_many = run(executor, 'book_travel', 'drv-book-0004', offer_id=f'TR-G20-{day(1).replace("-", "")}-2',
                   passengers=12)
    assert too_many.status == 'refused' and '12' in too_many.reason


def test_parcels_flow(executor, sandbox):
    parcels = run(executor, 'list_parcels').content['parcels']
    numbers = {p['tracking_number']: p for p in parcels}
    assert {'SF1402938475610', 'YT7788123409876', 'JD0098765432101'} <= set(numbers)
    tracked = run(executor, 'track_parcel', tracking_number='SF1402938475610').content['parcel']
    assert len(tracked['events']) == 4 and tracked['status'] == 'out_for_delivery'
    moved = run(executor, 'redirect_parcel', 'drv-parcel-0001', tracking_number='YT7788123409876',
                destination='locker')
    assert moved.status == 'ok' and moved.content['parcel']['destination'] == 'locker'
    assert 'Redirected to locker' in plain_text(moved.content['parcel']['events'][-1]['text'])
    done = run(executor, 'redirect_parcel', 'drv-parcel-0002', tracking_number='JD0098765432101',
               destination='home')
    assert done.status == 'error' and 'already delivered' in done.reason
    unknown = run(executor, 'track_parcel', tracking_number='XX000')
    assert unknown.status == 'error' and 'unknown tracking number' in unknown.reason
    bad = run(executor, 'redirect_parcel', 'drv-parcel-0003', tracking_number='ZT5566778899001',
              destination='neighbour')
    assert bad.status == 'refused' and 'neighbour' in bad.reason


def test_same_key_same_result_one_record(executor, sandbox):
    args = {'restaurant_id': 'R004', 'items': [{'item_id': 'M0401', 'quantity': 1}]}
    first = run(executor, 'order_food', 'drv-order-0100', **args)
    second = run(executor, 'order_food', 'drv-order-0100', **args)
    assert first.content['order']['order_id'] == second.content['order']['order_id']
    reuse = run(executor, 'order_food', 'drv-order-0100', restaurant_id='R004',
                items=[{'item_id': 'M0401', 'quantity': 3}])
    assert reuse.status == 'refused' and 'already used' in reuse.reason
    # a second car process without the outbox row: the provider deduplicates by key
    other = FoodAdapter(sandbox.url, DEFAULT_TOKEN)
    replay = other.order('R004', args['items'], idempotency_key='drv-order-0100')
    assert replay['order']['order_id'] == first.content['order']['order_id']
    with pytest.raises(ServiceRejected) as err:
        other.order('R004', [{'item_id': 'M0402', 'quantity': 1}], idempotency_key='drv-order-0100')
    assert err.value.status == 422
    assert sandbox.store.count('food_orders') == 1


def test_concurrent_requests_with_one_key_create_one_record(sandbox):
    adapter = TravelAdapter(sandbox.url, DEFAULT_TOKEN, retries=0)
    offer = f'TR-G7318-{day(3).replace("-", "")}-1'
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: adapter.book(offer, passengers=1, idempotency_key='same-key-001'),
                                range(8)))
    assert len({r['booking']['booking_id'] for r in results}) == 1
    assert sandbox.store.count('bookings') == 1


def test_sandbox_http_contract(sandbox):
    def call(method, path, body=None, headers=None):
        request = urllib.request.Request(sandbox.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={'Authorization': f'Bearer {DEFAULT_TOKEN}', **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status, json.loads(reply.read()), dict(reply.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read()), dict(exc.headers)

    assert call('GET', '/v1/health')[0] == 200
    status, body, _ = call('POST', '/v1/food/orders', {'restaurant_id': 'R002', 'items': [
        {'item_id': 'M0201', 'quantity': 1}]})
    assert status == 400 and body['code'] == 'idempotency_key_required'
    status, body, _ = call('POST', '/v1/food/orders', {'restaurant_id': 'R002', 'items': [
        {'item_id': 'M0201', 'quantity': -1}]}, {'Idempotency-Key': 'raw-key-0001'})
    assert status == 422 and body['code'] == 'bad_quantity'
    order = {'restaurant_id': 'R002', 'items': [{'item_id': 'M0201', 'quantity': 1}]}
    status, body, headers = call('POST', '/v1/food/orders', order, {'Idempotency-Key': 'raw-key-0002'})
    assert status == 201 and 'Idempotent-Replayed' not in headers
    status2, body2, headers2 = call('POST', '/v1/food/orders', order, {'Idempotency-Key': 'raw-key-0002'})
    assert status2 == 201 and body2 == body and headers2.get('Idempotent-Replayed') == 'true'
    assert call('GET', '/v1/food/restaurants')[1]['code'] == 'position_required'
    assert call('GET', '/v1/nowhere')[0] == 404
    request = urllib.request.Request(sandbox.url + '/v1/food/orders', data=b'{not json', method='POST',
                                     headers={'Authorization': f'Bearer {DEFAULT_TOKEN}', 'Idempotency-Key': 'k'})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    err.value.close()
    assert err.value.code == 400
    assert call('GET', '/v1/health')[0] == 200  # still serving after bad input


def test_wrong_token_is_refused(sandbox):
    with pytest.raises(ServiceAuthError):
        ParcelsAdapter(sandbox.url, 'wrong').list_parcels()
    with pytest.raises(ServiceAuthError):
        ParcelsAdapter(sandbox.url, None).list_parcels()


def test_state_survives_a_restart(tmp_path):
    db = str(tmp_path / 'persist.db')
    with start_sandbox(db) as first:
        FoodAdapter(first.url, DEFAULT_TOKEN).order('R002', [{'item_id': 'M0201', 'quantity': 1}],
                                                    idempotency_key='persist-0001')
    with start_sandbox(db) as second:
        orders = FoodAdapter(second.url, DEFAULT_TOKEN).order_status()['orders']
        assert len(orders) == 1
        assert second.store.count('parcels') == 4  # seeded once, not again


def test_loopback_only():
    for host in ('127.0.0.1', '::1', 'localhost', '127.0.0.2'):
        check_loopback(host)
    for host in ('0.0.0.0', '192.168.1.10', 'example.com'):
        with pytest.raises(ValueError, match='loopback'):
            check_loopback(host)


def test_console_entry_point_prints_the_url(tmp_path):
    cmd = [sys.executable, '-m', 'qwen_vehicle.backends.services.sandbox', '--port', '0',
           '--db', str(tmp_path / 'cli.db'), '--log-level', 'WARNING']
    refused = subprocess.run(cmd[:3] + ['--host', '0.0.0.0', '--db', str(tmp_path / 'x.db')],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and 'loopback' in refused.stderr
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'}) as proc:
        try:
            url = proc.stdout.readline().strip()
            assert url.startswith('http://127.0.0.1:')
            assert ParcelsAdapter(url, DEFAULT_TOKEN).list_parcels()['parcels']
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert proc.returncode == 0  # SIGTERM is a clean shutdown
