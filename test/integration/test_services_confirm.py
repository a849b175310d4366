"""The confirmation mechanism the assistant drives: preview (reads only, real price, a fresh idempotency key),
then execute with that key on the driver's yes; a repeated yes does not buy twice."""
import datetime as dt

import pytest

from qwen_vehicle.backends.services.sandbox import CHINA_TZ, start_sandbox
from qwen_vehicle.backends.services.tools import ServiceExecutor
from qwen_vehicle.core.ir import ToolCall

WEST_LAKE = (30.25, 120.15)


@pytest.fixture
def env(tmp_path):
    server = start_sandbox(str(tmp_path / 'sandbox.db'))
    state = {'online': True}
    ex = ServiceExecutor.from_config({**server.config, 'retries': 0},
                                     store_path=str(tmp_path / 'car.db'), coverage=lambda: state['online'])
    yield server, ex, state
    ex.close()
    server.stop()


def ymd(offset):
    return (dt.datetime.now(CHINA_TZ).date() + dt.timedelta(days=offset)).strftime('%Y%m%d')


def confirm_and_run(ex, call):
    preview = ex.preview(call)
    assert preview.status == 'pending_confirmation', preview.reason
    return preview, ex.execute(call, idempotency_key=preview.content['idempotency_key'], position=WEST_LAKE)


def test_order_preview_states_the_real_price_and_creates_nothing(env):
    server, ex, _ = env
    call = ToolCall('order_food', {'restaurant_id': 'R002', 'items': [{'item_id': 'M0201', 'quantity': 2},
                                                                      {'item_id': 'M0204', 'quantity': 1}]})
    preview = ex.preview(call)
    assert preview.status == 'pending_confirmation' and preview.untrusted
    assert preview.content['details']['total_cny'] == 52.0
    assert '52 CNY' in preview.content['summary']['en'] and 'Pork soup dumplings' in preview.content['summary']['en']
    assert '52 元' in preview.content['summary']['zh'] and '知味小笼' in preview.content['summary']['zh']
    assert server.store.count('food_orders') == 0 and ex.outbox.entries() == []

    key = preview.content['idempotency_key']
    placed = ex.execute(call, idempotency_key=key)
    assert placed.status == 'ok' and placed.content['order']['total_cny'] == 52.0
    again = ex.execute(call, idempotency_key=key)  # the driver says yes twice, or the assistant retries
    assert again.content['order']['order_id'] == placed.content['order']['order_id']
    assert server.store.count('food_orders') == 1
    assert ex.preview(call).content['idempotency_key'] != key  # every preview is a new decision


def test_every_confirmable_tool_previews_then_runs(env):
    server, ex, _ = env
    _, order = confirm_and_run(ex, ToolCall('order_food', {'restaurant_id': 'R004',
                                                           'items': [{'item_id': 'M0401', 'quantity': 1}]}))
    preview, cancel = confirm_and_run(ex, ToolCall('cancel_food_order',
                                                   {'order_id': order.content['order']['order_id']}))
    assert '30 CNY' in preview.content['summary']['en'] and cancel.content['order']['status'] == 'cancelled'

    offer = f'TR-G7318-{ymd(2)}-2'
    preview, booked = confirm_and_run(ex, ToolCall('book_travel', {'offer_id': offer, 'passengers': 3}))
    assert preview.content['details']['total_cny'] == 219.0 and 'G7318' in preview.content['summary']['en']
    assert '二等座' in preview.content['summary']['zh'] and booked.status == 'ok'
    booking_id = booked.content['booking']['booking_id']
    preview, changed = confirm_and_run(ex, ToolCall('change_booking', {'booking_id': booking_id,
                                                                       'new_offer_id': f'TR-G7356-{ymd(2)}-2'}))
    assert 'G7356' in preview.content['summary']['en'] and changed.status == 'ok'

    preview, moved = confirm_and_run(ex, ToolCall('redirect_parcel', {'tracking_number': 'SF1402938475610',
                                                                      'destination': 'office'}))
    assert 'instead of home' in preview.content['summary']['en'] and '公司' in preview.content['summary']['zh']
    assert moved.content['parcel']['destination'] == 'office'


def test_preview_refuses_what_it_should(env):
    server, ex, state = env
    bad_item = ex.preview(ToolCall('order_food', {'restaurant_id': 'R002', 'items': [{'item_id': 'M0999',
                                                                                      'quantity': 1}]}))
    assert bad_item.status == 'error' and 'not on the menu' in bad_item.reason
    closed = ex.preview(ToolCall('order_food', {'restaurant_id': 'R012', 'items': [{'item_id': 'M1201',
                                                                                    'quantity': 1}]}))
    assert closed.status == 'error' and 'closed' in closed.reason
    assert ex.preview(ToolCall('list_parcels')).status == 'refused'
    assert ex.preview(ToolCall('book_travel', {'offer_id': 'TR-G20-20300101-2', 'passengers': 0})).status == 'refused'
    state['online'] = False
    offline = ex.preview(ToolCall('order_food', {'restaurant_id': 'R002', 'items': [{'item_id': 'M0201',
                                                                                     'quantity': 1}]}))
    assert offline.status == 'pending_confirmation' and offline.content['details'] == {'unverified': True}
    assert 'offline' in offline.content['summary']['en'] and '离线' in offline.content['summary']['zh']
    parcel = ex.preview(ToolCall('redirect_parcel', {'tracking_number': 'ZT5566778899001', 'destination': 'locker'}))
    assert 'ZT5566778899001 to a parcel locker' in parcel.content['summary']['en']
    assert '快递柜' in parcel.content['summary']['zh']
    assert server.store.count('food_orders') == 0 and server.store.count('idempotency') == 0
