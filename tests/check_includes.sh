#!/bin/sh
# tests/check_includes.sh [ROOT] — the include rule of docs/ARCHITECTURE.md: a file under
# src/ or tools/ includes ("#include "...") only from its own layer or below, and a public
# header (include/) only other public headers. Layers, bottom to top:
#
#   base kernels tensor linalg stats autograd ops nn optim data audio io train tools
#
# "nabla/..." (the public headers) may be included from anywhere; a name without a folder
# ("cli.h") is a file of the includer's own folder. A folder under src/ that is not in the
# list above is an error too, so a new layer has to be given its place here.
#
# Prints each violation as FILE:LINE: message and ends with "N passed, M failed" (N files that
# keep the rule, M violations); exits non-zero on any violation. `--self-test`
# checks the checker itself on two small trees: one that keeps the rule and one with an
# upward include. `--all` runs both on the tree it is run from: `make test` runs it (as
# build/tests/test_includes) from the repository root.
#
# POSIX sh and awk only: the core is tested with nothing but a C compiler and make.

LAYERS="base kernels tensor linalg stats autograd ops nn optim data audio io train tools"

check() {
    root=$1
    files=$(cd "$root" && find src tools include -type f \( -name '*.c' -o -name '*.h' \
        -o -name '*.inc' -o -name '*.def' \) 2>/dev/null | sort)
    [ -n "$files" ] || { echo "check_includes: no sources under $root"; return 2; }
    # shellcheck disable=SC2086
    (cd "$root" && awk -v layers="$LAYERS" '
        BEGIN {
            n = split(layers, L, " ")
            for (i = 1; i <= n; i++) rank[L[i]] = i
            files = 0; fail = 0
        }
        FNR == 1 {
            files++
            split(FILENAME, p, "/")
            if (p[1] == "src") { layer = p[2] }
            else if (p[1] == "tools") { layer = "tools" }
            else { layer = "include" }
            if (layer != "include" && !(layer in rank)) {
                printf "%s:1: folder src/%s/ is not a known layer (add it to LAYERS in tests/check_includes.sh)\n", FILENAME, layer
                fail++; bad[FILENAME] = 1
            }
        }
        /^[ \t]*#[ \t]*include[ \t]*"/ {
            s = $0
            sub(/^[^"]*"/, "", s)
            sub(/".*$/, "", s)
            slash = index(s, "/")
            top = slash ? substr(s, 1, slash - 1) : ""
            if (layer == "include") {
                if (top != "nabla" && !(top == "" && FILENAME ~ /^include\/nabla\//)) { printf "%s:%d: public header includes \"%s\" (only \"nabla/...\" may be)\n", FILENAME, FNR, s; fail++; bad[FILENAME] = 1 }
                next
            }
            if (top == "" || top == "nabla") next
            if (!(top in rank)) {
                printf "%s:%d: includes \"%s\" from \"%s/\", which is not a layer\n", FILENAME, FNR, s, top
                fail++; bad[FILENAME] = 1
                next
            }
            if (!(layer in rank)) next
            if (rank[top] > rank[layer]) {
                printf "%s:%d: upward include \"%s\": %s/ may include only from its own layer or below (%s)\n", FILENAME, FNR, s, layer, below(layer)
                fail++; bad[FILENAME] = 1
                next
            }
        }
        function below(l,   i, out) {
            out = ""
            for (i = 1; i <= n && L[i] != l; i++) out = out L[i] " "
            return out l
        }
        END {
            nbad = 0
            for (f in bad) nbad++
            printf "%d passed, %d failed\n", files - nbad, fail
            exit fail ? 1 : 0
        }' $files)
}

self_test() {
    tmp=$(mktemp -d) || exit 2
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/good/src/base" "$tmp/good/src/ops" "$tmp/good/include/nabla" \
        "$tmp/bad/src/tensor" "$tmp/bad/src/autograd" "$tmp/bad/include/nabla"
    printf '#include "base/base.h"\n#include "nabla/base.h"\n' > "$tmp/good/src/ops/a.c"
    printf '#include "base/base.h"\n#include "local.h"\n' > "$tmp/good/src/base/b.c"
    printf '#include "nabla/base.h"\n' > "$tmp/good/include/nabla/x.h"
    printf '#include "base/base.h"\n#include "autograd/autograd.h"\n' > "$tmp/bad/src/tensor/t.c"
    printf '#include "tensor/tensor.h"\n' > "$tmp/bad/src/autograd/a.c"
    printf '#include "nabla/base.h"\n' > "$tmp/bad/include/nabla/x.h"
    ok=0
    if check "$tmp/good" >/dev/null; then ok=$((ok + 1)); else echo "self-test: a tree that keeps the rule was rejected"; fi
    out=$(check "$tmp/bad")
    if [ $? -ne 0 ] && printf '%s\n' "$out" | grep -q 'src/tensor/t.c:2: upward include "autograd/autograd.h"' &&
        printf '%s\n' "$out" | grep -q '^2 passed, 1 failed$'; then
        ok=$((ok + 1))
    else
        echo "self-test: the upward include tensor -> autograd was not reported as such:"
        printf '%s\n' "$out"
    fi
    echo "$ok passed, $((2 - ok)) failed"
    [ "$ok" -eq 2 ]
}

if [ "$1" = "--self-test" ]; then
    self_test
    exit $?
fi
if [ "$1" = "--all" ]; then
    a=$(self_test)
    ra=$?
    b=$(check .)
    rb=$?
    printf '%s\n%s\n' "$a" "$b" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
    sa=$(printf '%s\n' "$a" | tail -n 1)
    sb=$(printf '%s\n' "$b" | tail -n 1)
    p=$((${sa%% passed*} + ${sb%% passed*}))
    fa=${sa#*, }
    fb=${sb#*, }
    echo "$p passed, $((${fa%% failed*} + ${fb%% failed*})) failed"
    [ $ra -eq 0 ] && [ $rb -eq 0 ]
    exit $?
fi
root=${1:-.}
check "$root"
