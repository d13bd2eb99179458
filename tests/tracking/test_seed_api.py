"""The rest of the seed's Task API and ClearML's model API: every method is checked against what
the store holds afterwards (read back through a fresh Task/Model object or another process)."""
from __future__ import annotations

import json
import os
import tomllib
import warnings

import pytest

from pipetrack import Model, OutputModel, Task
from pipetrack.errors import NotFoundError, StorageError, ValidationError
from pipetrack.utilities.plotly_reporter import SeriesInfo
from tracking_helpers import task_id_of

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

NEW_TASK_API = ("get_all", "get_project_object", "set_credentials", "setup_gcp_upload", "setup_azure_upload",
                "set_model_label_enumeration", "get_label_num_description", "labels_stats", "set_artifacts",
                "get_model_design", "update_model_desc", "save_exec_model_design_file",
                "set_resource_monitor_iteration_timeout", "metrics_manager", "launch_multi_node",
                "set_model_config", "get_model_config_text", "get_model_config_dict")


def _task(name: str = "t", project: str = "seed-api") -> Task:
    return Task.init(project, name, auto_connect_streams=False, auto_resource_monitoring=False)


def test_every_new_method_is_on_task():
    assert [n for n in NEW_TASK_API if not hasattr(Task, n)] == []


def test_get_all_filters_and_project_object():
    first = Task.create(project_name="proj-a", task_name="alpha")
    second = Task.create(project_name="proj-a", task_name="beta")
    other = Task.create(project_name="proj-b", task_name="alpha")
    second.mark_started(force=True)
    second.mark_completed()
    project_a = first.project
    assert {t.id for t in Task.get_all(project=project_a)} == {first.id, second.id}
    assert [t.id for t in Task.get_all(project=[project_a], status=["completed"])] == [second.id]
    assert {t.id for t in Task.get_all(name="^alpha$")} == {first.id, other.id}
    assert [t.id for t in Task.get_all(id=[other.id])] == [other.id]
    assert Task.get_all(project="no-such-project-id") == []
    with pytest.raises(ValidationError, match="colour"):
        Task.get_all(colour="red")
    with pytest.raises(ValidationError, match="'finished'"):
        Task.get_all(status="finished")
    project = Task.get_task(task_id=first.id).get_project_object()
    assert (project["id"], project["name"], project["basename"], project["system_tags"]) == \
        (project_a, "proj-a", "proj-a", [])


def test_set_credentials_in_process_and_stored(run_script, pipetrack_home, monkeypatch):
    from pipetrack import config
    from pipetrack.storage.filesystems import clear_s3_config, s3_config_for
    monkeypatch.setattr(config, "_process_credentials", {})
    Task.set_credentials(api_host="http://localhost:8008", files_host="s3://bucket-x/models", key="AK", secret="SK")
    assert config.credentials() == {"api_host": "http://localhost:8008", "files_host": "s3://bucket-x/models",
                                    "key": "AK", "secret": "SK"}
    cfg = s3_config_for("bucket-x/models/a.bin")
    assert cfg is not None and (cfg.key, cfg.secret) == ("AK", "SK")
    clear_s3_config()
    assert not (pipetrack_home / "config.toml").exists(), "store_conf_file=False writes nothing"
    with pytest.raises(ValidationError, match="key"):
        Task.set_credentials(key=5)

    (pipetrack_home / "config.toml").write_text("# mine\n[queues]\ngpu = \"local\"\n")
    run_script("""
        from pipetrack import Task
        Task.set_credentials(web_host="http://localhost:8080", key="k1", secret="s\\"1", store_conf_file=True)
    """)
    text = (pipetrack_home / "config.toml").read_text()
    assert text.startswith("# mine\n[queues]\ngpu = \"local\"\n"), "the user's file is kept as it was"
    assert tomllib.loads(text)["credentials"] == {"web_host": "http://localhost:8080", "key": "k1", "secret": 's"1'}
    assert oct((pipetrack_home / "config.toml").stat().st_mode & 0o777) == "0o600"
    reader = run_script("""
        from pipetrack import config
        print("CREDS", sorted(config.credentials().items()))
    """)
    assert "CREDS [('key', 'k1'), ('secret', 's\"1'), ('web_host', 'http://localhost:8080')]" in reader.stdout
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Task.set_credentials(key="k2", store_conf_file=True)
    assert any("already has a [credentials]" in str(w.message) for w in caught)
    assert tomllib.loads((pipetrack_home / "config.toml").read_text())["credentials"]["key"] == "k1"
    assert config.credentials()["key"] == "k1", "the config file overrides set_credentials values"


