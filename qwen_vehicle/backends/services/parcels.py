"""Parcels: list, track with events, redirect to home, office or a locker."""
from __future__ import annotations

import urllib.parse
from typing import Any

from .base import ServiceAdapter, ServiceRejected, check_id

DESTINATIONS = ('home', 'office', 'locker')


class ParcelsAdapter(ServiceAdapter):
    name = 'parcels'

    def list_parcels(self) -> dict[str, Any]:
        return self.get('/v1/parcels')

    def track(self, tracking_number: str) -> dict[str, Any]:
        return self.get(f'/v1/parcels/{urllib.parse.quote(check_id("tracking number", tracking_number), safe="")}')

    def redirect(self, tracking_number: str, destination: str, *, idempotency_key: str) -> dict[str, Any]:
        check_id('tracking number', tracking_number)
        if destination not in DESTINATIONS:
            raise ServiceRejected(f'destination must be one of {list(DESTINATIONS)}, got {destination!r}',
                                  code='bad_destination')
        return self.post(f'/v1/parcels/{urllib.parse.quote(tracking_number, safe="")}/redirect',
                         {'destination': destination}, idempotency_key=idempotency_key)
