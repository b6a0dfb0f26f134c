#!/usr/bin/env bash
# Installs the Citus that Carego runs on: Citus 13.2.2 built by
# ../shared/citus/install.sh, from its source tarball with Carego's patches
# (citus/*.patch beside this script) applied on top. The one patch today
# keeps restrictive row-level security policies restrictive on the shards;
# stock 13.2.2 recreates them permissive, and `carego migrate` refuses such
# a cluster (docs/scale-out.md). Idempotent: a marker beside citus.so
# records the patches built in, and a stock or differently patched Citus
# is rebuilt. Needs root, as install.sh does.
#   usage: citus/install.sh [PG_CONFIG]   (CITUS_SOURCE_DIR: default ../shared/citus)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source_dir=${CITUS_SOURCE_DIR:-$repo/../shared/citus}
version=13.2.2
pg_config=${1:-$(command -v pg_config || ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -V | tail -1)}
[ -x "$pg_config" ] || { echo "citus: pg_config not found" >&2; exit 1; }
[ -f "$source_dir/citus-$version.tar.gz" ] || { echo "citus: no citus-$version.tar.gz in $source_dir" >&2; exit 1; }

libdir=$("$pg_config" --pkglibdir)
marker=$libdir/citus.carego-patches
built="$version $(cat "$repo"/citus/*.patch | sha256sum | cut -d' ' -f1)"
if [ -f "$libdir/citus.so" ] && [ "$(cat "$marker" 2>/dev/null)" = "$built" ]; then
    echo "citus $version with Carego's patches already installed"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "citus: building and installing Citus needs root: sudo bash $0" >&2; exit 1; }
if command -v apt-get >/dev/null && [ ! -f /usr/include/gssapi/gssapi.h ]; then
    # PostgreSQL's server headers include GSSAPI's, which Debian's
    # postgresql-server-dev does not pull in; install.sh does not add it.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libkrb5-dev >/dev/null
fi

# install.sh builds the tarball beside it: give it a copy with the patches in.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$source_dir"/install.sh "$source_dir"/*.patch "$work/"
tar xzf "$source_dir/citus-$version.tar.gz" -C "$work"
for patch in "$repo"/citus/*.patch; do
    patch -d "$work/citus-$version" -p1 -s --forward <"$patch"
done
tar czf "$work/citus-$version.tar.gz" -C "$work" "citus-$version"
rm -rf "${work:?}/citus-$version"
# install.sh does nothing when its version is installed: a stock build must go.
rm -f "$marker" "$("$pg_config" --sharedir)/extension/citus.control"
bash "$work/install.sh" "$pg_config"
echo "$built" >"$marker"
echo "citus $version: Carego's patches built in ($(cd "$repo/citus" && echo *.patch))"
