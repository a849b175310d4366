"""Service adapter base: the public methods do validation, timeout and retry; `_request` does the HTTP.

A real provider plugs in by subclassing an adapter (or `ServiceAdapter`) and overriding `_request` or the
public methods; the sandbox (`sandbox.py`) speaks the same JSON API as the built-in adapters.
"""
from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from .untrusted import wrap_untrusted

log = logging.getLogger(__name__)

ID_PATTERN = r'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'
_ID_RE = re.compile(ID_PATTERN)
_KEY_RE = re.compile(r'^[\x21-\x7e]{8,128}$')


class ServiceError(Exception):
    """Base of every error an adapter raises; `str()` is a sentence fit for the driver-facing reason, with the
    provider's own words inside <untrusted>...</untrusted>."""


class ServiceUnavailable(ServiceError):
    """Transient: no route, timeout, 5xx, 429. The same request may be sent again later (with its key)."""


class ServiceRejected(ServiceError):
    """The provider answered and said no (4xx): sending it again will not help."""

    def __init__(self, message: str, *, status: int = 400, code: str = 'bad_request'):
        super().__init__(message)
        self.status = status
        self.code = code


class ServiceAuthError(ServiceRejected):
    """Credentials missing or refused (401/403)."""


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]


def check_id(what: str, value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ServiceRejected(f'{what} {value!r} is not a valid identifier', code='bad_id')
    return value


def check_idempotency_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ServiceRejected('idempotency key must be 8..128 printable ASCII characters without spaces',
                              code='bad_idempotency_key')
    return key


class ServiceAdapter:
    """One provider's JSON-over-HTTP API.

    Policy (here): argument checks, per-request timeout, bounded retries with backoff for transient failures.
    Reads are always retried; writes only when they carry an idempotency key (the provider deduplicates them).
    I/O (the `_request` hook): one HTTP exchange, nothing else.
    """

    name = 'service'

    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 5.0, retries: int = 2,
                 backoff_s: float = 0.2, user_agent: str = 'qwen_vehicle-services/0.1'):
        parsed = urllib.parse.urlsplit(base_url or '')
        if parsed.scheme not in ('http', 'https') or not parsed.netloc:
            raise ValueError(f'{self.name}: base_url must be an http(s) URL, got {base_url!r}')
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ValueError(f'{self.name}: timeout_s > 0, retries >= 0 and backoff_s >= 0 are required')
        self.base_url = base_url.rstrip('/')
        self.token = token
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.user_agent = user_agent

    # ---- policy ---------------------------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            path = f'{path}?{urllib.parse.urlencode(query)}'
        return self._call('GET', path, None, None, retry=True)

    def post(self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> Any:
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        return self._call('POST', path, body, idempotency_key, retry=idempotency_key is not None)

    def _call(self, method: str, path: str, body: dict[str, Any] | None, idempotency_key: str | None,
              *, retry: bool) -> Any:
        headers = {'Accept': 'application/json', 'User-Agent': self.user_agent}
        if self.token:
            headers['Authorization'] = f'Bearer {self.token}'
        if idempotency_key:
            headers['Idempotency-Key'] = idempotency_key
        attempts = 1 + (self.retries if retry else 0)
        last: ServiceUnavailable | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_s * (2 ** (attempt - 1)))
            try:
                response = self._request(method, path, body, headers)
            except ServiceUnavailable as exc:
                last = exc
                log.debug('%s %s %s failed (attempt %d/%d): %s', self.name, method, path, attempt + 1, attempts, exc)
                continue
            if response.status >= 500 or response.status == 429:
                last = ServiceUnavailable(f'{self.name} service answered {response.status}: '
                                          f'{_message(response.body)}')
                continue
            if response.status in (401, 403):
                raise ServiceAuthError(f'{self.name} service refused the credentials: {_message(response.body)}',
                                       status=response.status, code='auth')
            if response.status >= 400:
                code = response.body.get('code', 'rejected') if isinstance(response.body, dict) else 'rejected'
                raise ServiceRejected(f'{self.name} service: {_message(response.body)}', status=response.status,
                                      code=str(code)[:40])
            return response.body
        assert last is not None
        raise last

    # ---- I/O hook -------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> Response:
        """One HTTP exchange. Raises ServiceUnavailable when no answer came back; returns any HTTP answer."""
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode('utf-8')
            headers = {**headers, 'Content-Type': 'application/json; charset=utf-8'}
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                status, raw, reply_headers = reply.status, reply.read(), dict(reply.headers)
        except urllib.error.HTTPError as exc:
            with exc:  # an HTTP error answer still holds the connection
                status, raw, reply_headers = exc.code, exc.read(), dict(exc.headers or {})
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError,
                http.client.HTTPException) as exc:
            reason = getattr(exc, 'reason', exc)
            raise ServiceUnavailable(f'{self.name} service unreachable: {reason}') from exc
        try:
            parsed = json.loads(raw.decode('utf-8')) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            if status < 400:
                raise ServiceUnavailable(f'{self.name} service sent a reply that is not JSON') from None
            parsed = {'error': raw[:200].decode('utf-8', 'replace')}
        return Response(status, parsed, reply_headers)


def _message(body: Any) -> str:
    """The provider's own words, marked as untrusted data (they reach the model in `reason`)."""
    if isinstance(body, dict) and body.get('error'):
        return wrap_untrusted(str(body['error'])[:300])
    return 'no reason given'
