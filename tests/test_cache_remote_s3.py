"""The remote cache on S3: moto's standalone S3 server on 127.0.0.1, reached through s3fs with
dummy credentials from the environment (moto stands in for S3, which cannot exist here)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from _remote_support import events, in_folder_main, make_clone

from bench.s3 import BUCKET, make_bucket, moto_server, s3_environment
from ffpipe.cache.objects import ObjectStore
from ffpipe.cache.remote import RemoteStore, pull_entries, push_entries
from ffpipe.cache.steps import StepEntry

pytestmark = pytest.mark.slow  # moto's S3 server and push/pull processes


@pytest.fixture(scope="session")
def s3_endpoint():
    with moto_server() as endpoint:
        make_bucket(endpoint)
        yield endpoint


@pytest.fixture
def s3_url(s3_endpoint, monkeypatch, request):
    for name, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(name, value)
    return f"s3://{BUCKET}/{request.node.name}"


def outputs_of(folder):
    return {path.name: path.read_bytes() for path in sorted((folder / "out" / "team").iterdir())}


def test_push_then_pull_through_s3(tmp_path, capsys, s3_url):
    first = make_clone(tmp_path / "first", s3_url)
    assert in_folder_main(first, "run", "team.yaml", "--push") == 0
    capsys.readouterr()
    assert in_folder_main(first, "cache", "ls", "--remote") == 0
    listing = capsys.readouterr().out
    assert "aged[age=30]" in listing and s3_url in listing

    second = make_clone(tmp_path / "second", s3_url)
    assert in_folder_main(second, "run", "team.yaml", "--json") == 0
    found = events(capsys.readouterr().out)
    assert not any(event["event"] == "step_done" for event in found)
    assert outputs_of(second) == outputs_of(first)


def _entry(store: ObjectStore, data: bytes, name: str) -> StepEntry:
    digest = store.put_bytes(data)
    key = "sha256:" + digest.split(":")[1][::-1]
    return StepEntry(key=key, pipeline="p", instance_id=name, outputs={"output": digest})


def test_corrupt_s3_object_is_refused_quarantined_and_repaired(tmp_path, s3_url):
    local = ObjectStore(tmp_path / "a")
    remote = RemoteStore(s3_url)
    entry = _entry(local, os.urandom(50_000), "x")
    push_entries(local, remote, [entry])
    digest = entry.outputs["output"]
    remote.fs.pipe_file(remote.object_path(digest), b"not the bytes")

    fresh = ObjectStore(tmp_path / "b")
    complete, report = pull_entries(fresh, remote, [entry])
    assert complete == [] and "corrupt" in report.failed[entry.key]
    assert not fresh.has(digest)
    assert not remote.has_object(digest) and remote.quarantined()

    push_entries(local, remote, [entry])  # the next push puts a good copy back
    complete, _ = pull_entries(fresh, remote, [entry])
    assert complete == [entry] and fresh.has(digest)


PUSH_FOREVER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    import s3fs
    from ffpipe.cache.remote import RemoteStore

    # Stops for good once the first part of the multipart upload is stored, so the parent kills
    # the push mid-way however fast the machine is.
    call_s3 = s3fs.S3FileSystem._call_s3

    async def stalling(self, method, *args, **kwargs):
        if method == "upload_part" and kwargs.get("PartNumber", 1) > 1:
            print("midway", flush=True)
            await asyncio.sleep(3600)
        return await call_s3(self, method, *args, **kwargs)

    s3fs.S3FileSystem._call_s3 = stalling
    remote = RemoteStore(sys.argv[1])
    remote.put_object("sha256:" + "ab" * 32, Path(sys.argv[2]))
    """
)


def test_push_killed_midway_leaves_no_visible_object(tmp_path, s3_url):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(110 * 2**20))  # s3fs sends 100 MiB and more in 50 MiB parts
    process = subprocess.Popen(
        [sys.executable, "-c", PUSH_FOREVER, s3_url, str(big)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "midway"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    remote = RemoteStore(s3_url)
    assert not remote.has_object("sha256:" + "ab" * 32)
    assert remote.objects() == []


def test_two_concurrent_pushes_of_the_same_pipeline(tmp_path, s3_url):
    stores = [ObjectStore(tmp_path / name) for name in ("a", "b")]
    payloads = [os.urandom(200_000) for _ in range(6)]
    entries = [
        [_entry(store, data, f"s{i}") for i, data in enumerate(payloads)] for store in stores
    ]
    assert [e.key for e in entries[0]] == [e.key for e in entries[1]]
    errors: list[BaseException] = []

    def push(index: int) -> None:
        try:
            push_entries(stores[index], RemoteStore(s3_url), entries[index], jobs=3)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=push, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    remote = RemoteStore(s3_url)
    assert sorted(e.key for e in remote.entries()) == sorted(e.key for e in entries[0])
    fresh = ObjectStore(tmp_path / "c")
    complete, report = pull_entries(fresh, remote, entries[0])
    assert len(complete) == 6 and not report.failed


@pytest.fixture
def enforced_auth(s3_endpoint):
    """moto checks credentials (it accepts any by default) for the length of one test."""
    import urllib.request

    def reset(count: str) -> None:
        request = urllib.request.Request(
            f"{s3_endpoint}/moto-api/reset-auth",
            data=count.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},  # else the body is read as a form
        )
        urllib.request.urlopen(request, timeout=10).close()

    reset("0")
    yield
    reset("inf")


def test_refused_credentials_are_said_once_and_the_run_goes_on(
    tmp_path, capsys, s3_url, enforced_auth
):
    clone = make_clone(tmp_path / "clone", s3_url)
    assert in_folder_main(clone, "run", "team.yaml", "--json") == 0
    found = events(capsys.readouterr().out)
    notes = [event["message"] for event in found if event["event"] == "remote"]
    assert len(notes) == 1 and "credentials" in notes[0], notes
    assert any(event["event"] == "step_done" for event in found)
    assert in_folder_main(clone, "push", "team.yaml", "--require-remote") == 2
    assert "refused our credentials" in capsys.readouterr().err


def test_two_clones_push_the_same_pipeline_at_once(tmp_path, capsys, s3_url):
    first = make_clone(tmp_path / "first", s3_url)
    assert in_folder_main(first, "run", "team.yaml", "--no-pull") == 0
    second = make_clone(tmp_path / "second", s3_url)
    shutil.copytree(first / ".ffpipe", second / ".ffpipe")  # it rendered the same steps
    pushes = [
        subprocess.Popen(
            [sys.executable, "-m", "ffpipe", "push", "team.yaml", "-j", "4"],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (first, second)
    ]
    for push in pushes:
        out, err = push.communicate(timeout=120)
        assert push.returncode == 0, err
        assert "pushed 3 entries" in out
    capsys.readouterr()
    third = make_clone(tmp_path / "third", s3_url)
    assert in_folder_main(third, "run", "team.yaml", "--json") == 0
    found = events(capsys.readouterr().out)
    assert not any(event["event"] == "step_done" for event in found)
    assert outputs_of(third) == outputs_of(first)
