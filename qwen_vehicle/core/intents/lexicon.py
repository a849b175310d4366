"""Words the engine listens for, English and Chinese, compiled once at import.

Every pattern runs on text that `numbers.normalize_text` lower-cased and NFKC-normalised; patterns that need a
number run on the `normalize_numbers` form, where every number is digits (`NUM`).
"""
from __future__ import annotations

import re


class _Gated:
    """A regex behind a cheaper superset check (the same alternatives without word boundaries or named groups).

    Python's re tries every alternative at every position when alternatives start with \\b or a group; without them
    it can skip positions by first character, several times faster. Most patterns miss most clauses, so checking
    the loose gate first saves most of the time; a gate hit runs the exact pattern."""

    __slots__ = ('regex', 'gate')

    def __init__(self, regex: re.Pattern, gate: re.Pattern):
        self.regex, self.gate = regex, gate

    def search(self, string: str, *args):
        return self.regex.search(string, *args) if self.gate.search(string, *args) else None

    def finditer(self, string: str, *args):
        return self.regex.finditer(string, *args) if self.gate.search(string, *args) else iter(())

    def __getattr__(self, name: str):
        return getattr(self.regex, name)


def _loosen(pattern: str) -> str:
    return re.sub(r'\(\?P<\w+>', '(?:', pattern.replace(r'\b', ''))


Pattern = 're.Pattern | _Gated'  # what _re returns: search/finditer/match/sub/pattern as on re.Pattern


def _re(pattern: str, gate: str | None = None) -> re.Pattern | _Gated:
    regex = re.compile(pattern)
    gate = _loosen(pattern) if gate is None else gate
    return regex if gate == pattern else _Gated(regex, re.compile(gate))


NUM = r'(\d+(?:\.\d+)?)'

# ---- splitting one utterance into clauses -------------------------------------------------------------------
_EN_VERBS = (r'turn|switch|set|make|put|tell|show|what|what\'s|whats|how|find|book|order|track|where|check|give|get|'
             r'open|close|start|stop|navigate|play|call|redirect|cancel|change|increase|decrease|raise|lower|crank|'
             r'bump|let|please|i|'
             r'i\'m|can|could|search|look|list|read|is|are|do|also|then|warm|cool|heat')
CLAUSE_SPLIT = re.compile(r'[,;!?，。；！？、]+|(?<!\d)\.(?!\d)|\s+(?:and then|and also|after that|then|also|plus)\s+|'
                   rf'\s+and\s+(?=(?:{_EN_VERBS})\b)|'
                   r'(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])|'
                   r'(?:然后|并且|顺便|同时|另外|接着|之后)|(?:还有|以及)(?=告诉|帮|查|打开|关闭|把|给)|'
                   r'(?<=[\u4e00-\u9fff])再(?=帮|给|告诉|查|打开|关闭|找|订|看)|'
                   r'(?<=[\u4e00-\u9fff])(?:和|并)(?=打开|关闭|关掉|告诉|查|调|设|找|订|帮)', re.I)
LEADING_FILLER = _re(r'^(?:(?:and|so|ok|okay|hey|um|uh|oh|please|now|also|then|just|再|请|麻烦|帮我|给我|那|那就|'
                     r'然后|好的|嗯|哦|那么|那就)\s*[,，]?\s*)+')
FILLER_ONLY = _re(r'^(?:please|thanks?|thank you|ok|okay|now|yes|right|and|so|um|uh|then|no|sorry|i mean|actually|不对|'
                  r'不是|错了|请|好|好的|嗯|哦|吧|啊|谢谢|'
                  r'然后|麻烦了|一下|帮我|就这样)?$')

# ---- zones ----------------------------------------------------------------------------------------------------
ZONE_RE = _re(
    r'(?P<both>both sides|both front|front seats|front row|both of us|both\b|driver(?:\'s)? and (?:the )?passenger|'
    r'passenger(?:\'s)? and (?:the )?driver|两边|两侧|前排|左右|主副驾|主驾(?:驶)?和副驾(?:驶)?|副驾(?:驶)?和主驾(?:驶)?)|'
    r'(?P<all>\ball (?:zones|seats|sides|of them)\b|\beveryone\b|\beverywhere\b|\bwhole car\b|\ball\b|全车|所有|全部|'
    r'每个)|'
    r'(?P<passenger>\bpassenger|\bco-?driver|副驾(?:驶)?|乘客|右边|右侧|\bright side)|'
    r'(?P<rear>\brear\b|\bback seats?\b|\bbackseats?\b|\bback row\b|in the back\b|at the back\b|后排|后座|后面)|'
    r'(?P<driver>\bdriver|主驾(?:驶)?|驾驶位|驾驶座|驾驶员|驾驶侧|司机|左边|左侧|\bleft side)|'
    r'(?P<speaker>\bmy side\b|\bmy seat\b|\bfor me\b|我这边|我这里|我这)|'
    r'(?P<there>\bthat side\b|(?<!is )(?<!are )\bthere\b|那边|那一侧)')

