#!/bin/sh
# tests/scripts/memcheck.sh — valgrind memcheck over the test binaries (make memcheck).
#
#   memcheck.sh run BINARY LOGDIR      runs one test binary under memcheck, from the repository
#                                      root: valgrind's report to LOGDIR/<name>.log, the test's
#                                      own output to LOGDIR/<name>.out, the exit code to
#                                      LOGDIR/<name>.rc. Always succeeds, so that make -j runs
#                                      every binary; the verdict is the summary's.
#   memcheck.sh summary LOGDIR NAME... one line per binary (errors, definite leaks, exit code,
#                                      test count) and, for each that failed, its first error
#                                      with the top of its stack; exits non-zero when any
#                                      binary had a memcheck error or failed a test.
#
# Errors are what memcheck counts: invalid reads and writes, uses of uninitialised values,
# bad frees, overlapping copies, bad system-call arguments, and definitely lost blocks
# (--errors-for-leak-kinds=definite; memory still reachable at exit is not an error).
# Children are not followed (test_hostile and the CLI tests run build/nabla natively; the
# tool's code is the library's, which the other binaries exercise under memcheck).
# NABLA_TEST_SLOWDOWN tells the timed tests that the process runs many times slower than
# native; what they assert about growth (linear, not quadratic) still holds.
set -u
mode=${1:?usage: memcheck.sh run BINARY LOGDIR | summary LOGDIR NAME...}
shift
case $mode in
run)
    bin=$1
    dir=$2
    name=$(basename "$bin")
    mkdir -p "$dir"
    rm -f "$dir/$name.log" "$dir/$name.out" "$dir/$name.rc"
    NABLA_TEST_SLOWDOWN=${NABLA_TEST_SLOWDOWN:-60} valgrind --tool=memcheck -q \
        --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --show-leak-kinds=definite --num-callers=24 --trace-children=no \
        --log-file="$dir/$name.log" ${MEMCHECK_ARGS:-} "$bin" >"$dir/$name.out" 2>&1
    rc=$?
    echo "$rc" >"$dir/$name.rc"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$dir/$name.out" | tail -n 1)
    echo "memcheck $name: exit $rc${line:+, $line}"
    exit 0
    ;;
summary)
    dir=$1
    shift
    bad=""
    n=0
    for name in "$@"; do
        n=$((n + 1))
        log="$dir/$name.log"
        rc=$(cat "$dir/$name.rc" 2>/dev/null || echo "?")
        line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$dir/$name.out" 2>/dev/null | tail -n 1)
        # -q leaves only the reports in the log: one headline each, then its stack
        errs=$(grep -E '^==[0-9]+== [A-Z0-9]' "$log" 2>/dev/null | grep -vc '== Warning')
        lost=$(grep -c 'definitely lost in' "$log" 2>/dev/null)
        printf '%-26s exit %-3s %3s errors (%s definitely lost)  %s\n' "$name" "$rc" "$errs" \
            "$lost" "${line:-no summary line}"
        if [ "$rc" != 0 ] || [ -z "$line" ] || [ "$errs" != 0 ]; then
            bad="$bad $name"
        fi
    done
    echo
    for name in $bad; do
        log="$dir/$name.log"
        rc=$(cat "$dir/$name.rc" 2>/dev/null || echo "?")
        if [ "$rc" = 99 ] || grep -E '^==[0-9]+== [A-Z0-9]' "$log" 2>/dev/null | grep -vq '== Warning'; then
            echo "memcheck: $name: first error ($log):"
            # the first report: its headline and the top of its stack
            awk '/^==[0-9]+== [A-Z0-9]/ && !/== Warning/ && !seen { seen = 1 } seen { print; if (++k >= 8) exit }' "$log"
        else
            echo "memcheck: $name: the test failed (exit $rc), memcheck found nothing; output in $dir/$name.out:"
            grep -v '^ok ' "$dir/$name.out" | tail -n 8
        fi
        echo
    done
    if [ -n "$bad" ]; then
        echo "memcheck: FAILED:$bad ($n binaries)"
        exit 1
    fi
    echo "memcheck: $n binaries, 0 errors, no definite leaks, every test passed"
    ;;
*)
    echo "memcheck.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
