"""``likavillkor-collector users ...`` (also ``python -m collector.auth ...``): add, list and remove
chairs, secretaries and IT, and their API tokens, in the users file (:mod:`collector.auth.users`).
Passwords are read from stdin, never from the command line; a new token is printed once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from collector.auth.principal import Role
from collector.auth.users import (
    UserFileError,
    add_api_token,
    add_user,
    list_lines,
    read_users,
    remove_user,
    revoke_tokens,
)

#: roles the users file may grant (members use their link, H7; devices their broker credentials)
FILE_ROLES = [r.value for r in Role if r not in (Role.MEMBER, Role.DEVICE)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="likavillkor-collector users", description="Manage Likavillkor users.")
    parser.add_argument("--users", default="data/users.toml", help="the users file (default data/users.toml)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add-user", help="add or replace a user; the password is read from stdin")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=FILE_ROLES)
    a.add_argument("--body", action="append", default=[], help="a body this chair/secretary serves (repeat)")
    a.add_argument("--name", default="")
    t = sub.add_parser("add-token", help="create an API token (printed once)")
    t.add_argument("name")
    t.add_argument("--role", default="it", choices=FILE_ROLES)
    t.add_argument("--body", action="append", default=[])
    sub.add_parser("list", help="list users and API tokens (no secrets)")
    rm = sub.add_parser("remove", help="delete a user")
    rm.add_argument("username")
    rv = sub.add_parser("revoke-token", help="delete the API tokens with this name (or sha256 prefix, see list)")
    rv.add_argument("name")
    return parser


def run(args: argparse.Namespace) -> int:
    """One command; UserFileError propagates (``main`` prints it)."""
    if args.cmd == "list":
        print("\n".join(list_lines(read_users(Path(args.users)))) or "(no users, no tokens)")
    elif args.cmd == "remove":
        if not remove_user(args.users, args.username):
            print(f"error: no user {args.username!r} in {args.users}", file=sys.stderr)
            return 1
        print(f"user {args.username} removed from {args.users}")
    elif args.cmd == "revoke-token":
        n = revoke_tokens(args.users, args.name)
        if not n:
            print(f"error: no API token {args.name!r} in {args.users}", file=sys.stderr)
            return 1
        print(f"{n} API token(s) {args.name!r} revoked in {args.users}")
    elif args.cmd == "add-user":
        password = sys.stdin.readline().rstrip("\n")
        add_user(args.users, args.username, password, args.role, bodies=args.body, name=args.name)
        print(f"user {args.username} saved in {args.users}")
    else:
        print(add_api_token(args.users, args.name, args.role, bodies=args.body))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except UserFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