# ---- vehicle devices (priority: the first that matches names the device of a clause) -----------------------------
DEVICES: list[tuple[str, Pattern]] = [
    ('seat', _re(r'seat[ -]?heat(?:ing|er|ers)?|heated seats?|seat warmers?|heat(?:ing)? (?:up )?(?:my |the )?seats?|'
                 r'warm (?:up )?(?:my |the )?seats?|seats? (?:heating|heater|warmer)|(?:my |the )?seats? (?:is|are) '
                 r'(?:cold|freezing)|butt warmer|座椅加热|加热座椅|座椅加温|座位加热|座椅(?:热|暖|冷|凉)|坐垫加热|座椅.{0,4}(?:档|级)')),
    ('defrost', _re(r'defrost(?:er|ing)?|de-?fog(?:ger|ging)?|de-?mist(?:er|ing)?|de-?ic(?:e|er|ing)|fogg(?:ed|ing|y)|'
                    r'fogging up|steamed up|misted up|heated (?:rear )?(?:window|windshield|windscreen)|'
                    r'rear window heat(?:er|ing)?|'
                    r'除霜|除雾|去雾|化霜|起雾|除冰|雾气|哈气|(?:挡风)?玻璃加热|(?:后挡|后窗|前挡)加热')),
    ('recirc', _re(r'recirc(?:ulation|ulate|ulating)?|recycle(?:d)? air|recycling|inner circulation|'
                   r'internal circulation|'
                   r'air circulation|circulation|fresh air|outside air|external air|outer circulation|内循环|外循环|循环|'
                   r'新风')),
    ('fan', _re(r'\bfans?\b|blower|air ?flow|fan speed|ventilation|\bwind\b|风量|风速|风扇|鼓风|风力|(?<![冷暖通挡])风(?![景格险光挡窗])')),
    ('ac', _re(r'\ba/?c\b|\ba c\b|aircon|air[ -]?con(?:ditioning|ditioner)?\b|air conditioning|climate control|'
               r'\bcooling\b|'
               r'空调|冷气|制冷')),
    ('temp', _re(r'temperature|\btemps?\b|degrees?|°|celsius|fahrenheit|\bwarm(?:er|th)?\b|\bcool(?:er)?\b|'
                 r'\bcold(?:er)?\b|\bhot(?:ter)?\b|chilly|freezing|\bheat\b|\bheating\b|\bheater\b|stuffy|'
                 r'温度|度|暖|热|冷|凉|升温|降温|闷')),
]
DEVICE_RE = {name: pattern for name, pattern in DEVICES}
# where a device is named, for splitting "set the fan to 3 and the temperature to 22" (not the bare unit 度/degrees)
SPLIT_DEVICE_RE = _re('|'.join(p.pattern for n, p in DEVICES if n != 'temp') + r'|temperature|\btemps?\b|温度')

ON_RE = _re(r'\b(?:turn|switch|put|flip|start|enable|activate|open|fire)\b.{0,20}\bon\b|\bon\b|\bturn on\b|\benable|'
            r'\bactivate|\bstart\b|打开|开启|开一下|开下|开着|启动|开(?=空调|冷气|内循环|外循环|除霜|除雾|座椅|风|暖|冷)|'
            r'^开|要开|帮我开|开了?吧|用')
OFF_RE = _re(r'\boff\b|\bdisable|\bdeactivate|\bstop\b|\bshut\b|\bkill\b|\bno more\b|关|停|不要|取消|别开')
SET_VERB_RE = _re(r'\b(?:set|change|make|put|adjust|turn|bring|keep|go)\b|调|设|改|开到|弄到|变成|保持')
ABS_TO_RE = _re(rf'(?:\bto|\bat|=|调到|调成|调为|设为|设成|设置为|设置成|设到|改为|改成|改到|开到|弄到|变成|到|为|成)\s*'
                rf'(?:about |around |大概|大约)?{NUM}')

# relative changes: direction words, checked on normalized text
FEEL_UP_RE = _re(r"i'?m (?:a bit |a little |so |really |very )?(?:cold|freezing|chilly)|i am (?:cold|freezing)|"
                 r"(?:too|so|very|a bit|a little) (?:cold|chilly)\b|it'?s (?:cold|freezing|chilly)|freezing|"
                 r'(?:太|好|有点|有些|很|真)(?:冷|凉|低)|冷死|冻死|too low|我(?:好|很|有点|有些|觉得|感觉)?(?:冷|凉)(?!气)')
