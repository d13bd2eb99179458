"""Argument parsers beyond argparse (click, fire, jsonargparse) and Hydra, as ClearML records
them: real scripts run as subprocesses record ``Args/`` (``Hydra/`` and the ``OmegaConf``
configuration), and an agent re-runs an edited clone with the edited values."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipetrack import Task
from processes import script_env

pytestmark = pytest.mark.timeout(180)


def args_of(task: Task, section: str = "Args") -> dict:
    return {k[len(section) + 1:]: v for k, v in task.get_parameters().items() if k.startswith(section + "/")}


def rerun_by_agent(home, clone: Task, changes: dict) -> Task:
    """Edit ``clone``'s parameters, enqueue it and let one agent run it to the end."""
    clone.set_parameters({**clone.get_parameters(), **changes})
    Task.enqueue(clone, queue_name="q")
    agent = subprocess.run([sys.executable, "-m", "pipetrack", "agent", "--queue", "q", "--max-tasks", "1"],
                           env=script_env(home), capture_output=True, text=True, timeout=150)
    assert agent.returncode == 0, agent.stdout + agent.stderr
    clone.reload()
    assert clone.get_status() == "completed", (clone.get_status_message(), agent.stdout[-3000:], agent.stderr[-3000:])
    return clone


def seen(task: Task) -> dict:
    return task.artifacts["seen"].get()


# ----------------------------------------------------------------------------- click
CLICK_SINGLE = """
    import click
    from pipetrack import Task
    task = Task.init(project_name="parsers", task_name="click-single")

    @click.command()
    @click.option("--epochs", type=int, default=3)
    @click.option("--lr", type=float, default=0.1)
    @click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd")
    @click.option("--verbose/--quiet", default=False)
    @click.option("--tag", multiple=True)
    @click.argument("data")
    def main(epochs, lr, optimizer, verbose, tag, data):
        Task.current_task().upload_artifact("seen", {"epochs": epochs, "lr": lr, "optimizer": optimizer,
                                                     "verbose": verbose, "tag": list(tag), "data": data})

    main()
"""


def test_click_command_records_its_options_and_an_agent_applies_edits(run_script, pipetrack_home):
    run_script(CLICK_SINGLE, "--epochs", "5", "--tag", "a", "--tag", "b", "train.csv")
    task = Task.get_task(project_name="parsers", task_name="click-single")
    assert args_of(task) == {"epochs": "5", "lr": "0.1", "optimizer": "sgd", "verbose": "False",
                             "tag": '["a", "b"]', "data": "train.csv"}
    assert seen(task)["epochs"] == 5
    clone = rerun_by_agent(pipetrack_home, Task.clone(task, name="click tuned"),
                           {"Args/epochs": "9", "Args/optimizer": "adam", "Args/verbose": "True",
                            "Args/tag": '["x"]', "Args/data": "other.csv"})
    assert seen(clone) == {"epochs": 9, "lr": 0.1, "optimizer": "adam", "verbose": True, "tag": ["x"],
                           "data": "other.csv"}
    assert args_of(clone)["epochs"] == "9" and args_of(task)["epochs"] == "5"


CLICK_GROUP = """
    import click
    from pipetrack import Task

    @click.group()
    @click.option("--seed", type=int, default=0)
    def cli(seed):
        pass

    @cli.command()
    @click.option("--epochs", type=int, default=3)
    def train(epochs):
        task = Task.init(project_name="parsers", task_name="click-group")  # inside the command, as often
        task.upload_artifact("seen", {"command": "train", "epochs": epochs})

    @cli.command()
    @click.option("--split", default="val")
    def evaluate(split):
        task = Task.init(project_name="parsers", task_name="click-group")
        task.upload_artifact("seen", {"command": "evaluate", "split": split})

    cli()
"""


