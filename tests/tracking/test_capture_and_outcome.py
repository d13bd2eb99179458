"""Automatic capture in Task.init (console, logging, argparse) and how a run's end sets its status.

Each test runs a real script in a subprocess and inspects the task from this process.
"""
from __future__ import annotations

import signal
import time

import pytest

from pipetrack import Task
from tracking_helpers import read_until, task_id_of


def console_of(task: Task) -> str:
    return "\n".join(task.get_reported_console_output(number_of_reports=10_000))


# ----------------------------------------------------------------------------------- console
def test_stdout_and_stderr_are_recorded_and_still_printed(run_script):
    proc = run_script("""
        import sys
        from pipetrack import Task
        task = Task.init("capture", "console")
        print("TASK", task.id)
        for i in range(50):
            print(f"line {i}")
        print("to stderr", file=sys.stderr)
        sys.stdout.write("two\\nlines\\n")
        for pct in (10, 50, 100):
            sys.stderr.write(f"\\rprogress {pct}%")   # a progress bar redrawing one line
        sys.stderr.write("\\n")
        sys.stdout.write("no newline at the end")
    """)
    assert "line 49" in proc.stdout and "to stderr" in proc.stderr
    assert proc.stdout.rstrip().endswith("no newline at the end")
    task = Task.get_task(task_id_of(proc.stdout))
    lines = task.get_reported_console_output(number_of_reports=10_000)
    assert [f"line {i}" for i in range(50)] == [ln for ln in lines if ln.startswith("line ")]
    assert "to stderr" in lines and lines[-1] == "no newline at the end"
    assert lines[lines.index("two") + 1] == "lines", "one report per line"
    assert "progress 100%" in lines and not any("10%" in line for line in lines), "recorded as finally shown"
    assert task.get_reported_console_output() == ["no newline at the end"]  # the last report only
    assert task.get_status() == "completed"


@pytest.mark.parametrize("streams, expect_out, expect_err, expect_log", [
    ({"stdout": True}, True, False, False),
    ({"stderr": True}, False, True, True),          # logging is a by-product of stderr
    ({"logging": True}, False, False, True),
    ({}, False, False, False),                      # an empty dict means off
    (False, False, False, False),
])
def test_auto_connect_streams_dict_forms(run_script, streams, expect_out, expect_err, expect_log):
    proc = run_script(f"""
        import logging, sys
        logging.basicConfig(level=logging.INFO)   # a handler made before Task.init (holds the real stderr)
        from pipetrack import Task
        task = Task.init("capture", "streams", auto_connect_streams={streams!r})
        print("TASK", task.id)
        print("out-line")
        print("err-line", file=sys.stderr)
        logging.getLogger("app").warning("log-line")
    """)
    assert "out-line" in proc.stdout and "err-line" in proc.stderr and "log-line" in proc.stderr
    console = console_of(Task.get_task(task_id_of(proc.stdout)))
    assert ("out-line" in console) is expect_out
    assert ("err-line" in console) is expect_err
    assert ("log-line" in console) is expect_log
    assert console.count("log-line") <= 1


def test_logging_configured_after_init_is_recorded_once(run_script):
    proc = run_script("""
        import logging
        from pipetrack import Task
        task = Task.init("capture", "late-logging")
        print("TASK", task.id)
        logging.basicConfig(level=logging.INFO)
        logging.getLogger("late").info("hello from logging")
    """)
    console = console_of(Task.get_task(task_id_of(proc.stdout)))
    assert console.count("hello from logging") == 1


def test_report_text_is_recorded_once_and_printed(run_script):
    proc = run_script("""
        from pipetrack import Task
        task = Task.init("capture", "report-text")
        print("TASK", task.id)
        task.get_logger().report_text("shown and recorded")
        task.get_logger().report_text("recorded only", print_console=False)
    """)
    assert "shown and recorded" in proc.stdout and "recorded only" not in proc.stdout
    console = console_of(Task.get_task(task_id_of(proc.stdout)))
    assert console.count("shown and recorded") == 1 and console.count("recorded only") == 1


# ----------------------------------------------------------------------------------- argparse
ARGPARSE_SCRIPT = """\
import argparse
from pipetrack import Task
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--name", default="run")
parser.add_argument("--secret", default="hide-me")
{body}
print("TASK", task.id)
"""


def test_argparse_before_init_is_recorded(run_script):
    body = "args = parser.parse_args()\ntask = Task.init('args', 'before')"
    proc = run_script(ARGPARSE_SCRIPT.format(body=body), "--lr", "0.5", "--name", "x")
    params = Task.get_task(task_id_of(proc.stdout)).get_parameters(cast=True)
    assert params["Args/lr"] == 0.5 and params["Args/epochs"] == 3 and params["Args/name"] == "x"


def test_argparse_after_init_is_recorded(run_script):
    body = "task = Task.init('args', 'after')\nargs = parser.parse_args()"
    proc = run_script(ARGPARSE_SCRIPT.format(body=body), "--epochs", "7")
    task = Task.get_task(task_id_of(proc.stdout))
    assert task.get_parameter("Args/epochs", cast=True) == 7
    assert task.get_parameter("Args/epochs") == "7"


