"""Offline sessions: record without touching the store, then import the folder or its zip."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pipetrack import Task
from pipetrack.errors import NotFoundError, StateError

OFFLINE_SCRIPT = """
    import sys
    from pipetrack import Task
    Task.set_offline(True)
    task = Task.init("offline-proj", "offline run #1")
    assert Task.is_offline()
    task.connect({"lr": 0.01, "layers": [64, 32]})
    task.set_parameter("Extra/seed", 42)
    print("hello from offline")
    logger = task.get_logger()
    for i in range(100):
        logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
    logger.report_histogram("hist", "s", values=[1, 2, 3], iteration=5)
    task.upload_artifact("stats", {"mean": 1.5})
    task.close()
    print("FOLDER", task.get_offline_mode_folder())
"""


def _folder(stdout: str) -> Path:
    for line in stdout.splitlines():
        if line.startswith("FOLDER "):
            return Path(line.split(" ", 1)[1])
    raise AssertionError(stdout)


def _check_imported(task: Task, offset: int = 0) -> None:
    assert task.name == "offline run #1" and task.get_project_name() == "offline-proj"
    assert task.get_status() == "completed"
    params = task.get_parameters(cast=True)
    assert params["General/lr"] == 0.01 and params["General/layers"] == [64, 32] and params["Extra/seed"] == 42
    assert "hello from offline" in task.get_reported_console_output(number_of_reports=100)
    xs = task.get_all_reported_scalars()["loss"]["train"]["x"]
    assert xs == [i + offset for i in range(100)]
    assert [p["iter"] for p in task.get_reported_plots()] == [5 + offset]
    artifact = task.artifacts["stats"]
    assert artifact.get() == {"mean": 1.5}
    assert Path(artifact.get_local_copy()).is_file()


def test_offline_session_writes_no_store_and_imports(run_script, pipetrack_home):
    proc = run_script(OFFLINE_SCRIPT)
    folder = _folder(proc.stdout)
    assert folder.is_dir() and (folder / "session.db").is_file()
    assert not (pipetrack_home / "pipetrack.db").exists(), "offline mode must not touch the main store"
    assert "offline session stored in" in proc.stderr
    archive = folder.with_suffix(".zip")
    assert zipfile.is_zipfile(archive)

    task_id = Task.import_offline_session(str(folder))
    task = Task.get_task(task_id)
    _check_imported(task)
    assert str(folder) not in task.artifacts["stats"].url, "artifact files are copied into the store's storage"

    # the zip holds the same session; importing it again makes a second copy, not duplicates
    again = Task.import_offline_session(str(archive))
    assert again != task_id
    _check_imported(Task.get_task(again))
    _check_imported(Task.get_task(task_id))


def test_import_zip_elsewhere_after_the_folder_is_gone(run_script, tmp_path):
    import shutil
    proc = run_script(OFFLINE_SCRIPT)
    folder = _folder(proc.stdout)
    moved = tmp_path / "elsewhere" / "session.zip"
    moved.parent.mkdir()
    shutil.move(str(folder.with_suffix(".zip")), moved)
    shutil.rmtree(folder)
    _check_imported(Task.get_task(Task.import_offline_session(str(moved))))


def test_import_continues_a_previous_task_with_offset(run_script):
    previous = Task.create("offline-proj", "online-part")
    proc = run_script(OFFLINE_SCRIPT)
    task_id = Task.import_offline_session(str(_folder(proc.stdout)), previous_task_id=previous.id,
                                          iteration_offset=1000)
    assert task_id == previous.id
    _check_imported_offset = Task.get_task(task_id)
    xs = _check_imported_offset.get_all_reported_scalars()["loss"]["train"]["x"]
    assert xs == [i + 1000 for i in range(100)]
    assert _check_imported_offset.get_last_iteration() == 1099
    assert _check_imported_offset.artifacts["stats"].get() == {"mean": 1.5}


def test_offline_rules_and_bad_input(tmp_path):
    Task.set_offline(True)
    with pytest.raises(StateError, match="only for Task.init"):
        Task.create("p", "t")
    task = Task.init("offline-proj", "in-process", auto_connect_streams=False)
    assert Task.get_offline_mode_folder() == task.get_offline_mode_folder() is not None
    with pytest.raises(StateError):
        Task.set_offline(False)
    task.close()
    Task.set_offline(False)
    assert not Task.is_offline() and task.get_offline_mode_folder().is_dir()
    with pytest.raises(ValueError, match="not an offline session"):
        Task.import_offline_session(str(tmp_path))
    with pytest.raises(NotFoundError):
        Task.import_offline_session(str(task.get_offline_mode_folder()), previous_task_id="f" * 32)
    with pytest.raises(ValueError):
        Task.import_offline_session(str(task.get_offline_mode_folder()), iteration_offset="3")
