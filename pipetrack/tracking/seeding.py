"""Seeding random generators at ``Task.init``, as ClearML does, so a tracked run is repeatable.

``random`` is always seeded; numpy, torch and tensorflow only when the script has already
imported them (importing numpy just to seed it would add ~60 ms to every ``Task.init``, and a
script that uses numpy normally imports it before calling ``Task.init``).
"""
from __future__ import annotations

import random
import sys
from typing import Optional

from ..errors import ValidationError

DEFAULT_RANDOM_SEED = 1337  # ClearML's default


def normalise_seed(random_seed: object) -> Optional[int]:
    """``None``/``False`` -> no seeding, ``True`` -> the default seed, an int -> that seed."""
    if random_seed is None or random_seed is False:
        return None
    if random_seed is True:
        return DEFAULT_RANDOM_SEED
    if isinstance(random_seed, int) and 0 <= random_seed < 2 ** 32:
        return random_seed
    raise ValidationError(f"random_seed must be None, a bool or an int from 0 to 2**32-1, got {random_seed!r}")


def seed_everything(seed: int) -> list[str]:
    """Seed ``random`` and the already-imported numpy/torch/tensorflow; returns what was seeded."""
    random.seed(seed)
    seeded = ["random"]
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)
        seeded.append("numpy")
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
        seeded.append("torch")
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        tf.random.set_seed(seed)
        seeded.append("tensorflow")
    return seeded
