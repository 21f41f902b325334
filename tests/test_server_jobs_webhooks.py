"""Webhooks: signed deliveries to a loopback listener, retries, refusals, survival of restarts.

Every listener here is on loopback; the only allowlisted address is 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
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
