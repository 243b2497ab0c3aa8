#!/usr/bin/env bash
# The web UI's first load: the bytes a browser downloads on its first visit (the page plus
# every file in `web::ASSETS`, the list `web::first_load_bytes` sums; the pages are modules
# `app.js` imports at start), as served (the agent does not compress) and compressed with
# `gzip -9` file by file, summed. Issue 14 allows 300 KB compressed.
#
#   bench/ui_first_load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
assets=crates/web/assets
files=(index.html $(grep -o 'asset!("[^"]*"' crates/web/src/lib.rs | sed 's/asset!("//; s/"$//'))
served=0
compressed=0
for file in "${files[@]}"; do
    served=$((served + $(stat -c %s "$assets/$file")))
    compressed=$((compressed + $(gzip -9 -c "$assets/$file" | wc -c)))
done
awk -v n="${#files[@]}" -v s="$served" -v z="$compressed" 'BEGIN {
    printf "files: %d\nas served: %.1f KB\ngzip -9 per file, summed: %.1f KB\n", n, s / 1000, z / 1000 }'
