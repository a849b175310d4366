"""A local stand-in for the food, travel and parcel providers: the same JSON-over-HTTP API, state in SQLite.

Real HTTP on loopback only (`ThreadingHTTPServer`), SQLite in WAL mode, seeded with places along the simulated
drive. Writes (`POST`) need an `Idempotency-Key` header: the same key gives back the stored answer and never a
second record (a unique constraint inside one `BEGIN IMMEDIATE` transaction).

    services_sandbox --port 8765 --db /tmp/services.db     # prints the URL, serves until Ctrl-C
    handle = start_sandbox('/tmp/s.db'); handle.url; handle.stop()
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import math
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.parse
import uuid
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from . import sandbox_data as data

log = logging.getLogger(__name__)

DEFAULT_TOKEN = 'sandbox-token'
CHINA_TZ = dt.timezone(dt.timedelta(hours=8))
MAX_DAYS_AHEAD = 90
_DATE_RE = re.compile(r'^\d{4}-\d{2}-\d{2}$')
_OFFER_RE = re.compile(r'^(TR|FL|HT)-([A-Z0-9]+)-(\d{8})-([A-Z0-9]+)$')
TRAIN_CLASSES = {'2': 'second', '1': 'first', 'B': 'business'}
FLIGHT_CLASSES = {'Y': 'economy', 'C': 'business'}
DESTINATIONS = ('home', 'office', 'locker')
CANCELLABLE = ('placed', 'preparing')
CHANGE_FEE_CNY = {'train': 0.0, 'hotel': 0.0, 'flight': 100.0}

SCHEMA = """
CREATE TABLE IF NOT EXISTS restaurants (
  id TEXT PRIMARY KEY, name_zh TEXT, name_en TEXT, cuisine TEXT, cuisine_zh TEXT, lat REAL, lon REAL,
  rating REAL, price_level INTEGER, open INTEGER, delivery_fee_cny REAL, min_order_cny REAL, prep_min INTEGER,
  address TEXT, note TEXT, reviews TEXT);
CREATE TABLE IF NOT EXISTS menu_items (
  item_id TEXT PRIMARY KEY, restaurant_id TEXT REFERENCES restaurants(id), name_zh TEXT, name_en TEXT,
  price_cny REAL, description TEXT);
