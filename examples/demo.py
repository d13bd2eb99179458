"""The README demo: a tracked script and two pipelines on the embedded default store.

Everything lands in PIPETRACK_HOME (default ~/.pipetrack): one SQLite file and an artifacts
folder. The last lines print what was tracked, as `pipetrack tasks list` would.
"""
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args: str) -> None:
    """Run ``python ARGS`` and echo it as a command that can be pasted into a shell here."""
    shown = [os.path.relpath(a) if os.path.isabs(a) and os.path.exists(a) else a for a in (sys.executable, *args)]
    print(f"\n$ {shlex.join(shown)}", flush=True)
    subprocess.run([sys.executable, *args], check=True)


run(os.path.join(HERE, "train.py"), "--epochs", "10")
run(os.path.join(HERE, "pipeline_functions.py"))
run(os.path.join(HERE, "pipeline_functions.py"))  # second run: every step is a cache hit
run(os.path.join(HERE, "pipeline_decorator.py"))
run("-m", "pipetrack", "tasks", "list", "--project", "examples", "--limit", "20")
run("-m", "pipetrack", "pipelines", "list", "--project", "examples", "--limit", "5")
ui = os.path.join(os.path.dirname(sys.executable), "pipetrack")
print(f"\nSee it in the browser:  {shlex.quote(os.path.relpath(ui))} ui   (then open http://127.0.0.1:8080/)")