FEEL_DOWN_RE = _re(r"i'?m (?:a bit |a little |so |really |very )?(?:hot|warm|sweating|boiling)|i am (?:hot|warm)|"
                   r"(?:too|so|very|a bit|a little) (?:hot|warm|stuffy)\b|it'?s (?:hot|boiling|stuffy)|stuffy|boiling|"
                   r'(?:太|好|有点|有些|很|真)(?:热|闷|高)|热死|闷死|too high|我(?:好|很|有点|有些|觉得|感觉)?(?:热|闷)')
UP_RE = _re(r'warmer|hotter|warm (?:it )?up|heat (?:it )?up|more heat|\bhigher\b|\braise\b|\bincrease\b|'
            r'turn (?:it )?up|'
            r'\bup\b|\bmore\b|stronger|faster|\bboost\b|crank|bump|'
            r'调高|升高|提高|增加|加大|调大|开大|升温|高一?点|高些|暖和|暖一?点|热一?点|大一?点|大些|强一?点|'
            r'多一?点|加\d|加一?点|调暖')
DOWN_RE = _re(r'cooler|colder|cool (?:it )?down|less heat|\blower\b|\bdecrease\b|\breduce\b|turn (?:it )?down|\bdown\b|'
              r'\bless\b|weaker|slower|quieter|'
              r'调低|降低|减少|减小|调小|开小|关小|降温|低一?点|低些|凉快|凉一?点|冷一?点|小一?点|小些|弱一?点|少一?点|'
              r'减\d|减一?点|调凉')
DELTA_RE = _re(rf'(?:by\s+)?{NUM}\s*(?:more\s+)?(?:degrees?|°c?|levels?|steps?|notches?|度|档|级|格)|'
               rf'(?:调高|升高|提高|调低|降低|加|减|高|低|大|小|by)\s*{NUM}')
HALF_DEGREE_RE = _re(r'half a degree|半度')
A_LOT_RE = _re(r'a lot|much|way|lots|多一些|很多|多点儿?')
MAX_RE = _re(r'\bmax(?:imum)?\b|\bfull\b|highest|all the way up|最大|最高|满|最强')
MIN_RE = _re(r'\bmin(?:imum)?\b|lowest|最小|最低|最弱')
LEVEL_WORDS = {'low': 1, 'medium': 2, 'mid': 2, 'middle': 2, 'high': 3, '低档': 1, '中档': 2, '高档': 3}
LEVEL_WORD_RE = _re(r'\b(?:low|medium|mid|middle|high)\b|低档|中档|高档')
OUTSIDE_RE = _re(r'outside|outdoor|out there|exterior|外面|室外|车外|外边|户外|外头')

DEFROST_BOTH_RE = _re(r'\bboth\b|\ball\b|front and (?:the )?(?:rear|back)|everything|every window|all windows|前后|全部|'
                      r'都|所有')
DEFROST_REAR_RE = _re(r'\brear\b|\bback\b|后挡|后窗|后风挡|后玻璃|后')
DEFROST_FRONT_RE = _re(r'front|windshield|windscreen|前挡|前窗|前风挡|前玻璃|前')
RECIRC_FRESH_RE = _re(r'fresh air|outside air|external air|outer circulation|外循环|新风')

# ---- questions --------------------------------------------------------------------------------------------------
EN_QUESTION_RE = _re(r"^(?:what|what's|whats|how|is|are|was|does|do|which|tell me|show me|check|give me|let me know|"
                     r"when|where|any)\b")
EN_REQUEST_RE = _re(r'^(?:can|could|would|will|please)\b')
ZH_QUESTION_RE = _re(r'多少|几度|几档|几级|吗|呢|怎么样|如何|什么|告诉我|查一下|查查|查询|看看|看一下|看下|有没有|是否|是不是|'
                     r'状态|情况|报一下')
ZH_ACTION_RE = _re(r'打开|开启|关闭|关掉|关上|(?<!空)调|设|升高|降低|开到|开大|开小|帮我开|帮我关|加热')

# ---- read tools -----------------------------------------------------------------------------------------------
BATTERY_RE = _re(r'batter(?:y|ies)|\bsoc\b|\bjuice\b|state of charge|\brange\b|how far can|how many (?:km|kilometers|'
                 r'kilometres|'
                 r'miles)|\bcharg(?:e|ed|ing)\b|charge level|电量|电池|续航|充电|还能(?:跑|开|走)|剩.{0,2}电|多少电|里程|电还')
