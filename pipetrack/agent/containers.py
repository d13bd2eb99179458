"""Running a claimed task inside its container image (``docker=``, ``Task.set_base_docker``).

A task that names an image never runs on the host instead: an agent without a ``docker``
command, or whose daemon does not answer, fails it with the reason and the image's name
(:func:`check_docker`). Where docker works, the task runs in two steps:

1. **Its environment, cached as an image.** The task's image, its ``docker_bash_setup_script``
   and its requirement set (the task's recorded requirements plus pipetrack's own dependencies,
   as :mod:`~pipetrack.agent.environments` builds them for a venv) hash to a tag
   ``pipetrack-env:<hash>``. When no image has that tag, a container of the task's image runs the
   setup script and ``python3 -m pip install`` of the requirements, and is committed under it
   (``docker commit``); the build's log goes to the task's console. The next run of the same
   set starts from the committed image with nothing to install. The setup script therefore runs
   once per environment, not before every run (ClearML runs it at every start): what it
   prepares is part of the cached environment.
2. **The task.** ``docker run`` of that image with the task's code (its checkout or stored
   script), pipetrack's own source (read-only, on ``PYTHONPATH``: the task runs the agent's
   pipetrack against the agent's store format, as a venv does) and its pipetrack home (a SQLite
   store's folder, else the agent's home: its ``config.toml``) mounted at the same paths as on
   the host, so every path the task recorded stays valid.
   ``--network host`` lets it reach a PostgreSQL store, S3 and Dask on the host's addresses;
   ``--pid host`` keeps its pid the host's, so the dead-task watchdog judges it by its real
   process. The task's ``docker_args`` come after pipetrack's options (they may add mounts,
   ``-e`` variables, ``--gpus``). Only pipetrack's variables (``PIPETRACK_*``), the storage
   credentials (``AWS_*``, ``AZURE_*``, ``GOOGLE_*``) and the task's own are passed in: the host's
   ``PATH`` or ``PYTHONPATH`` mean nothing inside the image.

Both steps name their entry point (``sh`` to build, the task's ``python3`` to run): the image's
own ``ENTRYPOINT`` is not used (a saved build container keeps the builder's, and a wrapper entry
point would receive the task's command as arguments); what an entry point would prepare belongs in
the setup script.

The container is named after the task (``pipetrack-task-<id>``) and removed when the task ends,
also when the ``docker run`` client was killed (a stop SIGTERMs the client, which passes it on).
The image needs ``python3`` with pip, and the Python version pipetrack supports; a function
task's pickled function needs the same Python minor version as the process that made it.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Optional, Sequence

from .. import config
from ..errors import SetupError
from ..executors.process import TaskProcess
from .environments import run_logged

ENV_IMAGE = "pipetrack-env"
BUILD_TIMEOUT_SECONDS = 1800.0
PASSED_PREFIXES = ("PIPETRACK_", "AWS_", "AZURE_", "GOOGLE_")
# the source tree holding the pipetrack package this agent runs, mounted into every container
PIPETRACK_ROOT = str(Path(__file__).resolve().parent.parent.parent)


def container_of(row: dict) -> dict:
    """The task's container settings (``image``, ``arguments``, ``setup_shell_script``); empty
    when it names no image."""
    container = row.get("container") or {}
    return container if container.get("image") else {}


def check_docker(row: dict) -> None:
    """SetupError naming the image when this machine can't run the task's container (no docker
    command, or a daemon that does not answer within 20 s)."""
    image = container_of(row).get("image")
    asks = f"task {row['id']} asks for the container image {image!r}"
    if shutil.which("docker") is None:
        raise SetupError(f"{asks}, but this agent has no docker command: run it on an agent with docker, or clear "
                         "its image (Task.set_base_docker)")
    try:
        probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                               timeout=20)
        reachable, detail = probe.returncode == 0, (probe.stderr or probe.stdout).strip().splitlines()
    except (OSError, subprocess.TimeoutExpired) as exc:
        reachable, detail = False, [str(exc)]
    if not reachable:
        raise SetupError(f"{asks}, but this agent's docker daemon is not reachable ({' / '.join(detail[-2:])})")


def _words(value: str | Sequence[str] | None) -> list[str]:
    """``docker_args`` as given: one shell-quoted string, or a list of arguments."""
    if not value:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _setup_script(value: str | Sequence[str] | None) -> str:
    return value if isinstance(value, str) else "\n".join(value or ())


def environment_image(container: dict, requirements: Sequence[str]) -> str:
    """The tag of the cached environment of an image + setup script + exact requirement set."""
    text = "\n".join([container["image"], _setup_script(container.get("setup_shell_script")),
                      *sorted(set(requirements))])
    return f"{ENV_IMAGE}:{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def build_environment(task_id: str, container: dict, requirements: Sequence[str],
                      log: Callable[[str], None]) -> str:
    """The image to run the task in: the cached ``pipetrack-env:<hash>``, built now when new."""
    tag = environment_image(container, requirements)
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        log(f"container environment: reusing image {tag}")
        return tag
    log(f"container environment: building {tag} from {container['image']} ({len(requirements)} requirements)")
    quoted = " ".join(shlex.quote(r) for r in requirements)
    steps = [_setup_script(container.get("setup_shell_script")).strip(),
             f"python3 -m pip install --disable-pip-version-check --no-cache-dir {quoted}" if requirements else ""]
    builder = f"pipetrack-build-{task_id}"
    subprocess.run(["docker", "rm", "-f", builder], capture_output=True)  # an earlier, interrupted build
    try:
        # PIP_BREAK_SYSTEM_PACKAGES: a distribution's python3 (Debian's, PEP 668) refuses pip otherwise;
        # the container's own site-packages is what this image is for
        run_logged(["docker", "run", "--name", builder, "--network", "host", "-e", "PIP_BREAK_SYSTEM_PACKAGES=1",
                    "--entrypoint", "sh", container["image"], "-ec", "\n".join(s for s in steps if s) or "true"],
                   log, f"building the environment of image {container['image']!r}", prefix="docker",
                   timeout=BUILD_TIMEOUT_SECONDS)
        run_logged(["docker", "commit", builder, tag], log, f"saving the environment {tag}", prefix="docker",
                   timeout=600)
    finally:
        subprocess.run(["docker", "rm", "-f", builder], capture_output=True)
    return tag


def container_name(task_id: str) -> str:
    return f"pipetrack-task-{task_id}"


def run_command(row: dict, image: str, location: str, extra_env: Optional[dict] = None) -> list[str]:
    """The ``docker run`` argv of a task (see the module docstring); ``location`` is the store's."""
    from ..executors.script import script_command, task_home
    argv, cwd = script_command(row, python="python3")
    script = row.get("script") or {}
    mounts = {PIPETRACK_ROOT: "ro", cwd: "rw"}
    code = script.get("repository") or ""
    if os.path.isdir(code):
        mounts[code] = "rw"
    for path in argv[1:2]:  # the entry point's folder (a stored script written outside the working dir)
        if os.path.isabs(path) and os.path.exists(path):
            mounts.setdefault(os.path.dirname(path), "rw")
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_PREFIXES)}
    env.update(extra_env or {})
    # the home a task's pipetrack reads its config.toml (storage credentials, output_uri) from: a
    # SQLite store's folder (as on the host), else the agent's own
    home = task_home(location) or str(config.home())
    mounts[home] = "rw"
    env.update(PIPETRACK_TASK_ID=row["id"], PIPETRACK_STORE=location, PIPETRACK_HOME=home, PYTHONPATH=PIPETRACK_ROOT)
    docker = ["docker", "run", "--rm", "--init", "--name", container_name(row["id"]), "--network", "host",
              "--pid", "host", "-w", cwd]
    for path, mode in mounts.items():
        docker += ["-v", f"{path}:{path}:{mode}"]
    for key, value in sorted(env.items()):
        docker += ["-e", f"{key}={value}"]
    return [*docker, *_words(row["container"].get("arguments")), "--entrypoint", argv[0], image, *argv[1:]]


def start_in_container(row: dict, image: str, location: str, log: Callable[[str], None],
                       extra_env: Optional[dict] = None) -> TaskProcess:
    """Start ``docker run`` of the task in ``image`` (:func:`build_environment`'s) in its own
    process group (a :class:`TaskProcess` like a task on the host)."""
    argv = run_command(dict(row, container=container_of(row)), image, location, extra_env)
    log(f"running in container {container_name(row['id'])} of image {image}")
    return TaskProcess(subprocess.Popen(argv, start_new_session=True), row["id"])


def remove_container(task_id: str) -> None:
    """Remove the task's container if it outlived its ``docker run`` client (a killed client)."""
    if shutil.which("docker"):
        subprocess.run(["docker", "rm", "-f", container_name(task_id)], capture_output=True, timeout=60)
