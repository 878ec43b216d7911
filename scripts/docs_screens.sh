#!/bin/bash
# Copies the dashboard screenshots that tests/dashboard/test_screens.py saves with
# PGQUEUE_SCREENSHOTS=1 (every page, desktop and phone width, light and dark, into
# test-artifacts/dashboard/screens/) into docs/img/screens/ for docs/dashboard.md: JPEG, quality 60, at most 1,400 px tall (the
# top of a long list). Needs ImageMagick's `convert`. Run the test first:
#   PGQUEUE_SCREENSHOTS=1 PGQUEUE_TEST_DSN=... .venv/bin/pytest tests/dashboard/test_screens.py \
#     && scripts/docs_screens.sh
set -euo pipefail
src=test-artifacts/dashboard/screens
dst=docs/img/screens
mkdir -p "$dst"
for f in "$src"/*.png; do
  name=$(basename "$f" .png)
  convert "$f" -crop "x1400+0+0" +repage -quality 60 "$dst/$name.jpg"
done
ls "$dst" | wc -l
