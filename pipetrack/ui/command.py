"""``pipetrack ui``: the command-line entry of the web UI."""
from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1, this "
                        "machine only; anything else also needs --allow-remote)")
    parser.add_argument("--port", type=cli.count(0), default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--home", default=None, help="PIPETRACK_HOME whose store to serve (default: the "
                        "environment's, else ~/.pipetrack)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (prints a warning; plain HTTP, the token is the only "
                             "protection)")
    parser.add_argument("--token", default=None, metavar="VALUE",
                        help="the login token (default: a random one kept in PIPETRACK_HOME/ui-token, mode 0600)")
    parser.add_argument("--no-auth", action="store_true",
                        help="no login token (loopback only, prints a warning; refused with --allow-remote)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="another Host name the UI answers to (repeatable; e.g. the DNS name other "
                             "machines use to reach it). This machine's names and addresses are always allowed")


def run(args: argparse.Namespace) -> int:
    from .server import serve
    try:
        serve(host=args.host, port=args.port, home=args.home, allow_remote=args.allow_remote,
              extra_hosts=args.allowed_host, token=args.token, no_auth=args.no_auth)
    except KeyboardInterrupt:
        pass
    return 0


cli.EXTRA_COMMANDS["ui"] = ("serve the web UI over the task store", add_arguments, run)
