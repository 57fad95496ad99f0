#!/bin/sh
# bench/compare.sh — `make compare`: every workload of bench/compare_rows.sh against its peer
# (PyTorch at the same thread count, numpy for XOR), interleaved pair by pair so both see the
# same machine, with the load average recorded before each pair; then one markdown table of
# medians, min/max, ratios and the percentage of the FMA peak (bench_peak) where FLOPs are
# known.
#
#     sh bench/compare.sh [quick|full]       (make compare MODE=quick|full)
#
#   quick  3 rounds, waits up to 30 s for a quiet machine before a pair
#   full   7 rounds, waits up to 300 s
# Environment: BUILD (build directory), PYTHON (python3 with torch), ONLY (a grep -E pattern
# of row names), LOAD_MAX (the 1-minute load average that counts as quiet; default: half the
# cores), ROUNDS and WAIT_S override the mode's.
#
# Protocol: in round r every row runs its pair — peer then nabla in odd rounds, nabla then
# peer in even ones, so neither always runs on a warmer or colder machine. Before each pair
# the script waits (up to WAIT_S) until the load average is at most LOAD_MAX; a pair that
# started above it is marked noisy. The table's medians use the quiet pairs when a row has
# any, else all pairs, flagged "NOISY". Each run's raw output stays in the log named at the
# end. A run that fails marks its row and the script goes on.
MODE=${1:-${MODE:-quick}}
case $MODE in
quick) R=3 W=30 ;;
full) R=7 W=300 ;;
*)
    echo "usage: compare.sh [quick|full]" >&2
    exit 2
    ;;
esac
ROUNDS=${ROUNDS:-$R}
WAIT_S=${WAIT_S:-$W}
B=${BUILD:-build}
PY=${PYTHON:-/usr/bin/python3}
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
LOAD_MAX=${LOAD_MAX:-$(awk -v n="$NCPU" 'BEGIN { printf "%.2f", n / 2 }')}
TMPD=$(mktemp -d)
LOG=${LOG:-$B/compare.log}
RES=$TMPD/results
trap 'rm -rf "$TMPD"' EXIT
: >"$LOG"
: >"$RES"
export B PY TMPD

now() { date +%s.%N; }
load1() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0; }

# rows: NAME FLOPS LABEL PCMD PVAL NCMD NVAL, kept in numbered variables
NROWS=0
row() {
    if [ -n "$ONLY" ] && ! echo "$1" | grep -Eq "$ONLY"; then return; fi
    NROWS=$((NROWS + 1))
    eval "R_NAME_$NROWS=\$1 R_FLOPS_$NROWS=\$2 R_LABEL_$NROWS=\$3"
    eval "R_PCMD_$NROWS=\$4 R_PVAL_$NROWS=\$5 R_NCMD_$NROWS=\$6 R_NVAL_$NROWS=\$7"
}
. bench/compare_rows.sh

