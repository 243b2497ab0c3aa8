#!/usr/bin/env bash
# Refreshes the vendored uPlot files in assets/vendor/ from the npm registry (npm pack;
# no install, no build step): the only npm package the UI uses.
set -euo pipefail
cd "$(dirname "$0")"
version=1.6.32
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$version" >/dev/null && tar xzf "uplot-$version.tgz")
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" assets/vendor/
cp "$work/package/LICENSE" assets/vendor/LICENSE-uPlot
echo "uPlot $version copied to assets/vendor/"
