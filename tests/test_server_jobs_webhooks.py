"""Webhooks: signed deliveries to a loopback listener, retries, refusals, survival of restarts.

Every listener here is on loopback; the only allowlisted address is 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ffpipe.server.jobs.service import JobService
from ffpipe.server.jobs.store import JobStore
from ffpipe.server.jobs.webhooks import (
    SIGNATURE_HEADER,
    CallbackRefused,
    WebhookDispatcher,
    check_destination,
    sign,
    verify,
)
from ffpipe.server.jobs.worker import JobRunner

ASTRONAUT = Path(__file__).resolve().parent.parent / "media" / "astronaut.jpg"
GRACE = Path(__file__).resolve().parent.parent / "media" / "grace_hopper.jpg"

ALLOW = ("127.0.0.1",)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def dispatcher_for(job_settings):
    """``dispatcher_for(store, folder, **settings)``: a webhook dispatcher over ``store``."""

    def make(store: JobStore, tmp_path: Path, **overrides: object) -> WebhookDispatcher:
        settings = job_settings(tmp_path, **overrides)
        runner = JobRunner(store, engine=None, data_dir=tmp_path)  # type: ignore[arg-type]
        service = JobService(store, runner, settings)
        return WebhookDispatcher(store, settings, service.webhook_body, idle_poll_seconds=0.1)

    return make


def _finished_job(store: JobStore, job_id: str, callback_url: str, ok: bool = True) -> None:
    store.submit(
        "detect", {}, {"target_media": "/in.jpg"}, job_id=job_id, callback_url=callback_url
    )
    store.claim_next()
    if ok:
        store.complete(job_id, {"output": "/out/faces.json"}, {"faces": []})
    else:
        store.fail(job_id, "no face found")


def test_signature_is_hmac_sha256_of_the_body(job_secret: bytes) -> None:
    body = b'{"job_id":"x"}'
    signature = sign(body, job_secret)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(body, job_secret, signature)
    assert not verify(body + b" ", job_secret, signature)
    assert not verify(body, b"other secret", signature)
    assert not verify(body, job_secret, None)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "http:///nohost",
        "http://10.1.2.3/hook",
        "http://192.168.0.10:8080/hook",
        "http://172.16.5.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.2:9/hook",
        "http://[::1]:9/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_non_public_destinations_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_destination(url, ALLOW)


def test_allowlist_names_addresses_or_networks() -> None:
    assert str(check_destination("http://127.0.0.1:8/x", ALLOW).address) == "127.0.0.1"
    assert check_destination("http://10.9.8.7/x", ("10.0.0.0/8",)).host == "10.9.8.7"
    with pytest.raises(CallbackRefused):
        check_destination("http://127.0.0.1:8/x", ())
    # a public address needs no allowlist (only resolved here, never contacted)
    assert check_destination("https://93.184.215.14/x").host == "93.184.215.14"


def test_completion_is_delivered_signed(
    store: JobStore, tmp_path: Path, job_secret: bytes, hook_listener, dispatcher_for
) -> None:
    with hook_listener() as listener:
        _finished_job(store, "done", listener.url)
        dispatcher = dispatcher_for(store, tmp_path)
        assert dispatcher.deliver_due() == 1
        dispatcher.stop()
        [received] = listener.received
    assert verify(received.body, job_secret, received.headers[SIGNATURE_HEADER])
    document = json.loads(received.body)
    assert document["job_id"] == "done" and document["status"] == "completed"
    assert document["result"]["files"] == {"output": "/api/jobs/done/result/output"}
    assert store.delivery("done").state == "delivered"


def test_failure_is_delivered_and_retried_until_acknowledged(
    store: JobStore, tmp_path: Path, job_secret: bytes, hook_listener, dispatcher_for
) -> None:
    with hook_listener(fail_first=2) as listener:
        _finished_job(store, "broke", listener.url, ok=False)
        dispatcher = dispatcher_for(store, tmp_path)
        dispatcher.start()
        try:
            [received] = listener.wait_for(1)
        finally:
            dispatcher.stop()
    assert listener.answered_500 == 2
    document = json.loads(received.body)
    assert document["status"] == "failed" and document["result"]["error"] == "no face found"
    assert verify(received.body, job_secret, received.headers[SIGNATURE_HEADER])
    delivery = store.delivery("broke")
    assert (delivery.state, delivery.attempts) == ("delivered", 3)


def test_gives_up_after_the_attempt_limit(
    store: JobStore, tmp_path: Path, hook_listener, dispatcher_for
) -> None:
    with hook_listener(fail_first=100) as listener:
        _finished_job(store, "never", listener.url)
        dispatcher = dispatcher_for(
            store, tmp_path, max_delivery_attempts=2, retry_base_seconds=0.0
        )
        dispatcher.deliver_due()
        dispatcher.deliver_due()
        dispatcher.stop()
    delivery = store.delivery("never")
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("failed", 2, "HTTP 500")


def test_refused_destination_is_never_contacted(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook_listener, dispatcher_for
) -> None:
    connects: list[object] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: object) -> None:
        connects.append(address)
        real_connect(self, address)

    with hook_listener(host="127.0.0.2") as other_loopback:
        _finished_job(store, "to-private", "http://10.20.30.40:8080/hook")
        _finished_job(store, "to-other-loopback", other_loopback.url)
        _finished_job(store, "to-metadata", "http://169.254.169.254/hook")
        dispatcher = dispatcher_for(store, tmp_path)
        monkeypatch.setattr(socket.socket, "connect", spy)
        assert dispatcher.deliver_due() == 3
        monkeypatch.undo()
        dispatcher.stop()
        assert other_loopback.received == []
    assert connects == []
    for job_id in ("to-private", "to-other-loopback", "to-metadata"):
        delivery = store.delivery(job_id)
        assert delivery.state == "refused" and "allowlist" in delivery.last_error


def test_pending_delivery_survives_a_restart(
    tmp_path: Path, free_port, wait_until, hook_listener, dispatcher_for
) -> None:
    port = free_port()
    db = tmp_path / "jobs.sqlite3"
    first = JobStore(db)
    _finished_job(first, "later", f"http://127.0.0.1:{port}/hook")
    dispatcher = dispatcher_for(first, tmp_path, retry_base_seconds=0.0)
    dispatcher.deliver_due()  # nothing listens yet: connection refused, retry owed
    dispatcher.stop()
    assert first.delivery("later").state == "pending"
    first.close()

    second = JobStore(db)
    with hook_listener(port=port) as listener:
        dispatcher = dispatcher_for(second, tmp_path)
        dispatcher.start()
        try:
            [received] = listener.wait_for(1)
        finally:
            dispatcher.stop()
    assert json.loads(received.body)["job_id"] == "later"
    assert second.delivery("later").attempts == 2
    wait_until(lambda: second.delivery("later").state == "delivered")
    second.close()


@pytest.mark.parametrize(
    "url", ["http://[::1/", "http://127.0.0.1/a\x01b", "http://127.0.0.1:99999/x", "http://a b/"]
)
def test_malformed_urls_are_refused_not_raised(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_destination(url, ALLOW)


def test_a_malformed_stored_url_never_stops_other_deliveries(
    store: JobStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, hook_listener, dispatcher_for
) -> None:
    """URLs the submission check refuses today may sit in a database written before it existed."""
    with hook_listener() as listener:
        _finished_job(store, "bracket", "http://[::1/")
        _finished_job(store, "control", "http://127.0.0.1/a\x01b")
        _finished_job(store, "fine", listener.url)
        dispatcher = dispatcher_for(store, tmp_path)
        with caplog.at_level("WARNING", logger="ffpipe.server.jobs.webhooks"):
            dispatcher.start()
            try:
                [received] = listener.wait_for(1, timeout=10)
                time.sleep(0.5)  # the loop keeps running: it must stay quiet
            finally:
                dispatcher.stop()
    assert json.loads(received.body)["job_id"] == "fine"
    for job_id in ("bracket", "control"):
        delivery = store.delivery(job_id)
        assert delivery.state == "refused" and delivery.attempts == 1
    assert len(caplog.records) <= 4
    assert all(record.exc_info is None for record in caplog.records)


def test_any_error_during_an_attempt_backs_that_delivery_off(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook_listener, dispatcher_for
) -> None:
    with hook_listener() as listener:
        _finished_job(store, "poisoned", listener.url)
        _finished_job(store, "fine", listener.url.replace("/hook", "/other"))
        dispatcher = dispatcher_for(store, tmp_path)
        body = dispatcher._body

        def broken_for_one(job_id: str) -> bytes:
            if job_id == "poisoned":
                raise RuntimeError("unexpected failure building the body")
            return body(job_id)

        monkeypatch.setattr(dispatcher, "_body", broken_for_one)
        before = time.time()
        assert dispatcher.deliver_due() == 2
        dispatcher.stop()
        assert len(listener.received) == 1
    poisoned = store.delivery("poisoned")
    assert poisoned.state == "pending" and poisoned.next_at > before
    assert "RuntimeError" in poisoned.last_error
    assert store.delivery("fine").state == "delivered"


def test_the_dispatch_loop_pauses_after_a_failed_pass(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dispatcher_for
) -> None:
    _finished_job(store, "stuck", "http://127.0.0.1:9/hook")
    dispatcher = dispatcher_for(store, tmp_path)
    passes: list[float] = []

    def failing_pass() -> dict[str, object]:
        passes.append(time.monotonic())
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(dispatcher, "_launch_due", failing_pass)
    dispatcher.start()
    time.sleep(0.5)
    dispatcher.stop()
    assert 1 <= len(passes) <= 8


@pytest.mark.parametrize(
    "address",
    [
        "::7f00:1",  # IPv4-compatible form of 127.0.0.1
        "::a00:1",  # ... of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::1",  # local-use NAT64: may embed anything
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "::ffff:7f00:1",  # IPv4-mapped 127.0.0.1
        "fec0::1",  # deprecated site-local
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "ff02::1",  # multicast
    ],
)
def test_ipv6_forms_that_reach_non_public_hosts_are_refused(address: str) -> None:
    """Literal addresses: resolved without DNS and checked without any connection."""
    with pytest.raises(CallbackRefused):
        check_destination(f"http://[{address}]:9/hook")


@pytest.mark.parametrize("address", ["192.0.0.8", "192.0.0.170", "198.18.0.1", "240.0.0.1"])
def test_special_purpose_ipv4_is_refused(address: str) -> None:
    with pytest.raises(CallbackRefused):
        check_destination(f"http://{address}:9/hook")


@pytest.mark.parametrize("address", ["64:ff9b::5db8:d70e", "2002:5db8:d70e::1", "2606:4700::1"])
def test_wrapped_public_addresses_stay_allowed(address: str) -> None:
    assert str(check_destination(f"https://[{address}]/x").address) == address


@contextmanager
def _stalling_receiver() -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """A loopback receiver that holds every request until released: (url, arrived, release)."""
    arrived, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            arrived.set()
            release.wait(10)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrived, release
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_a_slow_receiver_does_not_hold_up_the_others(
    store: JobStore, tmp_path: Path, hook_listener, dispatcher_for, wait_until
) -> None:
    with _stalling_receiver() as (slow_url, slow_arrived, release), hook_listener() as fast:
        _finished_job(store, "to-slow", slow_url)
        dispatcher = dispatcher_for(store, tmp_path)
        dispatcher.start()
        try:
            assert slow_arrived.wait(10)
            _finished_job(store, "to-fast", fast.url)
            dispatcher.wake()
            [received] = fast.wait_for(1, timeout=10)
            assert not release.is_set() and store.delivery("to-slow").state == "pending"
            release.set()
            wait_until(lambda: store.delivery("to-slow").state == "delivered", timeout=10)
        finally:
            dispatcher.stop()
    assert json.loads(received.body)["job_id"] == "to-fast"


def test_a_users_stalling_callbacks_take_only_their_share_of_the_senders(
    store: JobStore, tmp_path: Path, hook_listener, dispatcher_for, wait_until
) -> None:
    """Eight of mallory's jobs call back to a receiver that holds every request; ada's one job,
    due after them all, is still delivered while mallory's receiver holds its requests."""
    with _stalling_receiver() as (slow_url, slow_arrived, release), hook_listener() as fast:
        mallorys = [
            store.submit(
                "detect",
                {},
                {"target_media": "/in.jpg"},
                job_id=f"mallory-{index}",
                callback_url=slow_url,
                owner="mallory",
            ).key
            for index in range(8)
        ]
        store.submit(
            "detect",
            {},
            {"target_media": "/in.jpg"},
            job_id="ada-1",
            callback_url=fast.url,
            owner="ada",
        )
        for _ in range(9):
            job = store.claim_next()
            store.complete(job.key, {"output": "/out/faces.json"}, {"faces": []})
        dispatcher = dispatcher_for(
            store, tmp_path, delivery_concurrency=4, delivery_timeout_seconds=30.0
        )
        dispatcher.start()
        try:
            assert slow_arrived.wait(10)
            [received] = fast.wait_for(1, timeout=8)
            assert not release.is_set()
            held = [store.delivery(key).state for key in mallorys]
            assert held == ["pending"] * 8
            release.set()
            wait_until(
                lambda: all(store.delivery(key).state == "delivered" for key in mallorys),
                timeout=60,
            )
        finally:
            dispatcher.stop()
    assert json.loads(received.body)["job_id"] == "ada-1"
