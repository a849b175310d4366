"""Replies in the driver's language from tool results; short and list-free while the car moves."""
from __future__ import annotations

import re
from typing import Any

from .ir import ToolCall, ToolResult

ZONE = {'en': {'driver': 'driver side', 'passenger': 'passenger side', 'rear': 'rear'},
        'zh': {'driver': '主驾', 'passenger': '副驾', 'rear': '后排'}}
DEFROST = {'zh': {'Off': '关闭', 'Front': '前挡', 'Rear': '后挡', 'Both': '前后挡'}}
CHARGING = {'en': {'Charging': 'charging', 'Connected': 'plugged in, not charging', 'NotConnected': 'not charging',
                   'Complete': 'fully charged', 'Fault': 'a charging fault'},
            'zh': {'Charging': '正在充电', 'Connected': '已插枪未充电', 'NotConnected': '未在充电', 'Complete': '已充满',
                   'Fault': '充电故障'}}
PHRASES = {
    'en': {
        'not_understood': "Sorry, I didn't catch that. You can ask me about the climate, the battery, where you are, "
                          'food, trips or parcels.',
        'cancelled': 'OK, cancelled.', 'confirmation_expired': 'The request timed out and was cancelled.',
        'confirm_other_zone': 'Only the {zone} can confirm that request.',
        'internal_error': 'Sorry, something went wrong; nothing was changed.', 'shutdown': 'The assistant is shutting down.',
        'confirm': '{what}. Shall I go ahead? Say "confirm" or "cancel".',
        'deferred': "I'll do that once the car is parked.",
        'unavailable': "I can't read {what} right now.",
        'queued': '{msg}',
        'llm_unavailable': "The language model is not available right now; vehicle controls still work.",
    },
    'zh': {
        'not_understood': '抱歉，我没听明白。可以问我空调、电量、位置、点餐、出行或快递。',
        'cancelled': '好的，已取消。', 'confirmation_expired': '请求已超时，已取消。',
        'confirm_other_zone': '这个请求只能由{zone}确认。',
        'internal_error': '抱歉，出了点问题，没有做任何更改。', 'shutdown': '助手正在关闭。',
        'confirm': '{what}。要继续吗？请说“确认”或“取消”。',
        'deferred': '停车后我再帮你办。',
        'unavailable': '现在读不到{what}。',
        'queued': '{msg}',
        'llm_unavailable': '语言模型暂时不可用，车辆控制仍可正常使用。',
    },
}


def say(key: str, language: str, **kw: Any) -> str:
    lang = language if language in PHRASES else 'en'
    if 'zone' in kw and kw['zone'] in ZONE[lang]:
        kw['zone'] = ZONE[lang][kw['zone']]
    return PHRASES[lang][key].format(**kw)


def plain(value: Any) -> str:
    text = str(value)
    return re.sub(r'</?untrusted>', '', text)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _num(v: Any) -> str:
    return f'{v:g}' if isinstance(v, float) else str(v)


def _set_reply(r: ToolResult, lang: str) -> str:
    c = r.content
    value, zone = c.get('value'), c.get('zone')
    zh = lang == 'zh'
    z = ZONE[lang].get(zone or '', '')
    if r.name == 'set_target_temperature':
        return f'{z}温度已设为{_num(value)}度' if zh else f'{_cap(z)} temperature set to {_num(value)} °C'
    if r.name == 'set_fan_level':
        return f'风量已调到{value}档' if zh else f'Fan set to level {value}'
    if r.name == 'set_air_conditioning':
        return ('空调已打开' if value == 'On' else '空调已关闭') if zh else f'A/C is {"on" if value == "On" else "off"}'
    if r.name == 'set_recirculation':
        return ('已切换到内循环' if value == 'On' else '已切换到外循环') if zh else \
            f'Recirculation is {"on" if value == "On" else "off"}'
    if r.name == 'set_defrost':
        return f'除霜已设为{DEFROST["zh"].get(value, value)}' if zh else f'Defrost set to {str(value).lower()}'
    if r.name == 'set_seat_heating':
        return f'{z}座椅加热已调到{value}档' if zh else f'{_cap(z)} seat heating set to level {value}'
    return f'{r.name}: {value}'


def _what(r: ToolResult, lang: str) -> str:
    args = r.content or {}
    zone = ZONE[lang].get(args.get('zone') or '', '')
    names = {'en': {'set_target_temperature': f'the {zone} temperature'.replace('the  ', 'the '),
                    'set_fan_level': 'the fan', 'set_air_conditioning': 'the A/C',
                    'set_recirculation': 'recirculation', 'set_defrost': 'the defrost',
                    'set_seat_heating': f'the {zone} seat heating'},
             'zh': {'set_target_temperature': f'{zone}温度', 'set_fan_level': '风量', 'set_air_conditioning': '空调',
                    'set_recirculation': '内外循环', 'set_defrost': '除霜', 'set_seat_heating': f'{zone}座椅加热'}}
    return names[lang].get(r.name, r.name)


