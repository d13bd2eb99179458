"""The README demo: a tracked script and two pipelines on the embedded default store.

Everything lands in PIPETRACK_HOME (default ~/.pipetrack): one SQLite file and an artifacts
folder. The last lines print what was tracked, as `pipetrack tasks list` would.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args: str) -> None:
    print(f"\n$ {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, *args], check=True)


run(os.path.join(HERE, "train.py"), "--epochs", "10")
run(os.path.join(HERE, "pipeline_functions.py"))
run(os.path.join(HERE, "pipeline_functions.py"))  # second run: every step is a cache hit
run(os.path.join(HERE, "pipeline_decorator.py"))
run("-m", "pipetrack", "tasks", "list", "--project", "examples", "--limit", "20")
run("-m", "pipetrack", "pipelines", "list", "--project", "examples", "--limit", "5")
print("\nSee it in the browser:  .venv/bin/pipetrack ui   (then open http://127.0.0.1:8080/)")
