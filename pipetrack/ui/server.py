"""Run the UI server: bind (loopback unless told otherwise), print the URL, serve with uvicorn."""
from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..errors import ValidationError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(port: int) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValidationError(f"port must be an integer from 0 to 65535, got {port!r}")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; ``port=0`` picks a free port (printed once bound)."""
    check_port(port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ValidationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def allowed_hosts(host: str, extra: Sequence[str] = ()) -> list[str]:
    """The Host header values the server answers to: loopback names, the address it is bound to,
    and for another interface this machine's names and addresses plus ``extra`` (``--allowed-host``).

    Never ``*``: a site whose DNS name an attacker rebinds to this machine would otherwise be
    served the page (and its CSRF token) under its own origin."""
    names = {"127.0.0.1", "localhost", "::1", "[::1]", host.strip("[]")}
    if ":" in host.strip("[]"):
        names.add(f"[{host.strip('[]')}]")
    if not is_loopback(host):
        hostname = socket.gethostname()
        names.update({hostname, socket.getfqdn()})
        try:
            names.update(info[4][0] for info in socket.getaddrinfo(hostname, None))
        except OSError:
            pass
    names.update(extra)
    return sorted(n for n in names if n and n not in ("0.0.0.0", "::"))


TOKEN_FILE = "ui-token"


def ui_token(token: Optional[str] = None) -> str:
    """The login token: ``token`` when given (``--token``), else the one kept in
    ``PIPETRACK_HOME/ui-token`` (mode 0600), created at random on first use and reused after."""
    if token is not None:
        token = token.strip()
        if len(token) < 8 or any(c.isspace() or not c.isprintable() for c in token):
            raise ValidationError("--token must be at least 8 printable characters without spaces")
        return token
    from .. import config
    path = config.home() / TOKEN_FILE
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                existing = path.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                continue  # removed meanwhile: create it
            if existing:
                if os.stat(path).st_mode & 0o077:
                    os.chmod(path, 0o600)
                return existing
            path.unlink()  # an empty file (a crash between create and write): make a new one
            continue
        new = secrets.token_urlsafe(32)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new + "\n")
        return new
    raise ValidationError(f"cannot create the UI token file {path}")


def serve(host: str = "127.0.0.1", port: int = 8080, home: Optional[str] = None, allow_remote: bool = False,
          log_level: str = "warning", extra_hosts: Sequence[str] = (), token: Optional[str] = None,
          no_auth: bool = False) -> None:
    """Serve the UI until interrupted. Every request needs the login token (``ui_token``), unless
    ``no_auth`` (loopback only). Another interface than loopback needs ``allow_remote``: the UI
    can delete tasks, so exposing it must be a deliberate choice."""
    check_port(port)  # bad arguments fail before the store is created
    if no_auth and (allow_remote or not is_loopback(host)):
        raise ValidationError("refusing --no-auth with --allow-remote or a non-loopback --host: without the "
                              "token anyone who can reach the port could change and delete your tasks")
    if no_auth and token is not None:
        raise ValidationError("--no-auth and --token contradict each other")
    if home is not None:
        os.environ["PIPETRACK_HOME"] = str(Path(home).expanduser().resolve())
    if not is_loopback(host):
        if not allow_remote:
            raise ValidationError(f"refusing to serve on {host!r}: the UI can change and delete tasks; use a "
                                  "loopback address (127.0.0.1, the default) or pass --allow-remote")
        print(f"pipetrack ui: WARNING: serving on {host}, reachable from other machines over plain HTTP; "
              "anyone who has the token can see, change and delete your tasks", file=sys.stderr, flush=True)
    auth_token = None if no_auth else ui_token(token)
    if no_auth:
        print("pipetrack ui: WARNING: --no-auth: no login token; any program or user on this machine that can "
              "reach the port can see, change and delete your tasks", file=sys.stderr, flush=True)
    try:
        import uvicorn
        from .app import create_app
    except ModuleNotFoundError as exc:
        raise ValidationError(f"the UI needs the 'ui' extra ({exc.name} is missing): "
                              "pip install 'pipetrack[ui]'") from None
    from ..store import default_store
    store = default_store()  # create the store (and sweep dead tasks) before the first request
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    app = create_app(allowed_hosts=allowed_hosts(host, extra_hosts), auth_token=auth_token)
    login = f"?token={auth_token}" if auth_token else ""
    print(f"pipetrack ui: serving {store} at http://{shown}:{bound_port}/{login} (Ctrl+C to stop)",
          flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=2))
    server.run(sockets=[sock])
