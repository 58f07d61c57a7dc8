"""Login throttling: per-account and per-address failure counts with exponential lockout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """``free`` failures are allowed; each further one locks for ``base_s * 2**k`` (capped)."""

    free: int
    base_s: float = 1.0
    max_s: float = 900.0
    forget_s: float = 3600.0  # failures are forgotten after this long without a new one


ACCOUNT = Limits(free=5)
ADDRESS = Limits(free=30)


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0
    in_flight: int = 0


class _Counter:
    """Failures per key (account or address) under one set of limits."""

    def __init__(self, limits: Limits, max_keys: int = 50_000) -> None:
        self.limits, self.max_keys = limits, max_keys
        self.counts: dict[str, _Count] = {}

    def wait(self, key: str, now: float, pending: bool) -> float:
        """Seconds until ``key`` may try again (0: now); ``pending`` counts in-flight tries."""
        c = self.counts.get(key)
        if c is None:
            return 0.0
        if c.in_flight == 0 and now - c.last > self.limits.forget_s:
            del self.counts[key]
            return 0.0
        over = c.failures + (c.in_flight if pending else 0) - self.limits.free
        if over < 0:
            return 0.0
        lock = min(self.limits.base_s * 2.0 ** over, self.limits.max_s)
        return max(0.0, c.last + lock - now)

    def get(self, key: str, now: float) -> _Count:
        """The counter of ``key`` (created, after pruning old keys when there are too many)."""
        if key not in self.counts and len(self.counts) >= self.max_keys:
            old = [k for k, c in self.counts.items()
                   if c.in_flight == 0 and now - c.last > self.limits.forget_s]
            for k in old or sorted(self.counts, key=lambda k: self.counts[k].last)[:1000]:
                del self.counts[k]
        return self.counts.setdefault(key, _Count(last=now))


class LoginThrottle:
    """Decides whether a login attempt may be checked at all, and records its outcome.

    A locked account or address is refused *before* the password is checked, so the right
    password does not help during a lockout. Concurrent tries on one account count as failures
    until they finish, so a burst cannot slip past the limit. A refusal is answered only after
    :meth:`hold_refusal`'s delay, so a client hammering a lockout costs the server little.
    """

    def __init__(self, clock: Callable[[], float] = time.time, account: Limits = ACCOUNT,
                 address: Limits = ADDRESS, max_in_flight_per_address: int = 64,
                 refusal_delay_s: float = 1.0, max_held: int = 1024,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.clock = clock
        self.accounts, self.addresses = _Counter(account), _Counter(address)
        self.max_in_flight = max_in_flight_per_address
        self.refusal_delay_s, self.max_held, self._sleep = refusal_delay_s, max_held, sleep
        self.held = 0  # refusals being delayed now (only touched on the event loop)
        self._lock = threading.Lock()

    async def hold_refusal(self, wait: float) -> None:
        """Delay a refusal by ``min(wait, refusal_delay_s)`` without holding a thread.

        A flooding client waits for each answer before its next try, so its request rate (and
        the CPU it takes from other users) is bounded by its concurrency over the delay, not by
        how fast the server can say 429. At most ``max_held`` refusals wait at once; beyond
        that they are answered at once, so holding them cannot exhaust memory.
        """
        delay = min(wait, self.refusal_delay_s)
        if delay <= 0 or self.held >= self.max_held:
            return
        self.held += 1
        try:
            await self._sleep(delay)
        finally:
            self.held -= 1

    def begin(self, account: str, address: str) -> float:
        """Register an attempt: 0 if it may proceed, else the seconds to wait (not registered)."""
        with self._lock:
            now = self.clock()
            wait = max(self.accounts.wait(account, now, pending=True),
                       self.addresses.wait(address, now, pending=False))
            addr = self.addresses.counts.get(address)
            if wait == 0 and addr is not None and addr.in_flight >= self.max_in_flight:
                wait = 1.0
            if wait > 0:
                return wait
            self.accounts.get(account, now).in_flight += 1
            self.addresses.get(address, now).in_flight += 1
            return 0.0

    def end(self, account: str, address: str, success: bool | None) -> None:
        """Record the outcome of an attempt registered by :meth:`begin` (None: it was never
        decided, e.g. the server was busy; neither a failure nor a success)."""
        with self._lock:
            now = self.clock()
            for counter, key in ((self.accounts, account), (self.addresses, address)):
                c = counter.get(key, now)
                c.in_flight = max(0, c.in_flight - 1)
                if success is False:
                    c.failures += 1
                    c.last = now
            if success:
                self.accounts.counts.pop(account, None)
