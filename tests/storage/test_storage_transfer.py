from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from pipetrack.errors import StorageError
from pipetrack.storage import (
    delete, download_file, exists, is_file, join_url, list_entries, list_files, read_bytes,
    sha256_file, size, upload_bytes, upload_file,
)

BACKENDS = ["local", "file", "memory", pytest.param("s3", marks=pytest.mark.s3)]


@pytest.fixture(params=BACKENDS)
def base_url(request, tmp_path) -> str:
    """An empty destination folder URL on each backend."""
    kind = request.param
    if kind == "local":
        return str(tmp_path / "dest")
    if kind == "file":
        return (tmp_path / "dest dir").as_uri()
    if kind == "memory":
        return f"memory://pipetrack-tests/{uuid.uuid4().hex}"
    server = request.getfixturevalue("s3_server")
    return f"s3://{server['bucket']}/{uuid.uuid4().hex}"


@pytest.fixture
def src_file(tmp_path) -> Path:
    path = tmp_path / "src" / "payload.bin"
    path.parent.mkdir()
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


def test_upload_read_download_roundtrip(base_url, src_file, tmp_path):
    url = upload_file(str(src_file), join_url(base_url, "deep/nested/payload.bin"))
    assert url.endswith("deep/nested/payload.bin")
    assert exists(url) and is_file(url)
    assert size(url) == src_file.stat().st_size
    assert read_bytes(url) == src_file.read_bytes()
    out = download_file(url, str(tmp_path / "out" / "copy.bin"))
    assert Path(out).read_bytes() == src_file.read_bytes()
    assert sha256_file(out) == hashlib.sha256(src_file.read_bytes()).hexdigest()


def test_download_keeps_existing_when_not_overwriting(base_url, tmp_path):
    url = upload_bytes(b"remote", join_url(base_url, "f.txt"))
    local = tmp_path / "local.txt"
    local.write_bytes(b"mine")
    assert download_file(url, str(local), overwrite=False) == str(local)
    assert local.read_bytes() == b"mine"
    download_file(url, str(local))
    assert local.read_bytes() == b"remote"


def test_list_files_returns_full_urls(base_url):
    for rel in ("a.txt", "sub/b.txt", "sub/deeper/c.txt"):
        upload_bytes(rel.encode(), join_url(base_url, rel))
    found = list_files(base_url)
    assert found == sorted(join_url(base_url, rel) for rel in ("a.txt", "sub/b.txt", "sub/deeper/c.txt"))
    assert all(read_bytes(u).decode() in u for u in found)
    assert list_files(base_url, recursive=False) == [join_url(base_url, "a.txt")]
    assert dict(list_entries(base_url))[join_url(base_url, "a.txt")] == len(b"a.txt")
    assert list_files(join_url(base_url, "missing")) == []


def test_delete_file_folder_and_missing(base_url):
    one = upload_bytes(b"1", join_url(base_url, "one.txt"))
    upload_bytes(b"2", join_url(base_url, "folder/two.txt"))
    delete(one)
    assert not exists(one)
    delete(one)  # missing is fine
    delete(join_url(base_url, "folder"), recursive=True)
    assert list_files(base_url) == []


def test_missing_file_errors_name_the_url(base_url, tmp_path):
    missing = join_url(base_url, "does-not-exist.bin")
    for call in (lambda: read_bytes(missing), lambda: size(missing),
                 lambda: download_file(missing, str(tmp_path / "x.bin"))):
        with pytest.raises(StorageError) as info:
            call()
        assert missing in str(info.value)
        assert "FileNotFoundError" in str(info.value) or "not found" in str(info.value).lower()
    assert not exists(missing)
    assert not (tmp_path / "x.bin").exists()


def test_local_upload_is_atomic_and_leaves_no_temp_files(tmp_path):
    dest = tmp_path / "dest" / "big.bin"
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * (8 << 20))
    seen: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            if dest.exists():
                seen.append(dest.stat().st_size)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(5):
            upload_file(str(src), str(dest))
    finally:
        stop.set()
        thread.join()
    assert set(seen) <= {8 << 20}
    assert sorted(os.listdir(dest.parent)) == ["big.bin"]


def test_upload_move_renames_source(tmp_path):
    src = tmp_path / "work" / "a.npy"
    src.parent.mkdir()
    src.write_bytes(b"data")
    url = upload_file(str(src), str(tmp_path / "out" / "a.npy"), move=True)
    assert not src.exists()
    assert read_bytes(url) == b"data"


def test_upload_missing_source_names_both(tmp_path):
    with pytest.raises(StorageError, match="source file not found") as info:
        upload_file(str(tmp_path / "nope.txt"), "memory://x/y.txt")
    assert "memory://x/y.txt" in str(info.value)


def test_upload_retries_then_wraps_error(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a")
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file, not a folder")
    with pytest.raises(StorageError) as info:
        upload_file(str(src), str(blocker / "sub" / "a.txt"), retries=1)
    assert str(blocker) in str(info.value)


def test_delete_folder_needs_recursive(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(StorageError, match="recursive=True"):
        delete(str(tmp_path / "d"))


def test_unknown_protocol_is_a_storage_error():
    with pytest.raises(StorageError, match="nosuchproto://x/y"):
        read_bytes("nosuchproto://x/y")


@pytest.mark.s3
def test_s3_missing_bucket_error_names_url(s3_server):
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/k.txt"
    with pytest.raises(StorageError) as info:
        read_bytes(url)
    assert url in str(info.value)


def test_missing_s3fs_gives_install_hint(tmp_path):
    code = (
        "import sys; sys.modules['s3fs'] = None\n"
        "from pipetrack.errors import StorageError\n"
        "from pipetrack.storage import read_bytes\n"
        "try:\n    read_bytes('s3://bucket/key.txt')\n"
        "except StorageError as err:\n    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "s3://bucket/key.txt" in out.stdout, out.stderr
    assert "pip install 'pipetrack[s3]'" in out.stdout


def test_sha256_file_streams(tmp_path):
    path = tmp_path / "f.bin"
    data = os.urandom((1 << 20) * 2 + 5)
    path.write_bytes(data)
    assert sha256_file(str(path)) == hashlib.sha256(data).hexdigest()
    with pytest.raises(StorageError, match="missing.bin"):
        sha256_file(str(tmp_path / "missing.bin"))
