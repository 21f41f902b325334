"""Signed webhook deliveries of finished jobs, retried with backoff until acknowledged.

When a job with a ``callback_url`` completes or fails, the server POSTs its Job Status Response
(JSON, ``Content-Type: application/json``) to that URL with the header::

    X-FFpipe-Signature: sha256=<hex HMAC-SHA256 of the exact request body, keyed by the secret>

The secret is the server's (``<data dir>/webhook-secret`` unless given). A receiver recomputes the
HMAC over the raw body it received and compares in constant time (see :func:`verify`). Any 2xx
answer acknowledges the delivery; anything else, or no answer, is retried with exponential backoff.
Deliveries are rows of the job database, written in the same commit that finishes the job, so a
delivery owed before a crash is made after the restart: at least once, possibly more than once.

Only http(s) URLs are called. A destination whose host resolves (over every address family) to
any address that is not global unicast is refused before any connection is attempted, unless the
server's allowlist names the host, the address or a network containing it. IPv6 forms that carry
an IPv4 address (mapped, compatible, translated, NAT64, 6to4) are judged by that IPv4 address;
Teredo, local-use NAT64 and deprecated site-local addresses are never public. The request then
goes to the address that was checked, so a second DNS answer cannot redirect it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from ffpipe.catalog.jobs import callback_url_problem
from ffpipe.server.jobs.settings import JobSettings
from ffpipe.server.jobs.store import Delivery, JobStore

SIGNATURE_HEADER = "X-FFpipe-Signature"
log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(Exception):
    """A callback destination the server will not call."""


def sign(body: bytes, secret: bytes) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: bytes, header: str | None) -> bool:
    """Whether ``header`` is the valid signature of ``body``: what a receiver should check."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


_NEVER_PUBLIC = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "192.0.0.0/24",  # IETF protocol assignments (192.0.0.8, 192.0.0.170 ...)
        "198.18.0.0/15",
        "240.0.0.0/4",
        "fec0::/10",  # deprecated site-local: still routed inside some networks
        "64:ff9b:1::/48",  # local-use NAT64: may translate to any IPv4 address
        "2001::/32",  # Teredo: the IPv4 client behind it is not known
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for on some networks, if it is such a form.

    IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
    addresses can all reach the IPv4 host they carry, loopback or private ones included.
    """
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in (_NAT64, _IPV4_COMPATIBLE, _IPV4_TRANSLATED)):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _public(address: IPAddress) -> bool:
    """Global unicast, after unwrapping any IPv4 address an IPv6 form carries: deny by default."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _public(embedded)
    if any(address in network for network in _NEVER_PUBLIC if network.version == address.version):
        return False
    return address.is_global and not address.is_multicast


def _allowed(host: str, address: IPAddress, allowlist: tuple[str, ...]) -> bool:
    for entry in allowlist:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True)
class Destination:
    """A checked callback target: the URL as given and the address it will be sent to."""

    url: str
    host: str
    address: IPAddress