def test_auto_connect_arg_parser_dict_excludes_and_star(run_script):
    body = "task = Task.init('args', 'filtered', auto_connect_arg_parser={'secret': False})\nparser.parse_args()"
    proc = run_script(ARGPARSE_SCRIPT.format(body=body))
    params = Task.get_task(task_id_of(proc.stdout)).get_parameters()
    assert "Args/secret" not in params and {"Args/lr", "Args/epochs", "Args/name"} <= set(params)

    body = ("task = Task.init('args', 'only-lr', auto_connect_arg_parser={'*': False, 'lr': True})\n"
            "parser.parse_args()")
    proc = run_script(ARGPARSE_SCRIPT.format(body=body))
    params = Task.get_task(task_id_of(proc.stdout)).get_parameters()
    assert [k for k in params if k.startswith("Args/")] == ["Args/lr"]

    for off in ("{}", "False"):
        body = f"task = Task.init('args', 'off', auto_connect_arg_parser={off})\nparser.parse_args()"
        proc = run_script(ARGPARSE_SCRIPT.format(body=body))
        assert not Task.get_task(task_id_of(proc.stdout)).get_parameters()


# ----------------------------------------------------------------------------------- outcome
def test_normal_exit_completes(run_script):
    proc = run_script("""
        from pipetrack import Task
        task = Task.init("outcome", "ok")
        print("TASK", task.id)
    """)
    task = Task.get_task(task_id_of(proc.stdout))
    assert task.get_status() == "completed" and task.get_status_message()[1] == ""


def test_uncaught_exception_fails_with_message_and_traceback(run_script):
    proc = run_script("""
        from pipetrack import Task
        task = Task.init("outcome", "crash")
        print("TASK", task.id)
        logger = task.get_logger()
        for i in range(10):
            logger.report_scalar("loss", "train", 1.0 / (i + 1), i)
        def train():
            raise ValueError("learning rate exploded at step 10")
        train()
    """, check=False)
    assert proc.returncode == 1 and "learning rate exploded" in proc.stderr
    task = Task.get_task(task_id_of(proc.stdout))
    assert task.get_status() == "failed"
    assert "ValueError: learning rate exploded at step 10" in task.get_status_message()[1]
    console = console_of(task)
    assert "Traceback (most recent call last)" in console and "in train" in console
    assert console.count("Traceback (most recent call last)") == 1
    assert len(task.get_reported_scalars()["loss"]["train"]["y"]) == 10, "reports made before the crash are kept"


def test_sys_exit_codes(run_script):
    proc = run_script("""
        import sys
        from pipetrack import Task
        task = Task.init("outcome", "exit3")
        print("TASK", task.id)
        sys.exit(3)
    """, check=False)
    assert proc.returncode == 3
    task = Task.get_task(task_id_of(proc.stdout))
    assert task.get_status() == "failed" and "exit code 3" in task.get_status_message()[1]
    proc = run_script("""
        import sys
        from pipetrack import Task
        task = Task.init("outcome", "exit0")
        print("TASK", task.id)
        sys.exit(0)
    """)
    assert Task.get_task(task_id_of(proc.stdout)).get_status() == "completed"


def test_keyboard_interrupt_stops(run_script):
    proc = run_script("""
        from pipetrack import Task
        task = Task.init("outcome", "ctrl-c")
        print("TASK", task.id)
        raise KeyboardInterrupt
    """, check=False)
    assert proc.returncode != 0
    assert Task.get_task(task_id_of(proc.stdout)).get_status() == "stopped"


def test_sigterm_stops_and_flushes(start_script):
    proc = start_script("""
        import time
        from pipetrack import Task
        task = Task.init("outcome", "sigterm")
        task.get_logger().report_scalar("progress", "x", 1.0, 0)
        print("TASK", task.id, flush=True)
        time.sleep(120)
    """)
    task_id = read_until(proc, "TASK ")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    task = Task.get_task(task_id)
    assert task.get_status() == "stopped"
    assert "SIGTERM" in task.get_status_message()[1]
    assert task.get_last_scalar_metrics()["progress"]["x"]["last"] == 1.0


def test_abort_from_another_process_runs_callback_and_interrupts(start_script, tmp_path):
    marker = tmp_path / "callback-ran"
    proc = start_script(f"""
        import time
        from pipetrack import Task
        task = Task.init("outcome", "aborted")
        def on_abort():
            open({str(marker)!r}, "w").write("yes")
        task.register_abort_callback(on_abort, callback_execution_timeout=10)
        print("TASK", task.id, flush=True)
        time.sleep(120)   # interrupted by the abort, not slept through
        print("NOT REACHED", flush=True)
    """)
    task_id = read_until(proc, "TASK ")
    started = time.monotonic()
    Task.get_task(task_id).mark_stopped(status_message="stopped from the test")
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert "NOT REACHED" not in out and "KeyboardInterrupt" in err
    assert marker.read_text() == "yes"
    task = Task.get_task(task_id)
    assert task.get_status() == "stopped"
    assert task.get_status_message()[1] == "stopped from the test"
