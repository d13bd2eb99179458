"""The "pipeline from functions" example: PipelineController.add_function_step.

Run:  python examples/pipeline_functions.py            (steps as local subprocesses)
      python examples/pipeline_functions.py --inline   (steps in this process)
"""
import sys

from pipetrack import PipelineController


def step_one(pickle_data_url: str):
    """Load a small data set (here generated, no download)."""
    import random
    random.seed(int(pickle_data_url.rsplit("=", 1)[-1]) if "=" in pickle_data_url else 0)
    rows = [[random.uniform(0, 10), random.uniform(0, 10)] for _ in range(100)]
    labels = [int(a + b > 10) for a, b in rows]
    return {"rows": rows, "labels": labels}


def step_two(data_frame, test_size=0.2, random_state=42):
    import random
    indices = list(range(len(data_frame["rows"])))
    random.Random(random_state).shuffle(indices)
    cut = int(len(indices) * (1 - test_size))
    pick = lambda idx: ([data_frame["rows"][i] for i in idx], [data_frame["labels"][i] for i in idx])  # noqa: E731
    x_train, y_train = pick(indices[:cut])
    x_test, y_test = pick(indices[cut:])
    return x_train, x_test, y_train, y_test


def step_three(data):
    """'Train' a threshold classifier on a + b and report its test accuracy."""
    from pipetrack import Task
    x_train, x_test, y_train, y_test = data
    best = max(range(0, 21), key=lambda t: sum(int(a + b > t) == y for (a, b), y in zip(x_train, y_train)))
    accuracy = sum(int(a + b > best) == y for (a, b), y in zip(x_test, y_test)) / len(y_test)
    Task.current_task().get_logger().report_scalar("test", "accuracy", accuracy, iteration=0)
    return {"threshold": best, "accuracy": accuracy}


def build(name: str = "pipeline from functions") -> PipelineController:
    pipe = PipelineController(name=name, project="examples", version="1.0.0")
    pipe.add_parameter("url", "synthetic://seed=7", description="where the data comes from")
    pipe.add_function_step(name="step_one", function=step_one, function_kwargs={"pickle_data_url": "${pipeline.url}"},
                           function_return=["data_frame"], cache_executed_step=True)
    pipe.add_function_step(name="step_two", function=step_two, function_kwargs={"data_frame": "${step_one.data_frame}"},
                           function_return=["processed_data"], cache_executed_step=True)
    pipe.add_function_step(name="step_three", function=step_three, function_kwargs={"data": "${step_two.processed_data}"},
                           function_return=["model"], cache_executed_step=True,
                           monitor_metrics=[("test", "accuracy")])
    return pipe


if __name__ == "__main__":
    pipe = build()
    if "--inline" in sys.argv:
        pipe.start_locally(executor="inline")
    else:
        pipe.start_locally(run_pipeline_steps_locally=True)
    print("pipeline", pipe.id, "finished:", "ok" if pipe.is_successful() else "FAILED")
