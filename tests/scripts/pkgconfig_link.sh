#!/bin/sh
# Installs nabla into a temporary prefix with `make install PREFIX=...`, then compiles a small
# program that reads a gzip-compressed IDX file (the data layer: pulls in zlib when nabla was
# built with it) using only `pkg-config --static --cflags --libs nabla`, and runs it. This
# checks that the installed nabla.pc names every library the static archive needs.
# Usage: tests/scripts/pkgconfig_link.sh [BUILD_DIR]   (run from the repository root)
set -e
build=${1:-build}
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "pkg-config link: skipped (pkg-config not found; apt-get install pkg-config)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s BUILD="$build" install PREFIX="$tmp/prefix" >/dev/null
cat > "$tmp/prog.c" <<'C'
#include "nabla.h"
#include <stdio.h>

int main(int argc, char **argv) {
    nb_array a;
    if (argc < 2 || nb_idx_read(argv[1], &a) != NB_OK) {
        fprintf(stderr, "error: %s\n", argc < 2 ? "no file" : nb_last_error());
        return 1;
    }
    printf("rank %d, %lld rows\n", a.rank, (long long)a.shape[0]);
    nb_array_free(&a);
    return 0;
}
C
flags=$(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --static --cflags --libs nabla)
# Link the archive, not the shared library, so that Libs.private is what is tested.
flags=$(echo "$flags" | sed 's|-lnabla|-l:libnabla.a|')
${CC:-cc} -std=c11 -Wall -Wextra -Werror "$tmp/prog.c" -o "$tmp/prog" $flags
zlib=$(make -s print-ldlibs | grep -c -- '-lz' || true)
if [ "$zlib" -gt 0 ]; then input=tests/data/images_u8.idx.gz; else input=tests/data/images_u8.idx; fi
[ -f "$input" ] || { echo "pkg-config link: $input missing"; exit 1; }
"$tmp/prog" "$input" > "$tmp/out"
grep -q '^rank 3, ' "$tmp/out"
echo "pkg-config link: ok ($(cat "$tmp/out"); flags: $flags)"