def test_click_group_records_the_invoked_command(run_script):
    run_script(CLICK_GROUP, "--seed", "7", "train", "--epochs", "4")
    task = Task.get_task(project_name="parsers", task_name="click-group")
    assert args_of(task) == {"cli/seed": "7", "train": "True", "train/epochs": "4", "evaluate": "False",
                             "evaluate/split": "val"}
    types = {r["name"]: r["type"] for r in task._param_rows()}
    assert types["train"] == types["evaluate"] == "click.Command"


CLICK_GROUP_EARLY = CLICK_GROUP.replace("from pipetrack import Task\n",
                                        "from pipetrack import Task\n    Task.init(project_name='parsers', "
                                        "task_name='click-group')\n", 1)


def test_agent_switches_the_click_sub_command_of_a_clone(run_script, pipetrack_home):
    run_script(CLICK_GROUP_EARLY, "train", "--epochs", "4")
    task = Task.get_task(project_name="parsers", task_name="click-group")
    assert args_of(task)["train"] == "True" and args_of(task)["evaluate"] == "False"
    clone = rerun_by_agent(pipetrack_home, Task.clone(task, name="evaluate instead"),
                           {"Args/train": "False", "Args/evaluate": "True", "Args/evaluate/split": "test"})
    assert seen(clone) == {"command": "evaluate", "split": "test"}
    assert args_of(clone)["evaluate"] == "True" and args_of(clone)["train"] == "False"


def test_auto_connect_arg_parser_rules_filter_click_options(run_script):
    run_script(CLICK_SINGLE.replace('task_name="click-single")',
                                    'task_name="click-single", auto_connect_arg_parser={"lr": False})'),
               "data.csv")
    task = Task.get_task(project_name="parsers", task_name="click-single")
    assert "lr" not in args_of(task) and args_of(task)["epochs"] == "3"


# ----------------------------------------------------------------------------- hydra
HYDRA_APP = """
    import hydra
    from omegaconf import DictConfig, OmegaConf
    from pipetrack import Task
    EARLY_INIT

    @hydra.main(config_path="conf", config_name="config", version_base=None)
    def main(cfg: DictConfig) -> None:
        task = Task.init(project_name="parsers", task_name="hydra")
        task.upload_artifact("seen", OmegaConf.to_container(cfg, resolve=True))

    if __name__ == "__main__":
        main()
"""


@pytest.fixture
def hydra_conf(tmp_path):
    (tmp_path / "conf" / "db").mkdir(parents=True)
    (tmp_path / "conf" / "config.yaml").write_text("defaults:\n  - db: sqlite\n  - _self_\n"
                                                   "train:\n  epochs: 3\n  lr: 0.1\n")
    (tmp_path / "conf" / "db" / "sqlite.yaml").write_text("driver: sqlite\nport: 0\n")
    (tmp_path / "conf" / "db" / "postgres.yaml").write_text("driver: postgres\nport: 5432\n")
    return tmp_path / "conf"


def test_hydra_app_records_its_config_and_overrides(run_script, hydra_conf):
    run_script(HYDRA_APP.replace("EARLY_INIT", ""), "train.epochs=5", "db=postgres", "+extra=1",
               "hydra.run.dir=outputs/run")
    task = Task.get_task(project_name="parsers", task_name="hydra")
    assert args_of(task, "Hydra") == {"train.epochs": "5", "db": "postgres", "extra": "1",
                                      "_allow_omegaconf_edit_": "False"}
    config = task.get_configuration_object("OmegaConf")
    assert "epochs: 5" in config and "driver: postgres" in config and "extra: 1" in config
    assert seen(task)["train"] == {"epochs": 5, "lr": 0.1}


@pytest.mark.parametrize("early", ["Task.init(project_name='parsers', task_name='hydra')", ""],
                         ids=["init-before-main", "init-inside-main"])