def check_destination(url: str, allowlist: tuple[str, ...] = ()) -> Destination:
    """Resolve ``url``'s host and check every address; raises :class:`CallbackRefused`.

    No connection is made here, and none is made by the caller for a refused URL.
    """
    problem = callback_url_problem(url)
    if problem is not None:
        raise CallbackRefused(f"callback URL {url!r} {problem}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as error:
        raise CallbackRefused(f"cannot resolve callback host {host!r}: {error}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not addresses:
        raise CallbackRefused(f"callback host {host!r} has no address")
    for address in addresses:
        if not _public(address) and not _allowed(host, address, allowlist):
            raise CallbackRefused(
                f"callback host {host!r} resolves to {address}, a private, loopback or link-local"
                " address not in the server's callback allowlist"
            )
    return Destination(url=url, host=host, address=addresses[0])


def _pinned_request(destination: Destination, body: bytes, signature: str) -> httpx.Request:
    parts = urlsplit(destination.url)
    literal = (
        f"[{destination.address}]"
        if isinstance(destination.address, ipaddress.IPv6Address)
        else str(destination.address)
    )
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = destination.host if parts.port is None else f"{destination.host}:{parts.port}"
    return httpx.Request(
        "POST",
        urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        content=body,
        headers={
            "Host": host_header,
            "Content-Type": "application/json",
            "User-Agent": "ffpipe-webhook",
            SIGNATURE_HEADER: signature,
        },
        extensions={"sni_hostname": destination.host},
    )


_CONNECT_TIMEOUT_SECONDS = 3.0
_LOOK_AHEAD = 8
"""Due deliveries read per free sender, so that some of other hosts and owners are among them."""


def fair_share(concurrency: int) -> int:
    """Deliveries one host, or one owner, may have in flight: a quarter of the senders (at
    least one), so three others always find a free sender."""
    return max(concurrency // 4, 1)


def _holder(delivery: Delivery) -> tuple[str, str]:
    """Whose delivery it is: the receiving host (with its port) and the job's owner."""
    try:
        host = urlsplit(delivery.url).netloc.lower()
    except ValueError:
        host = ""
    return host, delivery.owner or ""


class WebhookDispatcher:
    """A thread handing due webhooks from the store to a bounded pool of senders.

    Up to ``delivery_concurrency`` deliveries are in flight at once, at most one per job, so a
    receiver that answers slowly (or not at all, until the timeout) delays no other receiver.
    """

    def __init__(
        self,
        store: JobStore,
        settings: JobSettings,
        body: Callable[[str], bytes],
        *,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self._body = body
        self._idle_poll = idle_poll_seconds
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight: dict[str, tuple[str, str]] = {}
        """Job id -> (host, owner) of each delivery under way."""
        self._sending: set[Future[Delivery]] = set()
        self._in_flight_lock = threading.Lock()
        self._senders = ThreadPoolExecutor(
            max_workers=max(settings.delivery_concurrency, 1), thread_name_prefix="ffpipe-webhook"
        )
        # The environment's proxies must not see callbacks: they go straight to the checked address.
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                settings.delivery_timeout_seconds,
                connect=min(settings.delivery_timeout_seconds, _CONNECT_TIMEOUT_SECONDS),
            ),
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(settings.delivery_concurrency, 1)),
        )

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="ffpipe-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._senders.shutdown(wait=False, cancel_futures=True)
        with self._in_flight_lock:
            sending = list(self._sending)
        # Attempts under way get until the deadline to record their outcome; any still waiting
        # on a receiver then fail with the client and are retried after a restart.
        wait(sending, timeout=max(deadline - time.monotonic(), 0.0))
        self._client.close()

    def wake(self) -> None:
        """Look for due deliveries now (a job just finished)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                started = self._launch_due()
                with self._in_flight_lock:
                    busy = tuple(self._in_flight)
                next_at = self.store.next_delivery_time(excluding=busy)
                wait = self._idle_poll if next_at is None else next_at - time.time()
                if not started and wait <= 0:
                    # Due deliveries held back by fairness: a sender finishing wakes the loop.
                    wait = self._idle_poll
            except Exception:
                # A pass that failed as a whole (the database, say) must not be retried at once:
                # pause a full poll interval so a lasting fault costs one log entry per interval.
                log.exception("webhook dispatch pass failed")
                wait = self._idle_poll
            self._wake.wait(min(max(wait, 0.0), self._idle_poll))
            self._wake.clear()

    def _launch_due(self, skip: Collection[str] = ()) -> dict[str, Future[Delivery]]:
        """Hand due deliveries (of jobs not in ``skip``) to free senders; returns those started.

        Fair between receivers and users: no host and no job owner holds more than
        :func:`fair_share` of the senders, so callbacks that never answer tie up only their own
        share and everyone else's webhooks go out meanwhile.
        """
        with self._in_flight_lock:
            concurrency = max(self.settings.delivery_concurrency, 1)
            free = concurrency - len(self._in_flight)
            if free <= 0:
                return {}
            busy = (*self._in_flight, *skip)
            candidates = self.store.due_deliveries(limit=free * _LOOK_AHEAD, excluding=busy)
            due = self._fair_pick(candidates, free, fair_share(concurrency))
            for delivery in due:
                self._in_flight[delivery.job_key] = _holder(delivery)
        started = {
            delivery.job_key: self._senders.submit(self._attempt_in_flight, delivery)
            for delivery in due
        }
        with self._in_flight_lock:
            self._sending.update(started.values())
        for future in started.values():
            future.add_done_callback(self._forget)
        return started

    def _fair_pick(self, candidates: list[Delivery], free: int, share: int) -> list[Delivery]:
        """Up to ``free`` of ``candidates`` (earliest first) keeping each host and owner within
        ``share`` deliveries in flight; the caller holds the lock."""
        hosts = Counter(host for host, _owner in self._in_flight.values())
        owners = Counter(owner for _host, owner in self._in_flight.values())
        chosen = []
        for delivery in candidates:
            host, owner = _holder(delivery)
            if hosts[host] >= share or (owner and owners[owner] >= share):
                continue
            hosts[host] += 1
            owners[owner] += 1
            chosen.append(delivery)
            if len(chosen) == free:
                break
        return chosen

    def _forget(self, future: Future[Delivery]) -> None:
        with self._in_flight_lock:
            self._sending.discard(future)

    def _attempt_in_flight(self, delivery: Delivery) -> Delivery:
        try:
            return self.attempt(delivery)
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(delivery.job_key, None)
            self._wake.set()

    def deliver_due(self) -> int:
        """Make one attempt at every due delivery, concurrently, and wait for them all; returns
        how many were attempted."""
        attempted: set[str] = set()
        while not self._stopping.is_set():
            started = self._launch_due(skip=attempted)
            if not started:
                break
            wait(started.values())
            attempted.update(started)
        return len(attempted)

    def attempt(self, delivery: Delivery) -> Delivery:
        """Try one delivery and record the outcome (delivered, refused, retry later, gave up).

        Whatever goes wrong while trying, the outcome is recorded against this delivery alone, so
        one bad row can neither stop the others nor be retried without a pause.
        """
        try:
            destination = check_destination(delivery.url, self.settings.callback_allowlist)
        except CallbackRefused as error:
            log.warning("webhook for job %s refused: %s", delivery.job_key, error)
            return self.store.record_delivery(delivery.job_key, "refused", str(error))
        try:
            error = self._send(destination, delivery.job_key)
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
            log.warning("webhook for job %s could not be sent: %s", delivery.job_key, error)
        if error is None:
            return self.store.record_delivery(delivery.job_key, "delivered")
        attempts = delivery.attempts + 1
        if attempts >= self.settings.max_delivery_attempts:
            log.warning("webhook for job %s given up after %d attempts", delivery.job_key, attempts)
            return self.store.record_delivery(delivery.job_key, "failed", error)
        delay = min(
            self.settings.retry_base_seconds * 2 ** (attempts - 1), self.settings.retry_max_seconds
        )
        delay *= random.uniform(1.0, 1.25)  # spread retries of many jobs to one receiver
        return self.store.record_delivery(
            delivery.job_key, "pending", error, retry_at=time.time() + delay
        )

    def _send(self, destination: Destination, key: str) -> str | None:
        """POST the job's signed status to ``destination``; the error, or None when acknowledged."""
        body = self._body(key)
        request = _pinned_request(destination, body, sign(body, self.settings.secret))
        try:
            response = self._client.send(request)
        except httpx.HTTPError as failure:
            return f"{type(failure).__name__}: {failure}"
        return None if response.is_success else f"HTTP {response.status_code}"
