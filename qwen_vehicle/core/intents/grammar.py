"""Example command phrases for a speech recogniser's grammar or keyword list (numbers spelled out, as spoken)."""
from __future__ import annotations

_EN_NUMBERS = {16: 'sixteen', 17: 'seventeen', 18: 'eighteen', 19: 'nineteen', 20: 'twenty', 21: 'twenty one',
               22: 'twenty two', 23: 'twenty three', 24: 'twenty four', 25: 'twenty five', 26: 'twenty six',
               27: 'twenty seven', 28: 'twenty eight', 29: 'twenty nine', 30: 'thirty'}
_EN_DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven']
_ZH_NUMBERS = {16: '十六', 17: '十七', 18: '十八', 19: '十九', 20: '二十', 21: '二十一', 22: '二十二', 23: '二十三',
               24: '二十四', 25: '二十五', 26: '二十六', 27: '二十七', 28: '二十八', 29: '二十九', 30: '三十'}
_ZH_DIGITS = ['零', '一', '二', '三', '四', '五', '六', '七']

_EN_FIXED = [
    'turn on the air conditioning', 'turn off the air conditioning', 'turn on the a c', 'turn off the a c',
    'a bit warmer', 'a bit cooler', 'warmer', 'cooler', 'two degrees warmer', 'two degrees cooler',
    'make it warmer', 'make it cooler', 'turn up the temperature', 'turn down the temperature',
    'and the passenger side too', 'both sides', 'turn on recirculation', 'turn off recirculation',
    'use fresh air', 'turn on the defrost', 'defrost the windshield', 'defrost the rear window', 'turn off the defrost',
    'fan up', 'fan down', 'maximum fan', 'turn off the fan', 'turn on the seat heating', 'turn off the seat heating',
    'seat heating high', 'seat heating low', 'what is the temperature', 'what is the temperature outside',
    'what is my battery level', 'what is my range', 'how far can i go', 'is the car charging', 'where am i',
    'how fast am i going', 'what is the climate status', 'find a noodle place', 'find a restaurant nearby',
    'i am hungry', 'order my usual', 'where is my order', 'cancel my order', 'show me the menu',
    'book a train to shanghai tomorrow', 'book a flight to beijing', 'find a hotel in beijing for two nights',
    'what is my itinerary', 'book the first one', 'book the second one', 'where is my parcel', 'list my parcels',
    'redirect my parcel to the locker', 'redirect my parcel to the office', 'never mind', 'thank you',
]
_ZH_FIXED = [
    '打开空调', '关闭空调', '温度高一点', '温度低一点', '调高两度', '调低两度', '副驾也一样', '两边都调到二十二度',
    '打开内循环', '打开外循环', '打开除霜', '关闭除霜', '风量调大一点', '风量调小一点', '风量最大', '关掉风扇',
    '打开座椅加热', '关闭座椅加热', '现在温度多少', '外面多少度', '还有多少电', '续航还有多少', '在充电吗', '我在哪里',
    '车速多少', '我想吃面', '附近有什么好吃的', '老样子', '外卖到哪了', '取消订单', '明天去上海的高铁',
    '订一张去北京的机票', '找一家北京的酒店住两晚', '我的行程', '就订第一个', '我的快递到哪了', '把快递改送到快递柜',
    '算了', '谢谢',
]


def grammar_phrases(language: str = 'en') -> list[str]:
    """Phrases the engine understands, lower case, numbers as words; 'en' or 'zh'."""
    if language == 'zh':
        phrases = list(_ZH_FIXED)
        for value, words in _ZH_NUMBERS.items():
            phrases += [f'温度调到{words}度', f'主驾{words}度', f'副驾调到{words}度', f'后排调到{words}度']
        phrases += [f'风量调到{d}档' for d in _ZH_DIGITS] + [f'座椅加热{d}档' for d in _ZH_DIGITS[:4]]
        return phrases
    phrases = list(_EN_FIXED)
    for value, words in _EN_NUMBERS.items():
        phrases += [f'set the temperature to {words}', f'set the temperature to {words} degrees',
                    f'set the driver side to {words}', f'set the passenger side to {words}',
                    f'set the rear to {words}', f'set both sides to {words}']
    phrases += [f'set the fan to {d}' for d in _EN_DIGITS] + [f'set the seat heating to {d}' for d in _EN_DIGITS[:4]]
    phrases.append('set the temperature to twenty two point five')
    return phrases
