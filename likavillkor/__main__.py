"""``python -m likavillkor schema`` writes the wire format's JSON Schema (docs/wire-schema.json)."""

from __future__ import annotations

import json
import sys

from likavillkor.wire import json_schema


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["schema"]:
        print("usage: python -m likavillkor schema > docs/wire-schema.json", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