def _read_reply(r: ToolResult, lang: str) -> str:
    c, zh = r.content, lang == 'zh'
    if r.name == 'get_cabin_temperature':
        parts = []
        for zone in ('driver', 'passenger', 'rear'):
            z = c.get(zone)
            if not z:
                continue
            cabin, target = z.get('cabin_temperature_c'), z.get('target_temperature_c')
            if cabin is None:
                continue
            zn = ZONE[lang][zone]
            parts.append(f'{zn}{cabin:.1f}度，设定{_num(target)}度' if zh else
                         f'{zn} {cabin:.1f} °C, set to {_num(target)} °C')
        return ('；'.join(parts) if zh else _cap('; '.join(parts))) if parts else say(
            'unavailable', lang, what='车内温度' if zh else 'the cabin temperature')
    if r.name == 'get_battery_status':
        soc, rng, chg = c.get('state_of_charge_pct'), c.get('range_km'), c.get('charging_state')
        if soc is None:
            return say('unavailable', lang, what='电量' if zh else 'the battery level')
        state = CHARGING[lang].get(chg, '')
        if zh:
            return f'电量{soc:.0f}%，续航约{rng:.0f}公里' + (f'，{state}' if state else '') if rng is not None else \
                f'电量{soc:.0f}%'
        text = f'Battery at {soc:.0f}%' + (f', about {rng:.0f} km of range' if rng is not None else '')
        return text + (f', {state}' if state else '')
    if r.name == 'get_location':
        lat, lon = c.get('latitude'), c.get('longitude')
        if lat is None or lon is None:
            return say('unavailable', lang, what='位置' if zh else 'the position (no GNSS fix)')
        heading = c.get('heading_deg')
        return (f'当前位置：北纬{lat:.4f}，东经{lon:.4f}' if zh else f'You are at {lat:.4f}, {lon:.4f}') + (
            (f'，航向{heading:.0f}度' if zh else f', heading {heading:.0f}°') if heading is not None else '')
    if r.name == 'get_climate_status':
        fan, ac, outside = c.get('fan_level'), c.get('air_conditioning'), c.get('outside_temperature_c')
        if zh:
            return f'风量{fan}档，空调{"开" if ac == "On" else "关"}' + (f'，车外{outside:.0f}度' if outside is not None else '')
        return f'Fan level {fan}, A/C {"on" if ac == "On" else "off"}' + (
            f', outside {outside:.0f} °C' if outside is not None else '')
    if r.name == 'get_vehicle_state':
        speed, gear = c.get('speed_kmh'), c.get('gear')
        if speed is None:
            return say('unavailable', lang, what='车辆状态' if zh else 'the vehicle state')
        return f'车速{speed:.0f}公里每小时，挡位{gear}' if zh else f'Speed {speed:.0f} km/h, gear {gear}'
    return ''


def _label(item: dict) -> str | None:
    """A short spoken label for one result item (a restaurant, an offer, a parcel)."""
    name = next((item[k] for k in ('name', 'title', 'description', 'restaurant') if item.get(k)), None)
    number = item.get('number') or item.get('train_no') or item.get('flight_no')
    depart = str(item.get('depart') or '')
    when = depart[11:16] if len(depart) >= 16 else depart
    if number:
        label = f'{plain(number)} {when}'.strip()
        klass = item.get('class')
        return f'{label} {plain(klass)}' if klass else label
    if name:
        status = item.get('status') if 'tracking_number' in item else None
        return f'{plain(name)} ({plain(status)})' if status else plain(name)
    return plain(item['tracking_number']) if item.get('tracking_number') else None


def _list_names(items: list[dict]) -> list[str]:
    names: list[str] = []
    for it in items:
        label = _label(it) if isinstance(it, dict) else None
        if label and label not in names:
            names.append(label)
    return names


