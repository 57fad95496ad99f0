"""Imported by every PyTorch benchmark here before torch itself: gives the BLAS the same
thread count as the run.

Debian's python3-torch does its matrix products through the system BLAS (BLAS_INFO=generic:
libblas.so.3), and once libopenblas-dev is installed that is OpenBLAS's pthreads build, whose
thread pool torch.set_num_threads does not govern: a "1-thread" PyTorch run then multiplies
on every core (measured on the 2-core benchmark machine: the char-GPT at "1 thread" used 1.5
CPU-seconds a wall second and ran at 29 k tokens/s, against 15.8 k with OpenBLAS held to one
thread). So the thread count of --threads N (1, the scripts' default, when absent) is put in
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS before any library reads them."""
import os
import sys


def _threads(argv):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


THREADS = _threads(sys.argv[1:])
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS
