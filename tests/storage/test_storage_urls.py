from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipetrack.errors import ValidationError
from pipetrack.storage import is_local, join_url, local_path, normalize_url
from pipetrack.storage.urls import basename, protocol


def test_relative_path_becomes_absolute_file_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_url("data/x.bin") == (tmp_path / "data" / "x.bin").as_uri()
    assert normalize_url("./data/") == (tmp_path / "data").as_uri()


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert normalize_url("~/a") == (tmp_path / "a").as_uri()


def test_absolute_path_and_file_url_agree(tmp_path):
    target = tmp_path / "a b" / "c.txt"
    assert normalize_url(str(target)) == target.as_uri()
    assert normalize_url(target) == target.as_uri()
    assert normalize_url(target.as_uri() + "/") == target.as_uri()
    assert normalize_url("file://localhost" + str(target)) == target.as_uri()


@pytest.mark.parametrize("url,expected", [
    ("s3://bucket/key/", "s3://bucket/key"),
    ("s3://bucket", "s3://bucket"),
    ("memory://store/a/b/", "memory://store/a/b"),
    ("gcs://b/k", "gcs://b/k"),
    ("https://example.com/x.zip", "https://example.com/x.zip"),
])
def test_remote_urls_kept(url, expected):
    assert normalize_url(url) == expected


def test_is_local_and_local_path(tmp_path):
    assert is_local(str(tmp_path)) and is_local(tmp_path.as_uri())
    assert not is_local("s3://b/k") and not is_local("memory://x")
    spaced = tmp_path / "with space" / "f%.txt"
    assert local_path(normalize_url(str(spaced))) == str(spaced)
    assert local_path("relative") == os.path.abspath("relative")
    with pytest.raises(ValidationError):
        local_path("s3://bucket/key")
    with pytest.raises(ValidationError, match="three slashes"):
        local_path("file://server/share/x")


def test_join_url():
    assert join_url("s3://b/root/", "task", "a/b.txt") == "s3://b/root/task/a/b.txt"
    assert join_url("memory://m", "x") == "memory://m/x"
    assert join_url("/tmp/base", "a b.txt") == Path("/tmp/base/a b.txt").as_uri()
    assert local_path(join_url("/tmp/base", "a b.txt")) == "/tmp/base/a b.txt"
    assert join_url("s3://b/k") == "s3://b/k"
    with pytest.raises(ValidationError, match=r"\.\."):
        join_url("s3://b/k", "../escape")


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_bad_input(bad):
    with pytest.raises(ValidationError, match="storage location"):
        normalize_url(bad)


def test_protocol_and_basename(tmp_path):
    assert protocol("S3://b/k") == "s3"
    assert protocol("/x") == "file"
    assert basename("s3://b/k/model.pkl") == "model.pkl"
    assert basename(str(tmp_path / "a b.txt")) == "a b.txt"
