#!/bin/sh
# tests/mpi/run.sh BUILD — the distributed tests (make test-mpi): the test programs under
# mpirun with 1, 2 and 4 processes, then the nabla tool under mpirun: the same model as one
# process, resume across process counts, ZeRO-1 checkpoints, a process killed mid-run, a
# process that hangs, models that differ, --dist-info, and a build without MPI refusing to
# run as one of several processes. Prints "N passed, M failed" and exits non-zero on any
# failure.
#
# Open MPI is set up for a machine without a network (shared memory and loopback only),
# oversubscribed (more processes than cores, none bound to a core) and allowed to run as root
# (CI runs as root in a container).
build=${1:-build-mpi}
root=$(cd "$(dirname "$0")/../.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_oob=tcp OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo
export OMPI_MCA_plm_rsh_agent=false OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_hwloc_base_binding_policy=none
export NB_THREADS=1
MPIRUN="mpirun --oversubscribe --bind-to none"
NABLA=$root/$build/nabla
SPEC=$root/examples/specs/digits_mlp.spec

pass=0
fail=0
# the processes whose parent is $1 (from /proc: procps may not be installed)
children() {
    for d in /proc/[0-9]*; do
        [ "$(sed -n 's/^PPid:[[:space:]]*//p' "$d/status" 2>/dev/null)" = "$1" ] && echo "${d#/proc/}"
    done
}
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

if ! command -v mpirun >/dev/null 2>&1; then
    echo "mpirun not found: apt-get install openmpi-bin libopenmpi-dev"
    echo "0 passed, 1 failed"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# ---- the test programs
for np in 1 2 4; do
    out=$($MPIRUN -np $np "$root/$build/tests/mpi/test_ddp" 2>&1)
    rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ $rc -eq 0 ] && [ -n "$line" ] && [ "${line#*, }" = "0 failed" ]; then
        ok "test_ddp -np $np: $line"
    else
        printf '%s\n' "$out"
        bad "test_ddp -np $np (exit $rc)"
    fi
done

# ---- a process that hangs: the others fail within the timeout and end the job
t0=$(date +%s)
out=$(timeout 120 $MPIRUN -np 2 "$root/$build/tests/mpi/test_hang" 2>&1)
rc=$?
t1=$(date +%s)
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && printf '%s' "$out" | grep -q "hang detected" &&
    printf '%s' "$out" | grep -q "has died or hangs" && [ $((t1 - t0)) -lt 60 ]; then
    ok "a hanging process: the others stop with an error in $((t1 - t0)) s"
else
    printf '%s\n' "$out"
    bad "a hanging process (exit $rc after $((t1 - t0)) s)"
fi

# ---- the tool: 2 processes x batch 16 = 1 process x batch 32
q="--quiet --threads 1"
$NABLA train "$SPEC" --epochs 4 --batch 32 --out one.safetensors $q >/dev/null 2>err1.txt
$MPIRUN -np 2 "$NABLA" train "$SPEC" --epochs 4 --batch 16 --out two.safetensors \
    --log two.csv --plot two.svg --checkpoint ck.safetensors --every 2 $q >out2.txt 2>err2.txt
if [ $? -eq 0 ] && "$root/$build/tests/mpi/compare_models" two.safetensors one.safetensors 1e-5; then
    ok "nabla train: 2 processes with batch 16 give the model of 1 with batch 32"
else
    cat err1.txt err2.txt
    bad "nabla train: 2 processes against 1"
fi
# process 0 alone writes: one log line per epoch, no stray temporary files
if [ "$(wc -l <two.csv)" -eq 5 ] && [ -s two.svg ] && [ -s ck.safetensors ] &&
    [ "$(ls -A | grep -c '\.tmp')" -eq 0 ]; then
    ok "nabla train: one log, plot and checkpoint, written by process 0"
else
    ls -la
    bad "nabla train: logs and checkpoints"
fi

# ---- resume from 2 processes (epoch 2) with 4 processes x batch 8, and with 1 x 32
$MPIRUN -np 2 "$NABLA" train "$SPEC" --epochs 2 --batch 16 --checkpoint half.safetensors \
    --out half_out.safetensors $q 2>err3.txt
$MPIRUN -np 4 "$NABLA" train "$SPEC" --epochs 4 --batch 8 --resume half.safetensors \
    --out four.safetensors $q 2>>err3.txt
$NABLA train "$SPEC" --epochs 4 --batch 32 --resume half.safetensors --out back1.safetensors \
    $q 2>>err3.txt
if "$root/$build/tests/mpi/compare_models" four.safetensors one.safetensors 1e-5 &&
    "$root/$build/tests/mpi/compare_models" back1.safetensors one.safetensors 1e-5; then
    ok "resume: a checkpoint of 2 processes continued by 4 and by 1 (same global batch)"
else
    cat err3.txt
    bad "resume across process counts"
fi

# ---- ZeRO-1: same model; its checkpoint (whole optimizer state) resumed without it
$MPIRUN -np 2 "$NABLA" train "$SPEC" --epochs 2 --batch 16 --zero --checkpoint zck.safetensors \
    --out zhalf.safetensors $q 2>err4.txt
