from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest

from pipetrack import config
from pipetrack.errors import StorageError
from pipetrack.storage import get_local_copy, upload_bytes, upload_file
from pipetrack.storage.cache import cache_key


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tree(folder: str) -> dict[str, bytes]:
    root = Path(folder)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".part")]


def test_local_path_and_file_url_are_returned_as_is(pipetrack_home, tmp_path):
    path = tmp_path / "data file.csv"
    path.write_text("a,b\n")
    assert get_local_copy(str(path)) == str(path)
    assert get_local_copy(path.as_uri()) == str(path)
    assert not any(config.cache_dir().iterdir())


def test_missing_local_file_is_a_storage_error(pipetrack_home, tmp_path):
    with pytest.raises(StorageError, match="nothing-here"):
        get_local_copy(str(tmp_path / "nothing-here.txt"))


def test_remote_copy_is_cached_and_reused(pipetrack_home):
    url = upload_bytes(b"version 1", f"memory://cache-tests/{uuid.uuid4().hex}/model.bin")
    local = get_local_copy(url)
    assert Path(local) == config.cache_dir() / cache_key(url) / "model.bin"
    assert Path(local).read_bytes() == b"version 1"
    upload_bytes(b"version 2", url)
    assert Path(get_local_copy(url)).read_bytes() == b"version 1"  # reused
    assert Path(get_local_copy(url, force_download=True)).read_bytes() == b"version 2"
    assert Path(get_local_copy(url, name="renamed.bin")).name == "renamed.bin"
    assert _leftovers(config.cache_dir()) == []


def test_remote_missing_names_url(pipetrack_home):
    url = "memory://cache-tests/absent/file.txt"
    with pytest.raises(StorageError, match="memory://cache-tests/absent/file.txt"):
        get_local_copy(url)


def test_remote_zip_extracted_once(pipetrack_home):
    url = upload_bytes(_zip_bytes({"a.txt": b"A", "sub/b.txt": b"B"}),
                       f"memory://cache-tests/{uuid.uuid4().hex}/bundle.zip")
    folder = get_local_copy(url, extract_archive=True)
    assert folder.endswith("bundle.zip_extracted") and os.path.isdir(folder)
    assert _tree(folder) == {"a.txt": b"A", "sub/b.txt": b"B"}
    Path(folder, "marker").write_text("kept")
    assert get_local_copy(url, extract_archive=True) == folder
    assert Path(folder, "marker").exists()  # not re-extracted
    assert os.path.isfile(get_local_copy(url, extract_archive=False))
    refreshed = get_local_copy(url, extract_archive=True, force_download=True)
    assert not Path(refreshed, "marker").exists()


def test_local_zip_and_targz_extracted_into_cache(pipetrack_home, tmp_path):
    zpath = tmp_path / "local.zip"
    zpath.write_bytes(_zip_bytes({"x.txt": b"X"}))
    folder = get_local_copy(str(zpath), extract_archive=True)
    assert Path(folder).is_relative_to(config.cache_dir())
    assert _tree(folder) == {"x.txt": b"X"}
    assert get_local_copy(str(zpath), extract_archive=False) == str(zpath)

    src = tmp_path / "tree"
    (src / "d").mkdir(parents=True)
    (src / "d" / "y.txt").write_text("Y")
    tpath = tmp_path / "local.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        tf.add(src / "d", arcname="d")
    assert _tree(get_local_copy(tpath.as_uri(), extract_archive=True)) == {"d/y.txt": b"Y"}


def test_zip_slip_is_refused(pipetrack_home):
    url = upload_bytes(_zip_bytes({"../../evil.txt": b"x"}), f"memory://cache-tests/{uuid.uuid4().hex}/evil.zip")
    with pytest.raises(StorageError, match="escapes"):
        get_local_copy(url, extract_archive=True)
    assert not (config.cache_dir().parent / "evil.txt").exists()


def _concurrent_worker(url: str, extract: bool, barrier, queue) -> None:
    barrier.wait(timeout=60)
    try:
        path = get_local_copy(url, extract_archive=extract)
        if os.path.isdir(path):
            digest = hashlib.sha256(repr(sorted(_tree(path).items())).encode()).hexdigest()
        else:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        queue.put((path, digest))
    except BaseException as err:  # report to the parent instead of dying silently
        queue.put(("error", repr(err)))


@pytest.mark.s3
@pytest.mark.parametrize("extract", [False, True], ids=["file", "zip"])
def test_concurrent_get_local_copy_from_two_processes(pipetrack_home, s3_url, tmp_path, extract):
    payload = _zip_bytes({f"f{i}.bin": os.urandom(1 << 20) for i in range(8)})
    src = tmp_path / "bundle.zip"
    src.write_bytes(payload)
    url = upload_file(str(src), s3_url + "/bundle.zip")
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_concurrent_worker, args=(url, extract, barrier, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert all(path != "error" for path, _ in results), results
    assert results[0] == results[1]
    path, digest = results[0]
    if extract:
        assert os.path.isdir(path) and len(_tree(path)) == 8
    else:
        assert digest == hashlib.sha256(payload).hexdigest()
    cache_folder = config.cache_dir() / cache_key(url)
    assert _leftovers(cache_folder) == []
    assert sorted(os.listdir(cache_folder)) == (["bundle.zip", "bundle.zip_extracted"] if extract else ["bundle.zip"])


@pytest.mark.s3
def test_download_cache_keeps_within_its_bound_dropping_the_least_recently_used(s3_url, monkeypatch):
    """PIPETRACK_CACHE_MAX_MB bounds the cache (a Dask worker downloads every step's inputs)."""
    from pipetrack.storage import cache as cache_module
    from pipetrack.storage.integrity import sha256_bytes, verified_local_copy
    monkeypatch.setenv("PIPETRACK_CACHE_MAX_MB", "1")
    monkeypatch.setattr(cache_module, "RECENTLY_USED_SECONDS", 0.0)
    blobs = {name: os.urandom(400 * 1024) for name in ("a", "b", "c", "d")}
    urls = {name: upload_bytes(data, f"{s3_url}/{name}.bin") for name, data in blobs.items()}
    paths = {}
    for name in ("a", "b"):
        paths[name] = get_local_copy(urls[name])
        os.utime(Path(paths[name]).parent, (1_000_000 + ord(name),) * 2)  # a used before b
    get_local_copy(urls["a"])  # a is used again: b is now the least recently used
    os.utime(Path(paths["a"]).parent, (1_000_100,) * 2)
    paths["c"] = verified_local_copy(urls["c"], sha256_bytes(blobs["c"]), "artifact 'c'")  # the hashed cache
    assert not Path(paths["b"]).exists() and Path(paths["a"]).exists() and Path(paths["c"]).exists()
    total = sum(p.stat().st_size for p in config.cache_dir().rglob("*") if p.is_file())
    assert total <= 2 ** 20
    assert Path(get_local_copy(urls["b"])).read_bytes() == blobs["b"]  # evicted: downloaded again on demand


def test_cache_bound_setting_is_checked(monkeypatch):
    from pipetrack.errors import ValidationError
    monkeypatch.setenv("PIPETRACK_CACHE_MAX_MB", "lots")
    with pytest.raises(ValidationError, match="PIPETRACK_CACHE_MAX_MB='lots' is not a size in megabytes"):
        config.cache_limit_bytes()
    monkeypatch.setenv("PIPETRACK_CACHE_MAX_MB", "0.5")
    assert config.cache_limit_bytes() == 512 * 1024
