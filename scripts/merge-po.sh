#!/usr/bin/env bash
# After `git merge` stops on the Chinese catalog: keep the translations of both sides, drop
# what neither side's code uses any more, and mark the file resolved.
set -euo pipefail
cd "$(dirname "$0")/.."
PO=erp/translations/zh_Hans_CN/LC_MESSAGES/messages.po
PY=${PY:-.venv/bin/python}
tmp=$(mktemp -d)
git show ":2:$PO" > "$tmp/ours.po"
git show ":3:$PO" > "$tmp/theirs.po"
cp "$tmp/ours.po" "$PO"
"$PY" -m erp.core.catalogs sync
"$PY" -m erp.core.catalogs merge "$tmp/ours.po" "$tmp/theirs.po"
"$PY" -m erp.core.catalogs check | tail -5 || true
git add "$PO"
rm -rf "$tmp"
