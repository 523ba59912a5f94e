"""Login throttling: token buckets per client address and per account, and a bound on concurrent password hashing.

A password check is argon2id (64 MiB and tens of milliseconds per check with the default parameters), so an
unauthenticated flood of logins is a memory and CPU flood. Three bounds keep the server serving:

- per client address, every login attempt takes a token from a bucket (``per_address``: burst, then a
  refill rate); a success gives it back, so only failures count in the long run;
- per account (the username as typed, known or not, so the answer says nothing about which users exist),
  the same with its own bucket: a brute force spread over many addresses still stops;
- at most ``hash_slots`` password hashes run at once (default: one per usable core but one, which stays
  free for everything else; at least one); a request over the bound waits on the event loop, holding no
  thread, up to ``max_wait`` seconds, then gets 503; more than ``max_waiting`` waiting at once get 503 at once.

An address out of tokens is answered by :class:`LoginThrottle` before its request is even parsed, so a
flood of refused attempts costs the server little.

A refused attempt is a 429 (or 503) with ``Retry-After``. Counters live in the server process: with
``serve --workers N`` each worker counts on its own (N times the per-address and per-account allowance).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from datamill.errors import BusyError, TooManyRequestsError

__all__ = ["Buckets", "HashGate", "LOGIN_PATHS", "LoginLimits", "LoginThrottle", "usable_cores"]

#: the routes that check a password (POST)
LOGIN_PATHS = frozenset({"/login", "/setup", "/api/login"})

T = TypeVar("T")


class Buckets:
    """Token buckets by key: ``burst`` tokens, refilled at ``per_second``; at most ``max_keys`` kept."""

    def __init__(self, burst: int, per_second: float, *, max_keys: int = 100_000) -> None:
        self.burst, self.rate, self.max_keys = float(burst), float(per_second), max_keys
        self._tokens: dict[Any, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: Any, now: float) -> float:
        tokens, at = self._tokens.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, key: Any) -> float:
        """Seconds until ``key`` has a token (0: it has one now); takes nothing."""
        with self._lock:
            level = self._level(key, time.monotonic())
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, key: Any) -> float:
        """Take a token of ``key``: 0.0 when taken, else the seconds until one is there (nothing taken)."""
        now = time.monotonic()
        with self._lock:
            level = self._level(key, now)
            if level < 1:
                return (1 - level) / self.rate
            if key not in self._tokens and len(self._tokens) >= self.max_keys:
                self._prune(now)
            self._tokens[key] = (level - 1, now)
            return 0.0

    def give_back(self, key: Any) -> None:
        with self._lock:
            if key in self._tokens:
                now = time.monotonic()
                self._tokens[key] = (min(self.burst, self._level(key, now) + 1), now)

    def _prune(self, now: float) -> None:
        """Forget full buckets (idle keys), then the oldest half if that was not enough."""
        self._tokens = {k: v for k, v in self._tokens.items() if self._level(k, now) < self.burst}
        if len(self._tokens) >= self.max_keys:
            keep = list(self._tokens.items())[len(self._tokens) // 2 :]
            self._tokens = dict(keep)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class HashGate:
    """At most ``slots`` calls at once, run in threads; the waiting is done on the event loop (no thread held)."""

    def __init__(self, slots: int | None = None, *, max_wait: float = 5.0, max_waiting: int = 64) -> None:
        self.slots = max(1, slots or usable_cores() - 1)
        self.max_wait, self.max_waiting = max_wait, max_waiting
        self._sem = threading.BoundedSemaphore(self.slots)
        self.waiting = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        import anyio
        from starlette.concurrency import run_in_threadpool

        if not self._sem.acquire(blocking=False):
            if self.waiting >= self.max_waiting:
                raise BusyError("the server is busy checking passwords; retry in a moment", retry_after=2)
            self.waiting += 1
            try:
                deadline, pause = time.monotonic() + self.max_wait, 0.002
                while not self._sem.acquire(blocking=False):
                    if time.monotonic() >= deadline:
                        raise BusyError(
                            "the server is busy checking passwords; retry in a moment", retry_after=2
                        )
                    await anyio.sleep(pause)
                    pause = min(pause * 2, 0.05)
            finally:
                self.waiting -= 1
        try:
            return await run_in_threadpool(fn, *args)
        finally:
            self._sem.release()


class LoginLimits:
    """The login throttle of one app: see the module docs. ``None`` for a bucket switches it off."""

    def __init__(
        self,
        *,
        per_address: tuple[int, float] | None = (20, 20 / 60),
        per_account: tuple[int, float] | None = (10, 10 / 600),
        bad_tokens: tuple[int, float] | None = (100, 100 / 60),
        hash_slots: int | None = None,
        max_wait: float = 5.0,
        max_waiting: int = 64,
    ) -> None:
        self.address = Buckets(*per_address) if per_address else None
        self.account = Buckets(*per_account) if per_account else None
        self.tokens = Buckets(*bad_tokens) if bad_tokens else None
        self.gate = HashGate(hash_slots, max_wait=max_wait, max_waiting=max_waiting)

    @staticmethod
    def _refuse(wait: float, what: str) -> TooManyRequestsError:
        secs = math.ceil(wait)
        return TooManyRequestsError(f"too many login attempts {what}; retry in {secs} s", retry_after=secs)

    async def check_password(self, address: str, username: str, check: Callable[[], T]) -> T:
        """``check()`` (a password check returning a falsy value on failure) under the limits."""
        account = username.strip().casefold()[:64]
        if self.address and (wait := self.address.take(address)):
            raise self._refuse(wait, "from your address")
        if self.account and (wait := self.account.take(account)):
            if self.address:
                self.address.give_back(address)
            raise self._refuse(wait, "for this account")
        result = await self.gate.run(check)
        if result:  # only failures count
            if self.address:
                self.address.give_back(address)
            if self.account:
                self.account.give_back(account)
        return result

    def check_token_address(self, address: str) -> None:
        """Refuse (429) an address that sent too many unknown API tokens lately."""
        if self.tokens and (wait := self.tokens.wait(address)):
            secs = math.ceil(wait)
            raise TooManyRequestsError(f"too many unknown API tokens; retry in {secs} s", retry_after=secs)

    def bad_token(self, address: str) -> None:
        if self.tokens:
            self.tokens.take(address)


class LoginThrottle:
    """Pure ASGI middleware: a login POST from an address out of tokens gets its 429 before any parsing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in LOGIN_PATHS:
            limits = scope["app"].state.limits
            address = scope["client"][0] if scope.get("client") else "?"
            wait = limits.address.wait(address) if limits.address else 0.0
            if wait:
                secs = math.ceil(wait)
                body = (
                    b'{"error": "too many login attempts from your address; retry in %d s", "status": 429}'
                    % secs
                )
                headers = [(b"content-type", b"application/json"), (b"retry-after", str(secs).encode())]
                await send({"type": "http.response.start", "status": 429, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
