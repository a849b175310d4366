"""Food delivery: restaurants near the car, menus, orders, status, cancel."""
from __future__ import annotations

import math
import urllib.parse
from typing import Any

from .base import ServiceAdapter, ServiceRejected, check_id


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe='')


class FoodAdapter(ServiceAdapter):
    name = 'food'

    def search_restaurants(self, lat: float, lon: float, *, query: str | None = None, cuisine: str | None = None,
                           max_distance_km: float | None = None) -> dict[str, Any]:
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lat, lon)):
            raise ServiceRejected('the car position is not a valid latitude/longitude', code='bad_position')
        return self.get('/v1/food/restaurants', {'lat': f'{lat:.6f}', 'lon': f'{lon:.6f}', 'query': query,
                                                 'cuisine': cuisine, 'max_distance_km': max_distance_km})

    def get_menu(self, restaurant_id: str) -> dict[str, Any]:
        return self.get(f'/v1/food/restaurants/{_q(check_id("restaurant", restaurant_id))}/menu')

    def order(self, restaurant_id: str, items: list[dict[str, Any]], *, note: str | None = None,
              idempotency_key: str) -> dict[str, Any]:
        check_id('restaurant', restaurant_id)
        if not items:
            raise ServiceRejected('an order needs at least one item', code='no_items')
        for line in items:
            check_id('item', line.get('item_id'))
            qty = line.get('quantity')
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                raise ServiceRejected(f'quantity must be a whole number of at least 1, got {qty!r}',
                                      code='bad_quantity')
        body = {'restaurant_id': restaurant_id,
                'items': [{'item_id': i['item_id'], 'quantity': i['quantity']} for i in items]}
        if note:
            body['note'] = note
        return self.post('/v1/food/orders', body, idempotency_key=idempotency_key)

    def order_status(self, order_id: str | None = None) -> dict[str, Any]:
        if order_id is None:
            return self.get('/v1/food/orders')
        return self.get(f'/v1/food/orders/{_q(check_id("order", order_id))}')

    def cancel(self, order_id: str, *, idempotency_key: str) -> dict[str, Any]:
        return self.post(f'/v1/food/orders/{_q(check_id("order", order_id))}/cancel', {},
                         idempotency_key=idempotency_key)
