#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian/Ubuntu machine
# (system services from the distribution's packages, Python packages in .venv), then runs all tests.
#   scripts/test.sh            # everything
#   scripts/test.sh -k mqtt    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh test
export PYTHONDONTWRITEBYTECODE=1
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
