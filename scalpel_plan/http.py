"""The one HTTP layer every provider uses: timeouts, retries with backoff, redaction.

- Retries connection errors, 429 and 5xx with exponential backoff and jitter, honouring
  Retry-After.
- A request that is not idempotent is retried only when it surely did not reach the server
  (the connection failed) or after ``happened()`` says it did not take effect.
- Every message it raises passes through ``redact`` (the secrets manager's mask), and 401/403
  name the target and the secret's name, never a value.
httpx is imported on first use: it costs a third of a plan's start-up budget.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Self

from scalpel_plan.errors import ProviderError
from scalpel_plan.masking import mask

if TYPE_CHECKING:
    import ssl

    import httpx

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0


@dataclass
class Http:
    """An HTTP client for one target (a registry, an index, a webhook); it owns its connection
    pool, which ``with Http(...) as http:`` closes on the way out."""

    target: str  # what the errors call it, e.g. "PyPI at https://upload.pypi.org/legacy/"
    secret_name: str | None = None  # the secret its credentials come from, for 401/403
    redact: Callable[[str], str] = field(default=mask)
    timeout: float = 30.0
    attempts: int = 5
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    _client: httpx.Client | None = field(default=None, repr=False)

    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout, follow_redirects=True,
                                        verify=tls_context())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, url: str, *, idempotent: bool | None = None,
                happened: Callable[[], bool] | None = None, ok: tuple[int, ...] = (),
                refused_if_5xx: bool = False, **kwargs: Any) -> httpx.Response:
        """Send, retrying what is safe to retry; raise ProviderError for any failure.

        ``ok`` lists statuses the caller handles itself (e.g. 404 for "not there", 409).
        ``refused_if_5xx``: the service documents that a 5xx answer means nothing was done
        (chat webhooks), so a non-idempotent request is retried on one; a connection lost
        after sending is still never retried.
        """
        import httpx

        safe = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS") \
            if idempotent is None else idempotent
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                response = self.client().request(method, url, **kwargs)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:  # retrying cannot help
                raise self._error(f"bad URL: {exc}", url) from None
            except httpx.ConnectError as exc:  # never reached the server: always safe to retry
                if last:
                    raise self._error(f"cannot connect: {exc}", url) from None
                self._wait(attempt, None)
                continue
            except httpx.TransportError as exc:  # sent, outcome unknown
                if last or not (safe or (happened is not None and not happened())):
                    raise self._error(f"{type(exc).__name__}: {exc}", url) from None
                self._wait(attempt, None)
                continue
            if response.status_code in RETRY_STATUS and not last \
                    and response.status_code not in ok \
                    and (safe or refused_if_5xx or response.status_code == 429
                         or not self._took_effect(happened)):
                self._wait(attempt, response.headers.get("retry-after"))
                continue
            return self._check(response, ok)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _took_effect(happened: Callable[[], bool] | None) -> bool:
        """For a non-idempotent request answered 5xx: did it take effect anyway?"""
        return True if happened is None else happened()

    def _check(self, response: httpx.Response, ok: tuple[int, ...]) -> httpx.Response:
        status = response.status_code
        if status < 400 or status in ok:
            return response
        url = str(response.request.url)
        if status in (401, 403):
            what = "rejected the credentials" if status == 401 else "refused access"
            hint = (f"check the secret {self.secret_name}" if self.secret_name
                    else "this target needs credentials")
            raise ProviderError(self.redact(f"{self.target} {what} ({status})"), hint=hint)
        body = response.text[:300].strip()
        raise self._error(f"HTTP {status}" + (f": {body}" if body else ""), url)

    def _error(self, message: str, url: str) -> ProviderError:
        return ProviderError(self.redact(f"{self.target}: {message} ({_without_query(url)})"))

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = _retry_after(retry_after)
        if delay is None:
            delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())  # jitter
        self.sleep(min(delay, MAX_RETRY_AFTER))


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client: certifi's CA bundle, as httpx's own default. Built
    once per process; httpx would build one per client (30 to 90 ms each)."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _without_query(url: str) -> str:
    """URLs in messages lose their query (tokens hide there) and any user:password@."""
    base = url.split("?", 1)[0]
    scheme, sep, rest = base.partition("://")
    return f"{scheme}{sep}{rest.split('@', 1)[-1]}" if sep else base