CHARGING_CONTROL_RE = _re(r'(?:start|stop|begin|end|pause)\s+(?:the\s+)?charging|(?:开始|停止|结束|暂停)充电')
LOCATION_RE = _re(r'where am i|where are we|where is the car|where\'s the car|my location|current location|'
                  r'our location|'
                  r'current position|my position|\bgps\b|coordinates|latitude|longitude|我在哪|我们在哪|现在在哪|当前位置|'
                  r'我的位置|现在的位置|车在哪|定位|所在位置|在什么地方|在什么位置|位置在哪|在哪儿|在哪里呀?$')
VEHICLE_STATE_RE = _re(r'how fast|my speed|current speed|what speed|vehicle speed|speed am i|(?<!fan )\bspeed\b(?! up)|'
                       r'\bgear\b|parking brake|handbrake|hand brake|ignition|vehicle state|car state|vehicle status|'
                       r'车速|速度|多快|档位|什么档|哪个档|手刹|驻车|点火|车辆状态|车况')
CLIMATE_STATUS_RE = _re(r'climate status|climate settings|climate state|空调状态|空调情况|空调设置')

# ---- services ---------------------------------------------------------------------------------------------------
TRACKING_NUMBER_RE = re.compile(r'(?<![A-Za-z0-9])([A-Za-z]{2,4})\s?(\d{6,})(?![0-9])|'
                                r'(?<![A-Za-z0-9])(\d{10,})(?![0-9])')
PARCEL_RE = _re(r'parcels?|packages?|shipments?|courier|tracking|\blocker\b|快递|包裹|物流|运单|快件|丰巢|快递柜|驿站|'
                r'redirect|reroute|改派|转寄|改送')
PARCEL_REDIRECT_RE = _re(r'redirect|reroute|re-route|send (?:it|them|my|the)|deliver (?:it|them)|deliver(?:ed)? to|'
                         r'change (?:the )?(?:delivery|address)|have it|改派|转寄|改送|改地址|送到|放到|改到|寄到|送去|放进')
PARCEL_DESTINATIONS: list[tuple[str, Pattern]] = [
    ('locker', _re(r'locker|pick-?up (?:point|box|station)|parcel box|快递柜|丰巢|柜子|自提柜|驿站|菜鸟')),
    ('office', _re(r'office|\bwork\b|company|workplace|公司|单位|办公室')),
    ('home', _re(r'\bhome\b|my house|my place|家')),
]
PARCEL_LIST_RE = _re(r'my parcels|my packages|any parcels|any packages|all (?:my )?parcels|list|parcels|packages|'
                     r'哪些快递|有什么快递|有没有快递|我的快递|所有快递|快递列表|几个快递|包裹')

FOOD_STATUS_RE = _re(r'where(?:\'s| is) (?:my |the )?(?:food|order|delivery|takeaway|takeout|meal|lunch|dinner)|'
                     r'order status|status of (?:my|the) order|when will (?:my|the) (?:food|order|meal)|'
                     r'how long (?:until|for|till) (?:my|the) (?:food|order|meal)|track (?:my|the) (?:food )?order|'
                     r'外卖到哪|外卖.{0,4}(?:到哪|多久|什么时候|状态)|订单(?:状态|到哪|怎么样|进度)|餐到哪|饭到哪|我的外卖|我的订单')
FOOD_CANCEL_RE = _re(r'cancel (?:my |the |that )?(?:food )?order|取消.{0,4}(?:外卖|订单|点餐)|不要外卖了|退单')
FOOD_USUAL_RE = _re(r'my usual|the usual|same as last time|what i (?:usually|always) (?:get|order)|老样子|老规矩|常点的|'
                    r'照旧|平常那个|平时那个|和上次一样|跟上次一样|老一套')
MENU_RE = _re(r'\bmenu\b|菜单|有什么菜|有什么吃的|有啥吃的')
FOOD_RE = _re(r'restaurants?|\bfood\b|\beat\b|\beating\b|hungry|starving|lunch|dinner|breakfast|brunch|\bsnack|cuisine|'
              r'takeaway|takeout|take-out|\bdiner\b|\bcafe\b|\bplace to eat|something to eat|\bmeal\b|order (?:some|'
              r'food|'
              r'a |an |me )|'
              r'餐厅|饭店|饭馆|吃|饿|外卖|点餐|订餐|美食|午饭|晚饭|早饭|早餐|午餐|晚餐|夜宵|小吃|馆子|餐馆')
