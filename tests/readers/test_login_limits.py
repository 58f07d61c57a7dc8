"""Login throttling (per account and address, exponential lockout), the bounded hashing pool and
equal work for unknown users."""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time

import httpx
import pytest
from argon2 import PasswordHasher

from livermets.readers.auth import Passwords
from livermets.readers.throttle import Limits, LoginThrottle
from tests.readers.conftest import ADMIN_PASSWORD, FakeClock, csrf_of, login


def _try(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_of(page.text)})


def test_throttle_locks_with_growing_waits():
    """After the free failures each one doubles the wait; success clears the account."""
    clock = FakeClock()
    throttle = LoginThrottle(clock, account=Limits(free=3), address=Limits(free=100))
    for _ in range(3):
        assert throttle.begin("ann", "1.2.3.4") == 0
        throttle.end("ann", "1.2.3.4", False)
    assert throttle.begin("ann", "1.2.3.4") == pytest.approx(1.0)
    clock.advance(1.01)
    assert throttle.begin("ann", "1.2.3.4") == 0
    throttle.end("ann", "1.2.3.4", False)
    assert throttle.begin("ann", "1.2.3.4") == pytest.approx(2.0)
    assert throttle.begin("other", "1.2.3.4") == 0  # other accounts are not locked
    throttle.end("other", "1.2.3.4", True)
    clock.advance(2.01)
    assert throttle.begin("ann", "1.2.3.4") == 0
    throttle.end("ann", "1.2.3.4", True)
    assert throttle.begin("ann", "1.2.3.4") == 0  # success forgot the failures


def test_undecided_attempts_are_no_failures():
    """An attempt the server could not decide (busy) neither counts nor clears failures."""
    throttle = LoginThrottle(FakeClock(), account=Limits(free=1))
    assert throttle.begin("ann", "a") == 0
    throttle.end("ann", "a", None)
    assert throttle.begin("ann", "a") == 0
    throttle.end("ann", "a", False)
    assert throttle.begin("ann", "a") > 0


def test_concurrent_attempts_count_before_they_finish():
    """A burst on one account cannot pass the limit while its checks are still running."""
    throttle = LoginThrottle(FakeClock(), account=Limits(free=3))
    assert [throttle.begin("ann", f"10.0.0.{i}") == 0 for i in range(6)] == [True] * 3 + [False] * 3


class _RecordingSleep:
    """An async sleep that records each delay (and sleeps for real only when asked)."""

    def __init__(self, real: bool = False) -> None:
        self.delays: list[float] = []
        self.real = real

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.real:
            await asyncio.sleep(seconds)


def test_refusals_are_held_for_the_shorter_of_wait_and_delay():
    sleep = _RecordingSleep()
    throttle = LoginThrottle(FakeClock(), refusal_delay_s=1.5, sleep=sleep)

    async def refuse(waits: list[float]) -> None:
        for wait in waits:
            await throttle.hold_refusal(wait)

    asyncio.run(refuse([0.25, 1.0, 4.0, 900.0, 0.0]))
    assert sleep.delays == [0.25, 1.0, 1.5, 1.5]
    assert throttle.held == 0


def test_held_refusals_are_bounded():
    """Beyond ``max_held`` refusals waiting at once, a refusal is answered without delay."""
    sleep = _RecordingSleep(real=True)
    throttle = LoginThrottle(FakeClock(), refusal_delay_s=0.05, max_held=3, sleep=sleep)

    async def flood() -> None:
        await asyncio.gather(*(throttle.hold_refusal(10.0) for _ in range(8)))

    asyncio.run(flood())
    assert sleep.delays == [0.05] * 3 and throttle.held == 0
    none = LoginThrottle(FakeClock(), max_held=0, sleep=sleep)
    asyncio.run(none.hold_refusal(10.0))
    assert len(sleep.delays) == 3


def test_the_app_delays_a_refusal_and_shortens_retry_after(make_live):
    """A locked account's 429 comes after the refusal delay; Retry-After counts it as waited."""
    clock, sleep = FakeClock(), _RecordingSleep()
    throttle = LoginThrottle(clock, account=Limits(free=1, base_s=8.0), address=Limits(free=99),
                             refusal_delay_s=0.3, sleep=sleep)
    live = make_live(clock=clock, throttle=throttle)
    with httpx.Client(base_url=live.url) as mallory:
        assert _try(mallory, "admin", "wrong-password-1").status_code == 401
        assert sleep.delays == []  # checked tries are not delayed
        resp = _try(mallory, "admin", "wrong-password-2")
    assert resp.status_code == 429 and sleep.delays == [0.3]
    assert resp.headers["retry-after"] == "8"  # ceil(8 - 0.3)


def test_many_wrong_guesses_then_the_right_one_is_locked(make_live):
    """60 guesses over 24 s: only a handful are checked, and the right password is refused
    while the account is locked; after the lockout it works."""
    clock = FakeClock()
    live = make_live(clock=clock)
    checked = refused = 0
    with httpx.Client(base_url=live.url) as mallory:
        for i in range(60):
            status = _try(mallory, "admin", f"guess-{i:04d}-wrong").status_code
            checked += status == 401
            refused += status == 429
            clock.advance(0.4)
        resp = _try(mallory, "admin", ADMIN_PASSWORD)
        assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1
    assert checked <= 10 and checked + refused == 60
    clock.advance(3600)
    with httpx.Client(base_url=live.url) as admin:
        assert _try(admin, "admin", ADMIN_PASSWORD).status_code == 303


