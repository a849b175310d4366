"""What the driver is asked before a money/irreversible service call: a bilingual summary with the real price.

`describe(adapters, tool, args)` only reads (menus, offers, orders, parcels); it never writes. Provider names in
the summary are plain text for speech and display: the result carrying them is still marked untrusted.
"""
from __future__ import annotations

from typing import Any

from .base import ServiceRejected
from .untrusted import wrap_untrusted

DEST = {'home': ('home', '家'), 'office': ('the office', '公司'), 'locker': ('a parcel locker', '快递柜')}
CLASS_ZH = {'second': '二等座', 'first': '一等座', 'business': '商务座', 'economy': '经济舱'}


def describe(adapters: dict[str, Any], tool: str, args: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(English question, Chinese question, details such as total_cny). ServiceError when a read fails."""
    return _BUILDERS[tool](adapters, args)


def fallback(tool: str, args: dict[str, Any]) -> tuple[str, str]:
    """A question from the arguments alone, for when the provider cannot be asked (no coverage)."""
    note_en, note_zh = ' I cannot check the details offline.', '当前离线，无法核对详情。'
    if tool == 'order_food':
        count = sum(i['quantity'] for i in args['items'])
        return (f'Order {count} item(s) from restaurant {args["restaurant_id"]}? I cannot check the price offline.',
                f'要从餐厅 {args["restaurant_id"]} 点 {count} 份吗？当前离线，无法确认价格。')
    if tool == 'cancel_food_order':
        return f'Cancel order {args["order_id"]}?' + note_en, f'取消订单 {args["order_id"]} 吗？' + note_zh
    if tool == 'book_travel':
        n = args.get('passengers', 1)
        return (f'Book offer {args["offer_id"]} for {n} passenger(s)?' + note_en,
                f'预订 {args["offer_id"]}，{n} 人，确认吗？' + note_zh)
    if tool == 'change_booking':
        return (f'Change booking {args["booking_id"]} to {args["new_offer_id"]}?' + note_en,
                f'把预订 {args["booking_id"]} 改为 {args["new_offer_id"]} 吗？' + note_zh)
    to_en, to_zh = DEST[args['destination']]
    return (f'Send parcel {args["tracking_number"]} to {to_en}?' + note_en,
            f'把包裹 {args["tracking_number"]} 改派到{to_zh}吗？' + note_zh)


def _order(adapters, args):
    menu = adapters['food'].get_menu(args['restaurant_id'])
    r = menu['restaurant']
    prices = {i['item_id']: i for i in menu['items']}
    lines_en, lines_zh, subtotal = [], [], 0.0
    for line in args['items']:
        item = prices.get(line['item_id'])
        if item is None:
            raise ServiceRejected(f'item {line["item_id"]!r} is not on the menu of {wrap_untrusted(r["name_en"])}',
                                  code='unknown_item')
        subtotal += item['price_cny'] * line['quantity']
        lines_en.append(f'{line["quantity"]} × {item["name_en"]}')
        lines_zh.append(f'{item["name"]} × {line["quantity"]}')
    total = round(subtotal + r['delivery_fee_cny'], 2)
    if not r['open']:
        raise ServiceRejected(f'{wrap_untrusted(r["name_en"] + " " + r["name"])} is closed now',
                              code='restaurant_closed')
    fee = r['delivery_fee_cny']
    return (f'Order {", ".join(lines_en)} from {r["name_en"]} for {total:g} CNY including {fee:g} CNY delivery?',
            f'从{r["name"]}点{"、".join(lines_zh)}，共 {total:g} 元（含配送费 {fee:g} 元），确认下单吗？',
            {'total_cny': total, 'currency': 'CNY', 'restaurant': r['name'], 'restaurant_en': r['name_en']})


def _cancel(adapters, args):
    o = adapters['food'].order_status(args['order_id'])['order']
    return (f'Cancel order {o["order_id"]} from {o["restaurant_en"]} ({o["total_cny"]:g} CNY, {o["status"]})?',
            f'取消{o["restaurant"]}的订单 {o["order_id"]}（{o["total_cny"]:g} 元）吗？',
            {'total_cny': o['total_cny'], 'currency': 'CNY', 'status': o['status']})


def _offer_text(o: dict[str, Any]) -> tuple[str, str]:
    if o['kind'] == 'hotel':
        return (f'{o["name_en"]}, {o["nights"]} night(s) from {o["check_in"]}',
                f'{o["name"]}，{o["check_in"]} 入住 {o["nights"]} 晚')
    where_en = f'{o.get("from_station") or o.get("from_airport")} → {o.get("to_station") or o.get("to_airport")}'
    return (f'{o["kind"]} {o["number"]} {where_en} on {o["date"]} at {o["depart"]}, {o["class"]} class',
            f'{o["date"]} {o["depart"]} 的 {o["number"]}（{where_en}，{CLASS_ZH.get(o["class"], o["class"])}）')


def _book(adapters, args):
    o = adapters['travel'].offer(args['offer_id'])['offer']
    passengers = args.get('passengers', 1)
    if o['kind'] == 'hotel':
        rooms = (passengers + 1) // 2
        total, unit_en, unit_zh = o['total_cny'] * rooms, f'{rooms} room(s)', f'{rooms} 间房'
    else:
        total, unit_en, unit_zh = o['price_cny'] * passengers, f'{passengers} passenger(s)', f'{passengers} 人'
    en, zh = _offer_text(o)
    return (f'Book {en} for {unit_en}, {total:g} CNY?', f'预订{zh}，{unit_zh}，共 {total:g} 元，确认吗？',
            {'total_cny': round(total, 2), 'currency': 'CNY', 'kind': o['kind']})


def _change(adapters, args):
    booking = adapters['travel'].booking(args['booking_id'])['booking']
    new = adapters['travel'].offer(args['new_offer_id'])['offer']
    old_en, old_zh = _offer_text(booking['details'])
    new_en, new_zh = _offer_text(new)
    fee = float(booking.get('change_fee_cny') or 0.0)
    return (f'Change booking {booking["booking_id"]} from {old_en} to {new_en}? Change fee {fee:g} CNY.',
            f'把预订 {booking["booking_id"]} 从{old_zh}改为{new_zh}吗？改签费 {fee:g} 元。',
            {'change_fee_cny': fee, 'currency': 'CNY', 'kind': booking['kind']})


def _redirect(adapters, args):
    p = adapters['parcels'].track(args['tracking_number'])['parcel']
    now_en, now_zh = DEST.get(p['destination'], (p['destination'], p['destination']))
    to_en, to_zh = DEST[args['destination']]
    return (f'Send parcel {p["tracking_number"]} ({p["description"]}) to {to_en} instead of {now_en}?',
            f'把包裹 {p["tracking_number"]}（{p["description"]}）从{now_zh}改派到{to_zh}吗？',
            {'status': p['status'], 'current_destination': p['destination']})


_BUILDERS = {'order_food': _order, 'cancel_food_order': _cancel, 'book_travel': _book, 'change_booking': _change,
             'redirect_parcel': _redirect}
