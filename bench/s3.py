"""moto's S3 server on loopback, standing in for a team's bucket (tests and benchmarks).

The one part of the remote-cache set-up that cannot be real here: no cloud is reachable, so
moto's standalone server plays S3 on 127.0.0.1 with dummy credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bench.serving import free_port

BUCKET = "renders"


def s3_environment(endpoint: str) -> dict[str, str]:
    """Dummy credentials and the endpoint, as a CI job would set them."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def make_bucket(endpoint: str, name: str = BUCKET) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_credentials())
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=name)


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "region_name": "us-east-1",
    }
