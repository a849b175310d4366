"""Travel: trains, flights, hotels; book, itinerary, change."""
from __future__ import annotations

import urllib.parse
from typing import Any

from .base import ServiceAdapter, ServiceRejected, check_id


class TravelAdapter(ServiceAdapter):
    name = 'travel'

    def search_trains(self, destination: str, *, origin: str | None = None, date: str | None = None,
                      position: tuple[float, float] | None = None) -> dict[str, Any]:
        return self.get('/v1/travel/trains', _route_params(destination, origin, date, position))

    def search_flights(self, destination: str, *, origin: str | None = None, date: str | None = None,
                       position: tuple[float, float] | None = None) -> dict[str, Any]:
        return self.get('/v1/travel/flights', _route_params(destination, origin, date, position))

    def search_hotels(self, city: str, *, check_in: str | None = None, nights: int | None = None) -> dict[str, Any]:
        if not city:
            raise ServiceRejected('a city is required', code='missing_field')
        return self.get('/v1/travel/hotels', {'city': city, 'check_in': check_in, 'nights': nights})

    def offer(self, offer_id: str) -> dict[str, Any]:
        """One offer as a search shows it (for the confirmation prompt)."""
        return self.get(f'/v1/travel/offers/{urllib.parse.quote(check_id("offer", offer_id), safe="")}')

    def booking(self, booking_id: str) -> dict[str, Any]:
        return self.get(f'/v1/travel/bookings/{urllib.parse.quote(check_id("booking", booking_id), safe="")}')

    def book(self, offer_id: str, *, passengers: int = 1, idempotency_key: str) -> dict[str, Any]:
        check_id('offer', offer_id)
        return self.post('/v1/travel/bookings', {'offer_id': offer_id, 'passengers': passengers},
                         idempotency_key=idempotency_key)

    def itinerary(self) -> dict[str, Any]:
        return self.get('/v1/travel/bookings')

    def change(self, booking_id: str, new_offer_id: str, *, idempotency_key: str) -> dict[str, Any]:
        check_id('booking', booking_id)
        check_id('offer', new_offer_id)
        return self.post(f'/v1/travel/bookings/{urllib.parse.quote(booking_id, safe="")}/change',
                         {'new_offer_id': new_offer_id}, idempotency_key=idempotency_key)


def _route_params(destination: str, origin: str | None, date: str | None,
                  position: tuple[float, float] | None) -> dict[str, Any]:
    if not destination:
        raise ServiceRejected('a destination is required', code='missing_field')
    params: dict[str, Any] = {'destination': destination, 'origin': origin, 'date': date}
    if not origin and position is not None:
        params['lat'], params['lon'] = f'{position[0]:.6f}', f'{position[1]:.6f}'
    return params