FOOD_ORDER_VERB_RE = _re(r'\border\b|\bget me\b|i\'ll have|i\'ll take|点|来一?份|来\d份|要\d份|下单')
CUISINES: list[tuple[str, Pattern]] = [
    ('noodles', _re(r'noodles?|ramen|\bpho\b|面馆|面条|拉面|汤面|牛肉面|吃面|碗面|炸酱面|凉面|冷面|面食|米线|米粉|螺蛳粉|河粉')),
    ('hotpot', _re(r'hot ?pot|火锅|涮锅')),
    ('sichuan', _re(r'sichuan|szechuan|川菜|四川菜|麻辣')),
    ('cantonese', _re(r'cantonese|dim sum|粤菜|广东菜|早茶|点心')),
    ('dumplings', _re(r'dumplings?|饺子|包子|馄饨|小笼|生煎')),
    ('hangzhou', _re(r'hangzhou (?:food|cuisine|dishes)|杭帮菜|杭州菜')),
    ('pizza', _re(r'pizza|披萨|比萨')),
    ('burgers', _re(r'burgers?|hamburgers?|汉堡')),
    ('coffee', _re(r'coffee|\bcafe\b|café|咖啡')),
    ('japanese', _re(r'japanese|sushi|日料|日本菜|寿司|日式')),
    ('korean', _re(r'korean|韩国菜|韩式|韩料|烤肉')),
    ('western', _re(r'western|steak|西餐|牛排')),
    ('vegetarian', _re(r'vegetarian|vegan|素食|素菜|斋')),
    ('bbq', _re(r'\bbbq\b|barbecue|烧烤|烤串|撸串')),
    ('fast_food', _re(r'fast food|快餐|肯德基|麦当劳|kfc|mcdonald')),
    ('snacks', _re(r'\bsnacks?\b|小吃')),
    ('chinese', _re(r'\bchinese\b|中餐|中式')),
]
DISTANCE_RE = _re(rf'within\s+{NUM}\s*(?:km|kilometers?|kilometres?|k)\b|{NUM}\s*(?:km|kilometers?|kilometres?)\s*'
                  rf'(?:away|radius|or less)?|{NUM}\s*(?:公里|千米|km)(?:以内|之内|内|范围)?')
EN_FOOD_QUERY_RE = _re(r'find (?:me )?(?:a |an |some )?([a-z][a-z ]{1,30}?) (?:restaurant|restaurants|place|food|'
                       r'spot|joint)s?\b')
FOOD_QUERY_STOP = {'good', 'nice', 'nearby', 'local', 'close', 'near', 'great', 'decent', 'new', 'place', 'food'}

TRAIN_RE = _re(r'\btrains?\b|\brail\b|railway|high-?speed|bullet train|\bhsr\b|高铁|火车|动车|车次|火车票|高铁票|动车票')
FLIGHT_RE = _re(r'flights?|\bfly\b|flying|plane|airline|\bair ticket|机票|航班|飞机|飞往|飞去|飞到|坐飞机|^飞')
HOTEL_RE = _re(r'hotels?|motel|\bhostel|\binn\b|accommodation|place to stay|somewhere to stay|\broom for|\broom in|'
               r'酒店|宾馆|旅馆|住宿|民宿|客栈|住一晚|住\d晚|开房|订房')
ITINERARY_RE = _re(r'itinerary|my trips?\b|my bookings|my reservations|travel plans?|upcoming trips?|my schedule|'
                   r'行程|我的预订|出行计划|旅行计划|预订记录')
CHANGE_BOOKING_RE = _re(r'change (?:my |the )?(?:booking|reservation|ticket|trip)|switch (?:my |the )?(?:booking|'
                        r'reservation|ticket)|(?:change|switch|move) (?:it|that) to|reschedule|rebook|swap (?:it|my)|'
                        r'改签|换成|改成|改到|换到|换一?个|改订|换票')
CANCEL_BOOKING_RE = _re(r'cancel (?:my |the )?(?:booking|reservation|ticket|trip|hotel|flight|train)|退票|取消(?:预订|行程|'
                        r'订票|酒店)')
BOOK_VERB_RE = _re(r'\bbook\b|\breserve\b|\bbuy\b|\btake\b|\bget\b|\bgo with\b|\bi\'ll take\b|\bpick\b|\bchoose\b|'
                   r'订|买|预订|预定|就要|选|要')
PASSENGERS_RE = _re(rf'for\s+{NUM}\s*(?:people|persons|passengers|adults|of us|tickets?)|{NUM}\s*(?:people|persons|'
                    rf'passengers|adults|tickets)|{NUM}\s*(?:个人|位|张票?|人|口人)')
