from __future__ import annotations

import multiprocessing
import os
import uuid

import pytest

from pipetrack.errors import ValidationError
from pipetrack.storage import (
    clear_s3_config, configure_s3, filesystem_for, list_files, read_bytes, upload_bytes,
)
from pipetrack.storage.filesystems import s3_config_for

AWS_VARS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE")


@pytest.fixture(autouse=True)
def _fresh_s3_config():
    clear_s3_config()
    yield
    clear_s3_config()


def _no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    # no ~/.aws fallbacks either: only configure_s3 can make this work
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_local_and_memory_filesystems(tmp_path):
    fs, path = filesystem_for(str(tmp_path / "a b"))
    assert path == str(tmp_path / "a b")
    assert "file" in fs.protocol or "local" in fs.protocol
    mem, mpath = filesystem_for("memory://bucket/x")
    assert mpath == "/bucket/x"
    assert mem is filesystem_for("memory://other")[0]


def _child_fs_id(queue) -> None:
    fs, _ = filesystem_for("memory://x")
    queue.put((os.getpid(), id(fs), fs is filesystem_for("memory://y")[0]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_instances_cached_per_process():
    fs, _ = filesystem_for("memory://x")
    assert fs is filesystem_for("memory://z")[0]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_fs_id, args=(queue,))
    proc.start()
    pid, _fs_id, cached_in_child = queue.get(timeout=60)
    proc.join(60)
    assert pid != os.getpid() and cached_in_child


@pytest.mark.s3
def test_env_endpoint_is_passed_explicitly(s3_server):
    fs, path = filesystem_for(f"s3://{s3_server['bucket']}/k")
    assert path == f"{s3_server['bucket']}/k"
    assert fs.client_kwargs.get("endpoint_url") == s3_server["endpoint"]


@pytest.mark.s3
def test_configure_s3_with_explicit_host_key_secret(s3_server, monkeypatch, tmp_path):
    _no_aws_env(monkeypatch, tmp_path)
    bucket = s3_server["bucket"]
    configure_s3(bucket, host=f"127.0.0.1:{s3_server['port']}", key="testing", secret="testing",
                 region="us-east-1", secure=False)
    url = f"s3://{bucket}/configured/{uuid.uuid4().hex}.txt"
    upload_bytes(b"via configure_s3", url)
    assert read_bytes(url) == b"via configure_s3"
    fs, _ = filesystem_for(url)
    assert fs.client_kwargs["endpoint_url"] == s3_server["endpoint"]
    assert fs.key == "testing" and fs.secret == "testing"


@pytest.mark.s3
def test_configure_s3_full_url_host_and_subdir_prefix(s3_server, monkeypatch, tmp_path):
    _no_aws_env(monkeypatch, tmp_path)
    bucket = s3_server["bucket"]
    configure_s3(bucket, host="http://127.0.0.1:1", key="wrong", secret="wrong")  # bucket-wide: unreachable
    configure_s3(bucket, subdir="good/", host=s3_server["endpoint"] + "/", key="testing", secret="testing",
                 region="us-east-1")
    assert s3_config_for(f"{bucket}/good/x").subdir == "good/"
    assert s3_config_for(f"{bucket}/goodness/x").subdir is None
    url = f"s3://{bucket}/good/{uuid.uuid4().hex}.txt"
    upload_bytes(b"ok", url)
    assert list_files(url) == [url]
    other_fs, _ = filesystem_for(f"s3://{bucket}/elsewhere.txt")
    assert other_fs.client_kwargs["endpoint_url"] == "http://127.0.0.1:1" and other_fs.key == "wrong"


@pytest.mark.parametrize("bad", ["", "a/b", "s3://"])
def test_configure_s3_rejects_bad_bucket(bad):
    with pytest.raises(ValidationError, match="bucket"):
        configure_s3(bad)