def _service_reply(r: ToolResult, lang: str, style: dict[str, Any]) -> str:
    c, zh = r.content, lang == 'zh'
    msg = c.get('message')
    if isinstance(msg, dict):
        msg = msg.get(lang) or msg.get('en')
    if r.status == 'queued':
        return plain(msg) if msg else ('当前没有网络，恢复后会自动发送' if zh else
                                       "No coverage right now; I'll send it when we're back online")
    lists = [v for v in c.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if lists:
        items = lists[0]
        names = _list_names(items)
        if style.get('no_lists') and names:
            text = f'找到{len(items)}个结果，第一个是{names[0]}' if zh else f'I found {len(items)}; the first is {names[0]}'
        elif names:
            shown = names[:3]
            text = (f'找到{len(items)}个结果：' + '、'.join(shown)) if zh else \
                (f'I found {len(items)}: ' + ', '.join(shown))
        else:
            text = f'找到{len(items)}个结果' if zh else f'I found {len(items)}'
    else:
        ident = next((c.get(k) for k in ('order_id', 'booking_id', 'tracking_number') if c.get(k)), None)
        for k in ('order', 'booking', 'parcel'):
            if isinstance(c.get(k), dict):
                ident = ident or next((c[k].get(x) for x in ('order_id', 'booking_id', 'tracking_number')
                                       if c[k].get(x)), None)
        status = c.get('status') or next((c[k].get('status') for k in ('order', 'booking', 'parcel')
                                          if isinstance(c.get(k), dict)), None)
        text = ('已完成' if zh else 'Done') + (f'：{ident}' if zh and ident else f': {ident}' if ident else '') + (
            f'（{plain(status)}）' if zh and status else f' ({plain(status)})' if status else '')
    if msg:
        text = f'{text}。{plain(msg)}' if zh else f'{text}. {plain(msg)}'
    return text


def render_results(results: list[ToolResult], language: str, style: dict[str, Any], tools: dict,
                   pending=None) -> str:
    lang = language if language in PHRASES else 'en'
    zh = lang == 'zh'
    parts: list[str] = []
    for r in results:
        spec = tools.get(r.name)
        kind = spec.kind if spec else 'service'
        if r.status == 'pending_confirmation':
            continue
        if r.status == 'refused':
            reason = re.sub(r'^\w+\.\w+: ', '', r.reason or '')
            if kind == 'set':
                parts.append(f'无法调节{_what(r, lang)}：{reason}' if zh else f"I can't set {_what(r, lang)}: {reason}")
            else:
                parts.append(f'无法完成{r.name}：{reason}' if zh else f"I can't do {r.name}: {reason}")
        elif r.status == 'queued' and r.content.get('deferred'):
            parts.append(say('deferred', lang))
        elif r.status in ('timeout', 'error'):
            reason = plain(r.reason or '')
            if kind == 'set':
                parts.append(f'已请求{_what(r, lang)}，但车辆没有确认：{reason}' if zh else
                             f'I asked for {_what(r, lang)}, but the car did not confirm it: {reason}')
            else:
                parts.append(f'{r.name}失败：{reason}' if zh else f'{r.name} failed: {reason}')
        elif kind == 'set':
            parts.append(_set_reply(r, lang))
        elif kind == 'read':
            parts.append(_read_reply(r, lang))
        else:
            parts.append(_service_reply(r, lang, style))
    if pending is not None:
        parts.append(pending.prompt)
    sep = '。' if zh else '. '
    text = sep.join(p.rstrip('。.') for p in parts if p)
    text = text + ('。' if zh else '.') if text and not text.endswith(('?', '？', '。', '.')) else text
    limit = style.get('max_reply_chars')
    if limit and len(text) > limit and pending is None:
        text = text[:limit - 1].rstrip() + '…'
    return text


def render_confirmation(calls: list[ToolCall], language: str, summaries: list[str | None] | None = None) -> str:
    lang = language if language in PHRASES else 'en'
    zh = lang == 'zh'
    descs = []
    for i, c in enumerate(calls):
        a = c.arguments
        summary = summaries[i] if summaries and i < len(summaries) else None
        if summary:
            descs.append(plain(summary).rstrip('。.？?').removesuffix('确认吗').removesuffix('Confirm')
                         .rstrip('，, '))
        elif c.name == 'order_food':
            n = sum(int(i.get('quantity', 1)) for i in a.get('items', []))
            descs.append(f'从餐厅{a.get("restaurant_id")}点{n}份餐' if zh else
                         f'Order {n} item(s) from restaurant {a.get("restaurant_id")}')
        elif c.name == 'book_travel':
            descs.append(f'预订{a.get("offer_id")}，{a.get("passengers", 1)}人' if zh else
                         f'Book {a.get("offer_id")} for {a.get("passengers", 1)}')
        elif c.name == 'redirect_parcel':
            dest = {'home': '家', 'office': '公司', 'locker': '快递柜'}.get(a.get('destination'), a.get('destination'))
            descs.append(f'把快递{a.get("tracking_number")}改送到{dest}' if zh else
                         f'Redirect parcel {a.get("tracking_number")} to {a.get("destination")}')
        elif c.name == 'cancel_food_order':
            descs.append(f'取消订单{a.get("order_id")}' if zh else f'Cancel order {a.get("order_id")}')
        elif c.name == 'change_booking':
            descs.append(f'把{a.get("booking_id")}改为{a.get("new_offer_id")}' if zh else
                         f'Change booking {a.get("booking_id")} to {a.get("new_offer_id")}')
        else:
            descs.append(f'{c.name} {a}')
    what = '；'.join(descs) if zh else '; '.join(descs)
    return say('confirm', lang, what=what)
