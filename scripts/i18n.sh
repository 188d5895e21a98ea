#!/usr/bin/env bash
# Extract every translatable string, merge it into the Simplified Chinese catalog, compile.
#
#   ./scripts/i18n.sh            extract -> init/update app/translations/zh -> compile
#
# English is the source language, so there is no en catalog. After running this, translate any new or fuzzy
# entries in app/translations/zh/LC_MESSAGES/messages.po (tests/unit/test_i18n.py fails until you do), then run
# it again (or `make translations`) to compile. Safe to re-run any time.
set -euo pipefail
cd "$(dirname "$0")/.."

PYBABEL=${PYBABEL:-.venv/bin/pybabel}
POT=app/translations/messages.pot
PO=app/translations/zh/LC_MESSAGES/messages.po
KEYWORDS=(-k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2)

mkdir -p app/translations
# Only app/, inventory/, credit/, ingestion/ and distribution/ are mapped in babel.cfg; the ignore list keeps the
# walk out of .venv, tests and migrations altogether.
"$PYBABEL" -q extract -F babel.cfg "${KEYWORDS[@]}" --ignore-dirs '.* ._ __pycache__ tests migrations node_modules' \
    --sort-by-file --no-wrap --project "Channel DRP" --copyright-holder "Channel DRP" -o "$POT" .

if [[ -f "$PO" ]]; then
    "$PYBABEL" update -i "$POT" -d app/translations -l zh --no-wrap --ignore-obsolete --no-fuzzy-matching
else
    "$PYBABEL" init -i "$POT" -d app/translations -l zh --no-wrap
fi

# Report what still needs a translator (new, fuzzy); the test suite names them too.
.venv/bin/python - "$PO" <<'PY'
import sys

from babel.messages.pofile import read_po

with open(sys.argv[1], "rb") as fh:
    catalog = read_po(fh)
todo = [m for m in catalog if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))]
total = sum(1 for m in catalog if m.id)
print(f"zh catalog: {total} messages, {len(todo)} to translate")
for m in todo:
    print(f"  {'fuzzy' if m.fuzzy else 'new  '}  {m.id if isinstance(m.id, str) else m.id[0]!r}")
PY

"$PYBABEL" -q compile -d app/translations
