"""``python -m collector.auth ...``: the users CLI (:mod:`collector.auth.users_cli`)."""

from collector.auth.users_cli import main

raise SystemExit(main())
