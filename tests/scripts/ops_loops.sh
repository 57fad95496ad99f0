#!/bin/sh
# tests/scripts/ops_loops.sh [ROOT] — lists the loops in src/ops/ that may touch tensor memory,
# and fails when there is one.
#
# Op code keeps shape inference, the choice of kernel and what backward saves; every loop
# over tensor data belongs in a kernel (docs/ADDING_AN_OP.md). This prints every `for (` of
# ROOT/src/ops/*.c (ROOT defaults to .) over an int64_t index (element counts are int64_t;
# dimensions, inputs, axes and attributes are counted with int) with the function it is in,
# leaving out
#   - loops over rows, tiles or batch items whose body is a call of the back end (be->...,
#     through the tile helpers of softmax.c): the loop is over the shape, the kernel touches
#     the data;
#   - the gradient-check generators (functions named *_gen, gen_* and clear_of_kinks: they
#     build and inspect test inputs on the host for tests/test_gradcheck.c and test_backend.c);
# and ends with the count, "N loops". It exits 1 when N > 0.
#
# `--self-test` checks the checker on a small tree: a loop over data is found, a loop whose
# body calls the back end and a generator's loop are not. `--all` runs both on the tree it is
# run from and ends with "N passed, M failed": `make test` runs it (as
# build/tests/test_ops_loops) from the repository root. POSIX sh and awk only.

list() {
    root=$1
    for f in "$root"/src/ops/*.c; do
        [ -f "$f" ] || continue
        awk -v file="${f#"$root"/}" '
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
    done | awk '{ print } END { printf "%d loops\n", NR; exit NR > 0 }'
}

self_test() {
    tmp=$(mktemp -d) || exit 2
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/src/ops"
    cat > "$tmp/src/ops/t.c" <<'C'
static nb_status t_forward(nb_ctx *ctx, nbi_node *n) {
    const nbi_backend *be = ctx->be;
    for (int64_t k = 0; k < count; k++)
        be->la_inverse(be, N, A, rs, cs, w, y + k * N * N, N);
    return NB_OK;
}

static nb_status t_backward(nb_ctx *ctx, nbi_node *n) {
    for (int64_t i = 0; i < n->out->numel; i++) nb_f32(g)[i] += nb_f32(gy)[i];
    return NB_OK;
}

static nb_status t_gen(const nbi_op_def *def, nb_ctx *ctx, nb_rng *rng, int k,
                       nbi_check_case *c) {
    for (int64_t i = 0; i < 4; i++) nb_f32(c->in[0])[i] += 1.0f;
    return NB_OK;
}
C
    out=$(list "$tmp")
    rc=$?
    ok=0
    if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q '^src/ops/t.c:9: t_backward: ' &&
        printf '%s\n' "$out" | grep -q '^1 loops$'; then
        ok=1
    else
        echo "self-test: expected exactly the loop of t_backward (line 9), got:"
        printf '%s\n' "$out"
    fi
    echo "$ok passed, $((1 - ok)) failed"
    [ "$ok" -eq 1 ]
}

case "$1" in
--self-test)
    self_test
    exit $?
    ;;
--all)
    a=$(self_test)
    ra=$?
    b=$(list .)
    rb=$?
    printf '%s\n%s\n' "$a" "$b" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
    sa=$(printf '%s\n' "$a" | tail -n 1)
    p=${sa%% passed*}
    f=${sa#*, }
    f=${f%% failed*}
    if [ $rb -eq 0 ]; then p=$((p + 1)); else f=$((f + 1)); fi
    echo "$p passed, $f failed"
    [ $ra -eq 0 ] && [ $rb -eq 0 ]
    exit $?
    ;;
esac
list "${1:-.}"
