"""``python -m agent`` = ``likavillkor-agent``."""

from agent.cli import main

raise SystemExit(main())
