"""Every ``sh`` block of docs/operations.md is run by a test (issue 16: "a doc step that the test
does not execute is a defect"). The host-install section is executed verbatim by
tests/deploy/test_host_install.py; every other block's section names the test that runs its
commands, and each ``likavillkor-collector`` subcommand (and option) in the block must appear in that
test. Compose is the exception this machine forces: no container engine runs here, so its block is
covered by the Compose schema and mount checks. A new block without an entry fails here."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"

#: section heading (prefix) -> the tests that run its commands
COVERED: dict[str, tuple[str, ...]] = {
    "### From the source tree": ("tests/e2e/test_up.py",),  # scripts/up.sh runs install-deps.sh run
    # the broker-credentials command runs as written; docker itself does not run here: the schema and
    # mount checks stand in for it
    "### With Compose": ("tests/deploy/test_deploy_files.py",),
    "### With systemd on a Debian host": ("tests/deploy/test_host_install.py",),  # verbatim
    "### Packages": ("tests/deploy/test_packages.py",),
    "### The collector's database": ("tests/collector/test_ops_db.py",),
    "## Upgrades and migrations": ("tests/collector/test_ops_db.py",),
    "## Retention and deletion": ("tests/collector/test_ops_forget.py",),
    "## Monitoring the collector": ("tests/collector/test_users_cli.py", "tests/deploy/test_host_install.py"),
}


#: sections whose likavillkor-collector commands a test takes from the doc itself and runs
VERBATIM = ("### With systemd on a Debian host", "### With Compose")


#: the collector CLI's subcommands and actions (collector/cli.py, collector/auth/users_cli.py)
VERBS = {
    "run",
    "incidents",
    "actions",
    "forget",
    "db",
    "backup",
    "restore",
    "users",
    "broker-credentials",
    "dashboards",
    "add-user",
    "add-token",
    "list",
    "remove",
    "revoke-token",
    "upgrade",
    "current",
    "history",
    "downgrade",
}


def blocks() -> list[tuple[str, str]]:
    """(section heading, block text) for every sh block, in order."""
    out: list[tuple[str, str]] = []
    heading = ""
    for m in re.finditer(r"(?m)^(#{2,3} [^\n]*)$|^```sh\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S):
        if m.group(1):
            heading = m.group(1)
        else:
            out.append((heading, m.group(2)))
    return out


def _collector_words(block: str) -> list[list[str]]:
    """The words after ``likavillkor-collector`` (or ``$L``) on each command of the block."""
    joined = block.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.split("#", 1)[0]
        for part in re.split(r"\||&&|;", line):
            try:
                words = shlex.split(part, posix=True)
            except ValueError:  # an apostrophe in prose
                words = part.split()
            for i, w in enumerate(words):
                if w.endswith("likavillkor-collector") or w == "$L":
                    found.append(words[i + 1 :])
    return found


def test_every_block_is_in_a_section_that_a_test_covers() -> None:
    found = blocks()
    assert len(found) >= 10
    for heading, block in found:
        owners = [tests for prefix, tests in COVERED.items() if heading.startswith(prefix)]
        assert owners, f"docs/operations.md: a sh block under {heading!r} that no test runs:\n{block}"
        for test in owners[0]:
            assert (ROOT / test).is_file(), test


def test_the_covering_tests_run_each_subcommand_and_option_of_their_blocks() -> None:
    for heading, block in blocks():
        tests = next(t for prefix, t in COVERED.items() if heading.startswith(prefix))
        if heading.startswith(VERBATIM):
            continue  # taken from the doc and run (test_host_install, test_deploy_files)
        text = "".join((ROOT / t).read_text(encoding="utf-8") for t in tests)
        for words in _collector_words(block):
            for word in words:
                if word.startswith("--") or word in VERBS:
                    if word in ("--config", "-c", "--users", "--out", "--from"):
                        continue  # every such test passes its own files
                    assert f'"{word}"' in text or f"'{word}'" in text or f" {word} " in text, (
                        f"{heading}: `{word}` ({' '.join(words)}) is run by none of {tests}"
                    )


def test_host_section_is_what_the_install_test_extracts() -> None:
    from tests.deploy.test_host_install import doc_blocks

    host = [b for h, b in blocks() if h.startswith("### With systemd on a Debian host")]
    assert host == doc_blocks()
