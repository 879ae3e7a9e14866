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
locale=collector/web/locale
domain=likavillkor

extract() {
  "$pybabel" extract -F babel.cfg -k t -k N_ --no-location --sort-output --project=Likavillkor \
    --copyright-holder=Likavillkor -o "$1" . >/dev/null
}

case "${1:-}" in
  extract) extract "${2:-$locale/$domain.pot}" ;;
  update)
    pot="$(mktemp --suffix=.pot)"
    trap 'rm -f "$pot"' EXIT
    extract "$pot"
    "$pybabel" update -i "$pot" -d "$locale" -D "$domain" --no-fuzzy-matching --ignore-obsolete
    ;;
  compile) "$pybabel" compile -d "${2:-$locale}" -D "$domain" --statistics ;;
  *) echo "usage: $0 extract [POT] | update | compile [DIR]" >&2; exit 2 ;;
esac