NIGHTS_RE = _re(rf'{NUM}\s*nights?|{NUM}\s*(?:个)?(?:晚上?|夜)|住\s*{NUM}\s*天')
ONE_NIGHT_RE = _re(r'\ba night\b|one night|tonight only|住一晚|一晚|一夜')

# ---- references to earlier results ---------------------------------------------------------------------------
ORDINAL_WORDS = {'first': 0, '1st': 0, 'second': 1, '2nd': 1, 'third': 2, '3rd': 2, 'fourth': 3, '4th': 3,
                 'fifth': 4, '5th': 4, 'sixth': 5, 'seventh': 6, 'eighth': 7, 'ninth': 8, 'tenth': 9, 'last': -1,
                 'top': 0}
ORDINAL_RE = _re(r'\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|seventh|eighth|ninth|tenth|last)\b|'
                 r'\b(?:number|option|no\.?|#)\s*(\d+)|第\s*(\d+)|(最后)一?[个家班趟项条件]?|\bthe top one\b')
THIS_ONE_RE = _re(r'\b(?:this|that|it|the one)\b|这个|那个|这家|那家|这班|那班|这趟|它')

# ---- smalltalk, out of scope, cannot do --------------------------------------------------------------------
GREETING_RE = _re(r'^(?:hi|hello|hey|good (?:morning|afternoon|evening)|greetings|你好|您好|嗨|哈喽|早上好|下午好|晚上好|早)'
                  r'(?:\s*(?:there|qwen|assistant|car|小千|千问))?[!！。.,，]*$')
THANKS_RE = _re(r'^(?:thanks?(?: a lot| so much)?|many thanks|thank you(?: very much| so much)?|cheers|'
                r'great,? thanks|谢谢(?:你|您)?|多谢|感谢|辛苦了|'
                r'好的谢谢)[!！。.,，]*$')
CANCEL_RE = _re(r'^(?:never ?mind|forget it|cancel(?: that| it)?|no,? (?:thanks|thank you)|stop|nothing|'
                r'算了|不用了|取消|不要了|没事了?|没什么|不用|不了)(?:\s*(?:then|thanks))?[!！。.,，]*$')
IRRELEVANT_RE = _re(r'\bjoke|meaning of life|\bstory\b|\bpoem|\bsing\b|who are you|what are you|are you (?:alive|'
                    r'human)|'
                    r'\bweather\b.*\b(?:mars|moon)\b|capital of|who (?:won|is the president)|\bmath\b|stock price|'
                    r'recipe|translate|homework|\bpoetry\b|笑话|人生的意义|生命的意义|讲个故事|讲故事|写首诗|写诗|唱歌|唱首歌|'
                    r'你是谁|你叫什么|首都|股票|翻译|作业|菜谱')
UNSUPPORTED: list[tuple[str, Pattern]] = [
    ('steering', _re(r'steering wheel|方向盘')),
    ('massage', _re(r'massage|seat ventilation|ventilated seats?|cool(?:ed|ing)? seats?|按摩|座椅通风')),
    ('sunroof', _re(r'sun ?roof|moon ?roof|天窗|遮阳帘')),
    ('window', _re(r'\bwindows?\b|车窗|窗户|窗子')),
    ('door', _re(r'\bdoors?\b|\block the car\b|\bunlock\b|车门|门锁|锁车|解锁')),
    ('trunk', _re(r'\btrunk\b|\bboot\b|tailgate|frunk|后备箱|尾门|后备厢')),
    ('lights', _re(r'\blights?\b|headlights?|high beams?|车灯|大灯|远光|近光|氛围灯|阅读灯')),
    ('wipers', _re(r'wipers?|雨刷|雨刮')),
    ('mirror', _re(r'mirrors?|后视镜')),
    ('horn', _re(r'\bhorn\b|\bhonk\b|喇叭|鸣笛')),
    ('media', _re(r'\bmusic\b|\bsongs?\b|\bradio\b|\bvolume\b|\bpodcast|\bplay\b|spotify|音乐|歌|电台|音量|声音|广播|播放')),
    ('navigation', _re(r'navigat|directions|\broute\b|take me to|drive me to|\bguide me\b|导航|路线|带我去|怎么走')),
    ('phone', _re(r'\bcall\b|\bphone\b|\btext\b|\bsms\b|message|打电话|电话|短信|微信|发消息')),
    ('weather', _re(r'weather|forecast|\brain\b|天气|下雨|预报')),
    ('drive', _re(r'drive (?:the car|for me|itself)|autopilot|self-?driving|park the car|自动驾驶|自动泊车|帮我开车')),
]

