"""Code and environment capture: entry point, git state, script text, Python packages.

Runs in a background thread started by ``Task.init`` (git subprocesses and package metadata
lookups take tens of milliseconds) and is joined before the task closes.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

_forced_requirements: dict[str, Optional[str]] = {}
_ignored_requirements: set[str] = set()
_settings: dict[str, Any] = {"freeze": False, "requirements_file": None, "standalone": False}

MAX_DIFF_BYTES = 2_000_000


def _git(cwd: str, *args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(path: str) -> dict[str, str]:
    """Repository URL/root, branch, commit and uncommitted diff of the checkout holding ``path``."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    root = _git(folder, "rev-parse", "--show-toplevel")
    if not root:
        return {}
    info = {"repository_root": root,
            "repository": _git(root, "config", "--get", "remote.origin.url") or root,
            "branch": _git(root, "rev-parse", "--abbrev-ref", "HEAD") or "",
            "version_num": _git(root, "rev-parse", "HEAD") or ""}
    diff = _git(root, "diff", "HEAD") if info["version_num"] else _git(root, "diff")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard") or ""
    if diff is None:
        diff = ""
    if untracked:
        diff += "".join(f"\n# untracked: {name}" for name in untracked.splitlines()[:200])
    info["diff"] = diff[:MAX_DIFF_BYTES]
    return info


def repository_source(repo: str, branch: Optional[str] = None, commit: Optional[str] = None) -> dict[str, str]:
    """Where an agent checks code out from, for a ``repo=`` argument: a git URL as given, or a local
    checkout converted into its remote URL and the commit (and uncommitted diff) checked out there
    now, as ClearML does; an explicit ``branch``/``commit`` wins over what the checkout says."""
    source = {"repository": repo, "branch": branch or "", "version_num": commit or ""}
    if os.path.isdir(os.path.expanduser(repo)):
        info = git_info(os.path.abspath(os.path.expanduser(repo)))
        if info:
            source.update(repository=info["repository"], branch=branch or info["branch"],
                          version_num=commit or info["version_num"], repository_root=info["repository_root"])
            if not commit:
                source["diff"] = info["diff"]
    return source


