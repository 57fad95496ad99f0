"""Builds nabla's CPython extension (nabla._nabla) against the static library.

Run `make lib` in the repository first; then `python3 -m pip install --no-build-isolation
./python` (offline: only Debian's python3-dev and python3-setuptools). The extension links
build/libnabla.a (or $NABLA_LIB, a path to libnabla.a) statically: nothing to find at run
time. $NABLA_INCLUDE overrides the header directory."""
import os
import shlex
import subprocess

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
lib = os.environ.get("NABLA_LIB", os.path.join(root, "build", "libnabla.a"))
inc = os.environ.get("NABLA_INCLUDE", os.path.join(root, "include"))
if not os.path.exists(lib):
    raise SystemExit(f"nabla: {lib} not found; run `make lib` in the repository first "
                     "(or set NABLA_LIB to libnabla.a)")

# The library's link flags (-lm -pthread, -lz when zlib was found, openblas when enabled).
libs = ["-lm", "-pthread"]
try:
    out = subprocess.run(["make", "-s", "-C", root, "print-ldlibs"], capture_output=True,
                         text=True, check=True).stdout.strip()
    if out:
        libs = shlex.split(out.splitlines()[-1])
except (OSError, subprocess.CalledProcessError):
    pass

setup(
    name="nabla",
    version="0.1.0",
    description="Python bindings of nabla, a deep-learning framework in C11",
    packages=["nabla"],
    package_data={"nabla": ["__init__.pyi", "py.typed"]},
    ext_modules=[Extension("nabla._nabla", sources=["nabla/_nabla.c"], include_dirs=[inc],
                           extra_objects=[lib], extra_compile_args=["-std=c11"],
                           extra_link_args=libs)],
)