# ---- dates ----------------------------------------------------------------------------------------------------
WEEKDAYS_EN = {'monday': 0, 'tuesday': 1, 'wednesday': 2, 'thursday': 3, 'friday': 4, 'saturday': 5, 'sunday': 6,
               'mon': 0, 'tue': 1, 'tues': 1, 'wed': 2, 'thu': 3, 'thur': 3, 'thurs': 3, 'fri': 4, 'sat': 5, 'sun': 6}
WEEKDAYS_ZH = {'一': 0, '二': 1, '三': 2, '四': 3, '五': 4, '六': 5, '日': 6, '天': 6}
MONTHS_EN = {'january': 1, 'february': 2, 'march': 3, 'april': 4, 'may': 5, 'june': 6, 'july': 7, 'august': 8,
             'september': 9, 'october': 10, 'november': 11, 'december': 12, 'jan': 1, 'feb': 2, 'mar': 3, 'apr': 4,
             'jun': 6, 'jul': 7, 'aug': 8, 'sep': 9, 'sept': 9, 'oct': 10, 'nov': 11, 'dec': 12}
_MONTH_ALT = '|'.join(sorted(MONTHS_EN, key=len, reverse=True))
_WD_ALT = '|'.join(sorted(WEEKDAYS_EN, key=len, reverse=True))
ISO_DATE_RE = _re(r'(\d{4})-(\d{1,2})-(\d{1,2})')
REL_DAY_RE = _re(r'day after tomorrow|\btomorrow\b|\btoday\b|\btonight\b|\bthis evening\b|大后天|后天|明天|明晚|明早|明日|'
                 r'今天|今晚|今日|今早')
IN_DAYS_RE = _re(r'in\s+(\d+)\s+days?|(\d+)\s*天(?:之?后|以后)')
EN_WEEKDAY_RE = _re(rf'\b(next|this|on|coming)?\s*({_WD_ALT})\b')
ZH_WEEKDAY_RE = _re(r'(?<!一)(下下|下|这|本)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天])')
EN_MONTH_DAY_RE = _re(rf'\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?'
                      rf'({_MONTH_ALT})\b')
ZH_MONTH_DAY_RE = _re(r'(\d{1,2})\s*月\s*(\d{1,2})\s*(?:号|日)?')
DAY_OF_MONTH_RE = _re(r'\bthe\s+(\d{1,2})(?:st|nd|rd|th)\b|(?<![月\d])(\d{1,2})\s*(?:号|日)')

# ---- places ---------------------------------------------------------------------------------------------------
CITIES_ZH = {
    '北京': 'Beijing', '上海': 'Shanghai', '广州': 'Guangzhou', '深圳': 'Shenzhen', '杭州': 'Hangzhou', '南京': 'Nanjing',
    '苏州': 'Suzhou', '成都': 'Chengdu', '重庆': 'Chongqing', '武汉': 'Wuhan', '西安': "Xi'an", '天津': 'Tianjin',
    '长沙': 'Changsha', '郑州': 'Zhengzhou', '青岛': 'Qingdao', '厦门': 'Xiamen', '三亚': 'Sanya', '昆明': 'Kunming',
    '大连': 'Dalian', '沈阳': 'Shenyang', '哈尔滨': 'Harbin', '济南': 'Jinan', '合肥': 'Hefei', '福州': 'Fuzhou',
    '宁波': 'Ningbo', '无锡': 'Wuxi', '珠海': 'Zhuhai', '香港': 'Hong Kong', '澳门': 'Macau', '拉萨': 'Lhasa',
    '桂林': 'Guilin', '丽江': 'Lijiang', '贵阳': 'Guiyang', '南宁': 'Nanning', '乌鲁木齐': 'Urumqi', '兰州': 'Lanzhou',
    '石家庄': 'Shijiazhuang', '太原': 'Taiyuan', '南昌': 'Nanchang', '东莞': 'Dongguan', '佛山': 'Foshan',
    '苏州市': 'Suzhou', '台北': 'Taipei', '大理': 'Dali', '黄山': 'Huangshan', '洛阳': 'Luoyang', '温州': 'Wenzhou',
}
CITIES_EN = {v.lower().replace("'", ''): v for v in CITIES_ZH.values()}
CITIES_EN.update({'xian': "Xi'an", 'canton': 'Guangzhou', 'peking': 'Beijing', 'hongkong': 'Hong Kong',
                  'macao': 'Macau'})
