"""Reply and clarification templates, English and Chinese. One key per situation; `{thing}` filled by the engine."""
from __future__ import annotations

from typing import Any

# clarifications: keyed by the missing slot (see engine._SLOT_QUESTIONS for which tool asks which)
CLARIFICATIONS: dict[str, dict[str, str]] = {
    'temperature': {'en': 'What temperature would you like?', 'zh': '要把温度调到多少度？'},
    'fan_level': {'en': 'Which fan level, from 0 to 7?', 'zh': '风量调到几档？（0到7档）'},
    'seat_level': {'en': 'Which seat heating level, from 0 to 3?', 'zh': '座椅加热调到几档？（0到3档）'},
    'restaurant': {'en': 'Which restaurant?', 'zh': '哪一家餐厅？'},
    'food_items': {'en': 'What would you like to order?', 'zh': '您想点什么？'},
    'order': {'en': 'Which order?', 'zh': '哪一个订单？'},
    'destination': {'en': 'Where would you like to go?', 'zh': '您要去哪里？'},
    'city': {'en': 'In which city?', 'zh': '在哪个城市？'},
    'offer': {'en': 'Which option should I book?', 'zh': '要订哪一个？'},
    'booking': {'en': 'Which booking should I change?', 'zh': '要改哪一个预订？'},
    'new_offer': {'en': 'Which option should I change it to?', 'zh': '要改成哪一个？'},
    'parcel': {'en': 'Which parcel?', 'zh': '哪一个包裹？'},
    'parcel_destination': {'en': 'Where should it go: home, the office or the locker?',
                           'zh': '要改送到哪里：家、公司还是快递柜？'},
    'follow_up': {'en': 'What should I change there?', 'zh': '要调整什么呢？'},
}

REPLIES: dict[str, dict[str, str]] = {
    'unsupported': {'en': "Sorry, I can't {thing} from here.", 'zh': '抱歉，我暂时无法{thing}。'},
    'irrelevant': {'en': "Sorry, I can only help with the car's climate, battery, location, food, travel and parcels.",
                   'zh': '抱歉，我只能帮您处理车内空调、电量、位置、餐饮、出行和快递。'},
    'unknown': {'en': "Sorry, I didn't catch that.", 'zh': '抱歉，我没听懂。'},
    'greeting': {'en': 'Hello! How can I help?', 'zh': '您好！有什么可以帮您？'},
    'thanks': {'en': "You're welcome.", 'zh': '不客气。'},
    'cancelled': {'en': 'OK, cancelled.', 'zh': '好的，已取消。'},
    'not_available': {'en': "Sorry, {thing} isn't available in this car.", 'zh': '抱歉，本车不支持{thing}。'},
}

# what the driver asked for that has no tool: (English verb phrase, Chinese verb phrase)
UNSUPPORTED_THINGS: dict[str, tuple[str, str]] = {
    'sunroof': ('operate the sunroof', '控制天窗'),
    'window': ('operate the windows', '控制车窗'),
    'door': ('lock or open the doors', '控制车门'),
    'trunk': ('open the trunk', '打开后备箱'),
    'lights': ('control the lights', '控制车灯'),
    'wipers': ('control the wipers', '控制雨刷'),
    'mirror': ('adjust the mirrors', '调节后视镜'),
    'horn': ('sound the horn', '鸣笛'),
    'media': ('play music or change the volume', '播放音乐或调节音量'),
    'navigation': ('start navigation', '导航'),
    'phone': ('make calls or send messages', '打电话或发消息'),
    'weather': ('check the weather', '查询天气'),
    'charging': ('start or stop charging', '控制充电'),
    'steering': ('heat the steering wheel', '控制方向盘加热'),
    'massage': ('control seat massage or ventilation', '控制座椅按摩或通风'),
    'drive': ('drive the car', '驾驶车辆'),
    'cancel_booking': ('cancel bookings, only change them', '取消预订，只能改签'),
}


def clarification(slot: str, language: str) -> str:
    return CLARIFICATIONS[slot][language]


def reply(kind: str, language: str, **fields: Any) -> str:
    template = REPLIES[kind][language]
    return template.format(**fields) if fields else template


def unsupported(thing: str, language: str) -> str:
    en, zh = UNSUPPORTED_THINGS[thing]
    return reply('unsupported', language, thing=en if language == 'en' else zh)
