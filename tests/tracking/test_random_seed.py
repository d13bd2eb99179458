"""Task.init seeds random generators (ClearML's default 1337); Task.set_random_seed changes or disables it."""
from __future__ import annotations

import json

import pytest

SCRIPT = """
import json, random, sys
import numpy as np
from pipetrack import Task
choice = sys.argv[1]
if choice != "default":
    Task.set_random_seed(None if choice == "none" else int(choice))
Task.init(project_name="seeds", task_name="run")
print("DRAW " + json.dumps([random.random(), float(np.random.rand())]))
"""


def _draws(run_script, choice: str) -> list:
    out = run_script(SCRIPT, choice).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("DRAW "))[5:])


def test_init_seeds_random_and_numpy(run_script):
    import random

    import numpy as np
    first, second = _draws(run_script, "default"), _draws(run_script, "default")
    assert first == second  # repeatable across runs
    random.seed(1337)
    np.random.seed(1337)
    assert first == [random.random(), float(np.random.rand())]
    assert _draws(run_script, "7") != first
    assert _draws(run_script, "7") == _draws(run_script, "7")
    assert _draws(run_script, "none") != _draws(run_script, "none")  # seeding disabled


def test_set_random_seed_validates():
    from pipetrack import Task
    from pipetrack.errors import ValidationError
    try:
        Task.set_random_seed(True)
        assert Task._random_seed == 1337
        Task.set_random_seed(False)
        assert Task._random_seed is None
        for bad in ("1", -1, 2 ** 40, 1.5):
            with pytest.raises(ValidationError, match="random_seed"):
                Task.set_random_seed(bad)
    finally:
        Task.set_random_seed(True)
