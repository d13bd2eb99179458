"""Store operations on a task's inputs and files: parameters, configurations, artifacts (and the
output models whose files a task owns), plus the read-back of what a task reported (single
values, plots, one series of debug samples) that ``Task`` offers."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

PARAM_COLUMNS = ("task_id", "section", "name", "value", "type", "description")
CONFIG_COLUMNS = ("task_id", "name", "value", "type", "description")


def upsert(table: str, columns: Sequence[str], key: Sequence[str], keep: Sequence[str] = ()) -> str:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of ``columns``: a row replaces the one with its key,
    except that a NULL in a ``keep`` column leaves the stored value."""
    updates = [f"{c}=COALESCE(excluded.{c}, {table}.{c})" if c in keep else f"{c}=excluded.{c}"
               for c in columns if c not in key]
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(key)}) {action}")


class RecordOperations:
    """Parameters, configurations and artifact rows (mixed into ``TaskStore``)."""

    # ----------------------------------------------------------------- parameters
    def put_params(self, rows: Iterable[Sequence[Any]], keep_descriptions: bool = False) -> None:
        """Store parameter rows ``(task_id, section, name, value, type, description)``; a row replaces
        the parameter of the same task, section and name (with ``keep_descriptions``, a row without
        a description keeps the stored one)."""
        self.executemany(upsert("params", PARAM_COLUMNS, PARAM_COLUMNS[:3],
                                keep=("description",) if keep_descriptions else ()), rows)

    def write_task_params(self, task_id: str, rows: Iterable[Sequence[Any]], replace: bool = False,
                          guard: Callable[[], None] | None = None) -> None:
        """Store a task's parameter rows (as :meth:`put_params`, descriptions kept) in one transaction:
        ``replace`` deletes its other parameters first, ``guard`` (an edit check that may raise) runs
        inside it, so the check still holds when the rows are written."""
        with self.write():
            if guard is not None:
                guard()
            if replace:
                self.delete_task_records(task_id, ("params",))
            self.put_params(rows, keep_descriptions=True)

    def task_params(self, task_id: str) -> list[dict[str, Any]]:
        """A task's parameters (section, name, value, type, description), by section and name."""
        return self.query("SELECT section, name, value, type, description FROM params WHERE task_id=? "
                          "ORDER BY section, name", (task_id,))

    def task_param(self, task_id: str, section: str, name: str) -> dict[str, Any] | None:
        """One parameter of a task (its value text and type), None when it has none of that name."""
        return self.query_one("SELECT value, type FROM params WHERE task_id=? AND section=? AND name=?",
                              (task_id, section, name))

    def delete_param(self, task_id: str, section: str, name: str) -> bool:
        """Delete one parameter of a task; False when there was none."""
        return self.execute("DELETE FROM params WHERE task_id=? AND section=? AND name=?",
                            (task_id, section, name)) > 0

    # ----------------------------------------------------------------- configurations
    def put_configs(self, rows: Iterable[Sequence[Any]], keep_descriptions: bool = False) -> None:
        """Store configuration rows ``(task_id, name, value, type, description)``; a row replaces the
        configuration of the same task and name (with ``keep_descriptions``, a row without a
        description keeps the stored one)."""
        self.executemany(upsert("configs", CONFIG_COLUMNS, CONFIG_COLUMNS[:2],
                                keep=("description",) if keep_descriptions else ()), rows)

    def task_configs(self, task_id: str) -> list[dict[str, Any]]:
        """A task's configuration objects (name, value, type, description), by name."""
        return self.query("SELECT name, value, type, description FROM configs WHERE task_id=? ORDER BY name",
                          (task_id,))

    def task_config(self, task_id: str, name: str) -> str | None:
        """The text of one configuration object of a task, None when it has none of that name."""
        row = self.query_one("SELECT value FROM configs WHERE task_id=? AND name=?", (task_id, name))
        return None if row is None else row["value"]

    # ----------------------------------------------------------------- artifacts and files
    def put_artifacts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Store artifact rows (dicts of artifact columns, ``task_id`` and ``name`` included) in one
        transaction; a row replaces the artifact of the same task and name."""
        with self.write() as conn:
            for row in rows:
                cols = list(row)
                conn.execute(upsert("artifacts", cols, ("task_id", "name")), [row[c] for c in cols])

    def task_artifacts(self, task_id: str) -> list[dict[str, Any]]:
        """A task's artifact rows, oldest first."""
        return self.query("SELECT * FROM artifacts WHERE task_id=? ORDER BY created", (task_id,))

    def record_artifact_hash(self, task_id: str, name: str, uri: str, digest: str) -> bool:
        """Record the sha256 computed after an artifact was stored, unless the artifact was replaced
        (another uri) or already has one meanwhile; True when it was recorded."""
        return self.execute("UPDATE artifacts SET hash=? WHERE task_id=? AND name=? AND uri=? AND hash IS NULL",
                            (digest, task_id, name, uri)) > 0

    def delete_artifact(self, task_id: str, name: str) -> bool:
        """Delete one artifact row of a task (not its file); False when there was none."""
        return self.execute("DELETE FROM artifacts WHERE task_id=? AND name=?", (task_id, name)) > 0

    def output_model_files(self, task_id: str) -> list[dict[str, Any]]:
        """The output models of a task (id, uri) with ``shared``: how many other tasks link each (a
        shared model's file must outlive this task)."""
        return self.query(
            "SELECT m.id, m.uri, (SELECT COUNT(*) FROM task_models o WHERE o.model_id=m.id AND o.task_id<>?) "
            "AS shared FROM task_models tm JOIN models m ON m.id=tm.model_id "
            "WHERE tm.task_id=? AND tm.role='output'", (task_id, task_id))

    # ----------------------------------------------------------------- reported records, read back
    def single_values(self, task_id: str) -> dict[str, float | None]:
        """A task's reported single values ``{name: value}`` (a NaN is stored, and read, as None)."""
        return {row["name"]: row["value"] for row in
                self.query("SELECT name, value FROM single_values WHERE task_id=?", (task_id,))}

    def task_plots(self, task_id: str) -> list[dict[str, Any]]:
        """A task's reported plots (metric, variant, iteration, figure JSON text, ts), in report order."""
        return self.query("SELECT metric, variant, iteration, figure, ts FROM plots WHERE task_id=? ORDER BY seq",
                          (task_id,))

    def debug_sample_series(self, task_id: str, metric: str, variant: str) -> list[dict[str, Any]]:
        """A task's debug samples of one metric/variant (metric, variant, iteration, url, ts), newest first."""
        return self.query("SELECT metric, variant, iteration, url, ts FROM debug_samples WHERE task_id=? AND "
                          "metric=? AND variant=? ORDER BY seq DESC", (task_id, metric, variant))
