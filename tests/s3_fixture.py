"""A real S3 API on loopback for tests: moto's server mode as a subprocess.

Used by the session-scoped ``s3_server`` fixture of tests/conftest.py (one server for all test
folders). Only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

from processes import stop_process

AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {url} did not answer within {timeout}s")


@contextlib.contextmanager
def moto_s3_server(log_dir: Path, timeout: float = 30.0) -> Iterator[dict]:
    """Start moto on a free loopback port with one bucket; point the AWS_* variables of this
    process at it for the duration. Yields ``{"endpoint", "bucket", "port", "env"}``."""
    import boto3
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log_dir / "moto.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
    env = {"AWS_ENDPOINT_URL": endpoint, **AWS_TEST_ENV}
    saved = {key: os.environ.get(key) for key in (*env, "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    try:
        _wait_until_up(endpoint + "/", proc, timeout)
        os.environ.update(env)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        bucket = f"pipetrack-test-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in AWS_TEST_ENV.items()
                                                      if k != "AWS_DEFAULT_REGION"},
                     region_name="us-east-1").create_bucket(Bucket=bucket)
        yield {"endpoint": endpoint, "bucket": bucket, "port": port, "env": env}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop_process(proc)
