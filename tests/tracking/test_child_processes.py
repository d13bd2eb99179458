"""Child processes of a tracked script: ``Task.init`` there joins the parent's task (console and
reports land in it, no second task) unless it asks for a task of its own; a child's exit never
sets the parent task's status."""
from __future__ import annotations

import textwrap

import pytest
from tracking_helpers import task_id_of

from pipetrack import Task

PARENT_CHECK = textwrap.indent("""
def check_parent_running(task):
    # the child's exit must not have ended the parent's task
    status = Task.get_task(task_id=task.id).get_status()
    print("PARENT STATUS AFTER CHILD", status)
    assert status == "in_progress", status
""", " " * 8)


def _tasks() -> list:
    return Task.get_tasks(project_name="kids")


def _console(task: Task) -> str:
    return "\n".join(task.get_reported_console_output(number_of_reports=1000))


def _points(task: Task, title: str, series: str) -> list:
    graph = task.get_all_reported_scalars().get(title, {}).get(series)
    return list(zip(graph["x"], graph["y"])) if graph else []


def test_subprocess_with_same_names_attaches_to_parent_task(run_script, tmp_path):
    (tmp_path / "child.py").write_text(
        "from pipetrack import Task\n"
        "task = Task.init('kids', 'parent')\n"
        "print('TASK', task.id)\n"
        "print('hello from the subprocess')\n"
        "task.get_logger().report_scalar('child', 'loss', 0.5, 3)\n"
    )
    proc = run_script("""
        import subprocess, sys
        from pipetrack import Task
        """ + PARENT_CHECK + """
        task = Task.init('kids', 'parent')
        print('TASK', task.id)
        out = subprocess.run([sys.executable, 'child.py'], capture_output=True, text=True, check=True).stdout
        print('CHILD SAID', out.strip().replace(chr(10), ' | '))
        check_parent_running(task)
        print('parent goes on')
    """)
    tasks = _tasks()
    assert len(tasks) == 1, [t.name for t in tasks]
    task = tasks[0]
    assert f"TASK {task.id}" in proc.stdout.split("CHILD SAID")[1], proc.stdout
    console = _console(task)
    assert "hello from the subprocess" in console
    assert "parent goes on" in console
    assert _points(task, "child", "loss") == [(3, 0.5)]
    assert task.get_status() == "completed"


def test_subprocess_failing_does_not_fail_parent(run_script, tmp_path):
    (tmp_path / "child.py").write_text(
        "from pipetrack import Task\n"
        "Task.init()\n"
        "raise RuntimeError('child broke')\n"
    )
    run_script("""
        import subprocess, sys
        from pipetrack import Task
        """ + PARENT_CHECK + """
        task = Task.init('kids', 'parent')
        code = subprocess.run([sys.executable, 'child.py']).returncode
        assert code == 1, code
        check_parent_running(task)
    """)
    [task] = _tasks()
    assert task.get_status() == "completed"
    assert "RuntimeError: child broke" in _console(task)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_child_reports_into_parent_task(run_script, method):
    run_script(f"""
        import multiprocessing as mp
        from pipetrack import Task
        """ + PARENT_CHECK + f"""

        def work(n):
            task = Task.init('kids', 'parent')
            print('worker', n, 'on', task.id)
            for i in range(4):
                task.get_logger().report_scalar('worker', f'w{{n}}', i * 10 + n, i)

        if __name__ == '__main__':
            task = Task.init('kids', 'parent')
            ctx = mp.get_context('{method}')
            procs = [ctx.Process(target=work, args=(n,)) for n in (1, 2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
                assert p.exitcode == 0, p.exitcode
            check_parent_running(task)
            task.get_logger().report_scalar('parent', 'x', 1.0, 0)
    """)
    [task] = _tasks()
    assert task.get_status() == "completed"
    console = _console(task)
    assert f"worker 1 on {task.id}" in console and f"worker 2 on {task.id}" in console
    for n in (1, 2):
        assert _points(task, "worker", f"w{n}") == [(i, i * 10 + n) for i in range(4)]
    assert _points(task, "parent", "x") == [(0, 1.0)]