CREATE TABLE IF NOT EXISTS food_orders (
  order_id TEXT PRIMARY KEY, restaurant_id TEXT, items TEXT, note TEXT, total_cny REAL, eta_min INTEGER,
  status TEXT, created_at REAL, cancelled_at REAL, idempotency_key TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS trains (
  number TEXT PRIMARY KEY, origin TEXT, origin_station TEXT, destination TEXT, destination_station TEXT,
  depart TEXT, arrive TEXT, prices TEXT, seats INTEGER);
CREATE TABLE IF NOT EXISTS flights (
  number TEXT PRIMARY KEY, airline TEXT, origin TEXT, origin_airport TEXT, destination TEXT,
  destination_airport TEXT, depart TEXT, arrive TEXT, prices TEXT, seats INTEGER);
CREATE TABLE IF NOT EXISTS hotels (
  hotel_id TEXT PRIMARY KEY, city TEXT, name_zh TEXT, name_en TEXT, stars INTEGER, price_cny REAL, lat REAL,
  lon REAL, address TEXT, description TEXT, rooms INTEGER);
CREATE TABLE IF NOT EXISTS bookings (
  booking_id TEXT PRIMARY KEY, kind TEXT, offer_id TEXT, passengers INTEGER, total_cny REAL, status TEXT,
  details TEXT, changes TEXT, created_at REAL, idempotency_key TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS parcels (
  tracking_number TEXT PRIMARY KEY, carrier TEXT, description TEXT, status TEXT, destination TEXT,
  eta TEXT, remark TEXT, events TEXT);
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY, scope TEXT NOT NULL, request_hash TEXT NOT NULL, status INTEGER NOT NULL,
  response TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def city_key(name: str) -> str:
    """'杭州', 'Hangzhou', 'hangzhou east' -> 'hangzhou'; ApiError naming the known cities otherwise."""
    text = (name or '').strip().lower()
    for key, (zh, en, _, _) in data.CITIES.items():
        if text.startswith(key) or text.startswith(zh) or text == en.lower():
            return key
    known = ', '.join(f'{en} ({zh})' for zh, en, _, _ in data.CITIES.values())
    raise ApiError(422, 'unknown_city', f'unknown city {name!r}; known: {known}')


def nearest_city(lat: float, lon: float) -> str:
    return min(data.CITIES, key=lambda k: haversine_km(lat, lon, data.CITIES[k][2], data.CITIES[k][3]))


def city_label(key: str) -> str:
    zh, en, _, _ = data.CITIES[key]
    return f'{zh} {en}'


class SandboxStore:
    """The sandbox's state. One short-lived connection per request; writes in `BEGIN IMMEDIATE` transactions."""

    def __init__(self, path: str, *, with_injection: bool = False, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock
        with closing(self.connect()) as conn:
            conn.execute('PRAGMA journal_mode=WAL')
            conn.executescript(SCHEMA)
            seeded = conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
            if not seeded:
                self._seed(conn)
            if with_injection and not conn.execute("SELECT 1 FROM restaurants WHERE id='R666'").fetchone():
                self._seed_injection(conn)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute('PRAGMA busy_timeout=10000')
        conn.execute('PRAGMA foreign_keys=ON')
        return conn

    # ---- seeding --------------------------------------------------------------------------------------------
    def _seed(self, conn: sqlite3.Connection) -> None:
        conn.execute('BEGIN IMMEDIATE')
        self._insert_places(conn, data.RESTAURANTS, data.MENU, data.HOTELS, data.PARCELS)
        for number, origin, o_st, dest, d_st, dep, arr, prices, seats in data.TRAINS:
            conn.execute('INSERT INTO trains VALUES (?,?,?,?,?,?,?,?,?)',
                         (number, origin, o_st, dest, d_st, dep, arr, json.dumps(prices), seats))
        for number, airline, origin, o_ap, dest, d_ap, dep, arr, prices, seats in data.FLIGHTS:
            conn.execute('INSERT INTO flights VALUES (?,?,?,?,?,?,?,?,?,?)',
                         (number, airline, origin, o_ap, dest, d_ap, dep, arr, json.dumps(prices), seats))
        conn.execute("INSERT INTO meta VALUES ('seeded', ?)", (str(self.clock()),))
        conn.execute('COMMIT')

    def _seed_injection(self, conn: sqlite3.Connection) -> None:
        conn.execute('BEGIN IMMEDIATE')
        self._insert_places(conn, data.INJECTION_RESTAURANTS, data.INJECTION_MENU, data.INJECTION_HOTELS,
                            data.INJECTION_PARCELS)
        conn.execute('COMMIT')

    def _insert_places(self, conn, restaurants, menu, hotels, parcels) -> None:
        now = self.clock()
        for row in restaurants:
            conn.execute('INSERT INTO restaurants VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)',
                         (*row[:15], json.dumps(row[15], ensure_ascii=False)))
        for row in menu:
            conn.execute('INSERT INTO menu_items VALUES (?,?,?,?,?,?)', row)
        for row in hotels:
            conn.execute('INSERT INTO hotels VALUES (?,?,?,?,?,?,?,?,?,?,?)', row)
        for number, carrier, desc, status, dest, eta_days, remark, events in parcels:
            eta = None if eta_days is None else _local_date(now + eta_days * 86400).isoformat()
            history = [{'time': _iso(now - hours * 3600), 'location': loc, 'text': text}
                       for hours, loc, text in events]
            conn.execute('INSERT INTO parcels VALUES (?,?,?,?,?,?,?,?)',
                         (number, carrier, desc, status, dest, eta, remark, json.dumps(history, ensure_ascii=False)))

    # ---- idempotent writes ----------------------------------------------------------------------------------
    def idempotent(self, key: str | None, scope: str, request: Any,
                   action: Callable[[sqlite3.Connection], tuple[int, dict]]) -> tuple[int, dict, bool]:
        """Run `action` once per key: (status, body, replayed). Same key + other request -> 422."""
        if not key:
            raise ApiError(400, 'idempotency_key_required', 'this endpoint needs an Idempotency-Key header')
        if len(key) > 128:
            raise ApiError(400, 'bad_idempotency_key', 'Idempotency-Key is longer than 128 characters')
        digest = hashlib.sha256(json.dumps([scope, request], sort_keys=True, ensure_ascii=False)
                                .encode('utf-8')).hexdigest()
        conn = self.connect()
        try:
            conn.execute('BEGIN IMMEDIATE')
            row = conn.execute('SELECT scope, request_hash, status, response FROM idempotency WHERE key=?',
                               (key,)).fetchone()
            if row is not None:
                conn.execute('ROLLBACK')
                if row['scope'] != scope or row['request_hash'] != digest:
                    raise ApiError(422, 'idempotency_key_reused',
                                   'this Idempotency-Key was already used for a different request')
                return row['status'], json.loads(row['response']), True
            try:
                status, body = action(conn)
            except BaseException:
                conn.execute('ROLLBACK')
                raise
            conn.execute('INSERT INTO idempotency VALUES (?,?,?,?,?,?)',
                         (key, scope, digest, status, json.dumps(body, ensure_ascii=False), self.clock()))
            conn.execute('COMMIT')
            return status, body, False
        finally:
            conn.close()

    # ---- food -----------------------------------------------------------------------------------------------
    def search_restaurants(self, q: dict[str, str]) -> dict:
        lat, lon = _float(q, 'lat'), _float(q, 'lon')
        if lat is None or lon is None:
            raise ApiError(400, 'position_required', 'lat and lon (the car position) are required')
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ApiError(422, 'bad_position', f'position {lat},{lon} is not on Earth')
        radius = _float(q, 'max_distance_km')
        radius = 5.0 if radius is None else radius
        if not 0 < radius <= 200:
            raise ApiError(422, 'bad_distance', f'max_distance_km {radius} is outside 0..200')
        query = (q.get('query') or '').strip().lower()
        cuisine = (q.get('cuisine') or '').strip().lower()
        with closing(self.connect()) as conn:
            rows = conn.execute('SELECT * FROM restaurants').fetchall()
        found = []
        for r in rows:
            distance = haversine_km(lat, lon, r['lat'], r['lon'])
            if distance > radius:
                continue
            text = ' '.join([r['name_zh'], r['name_en'], r['cuisine'], r['cuisine_zh']]).lower()
            if query and query not in text and not _menu_mentions(self, r['id'], query):
                continue
            if cuisine and cuisine not in (r['cuisine'], r['cuisine_zh'].lower()) and cuisine not in text:
                continue
            found.append(_restaurant(r, distance))
        found.sort(key=lambda x: x['distance_km'])
        return {'restaurants': found[:10], 'position': {'lat': lat, 'lon': lon}, 'max_distance_km': radius}

    def restaurant(self, conn: sqlite3.Connection, restaurant_id: str) -> sqlite3.Row:
        row = conn.execute('SELECT * FROM restaurants WHERE id=?', (restaurant_id,)).fetchone()
        if row is None:
            raise ApiError(404, 'unknown_restaurant', f'unknown restaurant {restaurant_id!r}')
        return row

    def menu(self, restaurant_id: str) -> dict:
        with closing(self.connect()) as conn:
            r = self.restaurant(conn, restaurant_id)
            items = conn.execute('SELECT * FROM menu_items WHERE restaurant_id=? ORDER BY item_id',
                                 (restaurant_id,)).fetchall()
        return {'restaurant': _restaurant(r, None),
                'items': [{'item_id': i['item_id'], 'name': i['name_zh'], 'name_en': i['name_en'],
                           'price_cny': i['price_cny'], 'description': i['description']} for i in items]}

    def place_order(self, body: dict, key: str | None) -> tuple[int, dict, bool]:
        restaurant_id = _str(body, 'restaurant_id')
        items = body.get('items')
        note = body.get('note') or ''
        if not isinstance(items, list) or not items:
            raise ApiError(422, 'no_items', 'an order needs at least one item')
        if not isinstance(note, str) or len(note) > 200:
            raise ApiError(422, 'bad_note', 'note must be text of at most 200 characters')

        def action(conn: sqlite3.Connection) -> tuple[int, dict]:
            r = self.restaurant(conn, restaurant_id)
            if not r['open']:
                raise ApiError(409, 'restaurant_closed', f'{r["name_en"]} ({r["name_zh"]}) is closed now')
            lines, subtotal = [], 0.0
            for n, line in enumerate(items):
                if not isinstance(line, dict):
                    raise ApiError(422, 'bad_item', f'items[{n}] must be an object')
                qty = line.get('quantity')
                if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= 50:
                    raise ApiError(422, 'bad_quantity', f'items[{n}].quantity must be a whole number 1..50, '
                                                        f'got {qty!r}')
                item = conn.execute('SELECT * FROM menu_items WHERE item_id=? AND restaurant_id=?',
                                    (line.get('item_id'), restaurant_id)).fetchone()
                if item is None:
                    raise ApiError(422, 'unknown_item', f'item {line.get("item_id")!r} is not on the menu of '
                                                        f'{restaurant_id}')
                lines.append({'item_id': item['item_id'], 'name': item['name_zh'], 'name_en': item['name_en'],
                              'quantity': qty, 'price_cny': item['price_cny']})
                subtotal += qty * item['price_cny']
            if subtotal < r['min_order_cny']:
                raise ApiError(422, 'below_minimum', f'the minimum order is {r["min_order_cny"]:.0f} CNY, '
                                                     f'this one is {subtotal:.0f} CNY')
            total = round(subtotal + r['delivery_fee_cny'], 2)
            order_id = 'FO-' + uuid.uuid4().hex[:10].upper()
            eta = int(r['prep_min'] + 15)
            now = self.clock()
            conn.execute('INSERT INTO food_orders VALUES (?,?,?,?,?,?,?,?,?,?)',
                         (order_id, restaurant_id, json.dumps(lines, ensure_ascii=False), note, total, eta,
                          'placed', now, None, key))
            return 201, {'order': self._order_view(conn, order_id)}

        return self.idempotent(key, 'food.order', body, action)

    def _order_view(self, conn: sqlite3.Connection, order_id: str) -> dict:
        o = conn.execute('SELECT o.*, r.name_zh, r.name_en, r.prep_min FROM food_orders o '
                         'JOIN restaurants r ON r.id = o.restaurant_id WHERE order_id=?', (order_id,)).fetchone()
        if o is None:
            raise ApiError(404, 'unknown_order', f'unknown order {order_id!r}')
        status = o['status']
        elapsed = self.clock() - o['created_at']
        if status == 'placed':  # progress with time, like a real kitchen and courier
            if elapsed >= o['eta_min'] * 60:
                status = 'delivered'
            elif elapsed >= o['prep_min'] * 60:
                status = 'on_the_way'
            elif elapsed >= 60:
                status = 'preparing'
        remaining = max(0, int(math.ceil(o['eta_min'] - elapsed / 60))) if status not in ('cancelled',
                                                                                          'delivered') else 0
        return {'order_id': o['order_id'], 'restaurant_id': o['restaurant_id'], 'restaurant': o['name_zh'],
                'restaurant_en': o['name_en'], 'items': json.loads(o['items']), 'note': o['note'],
                'total_cny': o['total_cny'], 'status': status, 'eta_min': remaining,
                'placed_at': _iso(o['created_at'])}

    def orders(self) -> dict:
        with closing(self.connect()) as conn:
            ids = [r[0] for r in conn.execute('SELECT order_id FROM food_orders ORDER BY created_at DESC LIMIT 20')]
            return {'orders': [self._order_view(conn, i) for i in ids]}

    def order(self, order_id: str) -> dict:
        with closing(self.connect()) as conn:
            return {'order': self._order_view(conn, order_id)}

    def cancel_order(self, order_id: str, key: str | None) -> tuple[int, dict, bool]:
        def action(conn: sqlite3.Connection) -> tuple[int, dict]:
            view = self._order_view(conn, order_id)
            if view['status'] == 'cancelled':
                return 200, {'order': view}
            if view['status'] not in CANCELLABLE:
                raise ApiError(409, 'not_cancellable', f'order {order_id} is {view["status"]} and can no longer '
                                                       'be cancelled')
            conn.execute("UPDATE food_orders SET status='cancelled', cancelled_at=? WHERE order_id=?",
                         (self.clock(), order_id))
            return 200, {'order': self._order_view(conn, order_id)}

        return self.idempotent(key, 'food.cancel', {'order_id': order_id}, action)

    # ---- travel ---------------------------------------------------------------------------------------------
    def search_transport(self, kind: str, q: dict[str, str]) -> dict:
        destination = city_key(_str(q, 'destination'))
        origin = self._origin(q)
        if origin == destination:
            raise ApiError(422, 'same_city', 'origin and destination are the same city')
        day = self.parse_date(q.get('date'))
        table = 'trains' if kind == 'train' else 'flights'
        with closing(self.connect()) as conn:
            rows = conn.execute(f'SELECT * FROM {table} WHERE origin=? AND destination=? ORDER BY depart',
                                (origin, destination)).fetchall()
            offers = [o for r in rows for o in self._transport_offers(conn, kind, r, day)]
        return {'origin': city_label(origin), 'destination': city_label(destination), 'date': day.isoformat(),
                'offers': offers}

    def _origin(self, q: dict[str, str]) -> str:
        if q.get('origin'):
            return city_key(q['origin'])
        lat, lon = _float(q, 'lat'), _float(q, 'lon')
        if lat is None or lon is None:
            raise ApiError(400, 'origin_required', 'give an origin city or the car position (lat, lon)')
        return nearest_city(lat, lon)

    def _transport_offers(self, conn, kind: str, r: sqlite3.Row, day: dt.date) -> list[dict]:
        classes = TRAIN_CLASSES if kind == 'train' else FLIGHT_CLASSES
        prefix = 'TR' if kind == 'train' else 'FL'
        out = []
        for (code, label), price in zip(classes.items(), json.loads(r['prices'])):
            offer_id = f'{prefix}-{r["number"]}-{day:%Y%m%d}-{code}'
            left = r['seats'] - self._booked(conn, offer_id)
            offer = {'offer_id': offer_id, 'kind': kind, 'number': r['number'], 'date': day.isoformat(),
                     'depart': r['depart'], 'arrive': r['arrive'], 'class': label, 'price_cny': price,
                     'seats_left': max(0, left)}
            if kind == 'train':
                offer.update({'from_station': r['origin_station'], 'to_station': r['destination_station']})
            else:
                offer.update({'airline': r['airline'], 'from_airport': r['origin_airport'],
                              'to_airport': r['destination_airport']})
            out.append(offer)
        return out

    def _booked(self, conn, offer_id: str) -> int:
        row = conn.execute("SELECT COALESCE(SUM(passengers), 0) FROM bookings WHERE offer_id=? AND "
                           "status='confirmed'", (offer_id,)).fetchone()
        return int(row[0])

    def search_hotels(self, q: dict[str, str]) -> dict:
        city = city_key(_str(q, 'city'))
        day = self.parse_date(q.get('check_in'))
        nights = _int(q, 'nights', 1)
        if not 1 <= nights <= 30:
            raise ApiError(422, 'bad_nights', f'nights must be 1..30, got {nights}')
        with closing(self.connect()) as conn:
            rows = conn.execute('SELECT * FROM hotels WHERE city=? ORDER BY price_cny', (city,)).fetchall()
            offers = [self._hotel_offer(conn, h, day, nights) for h in rows]
        return {'city': city_label(city), 'check_in': day.isoformat(), 'nights': nights, 'offers': offers}

    def _hotel_offer(self, conn, h: sqlite3.Row, day: dt.date, nights: int) -> dict:
        offer_id = f'HT-{h["hotel_id"]}-{day:%Y%m%d}-{nights}'
        return {'offer_id': offer_id, 'kind': 'hotel', 'hotel_id': h['hotel_id'], 'name': h['name_zh'],
                'name_en': h['name_en'], 'stars': h['stars'], 'check_in': day.isoformat(), 'nights': nights,
                'price_per_night_cny': h['price_cny'], 'total_cny': h['price_cny'] * nights,
                'address': h['address'], 'description': h['description'],
                'rooms_left': max(0, h['rooms'] - self._booked(conn, offer_id))}

    def resolve_offer(self, conn, offer_id: str) -> dict:
        """An offer id -> the offer as search shows it; 404/422 with the reason when it does not exist."""
        m = _OFFER_RE.match(offer_id or '')
        if not m:
            raise ApiError(422, 'bad_offer', f'{offer_id!r} is not an offer id (search first)')
        prefix, ident, ymd, tail = m.groups()
        try:
            day = dt.datetime.strptime(ymd, '%Y%m%d').date()
        except ValueError:
            raise ApiError(422, 'bad_offer', f'offer {offer_id} has an impossible date') from None
        self.check_date(day)
        if prefix == 'HT':
            h = conn.execute('SELECT * FROM hotels WHERE hotel_id=?', (ident,)).fetchone()
            if h is None or not tail.isdigit() or not 1 <= int(tail) <= 30:
                raise ApiError(404, 'unknown_offer', f'unknown offer {offer_id!r}')
            return self._hotel_offer(conn, h, day, int(tail))
        kind, table = ('train', 'trains') if prefix == 'TR' else ('flight', 'flights')
        r = conn.execute(f'SELECT * FROM {table} WHERE number=?', (ident,)).fetchone()
        offers = self._transport_offers(conn, kind, r, day) if r is not None else []
        for offer in offers:
            if offer['offer_id'] == offer_id:
                offer['origin'] = city_label(r['origin'])
                offer['destination'] = city_label(r['destination'])
                return offer
        raise ApiError(404, 'unknown_offer', f'unknown offer {offer_id!r}')

    def offer(self, offer_id: str) -> dict:
        with closing(self.connect()) as conn:
            return {'offer': self.resolve_offer(conn, offer_id)}

    def _price(self, offer: dict, passengers: int) -> tuple[float, int]:
        """(total CNY, units taken): seats for trains and flights, rooms (two guests each) for hotels."""
        if offer['kind'] == 'hotel':
            rooms = (passengers + 1) // 2
            if rooms > offer['rooms_left']:
                raise ApiError(409, 'sold_out', f'only {offer["rooms_left"]} room(s) left')
            return offer['total_cny'] * rooms, rooms
        if passengers > offer['seats_left']:
            raise ApiError(409, 'sold_out', f'only {offer["seats_left"]} seat(s) left on {offer["number"]}')
        return offer['price_cny'] * passengers, passengers

    def book(self, body: dict, key: str | None) -> tuple[int, dict, bool]:
        offer_id = _str(body, 'offer_id')
        passengers = body.get('passengers', 1)
        if isinstance(passengers, bool) or not isinstance(passengers, int) or not 1 <= passengers <= 9:
            raise ApiError(422, 'bad_passengers', f'passengers must be a whole number 1..9, got {passengers!r}')

        def action(conn: sqlite3.Connection) -> tuple[int, dict]:
            offer = self.resolve_offer(conn, offer_id)
            total, units = self._price(offer, passengers)
            booking_id = 'BK-' + uuid.uuid4().hex[:10].upper()
            conn.execute('INSERT INTO bookings VALUES (?,?,?,?,?,?,?,?,?,?)',
                         (booking_id, offer['kind'], offer_id, units, round(total, 2), 'confirmed',
                          json.dumps(offer, ensure_ascii=False), '[]', self.clock(), key))
            return 201, {'booking': self._booking_view(conn, booking_id)}

        return self.idempotent(key, 'travel.book', {'offer_id': offer_id, 'passengers': passengers}, action)

    def _booking_view(self, conn, booking_id: str) -> dict:
        b = conn.execute('SELECT * FROM bookings WHERE booking_id=?', (booking_id,)).fetchone()
        if b is None:
            raise ApiError(404, 'unknown_booking', f'unknown booking {booking_id!r}')
        return {'booking_id': b['booking_id'], 'kind': b['kind'], 'offer_id': b['offer_id'],
                'units': b['passengers'], 'total_cny': b['total_cny'], 'status': b['status'],
                'details': json.loads(b['details']), 'changes': json.loads(b['changes']),
                'change_fee_cny': CHANGE_FEE_CNY[b['kind']], 'booked_at': _iso(b['created_at'])}

    def itinerary(self) -> dict:
        with closing(self.connect()) as conn:
            ids = [r[0] for r in conn.execute("SELECT booking_id FROM bookings ORDER BY created_at")]
            return {'bookings': [self._booking_view(conn, i) for i in ids]}

    def booking(self, booking_id: str) -> dict:
        with closing(self.connect()) as conn:
            return {'booking': self._booking_view(conn, booking_id)}

    def change_booking(self, booking_id: str, body: dict, key: str | None) -> tuple[int, dict, bool]:
        new_offer_id = _str(body, 'new_offer_id')

        def action(conn: sqlite3.Connection) -> tuple[int, dict]:
            old = self._booking_view(conn, booking_id)
            if old['status'] != 'confirmed':
                raise ApiError(409, 'not_changeable', f'booking {booking_id} is {old["status"]}')
            if new_offer_id == old['offer_id']:
                raise ApiError(422, 'same_offer', 'the new offer is the booking it replaces')
            offer = self.resolve_offer(conn, new_offer_id)
            if offer['kind'] != old['kind']:
                raise ApiError(422, 'kind_mismatch', f'a {old["kind"]} booking can only change to another '
                                                     f'{old["kind"]} offer')
            passengers = old['units'] * 2 if old['kind'] == 'hotel' else old['units']
            total, units = self._price(offer, passengers)
            fee = CHANGE_FEE_CNY[old['kind']]
            changes = old['changes'] + [{'from': old['offer_id'], 'to': new_offer_id, 'fee_cny': fee,
                                         'at': _iso(self.clock())}]
            conn.execute('UPDATE bookings SET offer_id=?, passengers=?, total_cny=?, details=?, changes=? '
                         'WHERE booking_id=?',
                         (new_offer_id, units, round(total + fee, 2), json.dumps(offer, ensure_ascii=False),
                          json.dumps(changes, ensure_ascii=False), booking_id))
            return 200, {'booking': self._booking_view(conn, booking_id), 'change_fee_cny': fee}

        return self.idempotent(key, 'travel.change', {'booking_id': booking_id, 'new_offer_id': new_offer_id},
                               action)

    def parse_date(self, text: str | None) -> dt.date:
        if not text:
            return _local_date(self.clock())
        if not _DATE_RE.match(text):
            raise ApiError(422, 'bad_date', f'date {text!r} is not YYYY-MM-DD')
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ApiError(422, 'bad_date', f'{text} is not a calendar date') from None
        self.check_date(day)
        return day

    def check_date(self, day: dt.date) -> None:
        today = _local_date(self.clock())
        if day < today:
            raise ApiError(422, 'date_in_past', f'{day.isoformat()} is in the past (today is {today.isoformat()})')
        if day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
            raise ApiError(422, 'date_too_far', f'{day.isoformat()} is more than {MAX_DAYS_AHEAD} days ahead')

    # ---- parcels --------------------------------------------------------------------------------------------
    def parcels(self) -> dict:
        with closing(self.connect()) as conn:
            rows = conn.execute('SELECT * FROM parcels ORDER BY tracking_number').fetchall()
        return {'parcels': [_parcel(r, events=False) for r in rows]}

    def parcel(self, tracking_number: str) -> dict:
        with closing(self.connect()) as conn:
            return {'parcel': _parcel(self._parcel_row(conn, tracking_number), events=True)}

    def _parcel_row(self, conn, tracking_number: str) -> sqlite3.Row:
        row = conn.execute('SELECT * FROM parcels WHERE tracking_number=?', (tracking_number,)).fetchone()
        if row is None:
            raise ApiError(404, 'unknown_parcel', f'unknown tracking number {tracking_number!r}')
        return row

    def redirect(self, tracking_number: str, body: dict, key: str | None) -> tuple[int, dict, bool]:
        destination = body.get('destination')
        if destination not in DESTINATIONS:
            raise ApiError(422, 'bad_destination', f'destination must be one of {list(DESTINATIONS)}, '
                                                   f'got {destination!r}')

        def action(conn: sqlite3.Connection) -> tuple[int, dict]:
            row = self._parcel_row(conn, tracking_number)
            if row['status'] == 'delivered':
                raise ApiError(409, 'already_delivered', f'parcel {tracking_number} is already delivered')
            if row['destination'] == destination:
                raise ApiError(409, 'same_destination', f'parcel {tracking_number} already goes to {destination}')
            events = json.loads(row['events'])
            events.append({'time': _iso(self.clock()), 'location': '', 'text':
                           f'改派至{_DEST_ZH[destination]} Redirected to {destination}'})
            conn.execute('UPDATE parcels SET destination=?, events=? WHERE tracking_number=?',
                         (destination, json.dumps(events, ensure_ascii=False), tracking_number))
            return 200, {'parcel': _parcel(self._parcel_row(conn, tracking_number), events=True)}

        return self.idempotent(key, 'parcels.redirect', {'tracking_number': tracking_number,
                                                         'destination': destination}, action)

    # ---- for tests and inspection ---------------------------------------------------------------------------
    def count(self, table: str) -> int:
        if table not in ('food_orders', 'bookings', 'idempotency', 'parcels'):
            raise ValueError(table)
        with closing(self.connect()) as conn:
            return int(conn.execute(f'SELECT COUNT(*) FROM {table}').fetchone()[0])


_DEST_ZH = {'home': '家', 'office': '公司', 'locker': '快递柜'}


def _menu_mentions(store: SandboxStore, restaurant_id: str, query: str) -> bool:
    with closing(store.connect()) as conn:
        rows = conn.execute('SELECT name_zh, name_en FROM menu_items WHERE restaurant_id=?', (restaurant_id,))
        return any(query in (a + ' ' + b).lower() for a, b in rows)


def _restaurant(r: sqlite3.Row, distance: float | None) -> dict:
    out = {'restaurant_id': r['id'], 'name': r['name_zh'], 'name_en': r['name_en'], 'cuisine': r['cuisine'],
           'cuisine_zh': r['cuisine_zh'], 'rating': r['rating'], 'price_level': r['price_level'],
           'open': bool(r['open']), 'delivery_fee_cny': r['delivery_fee_cny'], 'min_order_cny': r['min_order_cny'],
           'address': r['address'], 'note': r['note'], 'reviews': json.loads(r['reviews']),
           'lat': r['lat'], 'lon': r['lon']}
    if distance is not None:
        out['distance_km'] = round(distance, 2)
        out['eta_min'] = int(r['prep_min'] + 15 + distance * 3)
    return out


def _parcel(r: sqlite3.Row, *, events: bool) -> dict:
    out = {'tracking_number': r['tracking_number'], 'carrier': r['carrier'], 'description': r['description'],
           'status': r['status'], 'destination': r['destination'], 'eta': r['eta'], 'remark': r['remark']}
    history = json.loads(r['events'])
    if events:
        out['events'] = history
    elif history:
        out['last_event'] = history[-1]
    return out


def _local_date(ts: float) -> dt.date:
    return dt.datetime.fromtimestamp(ts, CHINA_TZ).date()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, CHINA_TZ).isoformat(timespec='seconds')


def _str(src: dict, name: str) -> str:
    value = src.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, 'missing_field', f'{name} is required')
    return value.strip()


def _float(q: dict, name: str) -> float | None:
    if q.get(name) in (None, ''):
        return None
    try:
        value = float(q[name])
    except (TypeError, ValueError):
        raise ApiError(422, 'bad_number', f'{name} must be a number, got {q[name]!r}') from None
    if not math.isfinite(value):
        raise ApiError(422, 'bad_number', f'{name} must be finite')
    return value


def _int(q: dict, name: str, default: int) -> int:
    if q.get(name) in (None, ''):
        return default
    try:
        return int(q[name])
    except (TypeError, ValueError):
        raise ApiError(422, 'bad_number', f'{name} must be a whole number, got {q[name]!r}') from None


# ---- HTTP -----------------------------------------------------------------------------------------------------
@dataclass
class Fault:
    """Chaos for tests: answer `status` (or stall `delay_s`) for the next `times` requests under `prefix`."""
    prefix: str
    status: int = 503
    times: int = 1
    delay_s: float = 0.0
    after: bool = False  # True: do the work, then answer `status` (the reply is lost, the write is not)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt: str, *args: Any) -> None:  # route http.server's stderr lines to logging
        log.debug('sandbox %s - ' + fmt, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch('GET')

    def do_POST(self) -> None:
        self._dispatch('POST')

    def _dispatch(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        path = parsed.path.rstrip('/')
        fault = self.server.take_fault(path)
        if fault and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault and not fault.after and fault.status:
            return self._send(fault.status, {'error': 'injected fault', 'code': 'fault'})
        try:
            if self.server.token and self.headers.get('Authorization') != f'Bearer {self.server.token}':
                raise ApiError(401, 'unauthorized', 'missing or wrong bearer token')
            body = self._body() if method == 'POST' else {}
            status, payload, replayed = self._route(method, path, query, body)
        except ApiError as exc:
            return self._send(exc.status, {'error': exc.message, 'code': exc.code})
        except Exception:  # noqa: BLE001 - one bad request must not take the server down
            log.exception('sandbox: %s %s failed', method, self.path)
            return self._send(500, {'error': 'internal error', 'code': 'internal'})
        if fault and fault.after:
            return self._send(fault.status, {'error': 'injected fault after commit', 'code': 'fault'})
        self._send(status, payload, {'Idempotent-Replayed': 'true'} if replayed else None)

    def _body(self) -> dict:
        length = int(self.headers.get('Content-Length') or 0)
        if length > 64 * 1024:
            raise ApiError(413, 'too_large', 'request body over 64 KiB')
        raw = self.rfile.read(length) if length else b''
        try:
            body = json.loads(raw.decode('utf-8')) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(400, 'bad_json', 'request body is not JSON') from None
        if not isinstance(body, dict):
            raise ApiError(400, 'bad_json', 'request body must be a JSON object')
        return body

    def _route(self, method: str, path: str, q: dict, body: dict) -> tuple[int, dict, bool]:
        store = self.server.store
        key = self.headers.get('Idempotency-Key')
        parts = [urllib.parse.unquote(p) for p in path.split('/') if p]
        if parts[:1] != ['v1']:
            raise ApiError(404, 'not_found', f'no such endpoint {path!r}')
        route = parts[1:]
        ok = (lambda payload: (200, payload, False))
        if method == 'GET':
            match route:
                case ['health']:
                    return ok({'status': 'ok'})
                case ['food', 'restaurants']:
                    return ok(store.search_restaurants(q))
                case ['food', 'restaurants', rid, 'menu']:
                    return ok(store.menu(rid))
                case ['food', 'orders']:
                    return ok(store.orders())
                case ['food', 'orders', oid]:
                    return ok(store.order(oid))
                case ['travel', 'trains']:
                    return ok(store.search_transport('train', q))
                case ['travel', 'flights']:
                    return ok(store.search_transport('flight', q))
                case ['travel', 'hotels']:
                    return ok(store.search_hotels(q))
                case ['travel', 'offers', offer_id]:
                    return ok(store.offer(offer_id))
                case ['travel', 'bookings']:
                    return ok(store.itinerary())
                case ['travel', 'bookings', bid]:
                    return ok(store.booking(bid))
                case ['parcels']:
                    return ok(store.parcels())
                case ['parcels', tn]:
                    return ok(store.parcel(tn))
        else:
            match route:
                case ['food', 'orders']:
                    return store.place_order(body, key)
                case ['food', 'orders', oid, 'cancel']:
                    return store.cancel_order(oid, key)
                case ['travel', 'bookings']:
                    return store.book(body, key)
                case ['travel', 'bookings', bid, 'change']:
                    return store.change_booking(bid, body, key)
                case ['parcels', tn, 'redirect']:
                    return store.redirect(tn, body, key)
        raise ApiError(404, 'not_found', f'no such endpoint {method} {path!r}')

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(payload, ensure_ascii=False).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'application/json; charset=utf-8')
        self.send_header('Content-Length', str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, store: SandboxStore, token: str | None):
        if ':' in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.store = store
        self.token = token
        self._faults: list[Fault] = []
        self._fault_lock = threading.Lock()

    def take_fault(self, path: str) -> Fault | None:
        with self._fault_lock:
            for fault in self._faults:
                if path.startswith(fault.prefix) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None


class SandboxServer:
    """A running sandbox: `.url`, `.store`, `.add_fault()`, `.stop()` (idempotent)."""

    def __init__(self, db_path: str, *, host: str = '127.0.0.1', port: int = 0, token: str | None = DEFAULT_TOKEN,
                 with_injection: bool = False, clock: Callable[[], float] = time.time):
        check_loopback(host)
        self.store = SandboxStore(db_path, with_injection=with_injection, clock=clock)
        self._server = _Server((host, port), self.store, token)
        self.host, self.port = self._server.server_address[:2]
        shown = f'[{self.host}]' if ':' in self.host else self.host
        self.url = f'http://{shown}:{self.port}'
        self.token = token
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def config(self) -> dict[str, Any]:
        """What `ServiceExecutor.from_config` needs to talk to this sandbox."""
        return {'base_url': self.url, 'token': self.token}

    def add_fault(self, prefix: str, status: int = 503, times: int = 1, delay_s: float = 0.0,
                  after: bool = False) -> None:
        with self._server._fault_lock:
            self._server._faults.append(Fault(prefix, status, times, delay_s, after))

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
                                        name='services-sandbox', daemon=True)
        self._thread.start()
        log.info('services sandbox on %s (db %s)', self.url, self.store.path)
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_sandbox(db_path: str, port: int = 0, **kwargs: Any) -> SandboxServer:
    """Start a sandbox in a background thread (demo, tests); `.stop()` when done."""
    return SandboxServer(db_path, port=port, **kwargs).start()


def check_loopback(host: str) -> None:
    if host == 'localhost':
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f'the sandbox only listens on loopback (127.0.0.1, ::1, localhost), not {host!r}')


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='services_sandbox', description=__doc__.split('\n')[0])
    parser.add_argument('--host', default='127.0.0.1', help='loopback address to listen on (default 127.0.0.1)')
    parser.add_argument('--port', type=int, default=8765, help='TCP port, 0 for any free one (default 8765)')
    parser.add_argument('--db', default='services_sandbox.db', help='SQLite file for the state (created and seeded)')
    parser.add_argument('--token', default=DEFAULT_TOKEN, help='bearer token clients must send ("" for none)')
    parser.add_argument('--with-injection-samples', action='store_true',
                        help='also seed rows that carry planted prompt-injection text (for red-team tests)')
    parser.add_argument('--log-level', default='INFO')
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    try:
        server = SandboxServer(args.db, host=args.host, port=args.port, token=args.token or None,
                               with_injection=args.with_injection_samples)
    except (ValueError, OSError) as exc:
        print(f'services_sandbox: {exc}', file=sys.stderr)
        return 2
    print(server.url, flush=True)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
