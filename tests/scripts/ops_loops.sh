#!/bin/sh
# tests/scripts/ops_loops.sh — lists the loops in src/ops/ that may touch tensor memory.
#
# Op code keeps shape inference, the choice of kernel and what backward saves; every loop
# over tensor data belongs in a kernel (docs/ADDING_AN_OP.md). This prints every `for (` of
# src/ops/*.c over an int64_t index (element counts are int64_t; dimensions, inputs, axes
# and attributes are counted with int) with the function it is in, leaving out
#   - loops over rows, tiles or batch items whose body is a call of the back end (be->...,
#     through the tile helpers of softmax.c): the loop is over the shape, the kernel touches
#     the data;
#   - the gradient-check generators (functions named *_gen, gen_* and clear_of_kinks: they
#     build and inspect test inputs on the host for tests/test_gradcheck.c and test_backend.c);
# and ends with the count. What it prints is what remains to move into kernels.
for f in src/ops/*.c; do
    awk -v file="$f" '
        { line[NR] = $0 }
        END {
            for (i = 1; i <= NR; i++) {
                s = line[i]
                if (s ~ /^[a-z].*\(.*\) *\{$/ || s ~ /^[a-z][a-z_ ]*\*? *[a-z_0-9]+\(.*[,(]$/) {
                    fn = s; sub(/\(.*/, "", fn); n = split(fn, w, /[ *]+/); fn = w[n]
                }
                if (s !~ /for \(int64_t/) continue
                if (fn ~ /_gen$/ || fn ~ /^gen_/ || fn == "clear_of_kinks") continue
                body = s
                for (j = i + 1; j <= i + 12 && j <= NR && line[j] !~ /^    [a-z}]/; j++)
                    body = body " " line[j]
                if (body ~ /be->[a-z_]+\(|tile_(to|from)_rows\(|bwd_run\(/) continue
                printf "%s:%d: %s: %s\n", file, i, fn, s
            }
        }' "$f"
done | awk '{ print } END { printf "%d loops\n", NR }'
