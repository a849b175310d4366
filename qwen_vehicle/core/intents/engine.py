"""The deterministic bilingual intent engine: utterance + dialogue context -> Plan.

One utterance is split into clauses ("turn on the A/C, set it to 22 and tell me my range" -> three); each clause is
matched against ordered handlers (cannot-do, services, queries, climate devices, follow-ups). Every regex is compiled
at import (see lexicon.py), so a parse costs a few dozen regex searches.

The engine never clamps: "set the temperature to 40" plans value 40 and the schema/policy layer refuses it. It never
refuses for safety either: the policy decides what may run while driving.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import string
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..ir import Plan, ToolCall, ToolSpec
from . import lexicon as lx
from . import replies
from .numbers import normalize_numbers, normalize_text

log = logging.getLogger(__name__)

ZONES = ('driver', 'passenger', 'rear')
SEAT_ZONES = ('driver', 'passenger')

# device -> set tool, and back
DEVICE_TOOL = {'temp': 'set_target_temperature', 'fan': 'set_fan_level', 'ac': 'set_air_conditioning',
               'recirc': 'set_recirculation', 'defrost': 'set_defrost', 'seat': 'set_seat_heating'}
TOOL_DEVICE = {tool: device for device, tool in DEVICE_TOOL.items()}
ZONED_TOOLS = {'set_target_temperature', 'set_seat_heating'}
STATE_KEY = {'temp': 'target_temperature.{zone}', 'fan': 'fan_level', 'seat': 'seat_heating.{zone}'}
NUMERIC_DEVICES = ('temp', 'fan', 'seat')
SWITCH_DEVICES = ('ac', 'recirc', 'defrost', 'seat', 'fan')

# required arguments per tool, in the order they are asked for: (argument, clarification key, entity list)
REQUIRED: dict[str, list[tuple[str, str, str | None]]] = {
    'set_target_temperature': [('value', 'temperature', None)],
    'set_fan_level': [('value', 'fan_level', None)],
    'set_seat_heating': [('value', 'seat_level', None)],
    'get_menu': [('restaurant_id', 'restaurant', 'restaurants')],
    'order_food': [('restaurant_id', 'restaurant', 'restaurants')],
    'cancel_food_order': [('order_id', 'order', 'orders')],
    'search_trains': [('destination', 'destination', None)],
    'search_flights': [('destination', 'destination', None)],
    'search_hotels': [('city', 'city', None)],
    'book_travel': [('offer_id', 'offer', 'offers')],
    'change_booking': [('booking_id', 'booking', 'bookings'), ('new_offer_id', 'new_offer', 'offers')],
    'track_parcel': [('tracking_number', 'parcel', 'parcels')],
    'redirect_parcel': [('tracking_number', 'parcel', 'parcels'), ('destination', 'parcel_destination', None)],
}
# what "the first one" means after each kind of result: (entity list, tool it leads to)
FOLLOW_ORDINAL = {
    'search_restaurants': ('restaurants', 'get_menu'), 'get_menu': ('menu', 'order_food'),
    'search_trains': ('offers', 'book_travel'), 'search_flights': ('offers', 'book_travel'),
    'search_hotels': ('offers', 'book_travel'), 'list_parcels': ('parcels', 'track_parcel'),
    'get_itinerary': ('bookings', None), 'food_order_status': ('orders', None),
}

# the arguments that carry an id of each entity list, for "it" / "that one"
ENTITY_ARGUMENTS = {'parcels': ('tracking_number',), 'restaurants': ('restaurant_id',), 'orders': ('order_id',),
                    'offers': ('new_offer_id', 'offer_id'), 'bookings': ('booking_id',)}

CONF_FULL, CONF_DEFAULTED, CONF_GUESS, CONF_CLARIFY, CONF_CANNOT = 1.0, 0.9, 0.7, 0.9, 0.9
CONF_IRRELEVANT, CONF_UNKNOWN, CONF_PARTIAL = 0.2, 0.1, 0.5


@dataclass
class DialogueContext:
    """What the engine knows beyond the utterance. See docs/intents.md for every key."""
    speaker_zone: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    last_plan: Plan | None = None
    pending: dict | None = None
    entities: dict[str, Any] = field(default_factory=dict)


@dataclass
class RulePlan(Plan):
    """A Plan plus what only the rule engine knows: the kind of outcome and the slot-filling state."""
    outcome: str = 'calls'  # calls | clarify | unsupported | irrelevant | smalltalk | cancelled | unknown
    pending: dict | None = None


def detect_language(text: str) -> str:
    """'zh' when the text has any CJK ideograph, else 'en'."""
    for char in text or '':
        if '\u4e00' <= char <= '\u9fff' or '\u3400' <= char <= '\u4dbf':
            return 'zh'
    return 'en'


@dataclass
class _Clause:
    orig: str        # NFKC, original case (tracking numbers)
    raw: str         # lower case
    norm: str        # lower case, numbers as digits
    question: bool = False   # ended with '?'
    zh: bool = False         # has Chinese characters


@dataclass
class _Turn:
    ctx: DialogueContext
    lang: str
    today: dt.date
    calls: list[ToolCall] = field(default_factory=list)
    clarification: str | None = None
    pending: dict | None = None
    replies: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    confidence: float = 1.0
    prev_device: str | None = None
    explicit_tools: set = field(default_factory=set)  # tools named by keywords, not inferred from context
    clauses: list = field(default_factory=list)  # every clause of the utterance
    used: set = field(default_factory=set)        # ids of clauses another clause took its details from

    def add(self, name: str, arguments: dict[str, Any], confidence: float = CONF_FULL, explicit: bool = True) -> None:
        if self.pending and self.pending.get('tool') == name:
            self.clarification = self.pending = None  # "turn on the fan and set it to 3": asked and answered
        self.calls.append(ToolCall(name, arguments))
        self.confidence = min(self.confidence, confidence)
        self.kinds.append('calls')
        if explicit:
            self.explicit_tools.add(name)
        if name in TOOL_DEVICE:
            self.prev_device = TOOL_DEVICE[name]

    def ask(self, slot: str, pending: dict | None) -> None:
        if self.clarification is None:
            self.clarification = replies.clarification(slot, self.lang)
            self.pending = pending
        self.kinds.append('clarify')
        self.confidence = min(self.confidence, CONF_CLARIFY)
        if pending:
            self.explicit_tools.add(pending['tool'])

    def say(self, kind: str, text: str, confidence: float) -> None:
        if text not in self.replies:
            self.replies.append(text)
        self.kinds.append(kind)
        if kind != 'unknown':  # unknown clauses are weighed in _finish, once the whole utterance is seen
            self.confidence = min(self.confidence, confidence)


class IntentEngine:
    """parse(text, context, now) -> RulePlan; never raises. update_context(context, plan) -> context (mutated)."""

    def __init__(self, tools: Iterable[ToolSpec] | None = None):
        self._allowed = None if tools is None else {t.name for t in tools}

    # ---- public -------------------------------------------------------------------------------------------------
    def parse(self, text: str, context: DialogueContext | None = None,
              now: dt.datetime | dt.date | None = None) -> RulePlan:
        context = context if context is not None else DialogueContext()
        try:
            return self._parse(text if isinstance(text, str) else str(text), context, now)
        except Exception:  # a bug in a rule must not take the assistant down: say so, let the router try an LLM
            log.exception('intent engine failed on %r', text)
            language = detect_language(text) if isinstance(text, str) else 'en'
            return RulePlan(language=language, confidence=0.0, reply=replies.reply('unknown', language),
                            outcome='unknown')

    def update_context(self, context: DialogueContext, plan: Plan) -> DialogueContext:
        """Carry a plan into the context for the next turn; mutates and returns `context`.

        pending <- the plan's slot-filling state (None when it asked nothing); last_plan <- the plan when it had calls.
        entities are left to the caller (they come from tool results)."""
        context.pending = getattr(plan, 'pending', None)
        if plan.calls:
            context.last_plan = plan
        return context

    # ---- parse --------------------------------------------------------------------------------------------------
    def _parse(self, text: str, ctx: DialogueContext, now: dt.datetime | dt.date | None) -> RulePlan:
        today = _today(now)
        nfkc = normalize_text(text).strip()
        lang = detect_language(nfkc)
        whole = _Clause(nfkc, nfkc.lower(), normalize_numbers(nfkc.lower()), zh=lang == 'zh')
        if not nfkc:
            return self._finish(self._turn(ctx, lang, today, unknown=True))
        if lx.CANCEL_RE.match(whole.raw):  # "never mind", "算了": drops a pending question too
            turn = _Turn(ctx, lang, today)
            turn.say('cancelled', replies.reply('cancelled', lang), CONF_FULL)
            return self._finish(turn)
        for pattern, kind in ((lx.GREETING_RE, 'greeting'), (lx.THANKS_RE, 'thanks')):
            if pattern.match(whole.raw):
                turn = _Turn(ctx, lang, today)
                turn.say('smalltalk', replies.reply(kind, lang), CONF_DEFAULTED)
                return self._finish(turn)

        turn = _Turn(ctx, lang, today)
        turn.clauses = _split(nfkc)
        for clause in turn.clauses:
            self._clause(clause, turn)
        if turn.used:  # a clause that only gave details to another is understood after all
            turn.kinds = [k for k in turn.kinds if k != 'unknown'] or ['calls']
            turn.replies = [r for r in turn.replies if r != replies.reply('unknown', lang)]
        if ctx.pending:
            # a new request (another tool, several tools, or zones of its own) replaces the pending question;
            # anything else is tried as its answer
            pending_tool = ctx.pending.get('tool')
            fresh = bool(turn.explicit_tools - {pending_tool}) or \
                (pending_tool in ZONED_TOOLS and bool(self._zones(whole, turn)))
            if not fresh:
                filled = self._fill_pending(whole, ctx, lang, today)
                if filled is not None:
                    return self._finish(filled)
                if not turn.kinds or set(turn.kinds) <= {'unknown'}:
                    again = _Turn(ctx, lang, today)  # ask the same question again, keep the pending call
                    again.clarification = replies.clarification(ctx.pending['slot'], lang)
                    again.pending = ctx.pending
                    again.kinds.append('clarify')
                    again.confidence = CONF_PARTIAL
                    return self._finish(again)
        return self._finish(turn)

    def _turn(self, ctx, lang, today, unknown=False) -> _Turn:
        turn = _Turn(ctx, lang, today)
        if unknown:
            turn.say('unknown', replies.reply('unknown', lang), CONF_UNKNOWN)
        return turn

    def _finish(self, turn: _Turn) -> RulePlan:
        calls = _latest_settings(turn.calls)
        if self._allowed is not None:
            kept = [c for c in calls if c.name in self._allowed]
            for call in calls:
                if call.name not in self._allowed:
                    turn.say('unsupported', replies.reply('not_available', turn.lang, thing=call.name), CONF_CANNOT)
            calls = kept
        kinds = turn.kinds
        if turn.clarification:
            outcome = 'clarify'
        elif calls:
            outcome = 'calls'
        else:
            outcome = next((k for k in ('unsupported', 'irrelevant', 'smalltalk', 'cancelled') if k in kinds),
                           'unknown')
        confidence = turn.confidence
        if 'unknown' in kinds and (calls or turn.clarification):
            confidence = min(confidence, CONF_PARTIAL)
        reply = ' '.join(turn.replies) if turn.replies else None
        if outcome in ('calls', 'clarify') and 'unknown' in kinds:
            reply = ' '.join(r for r in turn.replies if r != replies.reply('unknown', turn.lang)) or None
        if outcome == 'unknown':
            confidence = min(confidence, CONF_UNKNOWN)
        if not calls and not turn.clarification and reply is None:
            reply = replies.reply('unknown', turn.lang)
            confidence = min(confidence, CONF_UNKNOWN)
        return RulePlan(calls=calls, language=turn.lang, source='rules', confidence=round(confidence, 2),
                        clarification=turn.clarification, reply=reply, outcome=outcome, pending=turn.pending)

    # ---- one clause ---------------------------------------------------------------------------------------------
    def _clause(self, clause: _Clause, turn: _Turn) -> None:
        raw = clause.raw
        if lx.FILLER_ONLY.match(raw):
            return
        if lx.IRRELEVANT_RE.search(raw):
            turn.say('irrelevant', replies.reply('irrelevant', turn.lang), CONF_IRRELEVANT)
            return
        has_defrost = bool(lx.DEVICE_RE['defrost'].search(raw))
        if not has_defrost:
            match = lx.UNSUPPORTED_RE.search(raw)
            if match:
                turn.say('unsupported', replies.unsupported(match.lastgroup, turn.lang), CONF_CANNOT)
                return
        if lx.CHARGING_CONTROL_RE.search(raw):
            turn.say('unsupported', replies.unsupported('charging', turn.lang), CONF_CANNOT)
            return
        for handler in (self._parcel, self._food, self._travel, self._query, self._climate, self._follow_up):
            if handler(clause, turn):
                return
        turn.say('unknown', replies.reply('unknown', turn.lang), CONF_UNKNOWN)

    # ---- services -----------------------------------------------------------------------------------------------
    def _parcel(self, c: _Clause, turn: _Turn) -> bool:
        tracking = _tracking_number(c.orig)
        last_tools = _tools(turn.ctx.last_plan)
        parcel_context = bool(last_tools & {'list_parcels', 'track_parcel', 'redirect_parcel'})
        redirect = lx.PARCEL_REDIRECT_RE.search(c.raw)
        destination = _parcel_destination(c.raw)
        if not (lx.PARCEL_RE.search(c.raw) or tracking or (parcel_context and (redirect or (
                _ordinal(c) is not None and _selects(c))))):
            return False
        if lx.FOOD_STATUS_RE.search(c.raw) or lx.FOOD_CANCEL_RE.search(c.raw):
            return False
        if redirect or (destination and not lx.PARCEL_LIST_RE.search(c.raw) and 'track' not in c.raw):
            number = tracking or self._entity(turn, c, 'parcels')
            self._emit(turn, 'redirect_parcel', [{'tracking_number': number, 'destination': destination}])
            return True
        if tracking:
            turn.add('track_parcel', {'tracking_number': tracking})
            return True
        ordinal = _ordinal(c)
        if ordinal is not None:
            self._emit(turn, 'track_parcel', [{'tracking_number': self._entity(turn, c, 'parcels')}])
            return True
        known = turn.ctx.entities.get('parcels') or []
        if len(known) == 1 and re.search(r'where|track|status|when|到哪|查|什么时候|状态|物流', c.raw):
            turn.add('track_parcel', {'tracking_number': known[0]})
            return True
        turn.add('list_parcels', {})
        return True

    def _food(self, c: _Clause, turn: _Turn) -> bool:
        raw, norm, ctx = c.raw, c.norm, turn.ctx
        last_tools = _tools(ctx.last_plan)
        if lx.FOOD_STATUS_RE.search(raw):
            args = {}
            if _ordinal(c) is not None and ctx.entities.get('orders'):
                order = self._entity(turn, c, 'orders')
                if order:
                    args['order_id'] = order
            turn.add('food_order_status', args)
            return True
        if lx.FOOD_CANCEL_RE.search(raw):
            self._emit(turn, 'cancel_food_order', [{'order_id': self._entity(turn, c, 'orders')}])
            return True
        if lx.FOOD_USUAL_RE.search(raw):
            usual = ctx.entities.get('usual_order')
            if isinstance(usual, dict) and usual.get('restaurant_id') and usual.get('items'):
                args = {'restaurant_id': usual['restaurant_id'],
                        'items': [dict(item) for item in usual['items']]}
                if usual.get('note'):
                    args['note'] = usual['note']
                turn.add('order_food', args)
            else:
                turn.ask('food_items', None)
            return True
        menu_context = 'get_menu' in last_tools and bool(ctx.entities.get('menu') or ctx.entities.get('items'))
        ordinal = _ordinal(c)
        ordered = lx.FOOD_ORDER_VERB_RE.search(raw)
        if lx.MENU_RE.search(raw):
            restaurant = self._entity(turn, c, 'restaurants')
            if restaurant is None and ordinal is None and ctx.entities.get('restaurant'):
                restaurant = ctx.entities['restaurant']
            self._emit(turn, 'get_menu', [{'restaurant_id': restaurant}])
            return True
        if ordered and (ordinal is not None or lx.THIS_ONE_RE.search(raw)) and not lx.BOOK_VERB_RE.search(raw):
            if menu_context:
                self._order_item(c, turn)
                return True
            if ctx.entities.get('restaurants'):
                self._emit(turn, 'get_menu', [{'restaurant_id': self._entity(turn, c, 'restaurants')}])
                return True
        cuisine = _cuisine(raw)
        if not (lx.FOOD_RE.search(raw) or cuisine):
            return False
        args: dict[str, Any] = {}
        if cuisine:
            args['cuisine'] = cuisine
        else:
            match = lx.EN_FOOD_QUERY_RE.search(raw)
            if match and match.group(1).strip() not in lx.FOOD_QUERY_STOP:
                args['query'] = match.group(1).strip()
        distance = lx.DISTANCE_RE.search(norm)
        if distance:
            args['max_distance_km'] = _num(next(g for g in distance.groups() if g))
        turn.add('search_restaurants', args)
        return True

    def _order_item(self, c: _Clause, turn: _Turn) -> None:
        item = self._entity(turn, c, 'menu' if turn.ctx.entities.get('menu') else 'items')  # either name
        quantity = 1
        match = re.search(r'(?<![第\d])(\d+)\s*(?:of|x|份|个|碗|杯|盒|笼)', c.norm)
        if match:
            quantity = int(float(match.group(1)))
        if item is None:
            turn.ask('food_items', None)
            return
        restaurant = turn.ctx.entities.get('restaurant')
        last = turn.ctx.last_plan
        for call in reversed(last.calls if last and not restaurant else []):
            if call.name == 'get_menu' and call.arguments.get('restaurant_id'):
                restaurant = call.arguments['restaurant_id']
                break
        self._emit(turn, 'order_food', [{'restaurant_id': restaurant, 'items': [{'item_id': item,
                                                                                 'quantity': quantity}]}])

    def _travel(self, c: _Clause, turn: _Turn) -> bool:
        raw, norm, ctx = c.raw, c.norm, turn.ctx
        last_tools = _tools(ctx.last_plan)
        ordinal = _ordinal(c)
        if lx.CANCEL_BOOKING_RE.search(raw):
            turn.say('unsupported', replies.unsupported('cancel_booking', turn.lang), CONF_CANNOT)
            return True
        if self._travel_detail(c, turn):
            return True
        travel_words = (lx.TRAIN_RE.search(raw) or lx.FLIGHT_RE.search(raw) or lx.HOTEL_RE.search(raw) or
                        lx.ZH_FLY_TO_CITY_RE.search(raw))
        if lx.CHANGE_BOOKING_RE.search(raw) and (ordinal is not None or re.search(
                r'booking|reservation|ticket|改签|预订|车票|机票', raw)) and (
                ctx.entities.get('bookings') or 'get_itinerary' in last_tools or re.search(r'booking|reservation|'
                                                                                            r'改签|预订', raw)):
            booking = self._entity(turn, c, 'bookings', use_ordinal=False)
            new_offer = self._entity(turn, c, 'offers') if ordinal is not None else None
            self._emit(turn, 'change_booking', [{'booking_id': booking, 'new_offer_id': new_offer}])
            return True
        if lx.ITINERARY_RE.search(raw):
            turn.add('get_itinerary', {})
            return True
        booking_verb = lx.BOOK_VERB_RE.search(raw)
        offers_context = bool(last_tools & {'search_trains', 'search_flights', 'search_hotels'}) or \
            bool(ctx.entities.get('offers'))
        if booking_verb and (ordinal is not None or lx.THIS_ONE_RE.search(raw)) and offers_context and \
                not (travel_words and _place_named(c)):
            args = {'offer_id': self._entity(turn, c, 'offers')}
            passengers = lx.PASSENGERS_RE.search(norm)
            if passengers:
                args['passengers'] = int(float(next(g for g in passengers.groups() if g)))
            self._emit(turn, 'book_travel', [args])
            return True
        if not travel_words:
            return False
        date = _date(c, turn.today)
        if lx.HOTEL_RE.search(raw) and not (lx.TRAIN_RE.search(raw) or lx.FLIGHT_RE.search(raw)):
            args = {'city': _hotel_city(c)}
            if date:
                args['check_in'] = date
            nights = lx.NIGHTS_RE.search(norm)
            if nights:
                args['nights'] = int(float(next(g for g in nights.groups() if g)))
            elif lx.ONE_NIGHT_RE.search(raw):
                args['nights'] = 1
            self._emit(turn, 'search_hotels', [args])
            return True
        tool = 'search_flights' if lx.FLIGHT_RE.search(raw) or lx.ZH_FLY_TO_CITY_RE.search(raw) else 'search_trains'
        origin, destination = _route(c)
        if destination is None:  # "我要去深圳出差，帮我订机票": the place is in another clause
            for other in turn.clauses:
                if other is not c and _route(other)[1]:
                    origin, destination = origin or _route(other)[0], _route(other)[1]
                    turn.used.add(id(other))
                    date = date or _date(other, turn.today)
                    break
        args = {'destination': destination}
        if origin:
            args['origin'] = origin
        if date:
            args['date'] = date
        self._emit(turn, tool, [args])
        return True

    def _travel_detail(self, c: _Clause, turn: _Turn) -> bool:
        """A clause that only adds a detail to the travel call just before it: "住三晚", "for two people"."""
        if not turn.calls or lx.TRAIN_RE.search(c.raw) or lx.FLIGHT_RE.search(c.raw) or lx.HOTEL_RE.search(c.raw):
            return False
        last = turn.calls[-1]
        if last.name not in ('book_travel', 'search_hotels', 'search_trains', 'search_flights'):
            return False
        passengers = lx.PASSENGERS_RE.search(c.norm)
        nights = lx.NIGHTS_RE.search(c.norm)
        date = _date(c, turn.today)
        if last.name == 'book_travel' and passengers and not lx.BOOK_VERB_RE.search(c.raw.replace('个人', '')):
            last.arguments['passengers'] = int(float(next(g for g in passengers.groups() if g)))
            return True
        if last.name == 'search_hotels' and (nights or date):
            if nights:
                last.arguments['nights'] = int(float(next(g for g in nights.groups() if g)))
            if date:
                last.arguments.setdefault('check_in', date)
            return True
        short = len(c.raw.split()) <= 4 if turn.lang == 'en' else len(c.raw) <= 8
        if last.name in ('search_trains', 'search_flights') and date and short:
            last.arguments.setdefault('date', date)
            return True
        return False

    # ---- read tools ---------------------------------------------------------------------------------------------
    def _query(self, c: _Clause, turn: _Turn) -> bool:
        raw = c.raw
        if lx.BATTERY_RE.search(raw):
            turn.add('get_battery_status', {})
            return True
        if lx.LOCATION_RE.search(raw):
            turn.add('get_location', {})
            return True
        if lx.VEHICLE_STATE_RE.search(raw) and not lx.DEVICE_RE['fan'].search(raw):
            turn.add('get_vehicle_state', {})
            return True
        if lx.CLIMATE_STATUS_RE.search(raw):
            turn.add('get_climate_status', {})
            return True
        return False

    # ---- climate ------------------------------------------------------------------------------------------------
    def _climate(self, c: _Clause, turn: _Turn) -> bool:
        found = [(m.start(), name) for name, pattern in lx.DEVICES for m in [pattern.search(c.raw)] if m]
        if not found:
            return False
        names = [name for _, name in sorted(found)]
        switchable = [n for n in names if n in ('ac', 'recirc', 'defrost', 'seat', 'fan')]
        if len(switchable) >= 2 and not re.search(r'\d', c.norm) and (lx.ON_RE.search(c.raw) or
                                                                     lx.OFF_RE.search(c.raw)):
            for name in switchable:  # "turn on the A/C and the seat heating"
                getattr(self, '_' + name)(c, turn)
            return True
        device = next(name for name, _ in lx.DEVICES if name in names)  # priority order, not position
        getattr(self, '_' + device)(c, turn)
        return True

    def _is_question(self, c: _Clause) -> bool:
        if c.zh:
            return bool(lx.ZH_QUESTION_RE.search(c.raw)) and not lx.ZH_ACTION_RE.search(c.raw)
        if lx.EN_REQUEST_RE.search(c.raw):
            return False
        return bool(lx.EN_QUESTION_RE.search(c.raw)) or c.question

    def _temp(self, c: _Clause, turn: _Turn, inferred: bool = False, confidence: float = CONF_FULL) -> None:
        norm = c.norm
        zones = self._zones(c, turn)
        absolute = _absolute(norm, r'degrees?|°|度|celsius|fahrenheit')
        direction = _direction(c)
        if absolute is None and direction == 0 and not lx.SET_VERB_RE.search(c.raw) and (
                self._is_question(c) or lx.OUTSIDE_RE.search(c.raw)):
            if lx.OUTSIDE_RE.search(c.raw):
                turn.add('get_climate_status', {})
            elif zones:
                for zone in zones:
                    turn.add('get_cabin_temperature', {'zone': zone})
            else:
                turn.add('get_cabin_temperature', {})
            return
        if absolute is not None:  # "改成25度" / "make it 24 degrees" keep the zones of the setting they change
            follow = inferred or not re.search(r'temperature|\btemps?\b|温度', c.raw)
            targets = zones or self._reference_zones(turn, 'temp', follow) or [self._speaker(turn)]
            for zone in targets:
                turn.add('set_target_temperature', {'zone': zone, 'value': absolute}, confidence,
                         explicit=not inferred)
            return
        feeling = lx.FEEL_UP_RE.search(norm) or lx.FEEL_DOWN_RE.search(norm)  # "I'm cold" is about my seat
        targets = zones or self._reference_zones(turn, 'temp', not feeling) or [self._speaker(turn)]
        if direction:
            delta = _delta(c, default=1)
            values = [self._current(turn, 'temp', zone) for zone in targets]
            calls = [{'zone': zone, 'value': None if base is None else _round_half(base + direction * delta)}
                     for zone, base in zip(targets, values)]
            self._emit(turn, 'set_target_temperature', calls, confidence, explicit=not inferred)
            return
        self._emit(turn, 'set_target_temperature', [{'zone': zone, 'value': None} for zone in targets], confidence,
                   explicit=not inferred)

    def _fan(self, c: _Clause, turn: _Turn, inferred: bool = False, confidence: float = CONF_FULL) -> None:
        raw, norm = c.raw, c.norm
        direction = _direction(c, feelings=False)
        absolute = _absolute(norm, r'levels?|speed|档|级|挡')
        if absolute is None and direction == 0 and self._is_question(c):
            turn.add('get_climate_status', {})
            return
        if lx.MAX_RE.search(raw):
            value = 7
        elif lx.MIN_RE.search(raw) and not lx.OFF_RE.search(raw):
            value = 1
        elif absolute is not None:
            value = absolute
        elif direction:
            base = self._current(turn, 'fan', None)
            value = None if base is None else base + direction * _delta(c, default=1)
        elif lx.OFF_RE.search(raw):
            value = 0
        else:
            value = None
        self._emit(turn, 'set_fan_level', [{'value': value}], confidence, explicit=not inferred)

    def _seat(self, c: _Clause, turn: _Turn, inferred: bool = False, confidence: float = CONF_FULL) -> None:
        raw, norm = c.raw, c.norm
        zones = self._zones(c, turn, seat=True)
        absolute = _absolute(norm, r'levels?|档|级|挡')
        direction = _direction(c)
        if direction == 0 and re.search(r'\b(?:cold|freezing)\b|冷|凉', raw):
            direction = 1
        if absolute is None and direction == 0 and self._is_question(c):
            turn.add('get_climate_status', {})
            return
        targets = zones or self._reference_zones(turn, 'seat', inferred or bool(direction)) or \
            [self._speaker(turn)]
        level_word = lx.LEVEL_WORD_RE.search(raw)
        calls = []
        for zone in targets:
            if lx.OFF_RE.search(raw) and absolute is None:
                value = 0
            elif lx.MAX_RE.search(raw):
                value = 3
            elif absolute is not None:
                value = absolute
            elif level_word:
                value = lx.LEVEL_WORDS[level_word.group(0)]
            elif lx.MIN_RE.search(raw):
                value = 1
            elif direction:
                base = self._current(turn, 'seat', zone)
                value = None if base is None else base + direction * _delta(c, default=1)
            else:
                value = 2  # "turn on the seat heating": medium
            calls.append({'zone': zone, 'value': value})
        self._emit(turn, 'set_seat_heating', calls, confidence, explicit=not inferred)

    def _defrost(self, c: _Clause, turn: _Turn, inferred: bool = False) -> None:
        raw = c.raw
        if self._is_question(c) and not re.search(r'fogg|steamed|misted|起雾|雾气', raw):
            turn.add('get_climate_status', {})
            return
        if lx.OFF_RE.search(raw) and not re.search(r'除霜|除雾', raw.split('关')[0] if '关' in raw else ''):
            value = 'Off'
        elif lx.DEFROST_BOTH_RE.search(raw):
            value = 'Both'
        elif lx.DEFROST_REAR_RE.search(raw):
            value = 'Rear'
        else:
            value = 'Front'
        turn.add('set_defrost', {'value': value}, CONF_GUESS if inferred else CONF_FULL, explicit=not inferred)

    def _recirc(self, c: _Clause, turn: _Turn, inferred: bool = False) -> None:
        raw = c.raw
        if self._is_question(c):
            turn.add('get_climate_status', {})
            return
        value = not bool(lx.OFF_RE.search(raw))
        if lx.RECIRC_FRESH_RE.search(raw):
            value = not value
        turn.add('set_recirculation', {'value': value}, CONF_GUESS if inferred else CONF_FULL, explicit=not inferred)

    def _ac(self, c: _Clause, turn: _Turn, inferred: bool = False) -> None:
        raw, norm = c.raw, c.norm
        number = _absolute(norm, r'degrees?|°|度|celsius')
        direction = _direction(c)
        off = bool(lx.OFF_RE.search(raw))
        if number is None and direction == 0 and self._is_question(c):
            turn.add('get_climate_status', {})
            return
        if off and number is None and direction == 0:
            turn.add('set_air_conditioning', {'value': False})
            return
        if number is None and not lx.AC_TEMPERATURE_RE.search(raw):
            if lx.MAX_RE.search(raw):  # "空调开到最大", "A/C on full": on, blower at the top
                turn.add('set_air_conditioning', {'value': True})
                turn.add('set_fan_level', {'value': 7})
                return
            stronger, weaker = lx.AC_STRONGER_RE.search(raw), lx.AC_WEAKER_RE.search(raw)
            if stronger or weaker:  # "crank the A/C", "空调开大一点": more or less blower
                base = self._current(turn, 'fan', None)
                step = 1 if stronger else -1
                self._emit(turn, 'set_fan_level', [{'value': None if base is None else base + step}])
                return
        if number is None and direction == 0:
            on = bool(lx.ON_RE.search(raw))
            turn.add('set_air_conditioning', {'value': True}, CONF_FULL if on else CONF_DEFAULTED)
            return
        if lx.ON_RE.search(raw):  # "turn on the A/C at 22": both
            turn.add('set_air_conditioning', {'value': True})
        self._temp(c, turn)

    # ---- follow-ups: clauses that name no device ------------------------------------------------------------------
    def _follow_up(self, c: _Clause, turn: _Turn) -> bool:
        raw, norm, ctx = c.raw, c.norm, turn.ctx
        device = turn.prev_device or _last_device(ctx.last_plan)
        zones = self._zones(c, turn)
        number = _absolute(norm, r'degrees?|°|度|levels?|档|级')
        direction = _direction(c)
        ordinal = _ordinal(c)
        if (ordinal is not None and _selects(c)) or (lx.THIS_ONE_RE.search(raw) and lx.BOOK_VERB_RE.search(raw)):
            return self._ordinal_follow_up(c, turn)
        if zones and number is None and direction == 0:
            source = _zoned_calls(turn.calls) or _zoned_calls(ctx.last_plan.calls if ctx.last_plan else [])
            if not source:
                return False
            for call in source:  # "and the passenger side too": the same value, other zone(s)
                for zone in self._zones(c, turn, seat=call.name == 'set_seat_heating'):
                    turn.add(call.name, {**call.arguments, 'zone': zone}, CONF_FULL, explicit=False)
            return True
        if number is not None and lx.NON_SETTING_UNIT_RE.search(norm):
            return False  # "3 nights", "两个人": not a setting
        if number is not None or direction:
            confidence = CONF_FULL
            if re.search(r'\d\s*(?:degrees?|°|度)', norm):
                device = 'temp'  # "22 degrees" after the fan is still a temperature
            elif re.search(r'\d\s*(?:levels?|档|挡|级)', norm) and device not in ('fan', 'seat'):
                device = 'fan'
            if device is None:
                if number is None and not re.search(r'higher|lower|up|down|more|less|高|低|大|小', raw):
                    return False
                # a bare "22" with nothing to refer to: a temperature, surer when a zone was named
                device, confidence = 'temp', CONF_DEFAULTED if zones else CONF_GUESS
            if device == 'ac':
                device = 'temp'  # "turn on the A/C, set it to 22"
            if device not in NUMERIC_DEVICES:
                return False
            getattr(self, '_' + device)(c, turn, inferred=True, confidence=confidence)
            return True
        off, on = lx.OFF_RE.search(raw), lx.ON_RE.search(raw)
        if (off or on) and device in SWITCH_DEVICES + ('temp',) and re.search(
                r'\b(?:it|them|that)\b|^(?:turn|switch) (?:off|on)|关掉|关了|关上|关闭|打开|开着|^关|^开', raw):
            target = 'ac' if device == 'temp' else device
            tool = DEVICE_TOOL[target]
            if target in ('ac', 'recirc'):
                turn.add(tool, {'value': not off}, CONF_DEFAULTED, explicit=False)
            elif target == 'defrost':
                turn.add(tool, {'value': 'Off' if off else 'Front'}, CONF_DEFAULTED, explicit=False)
            elif target == 'fan':
                self._emit(turn, tool, [{'value': 0 if off else None}], CONF_DEFAULTED, explicit=False)
            else:
                targets = self._reference_zones(turn, 'seat', True) or [self._speaker(turn)]
                for zone in targets:
                    turn.add(tool, {'zone': zone, 'value': 0 if off else 2}, CONF_DEFAULTED, explicit=False)
            return True
        return False

    def _ordinal_follow_up(self, c: _Clause, turn: _Turn) -> bool:
        last = turn.ctx.last_plan
        for call in reversed(last.calls if last else []):
            if call.name in FOLLOW_ORDINAL:
                key, tool = FOLLOW_ORDINAL[call.name]
                break
        else:
            return False
        if tool is None:
            return False
        if tool == 'order_food':
            self._order_item(c, turn)
        elif tool == 'get_menu':
            self._emit(turn, 'get_menu', [{'restaurant_id': self._entity(turn, c, 'restaurants')}])
        elif tool == 'book_travel':
            args = {'offer_id': self._entity(turn, c, 'offers')}
            passengers = lx.PASSENGERS_RE.search(c.norm)
            if passengers:
                args['passengers'] = int(float(next(g for g in passengers.groups() if g)))
            self._emit(turn, 'book_travel', [args])
        else:
            self._emit(turn, tool, [{'tracking_number': self._entity(turn, c, key)}])
        return True

    # ---- slots --------------------------------------------------------------------------------------------------
    def _emit(self, turn: _Turn, tool: str, calls: list[dict[str, Any]], confidence: float = CONF_FULL,
              explicit: bool = True) -> None:
        """Add the calls, or ask for the first missing required argument and remember the partial calls."""
        for arg, slot, entity_list in REQUIRED.get(tool, []):
            if any(call.get(arg) is None for call in calls):
                partial = [{k: v for k, v in call.items() if v is not None} for call in calls]
                turn.ask(slot, {'tool': tool, 'calls': partial, 'missing': arg, 'slot': slot, 'list': entity_list,
                                'language': turn.lang})
                if tool in TOOL_DEVICE:
                    turn.prev_device = TOOL_DEVICE[tool]
                return
        for call in calls:
            turn.add(tool, {k: v for k, v in call.items() if v is not None}, confidence, explicit)

    def _fill_pending(self, c: _Clause, ctx: DialogueContext, lang: str, today: dt.date) -> _Turn | None:
        pending = ctx.pending or {}
        tool, missing = pending.get('tool'), pending.get('missing')
        calls = [dict(call) for call in pending.get('calls') or [{}]]
        if tool not in REQUIRED or not missing:
            return None
        turn = _Turn(ctx, lang, today)
        value: Any = None
        if missing == 'value':
            device = TOOL_DEVICE[tool]
            value = _absolute(c.norm, r'degrees?|°|度|levels?|档|级')
            if value is None and device == 'fan':
                value = 7 if lx.MAX_RE.search(c.raw) else 1 if lx.MIN_RE.search(c.raw) else (
                    0 if lx.OFF_RE.search(c.raw) else None)
            if value is None and device == 'seat':
                word = lx.LEVEL_WORD_RE.search(c.raw)
                value = lx.LEVEL_WORDS[word.group(0)] if word else (3 if lx.MAX_RE.search(c.raw) else None)
        elif missing in ('destination', 'city') and tool != 'redirect_parcel':
            value = _bare_place(c)
            date = _date(c, today)
            if value and date:
                for call in calls:
                    call.setdefault('check_in' if tool == 'search_hotels' else 'date', date)
        elif missing == 'destination':
            value = _parcel_destination(c.raw)
        elif missing == 'tracking_number' and _tracking_number(c.orig):
            value = _tracking_number(c.orig)
        elif pending.get('list') and (_ordinal(c) is None or _selects(c)):
            value = self._entity(turn, c, pending['list'], allow_single=False)
        if value is None:
            return None
        for call in calls:
            call[missing] = value
        self._emit(turn, tool, calls)
        return turn

    def _entity(self, turn: _Turn, c: _Clause, key: str, allow_single: bool = True, use_ordinal: bool = True) -> Any:
        """The id "the second one" / "it" points at in context.entities[key]; None when it cannot tell.

        With no ordinal: the only item, else the item the last plan acted on ("track the first one" then
        "redirect it to the locker")."""
        items = turn.ctx.entities.get(key) or []
        if not isinstance(items, (list, tuple)):
            items = []
        index = _ordinal(c) if use_ordinal else None
        if index is None:
            if len(items) == 1 and (allow_single or lx.THIS_ONE_RE.search(c.raw)):
                return items[0]
            last = turn.ctx.last_plan
            for call in reversed(last.calls if last else []):
                for argument in ENTITY_ARGUMENTS.get(key, ()):
                    value = call.arguments.get(argument)
                    if isinstance(value, str) and value:
                        return value
            return None
        if not items:
            return None
        try:
            return items[index]
        except IndexError:
            return None

    def _zones(self, c: _Clause, turn: _Turn, seat: bool = False) -> list[str]:
        zones: list[str] = []
        for match in lx.ZONE_RE.finditer(c.raw):
            group = match.lastgroup
            if group == 'both':
                found = ['driver', 'passenger']
            elif group == 'all':
                found = list(SEAT_ZONES if seat else ZONES)
            elif group == 'speaker':
                found = [self._speaker(turn)]
            elif group == 'there':  # "... on the passenger side and turn on the seat heating there"
                found = [call.arguments['zone'] for call in turn.calls if call.arguments.get('zone') in ZONES][-1:]
            else:
                found = [group]
            zones.extend(z for z in found if z not in zones)
        return zones

    def _speaker(self, turn: _Turn) -> str:
        zone = turn.ctx.speaker_zone
        return zone if zone in ZONES else 'driver'

    def _reference_zones(self, turn: _Turn, device: str, use_reference: bool) -> list[str]:
        if not use_reference:
            return []
        tool = DEVICE_TOOL[device]
        for calls in (turn.calls, turn.ctx.last_plan.calls if turn.ctx.last_plan else []):
            zones = [call.arguments.get('zone') for call in calls if call.name == tool and call.arguments.get('zone')]
            if zones:
                return list(dict.fromkeys(zones))
        return []

    def _current(self, turn: _Turn, device: str, zone: str | None) -> float | None:
        """Live value from context.state; else the value the last plan set; None when unknown."""
        key = STATE_KEY[device].format(zone=zone)
        value = turn.ctx.state.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        tool = DEVICE_TOOL[device]
        for calls in (turn.calls, turn.ctx.last_plan.calls if turn.ctx.last_plan else []):
            for call in reversed(calls):
                if call.name == tool and call.arguments.get('zone') == zone and \
                        isinstance(call.arguments.get('value'), (int, float)):
                    return call.arguments['value']
        return None


# ---- helpers ----------------------------------------------------------------------------------------------------
def _today(now: dt.datetime | dt.date | None) -> dt.date:
    if now is None:
        return dt.date.today()
    return now.date() if isinstance(now, dt.datetime) else now


_CJK = re.compile(r'[\u3400-\u4dbf\u4e00-\u9fff]')


def _split(text: str) -> list[_Clause]:
    """Clauses of an utterance, each with its original-case, lower-case and digits forms."""
    pieces: list[tuple[str, bool]] = []
    start = 0
    for match in lx.CLAUSE_SPLIT.finditer(text):
        pieces.append((text[start:match.start()], '?' in match.group(0)))
        start = match.end()
    pieces.append((text[start:], False))
    clauses: list[_Clause] = []
    for piece, question in pieces:
        piece = lx.LEADING_FILLER.sub('', piece.strip()).strip()
        if not piece:
            continue
        for part in _split_mentions(piece):
            lower = part.lower()
            clauses.append(_Clause(part, lower, normalize_numbers(lower), question, _CJK.search(lower) is not None))
    return clauses


def _split_mentions(piece: str) -> list[str]:
    """One clause per zone or device that carries its own number: 'the driver to 20 and the passenger to 22',
    '主驾20度副驾22度', 'set the fan to 3 and the temperature to 22'. Words without a number join the next part."""
    low = piece.lower()
    starts = sorted({m.start() for pattern in (lx.ZONE_RE, lx.SPLIT_DEVICE_RE) for m in pattern.finditer(low)})
    if len(starts) < 2:
        return [piece]
    bounds = [0, *starts[1:], len(piece)]
    parts: list[str] = []
    carry = ''
    for a, b in zip(bounds, bounds[1:]):
        carry += piece[a:b]
        if re.search(r'\d', normalize_numbers(carry.lower())):
            parts.append(carry)
            carry = ''
    if carry and parts:
        parts[-1] += carry  # trailing words without a number: "... to 22 for the driver"
    if len(parts) < 2:
        return [piece]
    return [_ZONE_JOINER.sub('', part).strip() for part in parts]


_ZONE_JOINER = re.compile(r'\s*(?:\band(?: the)?|\bthe|和|以及|,)\s*$', re.I)


def _latest_settings(calls: list[ToolCall]) -> list[ToolCall]:
    """'turn on the seat heating and set it to 3', 'set it to 20, no, 22': the later setting of a device wins;
    a call said twice ("我饿了，找个吃饭的地方") is made once."""
    last_index = {}
    for index, call in enumerate(calls):
        if call.name in TOOL_DEVICE:
            last_index[(call.name, call.arguments.get('zone'))] = index
    kept, seen = [], set()
    for index, call in enumerate(calls):
        if call.name in TOOL_DEVICE and last_index[(call.name, call.arguments.get('zone'))] != index:
            continue
        if call.key() in seen:
            continue
        seen.add(call.key())
        kept.append(call)
    return kept


def _tools(plan: Plan | None) -> set[str]:
    return {call.name for call in plan.calls} if plan else set()


def _last_device(plan: Plan | None) -> str | None:
    for call in reversed(plan.calls if plan else []):
        if call.name in TOOL_DEVICE:
            return TOOL_DEVICE[call.name]
    return None


def _zoned_calls(calls: list[ToolCall]) -> list[ToolCall]:
    """The last zoned call per tool: what "and the passenger too" copies."""
    last: dict[str, ToolCall] = {}
    for call in calls:
        if call.name in ZONED_TOOLS:
            last.pop(call.name, None)
            last[call.name] = call
    return list(last.values())


def _num(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _round_half(value: float) -> int | float:
    return _num(str(round(value * 2) / 2))


def _absolute(norm: str, units: str) -> int | float | None:
    """The value a clause sets: 'to 22', '22 degrees', '调到22度', or a lone number that is not a delta."""
    match = lx.ABS_TO_RE.search(norm)
    if match:
        return _num(match.group(1))
    if lx.DELTA_RE.search(norm) and (lx.UP_RE.search(norm) or lx.DOWN_RE.search(norm)):
        return None  # "2 degrees warmer", "调高2度": relative
    match = re.search(rf'{lx.NUM}\s*(?:{units})', norm)
    if match:
        return _num(match.group(1))
    numbers = re.findall(lx.NUM, norm)
    if len(numbers) == 1 and not (lx.UP_RE.search(norm) or lx.DOWN_RE.search(norm)):
        return _num(numbers[0])
    return None


def _direction(c: _Clause, feelings: bool = True) -> int:
    raw = c.norm
    if feelings:
        if lx.FEEL_UP_RE.search(raw):
            return 1
        if lx.FEEL_DOWN_RE.search(raw):
            return -1
    up, down = lx.UP_RE.search(raw), lx.DOWN_RE.search(raw)
    if up and down:
        return 1 if up.start() < down.start() else -1
    return 1 if up else -1 if down else 0


def _delta(c: _Clause, default: float) -> float:
    if lx.HALF_DEGREE_RE.search(c.raw):
        return 0.5
    match = lx.DELTA_RE.search(c.norm)
    if match:
        return _num(next(g for g in match.groups() if g))
    if lx.A_LOT_RE.search(c.raw):
        return 2
    return default


def _ordinal(c: _Clause) -> int | None:
    match = lx.ORDINAL_RE.search(c.norm)
    if not match:
        return None
    word, number_en, number_zh, last = match.groups()
    if word:
        return lx.ORDINAL_WORDS[word]
    if number_en or number_zh:
        return max(int(number_en or number_zh) - 1, 0)
    if last:
        return -1
    return 0  # "the top one"


def _cuisine(raw: str) -> str | None:
    match = lx.CUISINE_RE.search(raw)
    if not match:
        return None
    return lx.CUISINE_NAMES[match.lastgroup]


def _selects(c: _Clause) -> bool:
    """The clause picks from a list: a selecting verb, or nothing but the ordinal ("the second one", "第二个").
    "Wait a second" is not a pick."""
    if lx.SELECT_VERB_RE.search(c.raw):
        return True
    rest = lx.ORDINAL_RE.sub(' ', c.norm)
    return not lx.ORDINAL_FILLER_RE.sub('', rest).strip()


def _tracking_number(orig: str) -> str | None:
    match = lx.TRACKING_NUMBER_RE.search(orig)
    if not match:
        return None
    if match.group(3):
        return match.group(3)
    return (match.group(1) + match.group(2)).upper()


def _parcel_destination(raw: str) -> str | None:
    for name, pattern in lx.PARCEL_DESTINATIONS:
        if pattern.search(raw):
            return name
    return None


def _canonical_city(name: str) -> str | None:
    name = name.strip(" '-")
    if not name or name in lx.EN_PLACE_NOT:
        return None
    if name in lx.CITIES_ZH:
        return lx.CITIES_ZH[name]
    key = name.lower().replace("'", '')
    if key in lx.CITIES_EN:
        return lx.CITIES_EN[key]
    if detect_language(name) == 'zh':
        return name
    words = [w for w in name.split() if w not in ('the', 'a')]
    if not words or any(w in ('train', 'flight', 'hotel', 'go', 'get', 'book', 'fly', 'travel') for w in words):
        return None
    return string.capwords(' '.join(words))


def _route(c: _Clause) -> tuple[str | None, str | None]:
    """(origin, destination) of a train or flight request."""
    origin = destination = None
    if c.zh:
        for match in lx.ZH_CITY_RE.finditer(c.raw):
            if c.raw[max(match.start() - 1, 0):match.start()] == '从':
                origin = lx.CITIES_ZH[match.group(0)]
            else:
                destination = lx.CITIES_ZH[match.group(0)]
        if origin is None:
            match = lx.ZH_FROM_PLACE_RE.search(c.raw)
            origin = _canonical_city(match.group(1)) if match else None
        if destination is None:
            match = lx.ZH_TO_PLACE_RE.search(c.raw)
            destination = _canonical_city(match.group(1)) if match else None
        return origin, destination
    for match in re.finditer(r'\bto\s', c.norm):
        found = lx.EN_TO_PLACE_RE.match(c.norm, match.start())
        if found:
            city = _canonical_city(found.group(1))
            if city:
                destination = city
    match = lx.EN_FROM_PLACE_RE.search(c.norm)
    if match:
        origin = _canonical_city(match.group(1))
    return origin, destination


def _hotel_city(c: _Clause) -> str | None:
    if c.zh:
        match = lx.ZH_CITY_RE.search(c.raw)
        if match:
            return lx.CITIES_ZH[match.group(0)]
        match = lx.ZH_IN_PLACE_RE.search(c.raw)
        return _canonical_city(match.group(1) or match.group(2)) if match else None
    for match in re.finditer(r'\b(?:in|at|near)\s', c.norm):
        found = lx.EN_IN_PLACE_RE.match(c.norm, match.start())
        if found:
            city = _canonical_city(found.group(1))
            if city:
                return city
    return None


def _place_named(c: _Clause) -> bool:
    if c.zh:
        return bool(lx.ZH_CITY_RE.search(c.raw))
    return bool(re.search(r'\b(?:to|in|from)\s+[a-z]', c.norm))


def _bare_place(c: _Clause) -> str | None:
    """A city given as the answer to "where to?": 'Shanghai', 'to Hangzhou please', '去上海'."""
    if c.zh:
        match = lx.ZH_CITY_RE.search(c.raw)
        if match:
            return lx.CITIES_ZH[match.group(0)]
        stripped = re.sub(r'^(?:去|到|在|飞)|(?:吧|啊|呢|的)$|市$', '', c.raw).strip()
        return stripped if 2 <= len(stripped) <= 4 and detect_language(stripped) == 'zh' else None
    origin, destination = _route(c)
    city = destination or _hotel_city(c)
    if city:
        return city
    words = c.norm
    for pattern in (lx.REL_DAY_RE, lx.IN_DAYS_RE, lx.EN_WEEKDAY_RE, lx.EN_MONTH_DAY_RE, lx.ISO_DATE_RE):
        words = pattern.sub(' ', words)  # "Shanghai tomorrow": the date is taken separately
    words = re.sub(r'\s+', ' ', words)
    words = re.sub(r'^(?:to|in|at)\s+|\s+(?:please|on|for)$|[.!]$', '', words.strip()).strip()
    if re.fullmatch(r"[a-z][a-z' -]{1,30}", words) and len(words.split()) <= 3:
        return _canonical_city(words)
    return None


def _date(c: _Clause, today: dt.date) -> str | None:
    """An absolute YYYY-MM-DD from 'tomorrow', 'next friday', 'march 3', '明天', '下周五', '3月5号'; None if none."""
    norm = c.norm
    match = lx.ISO_DATE_RE.search(norm)
    if match:
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
        except ValueError:
            return None
    match = lx.REL_DAY_RE.search(norm)
    if match:
        word = match.group(0)
        offsets = {'day after tomorrow': 2, 'tomorrow': 1, '大后天': 3, '后天': 2, '明天': 1, '明晚': 1, '明早': 1,
                   '明日': 1}
        return (today + dt.timedelta(days=offsets.get(word, 0))).isoformat()
    match = lx.IN_DAYS_RE.search(norm)
    if match:
        return (today + dt.timedelta(days=int(match.group(1) or match.group(2)))).isoformat()
    match = lx.ZH_WEEKDAY_RE.search(c.raw)
    if match:
        return _weekday(today, lx.WEEKDAYS_ZH[match.group(2)], {'下': 1, '下下': 2}.get(match.group(1) or '', 0))
    match = lx.EN_WEEKDAY_RE.search(norm)
    if match:
        return _weekday(today, lx.WEEKDAYS_EN[match.group(2)], 1 if match.group(1) == 'next' else 0)
    match = lx.EN_MONTH_DAY_RE.search(norm)
    if match:
        month = lx.MONTHS_EN[match.group(1) or match.group(4)]
        return _month_day(today, month, int(match.group(2) or match.group(3)))
    match = lx.ZH_MONTH_DAY_RE.search(norm)
    if match:
        return _month_day(today, int(match.group(1)), int(match.group(2)))
    match = lx.DAY_OF_MONTH_RE.search(norm)
    if match:
        day = int(match.group(1) or match.group(2))
        month = today.month if day >= today.day else today.month % 12 + 1
        return _month_day(today, month, day)
    return None


def _weekday(today: dt.date, weekday: int, weeks_ahead: int) -> str:
    if weeks_ahead:  # "next Friday" / "下周五": that day in the coming week(s), Monday-based
        monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=weeks_ahead)
        return (monday + dt.timedelta(days=weekday)).isoformat()
    return (today + dt.timedelta(days=(weekday - today.weekday()) % 7)).isoformat()


def _month_day(today: dt.date, month: int, day: int) -> str | None:
    try:
        date = dt.date(today.year, month, day)
        if date < today:
            date = dt.date(today.year + 1, month, day)
        return date.isoformat()
    except ValueError:
        return None
