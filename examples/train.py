"""A tracked training-style script: change ``from clearml import Task`` to ``from pipetrack import Task``.

Run:  python examples/train.py --epochs 5 --lr 0.05
Then: pipetrack tasks list --project examples
"""
import argparse
import json
import math
import os
import random
import tempfile

from pipetrack import Task

parser = argparse.ArgumentParser(description="toy linear regression trained by gradient descent")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=0)

task = Task.init(project_name="examples", task_name="train linear model")
args = parser.parse_args()  # recorded under Args/ (and overridden when an agent re-runs a clone)
config = task.connect({"noise": 0.1, "samples": 200}, name="Data")

random.seed(args.seed)
xs = [random.uniform(-1, 1) for _ in range(config["samples"])]
ys = [3.0 * x + 0.5 + random.gauss(0, config["noise"]) for x in xs]

w, b = 0.0, 0.0
logger = task.get_logger()
for epoch in range(args.epochs):
    grad_w = sum(2 * (w * x + b - y) * x for x, y in zip(xs, ys)) / len(xs)
    grad_b = sum(2 * (w * x + b - y) for x, y in zip(xs, ys)) / len(xs)
    w, b = w - args.lr * grad_w, b - args.lr * grad_b
    loss = sum((w * x + b - y) ** 2 for x, y in zip(xs, ys)) / len(xs)
    logger.report_scalar("loss", "train", loss, iteration=epoch)
    logger.report_scalar("weights", "w", w, iteration=epoch)
    print(f"epoch {epoch}: loss={loss:.4f} w={w:.3f} b={b:.3f}")

logger.report_single_value("final_loss", loss)
logger.report_scatter2d("fit", "samples", [[x, y] for x, y in zip(xs[:50], ys[:50])], iteration=0,
                        xaxis="x", yaxis="y", mode="markers")
task.upload_artifact("weights", {"w": w, "b": b, "rmse": math.sqrt(loss)})
model_path = os.path.join(tempfile.mkdtemp(), "model.json")
with open(model_path, "w") as fh:
    json.dump({"w": w, "b": b}, fh)
task.update_output_model(model_path, name="linear model")
print(f"tracked as task {task.id}")
