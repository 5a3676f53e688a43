#!/usr/bin/env bash
# Refreshes the vendored charting library of the dashboard from the npm registry: uPlot, pinned
# by version and by the registry's integrity hash, so the same files come back every time and a
# changed tarball is refused. Building or running the receiver needs none of this (the files are
# committed and compiled into the binary); only this script needs npm.
#
# To move to another version: set VERSION and INTEGRITY (`npm view uplot@VERSION dist.integrity`),
# run this script, look at the diff, run the dashboard test (tests/system/test_dashboard.py) and
# regenerate the screenshot it checks, then commit.
set -euo pipefail
cd "$(dirname "$0")"

PACKAGE=uplot
VERSION=1.6.32
INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==
# What the dashboard uses from the package, and the licence that must ship beside it.
FILES=(dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# npm pack downloads the tarball and checks it against the registry's integrity itself; the
# pinned value below makes sure it is the tarball this directory was made from.
npm pack --silent --pack-destination "$work" "$PACKAGE@$VERSION" >/dev/null
tarball=$work/$PACKAGE-$VERSION.tgz
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
    echo "refresh.sh: $PACKAGE@$VERSION has integrity $got, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"

{
    echo "# Vendored by refresh.sh from the npm registry; do not edit these files by hand."
    echo "package $PACKAGE"
    echo "version $VERSION"
    echo "integrity $INTEGRITY"
} >SOURCE
for f in "${FILES[@]}"; do
    name=$(basename "$f")
    [ "$name" = LICENSE ] && name=uPlot.LICENSE
    install -m 0644 "$work/package/$f" "$name"
    echo "sha256 $(sha256sum "$name" | cut -d' ' -f1) $name" >>SOURCE
done
echo "vendored $PACKAGE $VERSION: ${FILES[*]}"
