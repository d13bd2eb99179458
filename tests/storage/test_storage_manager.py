from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest

from pipetrack import config
from pipetrack.errors import StorageError
from pipetrack.storage import StorageManager, join_url, read_bytes, upload_bytes

BACKENDS = ["file", "memory", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(params=BACKENDS)
def remote(request, tmp_path) -> str:
    if request.param == "file":
        return (tmp_path / "remote root").as_uri()
    if request.param == "memory":
        return f"memory://manager-tests/{uuid.uuid4().hex}"
    server = request.getfixturevalue("s3_server")
    return f"s3://{server['bucket']}/{uuid.uuid4().hex}"


@pytest.fixture
def local_tree(tmp_path) -> Path:
    root = tmp_path / "local tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.json").write_text('{"a": 1}')
    (root / "b.txt").write_text("bee")
    (root / "sub" / "c.json").write_text('{"c": 3}')
    return root


def test_upload_exists_size_and_list(remote, tmp_path, pipetrack_home):
    src = tmp_path / "f.txt"
    src.write_text("hello")
    url = StorageManager.upload_file(str(src), join_url(remote, "dir/f.txt"), retries=1)
    assert StorageManager.exists_file(url)
    assert not StorageManager.exists_file(join_url(remote, "dir"))
    assert not StorageManager.exists_file(join_url(remote, "nope.txt"))
    assert StorageManager.get_file_size_bytes(url) == 5
    assert StorageManager.get_file_size_bytes(join_url(remote, "nope.txt"), silence_errors=True) is None
    assert StorageManager.list(remote) == ["dir/f.txt"]
    assert StorageManager.list(remote, return_full_path=True) == [url]
    assert StorageManager.list(remote, with_metadata=True) == [{"name": "dir/f.txt", "size": 5}]


def test_download_file_mirrors_path_below_bucket(remote, tmp_path, pipetrack_home):
    url = upload_bytes(b"payload", join_url(remote, "models/m.bin"))
    local = StorageManager.download_file(url, local_folder=str(tmp_path / "dl"))
    assert local.startswith(str(tmp_path / "dl")) and local.endswith("models/m.bin")
    assert Path(local).read_bytes() == b"payload"
    upload_bytes(b"changed", url)
    assert Path(StorageManager.download_file(url, str(tmp_path / "dl"))).read_bytes() == b"payload"
    assert Path(StorageManager.download_file(url, str(tmp_path / "dl"), overwrite=True)).read_bytes() == b"changed"
    default = StorageManager.download_file(url)
    assert Path(default).is_relative_to(config.cache_dir())


def test_download_file_zero_size_and_errors(tmp_path, pipetrack_home):
    empty = upload_bytes(b"", "memory://manager-tests/empty/e.bin")
    with pytest.raises(StorageError, match="empty"):
        StorageManager.download_file(empty, str(tmp_path))
    assert Path(StorageManager.download_file(empty, str(tmp_path), skip_zero_size_check=True)).read_bytes() == b""
    missing = "memory://manager-tests/missing/x.bin"
    assert StorageManager.download_file(missing, str(tmp_path), silence_errors=True) is None
    with pytest.raises(StorageError, match=missing):
        StorageManager.download_file(missing, str(tmp_path))


def test_get_local_copy_extracts_by_default(remote, pipetrack_home):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner/x.txt", "x")
    url = upload_bytes(buf.getvalue(), join_url(remote, "pack.zip"))
    folder = StorageManager.get_local_copy(url)
    assert Path(folder, "inner", "x.txt").read_text() == "x"
    archive = StorageManager.get_local_copy(url, extract_archive=False, cache_context="ctx")
    assert zipfile.is_zipfile(archive)
    if url.startswith("file://"):  # local files are never copied
        assert Path(archive).as_uri() == url
    else:
        assert Path(archive).is_relative_to(config.cache_dir() / "ctx")


def test_upload_and_download_folder(remote, local_tree, tmp_path, pipetrack_home):
    StorageManager.upload_folder(str(local_tree), remote)
    assert StorageManager.list(remote) == ["a.json", "b.txt", "sub/c.json"]
    out = StorageManager.download_folder(remote, str(tmp_path / "back"))
    assert {p.relative_to(out).as_posix() for p in Path(out).rglob("*") if p.is_file()} == {
        "a.json", "b.txt", "sub/c.json"}
    assert Path(out, "sub", "c.json").read_text() == '{"c": 3}'


def test_folder_wildcards(remote, local_tree, tmp_path, pipetrack_home):
    StorageManager.upload_folder(str(local_tree), remote, match_wildcard="*.json")
    assert StorageManager.list(remote) == ["a.json", "sub/c.json"]
    upload_bytes(b"t", join_url(remote, "z.txt"))
    out = StorageManager.download_folder(remote, str(tmp_path / "json-only"), match_wildcard="*.json")
    assert sorted(p.name for p in Path(out).rglob("*") if p.is_file()) == ["a.json", "c.json"]
    # existing non-empty files are kept unless overwrite=True
    Path(out, "a.json").write_text("local edit")
    StorageManager.download_folder(remote, out, match_wildcard="*.json")
    assert Path(out, "a.json").read_text() == "local edit"
    StorageManager.download_folder(remote, out, match_wildcard="*.json", overwrite=True)
    assert Path(out, "a.json").read_text() == '{"a": 1}'
    assert read_bytes(join_url(remote, "z.txt")) == b"t"


def test_upload_folder_missing_source(tmp_path):
    with pytest.raises(StorageError, match="not found"):
        StorageManager.upload_folder(str(tmp_path / "nope"), "memory://manager-tests/x")
