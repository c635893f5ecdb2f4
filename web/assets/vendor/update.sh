#!/usr/bin/env bash
# Vendors uPlot from its npm package: a reproducible step, run by hand when the pinned
# version changes (never at build or run time). It packs the pinned version in a temp
# dir, copies the minified IIFE build, its CSS and the licence into uplot/, and records
# the version and each file's sha256 in uplot/README.md.
set -euo pipefail

VERSION="${UPLOT_VERSION:-1.6.32}"
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/uplot"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "uplot@$VERSION" >/dev/null)
tar -xzf "$tmp/uplot-$VERSION.tgz" -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.iife.min.js" "$dest/uPlot.iife.min.js"
cp "$tmp/package/dist/uPlot.min.css" "$dest/uPlot.min.css"
cp "$tmp/package/LICENSE" "$dest/LICENSE"

{
    echo "# uPlot $VERSION (vendored)"
    echo
    echo "From the npm package \`uplot@$VERSION\` (MIT licence, see LICENSE), copied by"
    echo "\`web/assets/vendor/update.sh\`; do not edit these files by hand."
    echo
    echo "| file | sha256 |"
    echo "|---|---|"
    for f in uPlot.iife.min.js uPlot.min.css LICENSE; do
        echo "| $f | $(sha256sum "$dest/$f" | cut -d' ' -f1) |"
    done
    echo
    echo "Tarball sha256: $(sha256sum "$tmp/uplot-$VERSION.tgz" | cut -d' ' -f1)"
} >"$dest/README.md"
echo "uPlot $VERSION vendored into $dest"