def test_agent_applies_edited_hydra_overrides(run_script, pipetrack_home, hydra_conf, early):
    # inside @hydra.main (ClearML's usual pattern) the config is built before Task.init: the
    # binding, armed at `import pipetrack`, applies the agent's values while Hydra composes it
    run_script(HYDRA_APP.replace("EARLY_INIT", early), "train.epochs=5", "db=postgres", "hydra.run.dir=outputs/run")
    task = Task.get_task(project_name="parsers", task_name="hydra")
    assert args_of(task, "Hydra") == {"train.epochs": "5", "db": "postgres", "_allow_omegaconf_edit_": "False"}
    clone = rerun_by_agent(pipetrack_home, Task.clone(task, name="hydra tuned"),
                           {"Hydra/train.epochs": "8", "Hydra/db": "sqlite", "Hydra/train.lr": "0.5"})
    assert seen(clone) == {"db": {"driver": "sqlite", "port": 0}, "train": {"epochs": 8, "lr": 0.5}}
    assert args_of(clone, "Hydra")["train.lr"] == "0.5"
    assert "epochs: 8" in clone.get_configuration_object("OmegaConf")


def test_agent_uses_the_edited_omegaconf_object_when_allowed(run_script, pipetrack_home, hydra_conf):
    run_script(HYDRA_APP.replace("EARLY_INIT", "Task.init(project_name='parsers', task_name='hydra')"),
               "hydra.run.dir=outputs/run")
    task = Task.get_task(project_name="parsers", task_name="hydra")
    clone = Task.clone(task, name="hydra full edit")
    clone.set_configuration_object("OmegaConf", config_text="db:\n  driver: mysql\ntrain:\n  epochs: 11\n",
                                   config_type="OmegaConf YAML")
    rerun_by_agent(pipetrack_home, clone, {"Hydra/_allow_omegaconf_edit_": "True"})
    assert seen(clone) == {"db": {"driver": "mysql"}, "train": {"epochs": 11}}
    assert args_of(clone, "Hydra")["_allow_omegaconf_edit_"] == "True"


# ----------------------------------------------------------------------------- fire
FIRE_CLASS = """
    import fire
    from pipetrack import Task
    task = Task.init(project_name="parsers", task_name="fire")

    class Trainer:
        def __init__(self, seed=0, name="run"):
            self.seed, self.name = seed, name

        def train(self, epochs=3, lr=0.1):
            Task.current_task().upload_artifact("seen", {"seed": self.seed, "name": self.name, "epochs": epochs,
                                                         "lr": lr})
            return "trained"

    fire.Fire(Trainer)
"""


def test_fire_class_records_user_arguments_not_fire_flags_and_an_agent_applies_edits(run_script, pipetrack_home):
    run_script(FIRE_CLASS, "--seed", "4", "train", "--epochs", "5", "--", "--trace")
    task = Task.get_task(project_name="parsers", task_name="fire")
    assert args_of(task) == {"seed": "4", "name": "run", "train": "True", "train/epochs": "5", "train/lr": "0.1"}
    assert {r["name"]: r["type"] for r in task._param_rows()}["train"] == "fire.Command"
    assert seen(task) == {"seed": 4, "name": "run", "epochs": 5, "lr": 0.1}
    clone = rerun_by_agent(pipetrack_home, Task.clone(task, name="fire tuned"),
                           {"Args/seed": "8", "Args/name": "tuned", "Args/train/lr": "0.5"})
    assert seen(clone) == {"seed": 8, "name": "tuned", "epochs": 5, "lr": 0.5}
    assert args_of(clone)["train/lr"] == "0.5"


def test_fire_function_records_its_arguments_with_defaults(run_script):
    run_script("""
        import fire
        from pipetrack import Task
        Task.init(project_name="parsers", task_name="fire-fn", auto_connect_arg_parser={"secret": False})

        def main(data, epochs=3, secret="x", *, layers=2):
            return epochs

        fire.Fire(main)
    """, "train.csv", "--layers", "4")
    task = Task.get_task(project_name="parsers", task_name="fire-fn")
    assert args_of(task) == {"data": "train.csv", "epochs": "3", "layers": "4"}


