"""Fixtures for the storage tests: a real S3 API (moto's server) on loopback, and a private
PIPETRACK_HOME per test. Self-contained so it can move to tests/conftest.py as is."""
from __future__ import annotations

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

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A moto S3 server on 127.0.0.1 with one bucket; AWS_* env vars point at it.

    Yields ``{"endpoint": "http://127.0.0.1:PORT", "bucket": NAME}``.
    """
    pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log_fh, stderr=subprocess.STDOUT)
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {key: os.environ.get(key) for key in (*env, "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    try:
        _wait_until_up(endpoint + "/", proc)
        os.environ.update(env)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        bucket = f"pipetrack-test-{uuid.uuid4().hex[:8]}"
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                              aws_secret_access_key="testing", region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        yield {"endpoint": endpoint, "bucket": bucket, "port": port}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def pipetrack_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private PIPETRACK_HOME (store, artifacts, cache) for one test."""
    home = tmp_path / "pipetrack_home"
    monkeypatch.setenv("PIPETRACK_HOME", str(home))
    monkeypatch.delenv("PIPETRACK_OUTPUT_URI", raising=False)
    return home


@pytest.fixture
def s3_url(s3_server: dict) -> str:
    """A fresh, empty s3:// prefix in the test bucket."""
    return f"s3://{s3_server['bucket']}/{uuid.uuid4().hex[:10]}"