$MPIRUN -np 4 "$NABLA" train "$SPEC" --epochs 4 --batch 8 --zero --resume zck.safetensors \
    --out zfour.safetensors $q 2>>err4.txt
$NABLA train "$SPEC" --epochs 4 --batch 32 --resume zck.safetensors --out z1.safetensors $q \
    2>>err4.txt
if "$root/$build/tests/mpi/compare_models" zhalf.safetensors half_out.safetensors 1e-5 &&
    "$root/$build/tests/mpi/compare_models" zfour.safetensors one.safetensors 1e-5 &&
    "$root/$build/tests/mpi/compare_models" z1.safetensors one.safetensors 1e-5; then
    ok "ZeRO-1: the same model, and its checkpoints resume with and without it"
else
    cat err4.txt
    bad "ZeRO-1 through the tool"
fi

# ---- deterministic: two runs, the same bits
$MPIRUN -np 2 "$NABLA" train "$SPEC" --epochs 2 --batch 16 --deterministic --out d1.safetensors \
    $q 2>err5.txt
$MPIRUN -np 2 "$NABLA" train "$SPEC" --epochs 2 --batch 16 --deterministic --out d2.safetensors \
    $q 2>>err5.txt
if [ -s d1.safetensors ] && cmp -s d1.safetensors d2.safetensors; then
    ok "--deterministic: two runs write the same bytes"
else
    cat err5.txt
    bad "--deterministic"
fi

# ---- a process killed mid-run: the job ends, the last checkpoint is whole and resumes
$MPIRUN -np 2 "$NABLA" train "$SPEC" --epochs 100000 --batch 16 --checkpoint kck.safetensors \
    --out never.safetensors --dist-timeout 20 $q >kout.txt 2>kerr.txt &
job=$!
i=0
while [ ! -s kck.safetensors ] && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
sleep 0.5
victim=$(children $job | tail -n 1)
[ -n "$victim" ] && kill -9 "$victim"
t0=$(date +%s)
i=0
while kill -0 $job 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 $job 2>/dev/null; then
    kill -9 $job
    kill -9 $(children $job) 2>/dev/null
fi
wait $job
rc=$?
t1=$(date +%s)
done_epochs=$("$NABLA" info kck.safetensors 2>>kerr.txt | sed -n 's/^progress: *\([0-9]*\) epochs.*/\1/p')
if [ -n "$victim" ] && [ $rc -ne 0 ] && [ $((t1 - t0)) -lt 50 ] && [ ! -e never.safetensors ] &&
    [ -n "$done_epochs" ] &&
    $MPIRUN -np 2 "$NABLA" train "$SPEC" --batch 16 --resume kck.safetensors \
        --epochs $((done_epochs + 1)) --out after.safetensors $q 2>>kerr.txt &&
    [ -s after.safetensors ]; then
    ok "a process killed: the job ends (exit $rc) in $((t1 - t0)) s, the checkpoint resumes"
else
    cat kerr.txt
    bad "a process killed (victim '$victim', exit $rc after $((t1 - t0)) s)"
fi

# ---- models that differ are refused at the start, reported once
cat >small.spec <<EOF
nabla-spec 1
input 64
dense 32 relu
dense 10
loss cross_entropy
optimizer adam lr=3e-3
batch 32
epochs 1
seed 1
data train=$root/data/digits/digits.csv label=digit normalize=scale:16
EOF
sed 's/dense 32 relu/dense 33 relu/' small.spec >wide.spec
$MPIRUN -np 1 "$NABLA" train small.spec $q --out a.safetensors : \
    -np 1 "$NABLA" train wide.spec $q --out b.safetensors >mm.txt 2>&1
rc=$?
if [ $rc -ne 0 ] && [ "$(grep -c "rank 1's model or optimizer differs" mm.txt)" -eq 1 ] &&
    [ ! -e a.safetensors ]; then
    ok "different models on two processes: refused at the start, one message"
else
    cat mm.txt
    bad "different models (exit $rc)"
fi

# ---- --dist-info
$MPIRUN -np 2 "$NABLA" train "$SPEC" --dist-info --bucket-kb 1 >info.txt 2>&1
if grep -q "^2 processes" info.txt && grep -q "bucket plan: 2 buckets" info.txt &&
    grep -q "67108864" info.txt; then
    ok "--dist-info: processes, bucket plan, all-reduce times"
else
    cat info.txt
    bad "--dist-info"
fi

# ---- a build without MPI refuses to run as one of several processes
if [ -x "$root/build/nabla" ]; then
    $MPIRUN -np 2 "$root/build/nabla" train "$SPEC" $q --out nompi.safetensors >nm.txt 2>&1
    if [ $? -ne 0 ] && grep -q "built without MPI" nm.txt && [ ! -e nompi.safetensors ]; then
        ok "a build without MPI under mpirun: refused"
    else
        cat nm.txt
        bad "a build without MPI under mpirun"
    fi
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