ZH_CITY_RE = _re('|'.join(sorted(CITIES_ZH, key=len, reverse=True)))
ZH_FLY_TO_CITY_RE = _re(rf'飞(?:往|去|到)?(?:{ZH_CITY_RE.pattern})')
_EN_PLACE_STOP = (r'tomorrow|today|tonight|on|next|this|for|from|at|in|by|the day|and|leaving|departing|around|'
                  r'please|departure|with|arriving|after|before|coming|early|late|morning|afternoon|evening|'
                  + _WD_ALT + '|' + _MONTH_ALT)
EN_TO_PLACE_RE = _re(rf"\bto\s+([a-z][a-z'\- ]{{1,30}}?)(?=\s+(?:{_EN_PLACE_STOP})\b|\s*$|\s+\d)")
EN_FROM_PLACE_RE = _re(rf"\bfrom\s+([a-z][a-z'\- ]{{1,30}}?)(?=\s+(?:to|{_EN_PLACE_STOP})\b|\s*$|\s+\d)")
EN_IN_PLACE_RE = _re(rf"\b(?:in|at|near)\s+([a-z][a-z'\- ]{{1,30}}?)(?=\s+(?:{_EN_PLACE_STOP})\b|\s*$|\s+\d)")
EN_PLACE_NOT = {'the', 'a', 'an', 'me', 'my', 'it', 'here', 'there', 'town', 'the city', 'the centre', 'the center',
                'city', 'downtown', 'nearby', 'the area', 'this city', 'home', 'work', 'somewhere'}
ZH_TO_PLACE_RE = _re(r'(?:去|到|飞往|飞去|飞到|飞|往|至)([\u4e00-\u9fff]{2,3}?)(?=的|高铁|火车|动车|机票|航班|飞机|酒店|'
                     r'宾馆|明天|后天|今天|下周|$)')
ZH_FROM_PLACE_RE = _re(r'从([\u4e00-\u9fff]{2,3}?)(?=到|去|飞|出发|回)')
ZH_IN_PLACE_RE = _re(r'(?:在|去|到)([\u4e00-\u9fff]{2,3}?)(?=的|订|找|住|酒店|宾馆|$)|([\u4e00-\u9fff]{2,3}?)(?=的酒店|的宾馆)')

# a number with one of these units is not a climate setting ("住3晚", "2 people")
NON_SETTING_UNIT_RE = _re(r'\d+\s*(?:晚|夜|nights?|人|people|persons|passengers|公里|km|kilomet|个|份|张|号|日|月|天|'
                          r'days?|点|:|hours?|minutes?|分钟|小时|岁|元|块|dollars?|yuan|%|percent|号线|楼)')

# one search instead of one per entry (named groups; the leftmost match wins, then the first listed)
UNSUPPORTED_RE = _re('|'.join(f'(?P<{name}>{pattern.pattern})' for name, pattern in UNSUPPORTED),
                     gate='|'.join(_loosen(pattern.pattern) for _, pattern in UNSUPPORTED))
CUISINE_NAMES = {f'c{i}': name for i, (name, _) in enumerate(CUISINES)}
CUISINE_RE = _re('|'.join(f'(?P<c{i}>{pattern.pattern})' for i, (_, pattern) in enumerate(CUISINES)),
                 gate='|'.join(_loosen(pattern.pattern) for _, pattern in CUISINES))

# "crank the A/C", "空调开大一点": more blower, not a temperature
AC_STRONGER_RE = _re(r'\bcrank|\bblast|stronger|turn (?:it )?up|\bup\b|\bmore\b|开大|开强|强一?点|大一?点|大些|加大')
AC_WEAKER_RE = _re(r'weaker|turn (?:it )?down|\bdown\b|\bless\b|开小|关小|弱一?点|小一?点|小些|减小')
AC_TEMPERATURE_RE = _re(r'warm|cool|cold|hot|higher|lower|temperature|degree|调高|调低|升高|降低|高一?点|低一?点|温度|'
                        r'暖|凉|冷一?点|热一?点')

# what may stand around an ordinal when the driver just picks from a list: "the second one please", "就第二个吧"
SELECT_VERB_RE = _re(r'\b(?:book|order|take|choose|pick|select|get|want|go with|track|show|open|check|reserve|buy)\b|'
                     r'订|买|选|要|点|看|查|来')
ORDINAL_FILLER_RE = _re(r"\b(?:the|one|ones|option|choice|number|no|please|that|let's|lets|ok|okay|go|with|i'll|"
                        r"item|train|flight|hotel|restaurant|place|parcel|package|dish)\b|就|吧|那|个|家|班|趟|项|条|件|一|"
                        r"的|啊|呀|好|[\s,.!?，。！？#]")