def test_gcp_and_azure_need_their_backends(tmp_path):
    task = _task()
    with pytest.raises(StorageError, match="pip install gcsfs"):
        task.setup_gcp_upload("my-bucket", project="p")
    with pytest.raises(StorageError, match="pip install adlfs"):
        task.setup_azure_upload("account", "key==", container_name="models")
    with pytest.raises(ValidationError, match="bucket 'a/b'"):
        task.setup_gcp_upload("a/b")
    with pytest.raises(ValidationError, match="credentials_json"):
        task.setup_gcp_upload("my-bucket", credentials_json=str(tmp_path / "missing.json"))
    with pytest.raises(ValidationError, match="account_key"):
        task.setup_azure_upload("account", "")


def test_gcp_and_azure_setup_stores_fsspec_options(tmp_path, monkeypatch):
    import fsspec.config
    from pipetrack import config
    for module in ("gcsfs", "adlfs"):  # stand-ins for the installed backends (only their presence is checked)
        (tmp_path / "fake" / module).mkdir(parents=True)
        (tmp_path / "fake" / module / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    monkeypatch.setattr(fsspec.config, "conf", {})
    monkeypatch.setattr(config, "_storage_configs", {"gcs": {}, "azure": {}})
    creds = tmp_path / "sa.json"
    creds.write_text("{}")
    task = _task()
    task.setup_gcp_upload("gs://my-bucket", subdir="runs", project="proj", credentials_json=str(creds))
    task.setup_azure_upload("acct", "secret-key", container_name="models")
    assert config.storage_config("gcs", "my-bucket") == {"bucket": "my-bucket", "subdir": "runs", "project": "proj",
                                                         "token": str(creds)}
    assert config.storage_config("azure", "acct")["container_name"] == "models"
    assert fsspec.config.conf["gs"] == fsspec.config.conf["gcs"] == {"project": "proj", "token": str(creds)}
    assert fsspec.config.conf["az"] == fsspec.config.conf["abfs"] == {"account_name": "acct",
                                                                       "account_key": "secret-key"}


def test_label_enumeration_and_its_inverse():
    task = _task()
    task.set_model_label_enumeration({"background": 0, "person": 1, "car": 2})
    again = Task.get_task(task_id=task.id)
    assert again.get_labels_enumeration() == {"background": 0, "person": 1, "car": 2}
    assert again.get_label_num_description() == {0: "background", 1: "person", 2: "car"}
    model = OutputModel(task=task, name="detector")
    assert model.labels == {"background": 0, "person": 1, "car": 2}, "an output model inherits the task's labels"
    task.set_model_label_enumeration({"a": 1, "b": 1})
    with pytest.raises(ValidationError, match="same number 1"):
        task.get_label_num_description()
    with pytest.raises(ValidationError, match="str label -> int"):
        task.set_model_label_enumeration({"a": "1"})
    task.set_model_label_enumeration()
    assert Task.get_task(task_id=task.id).get_labels_enumeration() == {}


def test_labels_stats_accumulate():
    task = _task()
    assert task.labels_stats == {}
    task._accumulate_label_stats({"cat": 2, "dog": 1})
    task._accumulate_label_stats({"cat": 3})
    assert task.labels_stats == {"cat": 5, "dog": 1}
    task._accumulate_label_stats({"bird": 1}, reset=True)
    assert task.labels_stats == {"bird": 1}


def test_model_design_round_trip(tmp_path):
    task = _task()
    assert task.get_model_design() == ""
    with pytest.raises(ValidationError, match="no model design"):
        task.save_exec_model_design_file()
    design = tmp_path / "net.txt"
    design.write_text("conv 3x3\nrelu\n")
    task.update_model_desc(str(design))
    assert Task.get_task(task_id=task.id).get_model_design() == "conv 3x3\nrelu\n"
    assert task.get_configuration_object("General") == "conv 3x3\nrelu\n", "the design is a configuration object"
    path = task.save_exec_model_design_file("design.txt")
    assert path == os.path.join(task.cache_dir, "design.txt") and open(path).read() == "conv 3x3\nrelu\n"
    task.set_model_config(config_dict={"layers": 4})
    assert json.loads(Task.get_task(task_id=task.id).get_model_config_text()) == {"layers": 4}
    assert task.get_model_config_dict() == {"layers": 4}
    assert open(task.save_exec_model_design_file("design.txt", use_cache=True)).read() == "conv 3x3\nrelu\n"
    assert json.loads(open(task.save_exec_model_design_file("design.txt")).read()) == {"layers": 4}
    with pytest.raises(ValidationError, match="missing.txt"):
        task.update_model_desc(str(tmp_path / "missing.txt"))
    with pytest.raises(ValidationError, match="not both"):
        task.set_model_config(config_text="x", config_dict={})


def test_set_artifacts_copies_records():
    source = _task("source")
    source.upload_artifact("table", {"rows": [1, 2, 3]}, wait_on_upload=True)
    source.flush()
    artifact = Task.get_task(task_id=source.id).artifacts["table"]
    source.close()
    target = Task.create(project_name="seed-api", task_name="target")
    current = target.set_artifacts([artifact])
    assert [a.name for a in current] == ["table"]
    stored = Task.get_task(task_id=target.id).artifacts["table"]
    assert stored.get() == {"rows": [1, 2, 3]} and stored.url == artifact.url and stored.hash == artifact.hash
    with pytest.raises(ValidationError, match="list of Artifact"):
        target.set_artifacts([{"name": "x"}])


def test_metrics_manager_flushes_and_reads_back():
    task = _task()
    for i in range(5):
        task.get_logger().report_scalar("loss", "train", 1.0 / (i + 1), i)
    task.get_logger().report_single_value("best", 0.2)
    manager = task.metrics_manager
    assert manager.flush() is True
    points = task._store.scalar_count(task.id)
    assert points == 5
    assert manager.get_scalars()["loss"]["train"]["x"] == [0, 1, 2, 3, 4]
    assert manager.get_last_metrics()["loss"]["train"]["last"] == pytest.approx(0.2)
    assert manager.get_single_values() == {"best": 0.2}


def test_resource_monitor_iteration_timeout():
    assert Task.set_resource_monitor_iteration_timeout(seconds_from_start=60) is True
    assert Task._resource_monitor_iteration_timeout == 60.0
    assert _task().set_resource_monitor_iteration_timeout(5) is True
    with pytest.raises(ValidationError, match="'soon'"):
        Task.set_resource_monitor_iteration_timeout("soon")


def test_launch_multi_node_local_processes(run_script, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    proc = run_script("""
        import os
        from pipetrack import Task
        task = Task.init("multi", "dist", auto_connect_streams=False)
        config = task.launch_multi_node(3, port=29611, wait=True)
        env = [os.environ[k] for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")]
        task.get_logger().report_single_value("rank", config["node_rank"])
        print("NODE", config["node_rank"], config["total_num_nodes"], " ".join(env), task.id, flush=True)
        if config["node_rank"] == 0:
            print("TASK", task.id)
    """, timeout=180)
    master_id = task_id_of(proc.stdout)
    nodes = sorted(line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("NODE"))
    assert [n[:6] for n in nodes] == [[str(r), "3", str(r), "3", "127.0.0.1", "29611"] for r in range(3)]
    assert nodes[0][6] == master_id
    children = Task.get_tasks(task_filter={"parent": master_id})
    assert sorted(t.id for t in children) == sorted(n[6] for n in nodes[1:])
    for child in children:
        child.wait_for_status(check_interval_sec=0.2)
        rank = int(child.get_parameter("multi_node_instance/node_rank"))
        assert child.get_reported_single_values() == {"rank": rank}
        assert child.get_status() == "completed"
    master = Task.get_task(task_id=master_id)
    assert master.get_parameters_as_dict()["multi_node_instance"]["total_num_nodes"] == "3"


def test_launch_multi_node_enqueues_clones_on_a_queue(monkeypatch, run_script):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):  # set by the call; restored afterwards
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    task = _task("queued-master")
    config = task.launch_multi_node(2, queue="nodes")
    assert (config["node_rank"], config["queue"], config["master_port"]) == (0, "nodes", 29500)
    assert (os.environ["WORLD_SIZE"], os.environ["RANK"], os.environ["MASTER_PORT"]) == ("2", "0", "29500")
    (node,) = Task.get_tasks(task_filter={"parent": task.id})
    assert node.get_status() == "queued" and node.data["queue"] == "nodes"
    assert node.get_parameter("multi_node_instance/node_rank") in ("1", 1)
    # what the agent that takes the clone runs: the same script, handed that task
    proc = run_script("""
        import os
        from pipetrack import Task
        task = Task.init("seed-api", "queued-master")
        config = task.launch_multi_node(2, queue="nodes")
        print("NODE", config["node_rank"], config["master_port"], os.environ["RANK"], os.environ["WORLD_SIZE"])
    """, env={"PIPETRACK_TASK_ID": node.id})
    assert "NODE 1 29500 1 2" in proc.stdout
    assert len(Task.get_tasks(task_filter={"parent": task.id})) == 1, "a node launches no nodes"
    assert Task.get_task(task_id=node.id).get_status() == "completed"
    with pytest.raises(ValidationError, match="total_num_nodes"):
        task.launch_multi_node(0)


# ---------------------------------------------------------------------- model API
def test_output_model_api_round_trip(run_script, tmp_path):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    proc = run_script(f"""
        from pipetrack import Task, OutputModel
        from pipetrack.utilities.plotly_reporter import SeriesInfo
        task = Task.init("models", "producer")
        print("TASK", task.id)
        model = OutputModel(task=task, name="net", framework="custom")
        model.update_labels({{"bg": 0, "cat": 1}})
        model.update_design(config_dict={{"layers": 3}})
        model.connect(task, name="generator")
        model.set_metadata("epochs", 10, "int")
        model.set_metadata("note", "best so far")
        for i, acc in enumerate([0.5, 0.7, 0.9]):
            model.report_scalar("eval", "accuracy", acc, i)
        model.report_single_value("auc", 0.93)
        model.report_table("confusion", "test", table_plot=[["", "cat"], ["cat", 7]])
        model.report_line_plot("pr", [SeriesInfo("curve", [[0, 1], [1, 0.5]])], "recall", "precision")
        model.report_plotly("figure", "raw", {{"data": [{{"type": "bar", "y": [1, 2]}}], "layout": {{}}}})
        model.update_weights({str(weights)!r})
        print("MODEL", model.id)
    """)
    task = Task.get_task(task_id=task_id_of(proc.stdout))
    model_id = proc.stdout.split("MODEL ")[1].split()[0]
    model = Model(model_id=model_id)
    assert (model.name, model.framework, model.labels) == ("net", "custom", {"bg": 0, "cat": 1})
    assert model.config_dict == {"layers": 3}
    assert task.get_labels_enumeration() == {"bg": 0, "cat": 1}, "the task's labels follow the model's"
    assert json.loads(task.get_model_design()) == {"layers": 3}, "a task without design gets the model's"
    assert task.models["output"].keys() == ["generator"] and task.models["output"]["generator"].id == model_id
    assert model.get_metadata("epochs") == "10" and model.get_metadata_casted("epochs") == 10
    assert model.get_all_metadata()["note"] == {"key": "note", "value": "best so far", "type": None}
    assert model.get_reported_scalars() == {"eval": {"accuracy": {"x": [0, 1, 2], "y": [0.5, 0.7, 0.9]}}}
    assert model.get_reported_single_values() == {"auc": 0.93}
    plots = {p["metric"]: p["plot"] for p in model.get_reported_plots()}
    assert set(plots) == {"confusion", "pr", "figure"}
    assert plots["confusion"]["data"][0]["cells"]["values"] == [["cat"], [7]]
    assert plots["pr"]["data"][0]["y"] == [1, 0.5]
    assert task.get_all_reported_scalars() == {} and task.get_reported_single_values() == {}, \
        "a model's reports are the model's, not its task's"


def test_model_metadata_replace_and_types():
    task = _task()
    model = OutputModel(task=task, name="m")
    model.set_all_metadata({"a": {"value": [1, 2], "type": "list"}, "b": {"value": True, "type": "bool"},
                            "c": {"value": 1.5, "type": "weird"}})
    stored = Model(model_id=model.id)
    assert stored.get_all_metadata_casted() == {"a": [1, 2], "b": True, "c": "1.5"}
    model.set_all_metadata({"d": {"value": "x"}}, replace=True)
    assert list(Model(model_id=model.id).get_all_metadata()) == ["d"]
    model.set_all_metadata({"e": {"value": 3, "type": "int"}}, replace=False)
    assert Model(model_id=model.id).get_all_metadata_casted() == {"d": "x", "e": 3}
    with pytest.raises(ValidationError, match="metadata must be"):
        model.set_all_metadata({"x": 1})


def test_model_connect_and_update_rules(tmp_path):
    task = _task()
    other = Task.create(project_name="seed-api", task_name="other")
    model = OutputModel(task=task, name="m")
    with pytest.raises(ValidationError, match="only be connected to that task"):
        model.connect(other)
    with pytest.raises(ValidationError, match="str label -> int"):
        model.update_labels({"cat": "one"})
    with pytest.raises(ValidationError, match="not both"):
        model.update_design(config_text="a", config_dict={"b": 1})
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    model.update_weights(str(weights))
    model.connect(task, name="renamed")
    assert Task.get_task(task_id=task.id).models["output"].keys() == ["renamed"], "connect after upload renames"
    with pytest.raises(NotFoundError, match="no-such-model"):
        Model(model_id="no-such-model")
    with pytest.raises(ValidationError, match="model id"):
        Model(model_id=None)


def test_model_series_info_import_matches_logger():
    from pipetrack import SeriesInfo as top
    assert SeriesInfo is top
