"""Artifacts read back are what was written: every read is checked against the recorded sha256.

A byte flipped in a stored file, a truncated or replaced file, or a corrupted download-cache
entry raises IntegrityError naming the artifact, task, URL and both hashes; a pickle that does
not match is never unpickled (a replaced ``.pkl`` runs no code). Artifacts recorded without a
hash (older stores) are read with a warning, pickles among them refused.
"""
from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipetrack import Task
from pipetrack.errors import IntegrityError, StorageError
from pipetrack.storage import local_path
from pipetrack.store import default_store


def _task(name: str = "integrity", **kwargs) -> Task:
    return Task.init(project_name="integrity", task_name=name, **kwargs)


def _flip_byte(path: str, offset: int = -1) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset, os.SEEK_END if offset < 0 else os.SEEK_SET)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0x01]))


VALUES = {
    "json": ({"lr": 0.125, "layers": [1, 2, 3]}, -3),
    "npy": (np.arange(1000, dtype=np.float64), -5),
    "txt": ("the answer is 42", -2),
    "pickle": ({1: "int keys are pickled", (2, 3): "so are tuple keys"}, -5),
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_a_flipped_byte_is_refused_by_get_and_get_local_copy(kind):
    value, offset = VALUES[kind]
    task = _task()
    task.upload_artifact("data", value)
    artifact = Task.get_task(task_id=task.id).artifacts["data"]
    assert artifact.hash and len(artifact.hash) == 64
    path = local_path(artifact.url)
    _flip_byte(path, offset)
    for read in (artifact.get, artifact.get_local_copy, lambda: artifact.get_local_copy(raise_on_error=True)):
        with pytest.raises(IntegrityError) as info:
            read()
        message = str(info.value)
        for part in ("'data'", task.id, artifact.url, artifact.hash):
            assert part in message
    assert isinstance(info.value, StorageError)


def test_intact_artifacts_round_trip_and_the_error_names_the_actual_hash():
    task = _task()
    task.upload_artifact("data", {"a": 1})
    artifact = Task.get_task(task_id=task.id).artifacts["data"]
    assert artifact.get() == {"a": 1}
    path = local_path(artifact.url)
    Path(path).write_text(json.dumps({"a": 2}))
    import hashlib
    actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    with pytest.raises(IntegrityError, match=actual):
        artifact.get()


def test_a_change_that_keeps_size_and_mtime_is_still_caught():
    """The stamp that spares re-hashing includes ctime, which a user cannot set back."""
    task = _task()
    task.upload_artifact("data", "same size text")
    artifact = Task.get_task(task_id=task.id).artifacts["data"]
    assert artifact.get() == "same size text"  # verified (and stamped) once
    path = local_path(artifact.url)
    before = os.stat(path)
    Path(path).write_text("SAME size text")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns
    with pytest.raises(IntegrityError):
        artifact.get()


def test_a_replaced_pickle_runs_no_code(tmp_path):
    task = _task()
    task.upload_artifact("model", {("a", 1): "tuple keys make this a pickle"})
    artifact = Task.get_task(task_id=task.id).artifacts["model"]
    assert artifact.type == "pickle"
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    Path(local_path(artifact.url)).write_bytes(pickle.dumps(Payload()))
    with pytest.raises(IntegrityError):
        artifact.get()
    assert not marker.exists()


def _forget_hash(task_id: str, name: str) -> None:
    default_store().execute("UPDATE artifacts SET hash=NULL WHERE task_id=? AND name=?", (task_id, name))


def test_artifacts_without_a_recorded_hash_are_read_with_a_warning_but_pickles_are_refused():
    task = _task()
    task.upload_artifact("table", {"x": 1})
    task.upload_artifact("blob", {("k",): 1})
    _forget_hash(task.id, "table")
    _forget_hash(task.id, "blob")
    artifacts = Task.get_task(task_id=task.id).artifacts
    with pytest.warns(UserWarning, match="no recorded sha256"):
        assert artifacts["table"].get() == {"x": 1}
    with pytest.raises(IntegrityError, match="will not unpickle"):
        artifacts["blob"].get()


@pytest.mark.s3
def test_s3_artifacts_are_verified_and_a_bad_cache_entry_is_fetched_again(s3_server):
    import s3fs
    task = _task("s3 integrity", output_uri=f"s3://{s3_server['bucket']}/integrity")
    task.upload_artifact("data", {"k": list(range(50))})
    artifact = Task.get_task(task_id=task.id).artifacts["data"]
    cached = artifact.get_local_copy()
    assert artifact.hash in cached  # the download cache is keyed by content hash
    _flip_byte(cached, -3)  # a corrupted cache entry heals: it is downloaded again
    assert artifact.get() == {"k": list(range(50))}
    fs = s3fs.S3FileSystem()
    remote = artifact.url[len("s3://"):]
    fs.pipe_file(remote, fs.cat_file(remote).replace(b"49", b"48"))
    with pytest.raises(IntegrityError, match=artifact.hash):
        artifact.get(force_download=True)
    assert not any(name.endswith(".part") for name in os.listdir(os.path.dirname(cached)))


def _add(a, b):
    return a + b


def test_a_tampered_step_spec_is_never_unpickled(tmp_path, pipetrack_home):
    """Function tasks waiting for an agent keep their pickled StepSpec in storage with its sha256."""
    marker = tmp_path / "payload-ran"
    main = _task("spec owner")
    draft = main.create_function_task(_add, func_name="add", task_name="adds", a=1, b=2)
    spec_url = draft._row["runtime"]["step_spec_url"]

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    Path(local_path(spec_url)).write_bytes(pickle.dumps(Payload()))
    env = {**os.environ, "PIPETRACK_HOME": str(pipetrack_home)}
    proc = subprocess.run([sys.executable, "-m", "pipetrack.executors.child", "--task", draft.id], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "IntegrityError" in proc.stderr or "corrupted" in proc.stderr
    assert not marker.exists()
    row = Task.get_task(task_id=draft.id)
    assert row.get_status() == "failed"


def test_files_under_the_home_are_private_and_a_shared_destination_keeps_the_umask(tmp_path, pipetrack_home):
    old = os.umask(0o022)
    try:
        task = _task("private")
        task.upload_artifact("data", {"a": 1})
        task.upload_artifact("large", {"a": "x" * 1_200_000})  # >= 1 MiB: its verification stamp makes cache/
        shared = tmp_path / "shared"
        other = Task.create(project_name="integrity", task_name="shared")
        other._owner = True
        other.output_uri = shared.as_uri()
        other.upload_artifact("data", {"b": 2})
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    private = local_path(Task.get_task(task_id=task.id).artifacts["data"].url)
    assert mode(pipetrack_home) == 0o700
    assert mode(private) == 0o600
    folder = Path(private).parent
    while folder != pipetrack_home:
        assert mode(folder) == 0o700, folder
        folder = folder.parent
    assert mode(pipetrack_home / "cache") == 0o700
    store_files = sorted(p.name for p in pipetrack_home.glob("*.db*"))
    assert any(name.endswith(".db") for name in store_files), store_files
    for name in store_files:  # the catalogue and its WAL/shm files: every task's records
        assert mode(pipetrack_home / name) == 0o600, name
    public = local_path(Task.get_task(task_id=other.id).artifacts["data"].url)
    assert mode(public) == 0o644
    assert Task.get_task(task_id=other.id).artifacts["data"].get() == {"b": 2}


KILLED_UPLOAD = '''
import time
from pipetrack import Task
task = Task.init(project_name="integrity", task_name="killed upload")
def slow(obj):  # the process is killed while this artifact is being serialised
    print("WRITING", flush=True)
    time.sleep(60)
    return b""
task.upload_artifact("big", object(), serialization_function=slow)
'''


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".upload-")] if folder.exists() else []