# value SPEC FILE WALL -> "KIND NUMBER" (KIND rate or time), or nothing
value() {
    case $1 in
    rate:* | time:*) # KIND:REGEX or KIND:REGEX@WORD (only lines that contain WORD)
        spec=${1#*:}
        case $spec in *@*) word=${spec##*@} spec=${spec%@*} ;; *) word="" ;; esac
        awk -v re="$spec" -v word="$word" -v kind="${1%%:*}" 'index($0, re) && index($0, word) { line = $0 }
            END { if (line == "") exit 1; p = index(line, re); pre = substr(line, 1, p - 1)
                  n = split(pre, w, " "); if (n) print kind, w[n] }' "$2"
        ;;
    wall) echo "time $3" ;;
    wall/*) awk -v w="$3" -v n="${1#wall/}" 'BEGIN { if (n > 0) print "time", w / n }' ;;
    wall-rate) tail -n 1 "$2" | awk -v s="$3" '$1 > 0 && s > 0 { print "rate", $1 / s }' ;;
    gemm:*) # bench_gemm's line for T threads: GFLOP/s in column C (4 nabla, 6 OpenBLAS)
        t=${1#gemm:}
        awk -v t="${t%%:*}" -v c="${t#*:}" '$3 == t && $c + 0 > 0 { v = $c } END { if (v != "") print "rate", v; else exit 1 }' "$2"
        ;;
    sum-ms) awk '/fwd\+bwd/ { s += $(NF - 1); k++ } END { if (k) print "time", s / 1000 }' "$2" ;;
    esac
}

# run WHO I ROUND -> appends "I WHO ROUND KIND VALUE LOAD NOISY" to $RES
run_one() {
    who=$1 i=$2 r=$3 ld=$4 noisy=$5
    eval "cmd=\$R_${who}CMD_$i spec=\$R_${who}VAL_$i name=\$R_NAME_$i"
    out=$TMPD/out
    t0=$(now)
    if sh -c "$cmd" >"$out" 2>&1; then
        t1=$(now)
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
        v=$(value "$spec" "$out" "$wall")
    else
        v=""
    fi
    { echo "== $name round $r $who (load $ld): $cmd"; cat "$out"; } >>"$LOG"
    if [ -z "$v" ]; then
        echo "compare: $name ($who) failed or printed no value; see $LOG" >&2
        echo "$i $who $r fail 0 $ld $noisy" >>"$RES"
    else
        echo "$i $who $r $v $ld $noisy" >>"$RES"
    fi
}

# the peak, 1 and 2 threads, on the machine as it is now
PEAK1=$("$B/bench/bench_peak" --threads 1 | sed -n 's/.*: \([0-9.]*\) GFLOP.*/\1/p')
PEAK2=$("$B/bench/bench_peak" --threads 2 | sed -n 's/.*: \([0-9.]*\) GFLOP.*/\1/p')
# the processor: ratios and percentages are of this machine only (hosts of the same name have
# differed between days: one with two 512-bit FMA pipes, one with 512-bit FMAs split in two)
HOST=$(awk -F': *' '/^model name/ && !m { m = $2 } /^cpu family/ && !f { f = $2 }
    /^model[ \t]*:/ && !n { n = $2 } END { printf "%s, family %s model %s", m, f, n }' /proc/cpuinfo 2>/dev/null)
echo "FMA peak: ${PEAK1:-?} GFLOP/s (1 thread), ${PEAK2:-?} GFLOP/s (2 threads); $HOST"

r=1
while [ "$r" -le "$ROUNDS" ]; do
    i=1
    while [ "$i" -le "$NROWS" ]; do
        waited=0
        while [ "$(awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN { print (l > m) }')" = 1 ] &&
            [ "$waited" -lt "$WAIT_S" ]; do
            sleep 5
            waited=$((waited + 5))
        done
        ld=$(load1)
        noisy=$(awk -v l="$ld" -v m="$LOAD_MAX" 'BEGIN { print (l > m) }')
        eval "name=\$R_NAME_$i"
        echo "round $r/$ROUNDS $name (load $ld$([ "$noisy" = 1 ] && echo ', noisy'))" >&2
        if [ $((r % 2)) = 1 ]; then
            run_one P "$i" "$r" "$ld" "$noisy"
            run_one N "$i" "$r" "$ld" "$noisy"
        else
            run_one N "$i" "$r" "$ld" "$noisy"
            run_one P "$i" "$r" "$ld" "$noisy"
        fi
        i=$((i + 1))
    done
    r=$((r + 1))
done

# the table
{
    i=1
    while [ "$i" -le "$NROWS" ]; do
        eval "echo \"row $i \$R_NAME_$i \$R_FLOPS_$i \$R_LABEL_$i\""
        i=$((i + 1))
    done
    cat "$RES"
} | awk -v p1="$PEAK1" -v p2="$PEAK2" -v host="$HOST" -v mode="$MODE" -v rounds="$ROUNDS" -v lmax="$LOAD_MAX" '
function med(a, m,    i, j, x) {
    for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function fmt(v, kind) { return kind == "rate" ? sprintf("%.4g/s", v) : sprintf("%.4g s", v) }
$1 == "row" { n = $2; name[n] = $3; flops[n] = $4; label[n] = $5; if (n > rows) rows = n; next }
{
    i = $1; who = $2; kind = $4; v = $5; ld = $6; noisy = $7
    if (ld > maxload[i]) maxload[i] = ld
    pairs[i, $3] = 1
    if (kind == "fail") { failed[i] = 1; next }
    k[i] = kind
    all[i, who, ++na[i, who]] = v
    if (!noisy) { quiet[i, who, ++nq[i, who]] = v; if (who == "N") qp[i]++ }
}
END {
    printf "\n## make compare (%s: %d rounds, quiet = 1-minute load <= %s)\n\n", mode, rounds, lmax
    printf "FMA peak (bench_peak): %s GFLOP/s at 1 thread, %s at 2; %s\n\n", p1, p2, host
    print "| workload | peer | peer median (min-max) | nabla median (min-max) | nabla faster by | % FMA peak | max load | quiet pairs |"
    print "|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= rows; i++) {
        use = nq[i, "N"] > 0 && nq[i, "P"] > 0 ? "q" : "a"
        for (s = 0; s < 2; s++) {
            who = s ? "N" : "P"; m = use == "q" ? nq[i, who] : na[i, who]
            lo = 1e300; hi = -1e300
            for (j = 1; j <= m; j++) {
                x = use == "q" ? quiet[i, who, j] : all[i, who, j]; a[j] = x
                if (x < lo) lo = x; if (x > hi) hi = x
            }
            if (m == 0) { md[who] = ""; continue }
            md[who] = med(a, m); mn[who] = lo; mx[who] = hi
        }
        if (md["N"] == "" || md["P"] == "") {
            printf "| %s | %s | %s | %s | FAILED | | %s | |\n", name[i], label[i], md["P"], md["N"], maxload[i]
            continue
        }
        ratio = k[i] == "rate" ? md["N"] / md["P"] : md["P"] / md["N"]
        pk = ""
        t = name[i] ~ /-2t$/ ? p2 : p1
        if (flops[i] > 0 && t > 0 && k[i] == "rate") pk = sprintf("%.0f%%", 100 * md["N"] * flops[i] / (t * 1e9))
        if (flops[i] > 0 && t > 0 && k[i] == "time") pk = sprintf("%.0f%%", 100 * flops[i] / md["N"] / (t * 1e9))
        printf "| %s | %s | %s (%s-%s) | %s (%s-%s) | %.2fx%s | %s | %s | %d%s |\n", name[i], label[i],
            fmt(md["P"], k[i]), fmt(mn["P"], k[i]), fmt(mx["P"], k[i]),
            fmt(md["N"], k[i]), fmt(mn["N"], k[i]), fmt(mx["N"], k[i]),
            ratio, failed[i] ? " (some runs failed)" : "", pk, maxload[i], qp[i], use == "q" ? "" : " NOISY"
    }
}'
echo
echo "raw output of every run: $LOG"
