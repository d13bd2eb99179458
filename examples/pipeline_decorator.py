"""The "pipeline from decorators" example: @PipelineDecorator.component / .pipeline.

Run:  python examples/pipeline_decorator.py           (components as local subprocesses)
      python examples/pipeline_decorator.py --debug   (components inline, for a debugger)
"""
import sys

from pipetrack import PipelineDecorator


@PipelineDecorator.component(return_values=["data"], cache=True)
def load(samples: int = 100):
    import random
    rng = random.Random(1)
    return [[rng.uniform(0, 10), rng.uniform(0, 10)] for _ in range(samples)]


@PipelineDecorator.component(return_values=["features"], cache=True)
def featurize(data, power: int = 1):
    return [[a ** power, b ** power, a * b] for a, b in data]


@PipelineDecorator.component(return_values=["mean"])
def column_mean(features, column: int):
    return sum(row[column] for row in features) / len(features)


@PipelineDecorator.component(return_values=["report"])
def summarize(mean_a, mean_b, mean_ab):
    from pipetrack import Task
    Task.current_task().get_logger().report_single_value("mean_ab", mean_ab)
    return {"mean_a": mean_a, "mean_b": mean_b, "mean_ab": mean_ab}


@PipelineDecorator.pipeline(name="pipeline from decorators", project="examples", version="1.0.0",
                            return_value="report")
def run_pipeline(samples: int = 200, power: int = 1):
    data = load(samples)
    features = featurize(data, power)
    # the three means are independent steps: they run at the same time
    means = [column_mean(features, column) for column in range(3)]
    report = summarize(*means)
    print("mean of a*b is", report["mean_ab"])  # using the value waits for that step only
    return report


if __name__ == "__main__":
    if "--debug" in sys.argv:
        PipelineDecorator.debug_pipeline()
    else:
        PipelineDecorator.run_locally()
    print(run_pipeline(samples=300))