def test_a_killed_upload_leaves_a_folder_that_the_next_store_opening_removes(tmp_path, pipetrack_home):
    script = tmp_path / "killed.py"
    script.write_text(KILLED_UPLOAD)
    env = {**os.environ, "PIPETRACK_HOME": str(pipetrack_home)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "WRITING"
    finally:
        proc.kill()
        proc.wait()
    artifacts = pipetrack_home / "artifacts"
    left = _leftovers(artifacts)
    assert len(left) == 1
    code = "from pipetrack.store import default_store; default_store()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert _leftovers(artifacts) == left, "a young work folder may be an upload in progress: kept"
    old = time.time() - 2 * 3600
    for path in [left[0], *left[0].rglob("*")]:
        os.utime(path, (old, old))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert _leftovers(artifacts) == []


def test_reset_removes_stale_part_files_of_the_task(pipetrack_home):
    task = Task.create(project_name="integrity", task_name="reset leftovers")
    task._owner = True
    task.upload_artifact("data", {"a": 1})
    folder = Path(local_path(task.artifacts["data"].url)).parent
    part = folder / ".data.json.abc123.part"
    part.write_bytes(b"half")
    old = time.time() - 2 * 3600
    os.utime(part, (old, old))
    task.reset(force=True)
    assert not part.exists()


def test_a_large_artifact_is_hashed_in_the_background_and_recorded_by_flush():
    from pipetrack.tracking.task_artifacts import BACKGROUND_HASH_BYTES
    import hashlib
    task = _task("large")
    big = np.arange(BACKGROUND_HASH_BYTES // 8 + 1024, dtype=np.float64)
    task.upload_artifact("big", big)
    assert np.array_equal(task.artifacts["big"].get(), big)  # this process knows the file it wrote
    task.flush()
    artifact = Task.get_task(task_id=task.id).artifacts["big"]
    path = local_path(artifact.url)
    assert artifact.hash == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    _flip_byte(path, -8)
    with pytest.raises(IntegrityError, match=artifact.hash):
        artifact.get()