@pytest.mark.parametrize("method, get_task", [("fork", "Task.current_task()"), ("spawn", "Task.init()")])
def test_process_pool_workers_report_into_parent_task(run_script, method, get_task):
    # forked workers keep the parent's main task (Task.current_task() works there); spawned ones
    # join it with Task.init(). Leaving the `with` block terminates the workers (SIGTERM): what
    # they reported must be written first
    run_script(f"""
        import multiprocessing as mp
        from pipetrack import Task

        def work(n):
            {get_task}.get_logger().report_scalar('pool', 'n', n, n)
            print('pool worker', n)
            return n

        if __name__ == '__main__':
            task = Task.init('kids', 'parent')
            with mp.get_context('{method}').Pool(2) as pool:
                assert pool.map(work, range(5)) == list(range(5))
    """)
    [task] = _tasks()
    assert task.get_status() == "completed"
    assert sorted(_points(task, "pool", "n")) == [(n, n) for n in range(5)]
    console = _console(task)
    assert all(f"pool worker {n}" in console for n in range(5))


@pytest.mark.parametrize("child_init", ["Task.init('kids', 'other')", "Task.init('elsewhere', 'parent')",
                                        "Task.init('kids', 'parent', reuse_last_task_id=False)"])
def test_child_asking_for_its_own_task_gets_one(run_script, tmp_path, child_init):
    (tmp_path / "child.py").write_text(
        "from pipetrack import Task\n"
        f"task = {child_init}\n"
        "print('own task output')\n"
        "task.get_logger().report_scalar('own', 'v', 7.0, 0)\n"
    )
    proc = run_script("""
        import subprocess, sys
        from pipetrack import Task
        """ + PARENT_CHECK + """
        task = Task.init('kids', 'parent')
        print('TASK', task.id)
        subprocess.run([sys.executable, 'child.py'], check=True)
        check_parent_running(task)
    """)
    parent = Task.get_task(task_id=task_id_of(proc.stdout))
    everything = Task.get_tasks(project_name=["kids", "elsewhere"])
    assert len(everything) == 2, [t.name for t in everything]
    [own] = [t for t in everything if t.id != parent.id]
    assert own.get_status() == "completed"
    assert _points(own, "own", "v") == [(0, 7.0)]
    assert "own task output" in _console(own)
    assert "own task output" not in _console(parent)
    assert parent.get_status() == "completed"
    assert _points(parent, "own", "v") == []


def test_child_does_not_record_its_arguments_into_parent(run_script, tmp_path):
    (tmp_path / "child.py").write_text(
        "import argparse\n"
        "from pipetrack import Task\n"
        "Task.init('kids', 'parent')\n"
        "p = argparse.ArgumentParser(); p.add_argument('--lr', type=float, default=0.5)\n"
        "p.parse_args(['--lr', '9'])\n"
    )
    run_script("""
        import argparse, subprocess, sys
        from pipetrack import Task
        task = Task.init('kids', 'parent')
        p = argparse.ArgumentParser(); p.add_argument('--lr', type=float, default=0.1)
        p.parse_args([])
        subprocess.run([sys.executable, 'child.py'], check=True)
    """)
    [task] = _tasks()
    assert task.get_parameters()["Args/lr"] == "0.1"


def test_process_started_after_close_is_not_a_child(run_script, tmp_path):
    (tmp_path / "child.py").write_text(
        "import os\n"
        "from pipetrack import Task\n"
        "assert 'PIPETRACK_PROC_MASTER_ID' not in os.environ\n"
        "Task.init('kids', 'parent')\n"
    )
    run_script("""
        import subprocess, sys
        from pipetrack import Task
        task = Task.init('kids', 'parent')
        task.upload_artifact('a', {'x': 1})  # so the later run does not reuse it
        task.close()
        subprocess.run([sys.executable, 'child.py'], check=True)
    """)
    tasks = _tasks()
    assert [t.name for t in tasks] == ["parent", "parent"]
    assert all(t.get_status() == "completed" for t in tasks)