def entry_script() -> Optional[str]:
    """Absolute path of the running script (None for ``-c``, REPL or notebooks)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not os.path.exists(path):
        return None
    return os.path.abspath(path)


def capture_script_info(standalone: Optional[bool] = None) -> dict[str, Any]:
    """Script section of the running process: entry point, working dir, git or script text."""
    script = entry_script()
    cwd = os.getcwd()
    info: dict[str, Any] = {"working_dir": cwd, "binary": sys.executable.rsplit(os.sep, 1)[-1] or "python",
                            "argv": sys.argv[1:]}
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None) and spec.name != "__main__":
        info["module"] = spec.name
    if script is None:
        return info
    git = {} if (standalone if standalone is not None else _settings["standalone"]) else git_info(script)
    if git:
        root = git.pop("repository_root")
        info.update(git)
        info["entry_point"] = os.path.relpath(script, root)
        info["working_dir"] = os.path.relpath(cwd, root) if _is_inside(cwd, root) else cwd
    else:
        info["entry_point"] = os.path.basename(script)
        info["working_dir"] = os.path.dirname(script)
        try:
            info["diff"] = Path(script).read_text(errors="replace")[:MAX_DIFF_BYTES]
        except OSError:
            pass
    info["script_path"] = script
    return info


def _is_inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)
    except ValueError:
        return False


def _index_key() -> list:
    """sys.path folders with their modification times: installing or removing anything changes one."""
    key = []
    for entry in sys.path:
        try:
            key.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            continue
    return key


def _build_module_index() -> dict[str, list[list[str]]]:
    from importlib import metadata
    index: dict[str, list[list[str]]] = {}
    for dist in metadata.distributions():
        meta = dist.metadata
        name, version = meta["Name"], meta["Version"]
        if not name:
            continue
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:  # first path parts of RECORD, read as text (dist.files builds an object per line: 2x slower)
            tops = set()
            for line in (dist.read_text("RECORD") or "").splitlines():
                top = line.split(",", 1)[0].split("/", 1)[0]
                if top and not top.startswith("..") and not top.endswith((".dist-info", ".data")) \
                        and top != "__pycache__":
                    tops.add(top.removesuffix(".py"))
        for top in tops:
            entries = index.setdefault(top, [])
            if [name, version] not in entries:
                entries.append([name, version])
    return index


def module_index() -> dict[str, list[list[str]]]:
    """``{top-level module: [[distribution, version], ...]}`` of the installed distributions.

    Scanning every distribution's metadata takes ~40 ms (126 top-level names here), so the index is cached under
    ``PIPETRACK_HOME/cache`` and reused while sys.path and its folders are unchanged.
    """
    import json
    from .. import config
    key = _index_key()
    path = config.cache_dir() / "module-index.json"
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached["index"]
    except (OSError, ValueError, AttributeError):
        pass
    index = _build_module_index()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"key": key, "index": index}))
        os.replace(tmp, path)
    except OSError:
        pass
    return index


def imported_requirements() -> dict[str, str]:
    """``{distribution: version}`` of third-party packages imported by this process."""
    index = module_index()
    found: dict[str, str] = {}
    if _settings["freeze"]:
        for entries in index.values():
            found.update((name, version) for name, version in entries)
    else:
        stdlib = set(getattr(sys, "stdlib_module_names", ()))
        for top in {module.partition(".")[0] for module in list(sys.modules)}:
            if not top or top.startswith("_") or top in stdlib:
                continue
            for name, version in index.get(top, ()):
                found.setdefault(name, version)
    for name, version in _forced_requirements.items():
        if version is None:
            version = next((v for entries in index.values() for n, v in entries
                            if n.lower().replace("_", "-") == name.lower().replace("_", "-")), "")
        found[name] = version
    for name in _ignored_requirements:
        found.pop(name, None)
        for other in [n for n in found if n.lower().replace("_", "-") == name.lower().replace("_", "-")]:
            found.pop(other)
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def recorded_requirements() -> str:
    """The requirements text Task.init records: a forced requirements file, else the imports."""
    if _settings["requirements_file"]:
        return Path(_settings["requirements_file"]).read_text()
    return requirements_text(imported_requirements())


def requirements_text(reqs: dict[str, str]) -> str:
    return "\n".join(f"{n}=={v}" if v and v[0].isdigit() else f"{n}{v}" for n, v in reqs.items())


def script_info_for_create(repo: Optional[str] = None, branch: Optional[str] = None, commit: Optional[str] = None,
                           script: Optional[str] = None, working_directory: Optional[str] = None,
                           packages: bool | Sequence[str] | None = None, requirements_file: Optional[str] = None,
                           binary: Optional[str] = None, module: Optional[str] = None,
                           detect_repository: bool = True) -> dict[str, Any]:
    """Script section for ``Task.create``: how an agent or executor should run the task."""
    from ..errors import ValidationError
    info: dict[str, Any] = {"binary": binary or "python"}
    if script:
        path = Path(script)
        if not repo and not path.exists():
            raise ValidationError(f"Task.create(script={script!r}): no such file (give an existing script path, "
                                  "or repo= with a path inside it)")
        if not repo and detect_repository:
            git = git_info(str(path.resolve()))
            if git:
                root = git.pop("repository_root")
                info.update(git)
                info["entry_point"] = os.path.relpath(path.resolve(), root)
                info["working_dir"] = working_directory or os.path.relpath(path.resolve().parent, root)
                info["script_path"] = str(path.resolve())
        if "entry_point" not in info:
            resolved = path.resolve() if path.exists() else path
            info["entry_point"] = resolved.name if not repo else script
            info["working_dir"] = working_directory or (str(resolved.parent) if not repo else ".")
            if path.exists():
                info["script_path"] = str(resolved)
                info["diff"] = resolved.read_text(errors="replace")[:MAX_DIFF_BYTES]
    elif module:
        info["module"] = module
        info["working_dir"] = working_directory or os.getcwd()
    if repo:
        info.update(repository=repo, branch=branch or "", version_num=commit or "")
    if requirements_file:
        info["requirements"] = Path(requirements_file).read_text()
    elif isinstance(packages, (list, tuple)):
        info["requirements"] = "\n".join(packages)
    elif packages is True:
        info["requirements"] = requirements_text(imported_requirements())
    return info


def configure(freeze: Optional[bool] = None, requirements_file: Optional[str] = None,
              standalone: Optional[bool] = None) -> None:
    if freeze is not None:
        _settings["freeze"] = freeze
    if requirements_file is not None:
        _settings["requirements_file"] = requirements_file
    if standalone is not None:
        _settings["standalone"] = standalone


def force_requirement(name: str, version: Optional[str]) -> None:
    _forced_requirements[name] = version


def ignore_requirement(name: str) -> None:
    _ignored_requirements.add(name)