# ----------------------------------------------------------------------------- jsonargparse
JSONARGPARSE = """
    from jsonargparse import ActionConfigFile, ArgumentParser
    from pipetrack import Task
    task = Task.init(project_name="parsers", task_name="jsonargparse")
    parser = ArgumentParser()
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model.width", type=int, default=8)
    parser.add_argument("--model.act", type=str, default="relu")
    parser.add_argument("--layers", type=list[int], default=[1, 2])
    args = parser.parse_args()
    task.upload_artifact("seen", {"epochs": args.epochs, "width": args.model.width, "act": args.model.act,
                                  "layers": args.layers})
"""


def test_jsonargparse_records_dotted_values_and_an_agent_applies_edits(run_script, pipetrack_home, tmp_path):
    (tmp_path / "cfg.yaml").write_text("model:\n  width: 16\n")
    run_script(JSONARGPARSE, "--config", "cfg.yaml", "--epochs", "5")
    task = Task.get_task(project_name="parsers", task_name="jsonargparse")
    assert args_of(task) == {"epochs": "5", "model.width": "16", "model.act": "relu", "layers": "[1, 2]"}
    assert seen(task) == {"epochs": 5, "width": 16, "act": "relu", "layers": [1, 2]}
    clone = rerun_by_agent(pipetrack_home, Task.clone(task, name="jsonargparse tuned"),
                           {"Args/model.width": "32", "Args/layers": "[4]", "Args/epochs": "7"})
    assert seen(clone) == {"epochs": 7, "width": 32, "act": "relu", "layers": [4]}
    assert args_of(clone)["model.width"] == "32"


JSONARGPARSE_PARSED_FIRST = """
    from pipetrack import Task
    from pipetrack.tracking.bindings import jsonargparse as binding
    binding.arm()  # what arming the parser bindings when pipetrack is imported would do
    from jsonargparse import ArgumentParser
    parser = ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()  # before Task.init
    task = Task.init(project_name="parsers", task_name="jsonargparse-first")
    task.upload_artifact("seen", {"epochs": args.epochs})
"""


def test_armed_jsonargparse_keeps_values_parsed_before_task_init(run_script, pipetrack_home):
    run_script(JSONARGPARSE_PARSED_FIRST, "--epochs", "5")
    task = Task.get_task(project_name="parsers", task_name="jsonargparse-first")
    assert args_of(task) == {"epochs": "5"}
    clone = rerun_by_agent(pipetrack_home, Task.clone(task, name="first tuned"), {"Args/epochs": "6"})
    assert seen(clone) == {"epochs": 6}


def test_close_unwraps_the_parsers(pipetrack_home):
    import click.core
    import fire.core
    import jsonargparse
    from hydra._internal.hydra import Hydra
    from pipetrack.tracking.bindings.hooks import original_of
    # armed at `import pipetrack` (as argparse is), so compare with what the patches replaced
    originals = tuple(original_of(f) for f in (click.core.Command.parse_args, click.core.Group.resolve_command,
                                               fire.core._MakeParseFn, fire.core.Fire,
                                               jsonargparse.ArgumentParser.parse_args, Hydra.run))
    task = Task.init(project_name="parsers", task_name="unwrap")
    wrapped = (click.core.Command.parse_args, click.core.Group.resolve_command, fire.core._MakeParseFn,
               fire.core.Fire, jsonargparse.ArgumentParser.parse_args, Hydra.run)
    assert all(w is not o for w, o in zip(wrapped, originals))
    task.close()
    assert (click.core.Command.parse_args, click.core.Group.resolve_command, fire.core._MakeParseFn,
            fire.core.Fire, jsonargparse.ArgumentParser.parse_args, Hydra.run) == originals