def test_address_limit_spans_accounts(make_live):
    """Guessing many usernames from one address locks that address."""
    clock = FakeClock()
    live = make_live(clock=clock, throttle=LoginThrottle(clock, address=Limits(free=4)))
    with httpx.Client(base_url=live.url) as mallory:
        statuses = [_try(mallory, f"user{i}", "wrong-password-1").status_code for i in range(6)]
    assert statuses[:4] == [401] * 4 and statuses[4:] == [429, 429]


class _CountingHasher(PasswordHasher):
    """A PasswordHasher that counts verify calls and the most running at once."""

    def __init__(self, delay: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay, self.calls, self.running, self.peak = delay, 0, 0, 0
        self._lock = threading.Lock()

    def verify(self, hash, password):
        with self._lock:
            self.calls += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.delay)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


def test_unknown_users_cost_a_hash_like_known_ones(make_live):
    """An unknown username is checked against a dummy hash: same hashing work and similar time
    (default argon2 costs)."""
    hasher = _CountingHasher()
    loose = LoginThrottle(account=Limits(free=1000), address=Limits(free=1000))
    live = make_live(passwords=Passwords(hasher), throttle=loose)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    with httpx.Client(base_url=live.url, timeout=60) as client:  # a loaded CI box is slow
        for i in range(5):
            for kind, name in (("known", "admin"), ("unknown", f"nobody{i}")):
                before = hasher.calls
                t0 = time.perf_counter()
                assert _try(client, name, "not-the-password").status_code == 401
                times[kind].append(time.perf_counter() - t0)
                assert hasher.calls == before + 1, kind
    assert statistics.median(times["unknown"]) > 0.5 * statistics.median(times["known"])


async def _flood(url: str, n: int, password: str, same_user: bool = False) -> list[int]:
    async def one(client: httpx.AsyncClient, i: int) -> int:
        page = await client.get("/login")
        name = "admin" if same_user else f"flood{i}"
        resp = await client.post("/login", data={"username": name, "password": password,
                                                 "csrf_token": csrf_of(page.text)})
        return resp.status_code

    clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(n)]
    try:
        return list(await asyncio.gather(*(one(c, i) for i, c in enumerate(clients))))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def test_login_flood_is_bounded_and_others_are_served(make_live):
    """25 concurrent logins (of 25 usernames) hash at most ``workers`` at a time, and another
    user's requests are answered meanwhile in much less than one hash."""
    delay = 0.12
    hasher = _CountingHasher(delay, time_cost=1, memory_cost=256, parallelism=1)
    live = make_live(passwords=Passwords(hasher, workers=1))
    other = httpx.Client(base_url=live.url)
    login(other, "admin", ADMIN_PASSWORD)
    hasher.peak = 0
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            assert other.get("/api/me").status_code == 200
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        statuses = asyncio.run(_flood(live.url, 25, "wrong-password-1"))
    finally:
        done.set()
        poller.join()
        other.close()
    assert statuses == [401] * 25
    assert hasher.peak == 1 and hasher.calls >= 25
    assert len(latencies) >= 10 and statistics.median(latencies) < delay / 2


def test_too_many_waiting_checks_get_503(make_live):
    """Beyond the pool's queue, logins are answered 503 at once (never 500)."""
    hasher = _CountingHasher(0.2, time_cost=1, memory_cost=256, parallelism=1)
    live = make_live(passwords=Passwords(hasher, workers=1, max_waiting=3))
    statuses = asyncio.run(_flood(live.url, 10, "wrong-password-1"))
    assert 503 in statuses and set(statuses) <= {401, 503} and statuses.count(401) >= 3


def test_burst_on_one_account_is_cut_off(make_live):
    """Concurrent tries on one account beyond the free ones are refused before hashing."""
    hasher = _CountingHasher(0.1, time_cost=1, memory_cost=256, parallelism=1)
    live = make_live(passwords=Passwords(hasher, workers=1))
    statuses = asyncio.run(_flood(live.url, 12, "wrong-password-1", same_user=True))
    assert statuses.count(401) == 5 and statuses.count(429) == 7 and hasher.calls == 5


def test_hashing_threads_run_below_request_handlers():
    """The hashing pool's threads (and argon2's lane threads, which inherit it) are niced by
    HASH_NICE relative to the server, so a login flood yields the CPU to other requests; they
    keep the normal policy (not SCHED_IDLE, which starves logins on a busy machine) and the
    server's own threads keep their priority."""
    from livermets.readers.auth import HASH_NICE

    def nice_here() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def policy_here() -> int:
        return os.sched_getscheduler(threading.get_native_id())

    before = nice_here()
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))
    try:
        assert passwords._pool.submit(nice_here).result() == min(19, before + HASH_NICE)
        assert passwords._pool.submit(policy_here).result() == os.SCHED_OTHER
        assert nice_here() == before
        assert passwords.verify_sync(passwords.hasher.hash("right-password"), "right-password")
    finally:
        passwords.close()


def test_default_hashing_is_owasp_argon2id_on_one_lane():
    """One lane per hash (OWASP's 19 MiB, t=2, p=1): a hash occupies one core, not all of them;
    hashes made with the library's older default (64 MiB, t=3, p=4) still verify."""
    passwords = Passwords()
    try:
        stored = passwords.hash("a-long-enough-password")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        old = PasswordHasher(memory_cost=65536, time_cost=3, parallelism=4).hash("old-password-1")
        assert passwords.verify_sync(old, "old-password-1")
        assert not passwords.verify_sync(old, "old-password-2")
    finally:
        passwords.close()
