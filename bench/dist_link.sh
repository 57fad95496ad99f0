#!/bin/sh
# bench/dist_link.sh — the data-parallel CNN step over an emulated network link
# (docs/distributed.md, "Over an emulated network link"): ROUNDS times, bench_dist on 2
# processes over shared memory, then over TCP on the loopback interface shaped to RATE by the
# kernel's token-bucket filter; then all-reduce latency and bandwidth over the shaped and the
# unshaped link. Needs root (tc), a build with MPI=1 and a quiet machine.
#
#     make MPI=1 mpi-build && sh bench/dist_link.sh [RATE] [ROUNDS]
RATE=${1:-10gbit}
ROUNDS=${2:-3}
BIN=${BUILD:-build-mpi}/bench/bench_dist
export OMPI_MCA_oob=tcp OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
shape() { tc qdisc add dev lo root tbf rate "$RATE" burst 2mb limit 16mb || exit 1; }
unshape() { tc qdisc del dev lo root 2>/dev/null; }
trap unshape EXIT INT TERM
unshape
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    echo "== round $i: shared memory (load $(cut -d' ' -f1-3 /proc/loadavg))"
    OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none \
        mpirun -np 2 --bind-to none "$BIN" --model cnn || exit 1
    shape
    echo "== round $i: TCP over loopback shaped to $RATE"
    OMPI_MCA_btl=self,tcp mpirun -np 2 --bind-to none "$BIN" --model cnn || exit 1
    unshape
    i=$((i + 1))
done
shape
echo "== all-reduce over TCP shaped to $RATE"
OMPI_MCA_btl=self,tcp mpirun -np 2 --bind-to none "$BIN" --alpha-beta || exit 1
unshape
echo "== all-reduce over unshaped loopback TCP"
OMPI_MCA_btl=self,tcp mpirun -np 2 --bind-to none "$BIN" --alpha-beta
