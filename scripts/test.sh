#!/usr/bin/env bash
# The README's test command: installs what the tests need on a fresh Debian/Ubuntu machine
# (system services from the distribution's packages, Python packages in .venv), then runs all tests.
#   scripts/test.sh            # everything, on two pytest-xdist workers (one test module per unit of work)
#   scripts/test.sh -k mqtt    # extra arguments go to pytest
#   LIKAVILLKOR_TEST_WORKERS=0 scripts/test.sh    # one process, no xdist (e.g. to debug with -s/--pdb)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh test
export PYTHONDONTWRITEBYTECODE=1
set +e
workers="${LIKAVILLKOR_TEST_WORKERS:-2}"
xdist=()
# --dist loadfile: a module's tests stay on one worker; the namespace tests are one unit (tests/conftest.py)
if [ "$workers" != "0" ]; then xdist=(-n "$workers" --dist loadfile); fi
.venv/bin/python -m pytest "${xdist[@]}" --durations=15 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
