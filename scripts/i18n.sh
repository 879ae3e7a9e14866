#!/usr/bin/env bash
# The translator's workflow for the pages' gettext catalogs (docs/translation.md):
#   scripts/i18n.sh extract [POT]   msgids from the code and templates (babel.cfg) into a template
#   scripts/i18n.sh update          extract, then merge new msgids into every language's .po
#   scripts/i18n.sh compile [DIR]   .po -> .mo (not needed to run: collector.web.i18n reads the .po)
# Msgids are keys ("verdict.adjourn"), so fuzzy matching is off: a guessed translation of a
# similar key is worse than an empty one, which tests/web/test_i18n.py reports.
set -euo pipefail
cd "$(dirname "$0")/.."
pybabel="${PYBABEL:-.venv/bin/pybabel}"
locale="${LOCALE:-collector/web/locale}"  # LOCALE: work on a copy (tests/web/test_i18n.py)
domain=likavillkor

extract() {
  "$pybabel" extract -F babel.cfg -k t -k N_ --no-location --sort-output --project=Likavillkor \
    --copyright-holder=Likavillkor -o "$1" . >/dev/null
}

# The template with each key's Swedish text as an extracted comment ("#. sv: ..."), so a translator
# of another language sees the meaning of a key in the .po itself; sv.po is updated without it.
annotate() {
  "$(dirname "$pybabel")/python" - "$1" "$2" "$locale/sv/LC_MESSAGES/$domain.po" <<'PY'
import sys
from babel.messages.pofile import read_po, write_po
src, dst, sv_po = sys.argv[1:4]
with open(sv_po, "rb") as f:
    sv = {m.id: m.string for m in read_po(f) if m.id}
with open(src, "rb") as f:
    pot = read_po(f)
for m in pot:
    if m.id and sv.get(m.id):
        m.auto_comments = [f"sv: {sv[m.id]}"]
with open(dst, "wb") as f:
    write_po(f, pot, sort_output=True, width=100)
PY
}

case "${1:-}" in
  extract) extract "${2:-$locale/$domain.pot}" ;;
  update)
    pot="$(mktemp --suffix=.pot)"
    annotated="$(mktemp --suffix=.pot)"
    trap 'rm -f "$pot" "$annotated"' EXIT
    extract "$pot"
    "$pybabel" update -i "$pot" -d "$locale" -D "$domain" -l sv --no-fuzzy-matching --ignore-obsolete -w 100
    annotate "$pot" "$annotated"
    for dir in "$locale"/*/; do
      lang="$(basename "$dir")"
      [ "$lang" = sv ] && continue
      "$pybabel" update -i "$annotated" -d "$locale" -D "$domain" -l "$lang" --no-fuzzy-matching \
        --ignore-obsolete -w 100
    done
    ;;
  compile) "$pybabel" compile -d "${2:-$locale}" -D "$domain" --statistics ;;
  *) echo "usage: $0 extract [POT] | update | compile [DIR]" >&2; exit 2 ;;
esac
