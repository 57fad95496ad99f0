# nabla — the primary build. Needs only a C11 compiler and make.
#
#   make            static and shared library, examples, the nabla tool
#   make demo       build and run the examples
#   make test       build and run every test
#   make asan       the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make tsan       the threading tests under ThreadSanitizer
#   make memcheck   every test binary under valgrind memcheck, in parallel with -j
#   make bench      build and run the benchmarks
#   make compare    nabla against PyTorch / numpy, interleaved, as one table (MODE=quick|full)
#   make fuzz       build the libFuzzer harnesses (clang) and run each for FUZZ_SECONDS
#   make fuzz-long  a campaign: each harness for FUZZ_SECONDS, executions and findings recorded
#   make install    library, headers, nabla.pc, the tool (PREFIX=/usr/local)
#   make MPI=1      the same with the MPI back end (src/dist), in build-mpi/
#   make test-mpi   the distributed tests under mpirun (needs libopenmpi-dev, openmpi-bin)

#   make wasm       the browser page (web/): nabla compiled to WebAssembly by emscripten
#   make test-web   the page tested in headless Chromium (docs/web.md)
#
# BUILD=dir puts every output under dir (default build/); BLAS=openblas routes GEMM to
# OpenBLAS through CBLAS.

# MPI=1: the data-parallel back end (src/dist, nabla/dist.h) with Debian's OpenMPI
# (libopenmpi-dev): everything is compiled with mpicc, into build-mpi/ by default, and
# `nabla train` runs under mpirun. make test-mpi runs the distributed tests.
ifeq ($(MPI),1)
CC      := mpicc
BUILD   ?= build-mpi
endif
CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
OPT     ?= -O2 -g
WERROR  ?=
CFLAGS_EXTRA ?=
LDFLAGS_EXTRA ?=

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter $(WERROR)
CFLAGS  := -std=c11 $(OPT) $(WARN) -fPIC -pthread -Iinclude -Isrc $(CFLAGS_EXTRA)
LDLIBS  := -lm -pthread
LDFLAGS := $(LDFLAGS_EXTRA)

# Library sources: every .c under src/ except the optional back ends.
LIB_SRC := $(sort $(wildcard src/*/*.c src/*/*/*.c))
LIB_SRC := $(filter-out src/dist/% src/cuda/%,$(LIB_SRC))
ifeq ($(MPI),1)
LIB_SRC += $(sort $(wildcard src/dist/*.c))
CFLAGS  += -DNB_HAVE_MPI
endif

# zlib, for gzip-compressed IDX files: found through pkg-config or a compile probe. ZLIB=0
# builds without it (a .gz input then gives a message saying how to get it).
ifndef ZLIB
ZLIB := $(shell pkg-config --exists zlib 2>/dev/null && echo 1 || \
	(printf '\043include <zlib.h>\nint main(void){return zlibVersion()==0;}\n' | \
	$(CC) -x c - -o /dev/null -lz >/dev/null 2>&1 && echo 1 || echo 0))
endif
ifeq ($(ZLIB),1)
CFLAGS  += -DNB_HAVE_ZLIB
LDLIBS  += -lz
endif

ifeq ($(BLAS),openblas)
CFLAGS  += -DNB_USE_CBLAS $(shell pkg-config --cflags openblas 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
endif

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)

# The per-ISA kernels (src/kernels/x86/*_avx2.c, *_avx512.c) alone get the instruction-set
# flags; kernels.c calls them only after cpuid says the CPU runs them, so one binary runs on
# any x86-64. Elsewhere those files compile to nothing.
ifneq ($(filter x86_64% i386% i486% i586% i686% amd64%,$(shell $(CC) -dumpmachine)),)
$(BUILD)/src/kernels/x86/%_avx2.o: CFLAGS += -mavx2 -mfma -ffp-contract=off
$(BUILD)/src/kernels/x86/%_avx512.o: CFLAGS += -mavx512f -mavx2 -mfma -ffp-contract=off
$(BUILD)/src/kernels/x86/%_f16c.o: CFLAGS += -mf16c -mavx
# int8 (kernels/x86/qgemm_*.c): the dot-product instructions of quantized inference
$(BUILD)/src/kernels/x86/%_avxvnni.o: CFLAGS += -mavxvnni -mavx2 -mfma -ffp-contract=off
$(BUILD)/src/kernels/x86/%_avx512bw.o: CFLAGS += -mavx512f -mavx512bw -mavx2 -mfma -ffp-contract=off
$(BUILD)/src/kernels/x86/%_avx512vnni.o: CFLAGS += -mavx512f -mavx512bw -mavx512vnni -mavx2 -mfma -ffp-contract=off
endif
LIB_A   := $(BUILD)/libnabla.a
LIB_SO  := $(BUILD)/libnabla.so

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c examples/guide/*.c))
TOOL_SRC := $(wildcard tools/nabla/*.c)
TOOL     := $(BUILD)/nabla
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
BENCHES  := $(patsubst bench/%.c,$(BUILD)/bench/%,$(filter-out bench/bench_dist.c,$(wildcard bench/bench_*.c)))
TEST_SUPPORT := $(wildcard tests/support/*.c)
TEST_HDRS := tests/nbtest.h $(wildcard tests/support/*.h)

.PHONY: all lib tool examples demo test test-python check asan tsan memcheck memcheck-run bench compare fuzz fuzz-long fuzz-build install uninstall clean format test-mpi mpi-build wasm test-web test-web-run serve-web emcc-check
all: lib examples tool

lib: $(LIB_A) $(LIB_SO)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

# The command-line tool (tools/nabla): the only program of the project that ends the process.
tool: $(TOOL)

$(TOOL): $(TOOL_SRC) $(wildcard tools/nabla/*.h) $(LIB_A)
	$(CC) $(CFLAGS) $(TOOL_SRC) -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT) $(TEST_HDRS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support $< $(TEST_SUPPORT) -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

# examples/xor is timed as a whole process (docs/benchmarks.md, 50x numpy's loop): linked
# statically where the toolchain can (a probe; not under sanitizers or MPI), it skips the
# dynamic loader's relocations and page faults, a measurable part of a 4 ms process.
# valgrind's memcheck cannot follow a static binary's malloc: `make XOR_STATIC=` links it
# dynamically (the tests, which memcheck runs, are never static).
ifeq ($(findstring -fsanitize,$(CFLAGS))$(MPI),)
XOR_STATIC := $(shell printf 'int main(void){return 0;}\n' | \
	$(CC) -x c - -static -o /dev/null $(LDLIBS) >/dev/null 2>&1 && echo -static)
$(BUILD)/examples/xor: LDFLAGS += $(XOR_STATIC)
endif

# Examples whose parts live in a header, shared with their test.
$(BUILD)/examples/char_lstm $(BUILD)/examples/char_gpt: examples/lm_common.h
$(BUILD)/examples/fortune_classifier $(BUILD)/tests/test_fortune_classifier: examples/fortune_classifier.h

# The hostile-input suite (tests/hostile/): gen_inputs writes bad inputs into a temporary
# directory at test time, and test_hostile feeds them to every command of the tool.
TESTS += $(BUILD)/tests/test_hostile
$(BUILD)/tests/hostile/gen_inputs: tests/hostile/gen_inputs.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/test_hostile: tests/hostile/test_hostile.c $(BUILD)/tests/hostile/gen_inputs $(TEST_SUPPORT) $(TEST_HDRS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support $< $(TEST_SUPPORT) -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

# The C side of the browser page (web/): tested natively here, compiled to WebAssembly by
# `make wasm` below.
WEB_SRC := web/playground.c web/datasets.c
$(BUILD)/tests/test_web: tests/test_web.c $(WEB_SRC) web/playground.h $(TEST_SUPPORT) $(TEST_HDRS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support -Iweb $< $(WEB_SRC) $(TEST_SUPPORT) -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

# Benchmarks load OpenBLAS (when installed) with dlopen to compare against it.
$(BUILD)/bench/%: bench/%.c $(wildcard bench/*.h) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS) -ldl

examples: $(EXAMPLES)

# XOR, then the digits classifier (data/digits/, shipped), then one epoch of the Fashion-MNIST
# MLP when Debian's dataset-fashion-mnist is installed.
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
demo: $(BUILD)/examples/xor $(BUILD)/examples/digits $(BUILD)/examples/fmnist_mlp
	@echo "== XOR: a 2-4-1 sigmoid network, plain gradient descent"
	$(BUILD)/examples/xor
	@echo "== digits: 8x8 handwritten digits, 64-64-10 MLP"
	$(BUILD)/examples/digits
	@if [ -d "$(FMNIST_DIR)" ] && [ "$(ZLIB)" != 1 ]; then \
	    echo "== Fashion-MNIST: skipped (its IDX files are gzip-compressed and this build has no zlib; apt-get install zlib1g-dev)"; \
	elif [ -d "$(FMNIST_DIR)" ]; then \
	    echo "== Fashion-MNIST: 784-256-128-10 MLP, one epoch"; \
	    echo "$(BUILD)/examples/fmnist_mlp --data $(FMNIST_DIR) --epochs 1"; \
	    $(BUILD)/examples/fmnist_mlp --data "$(FMNIST_DIR)" --epochs 1 || exit 1; \
	else \
	    echo "== Fashion-MNIST: skipped ($(FMNIST_DIR) not found; apt-get install dataset-fashion-mnist)"; \
	fi

test: $(TESTS) $(BUILD)/tests/test_includes $(BUILD)/tests/test_ops_loops $(TOOL)
	@sh tests/run.sh $(BUILD)/tests

# The include rule (tests/check_includes.sh: no file includes from a layer above its own),
# run by tests/run.sh beside the test binaries, from the repository root.
$(BUILD)/tests/test_includes: tests/check_includes.sh
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\nexec sh tests/check_includes.sh --all\n' > $@
	@chmod +x $@

# No loop over tensor data in op code (tests/scripts/ops_loops.sh: every such loop is a
# kernel behind the back end), run the same way.
$(BUILD)/tests/test_ops_loops: tests/scripts/ops_loops.sh
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\nexec sh tests/scripts/ops_loops.sh --all\n' > $@
	@chmod +x $@

check: test

# The whole suite again under the sanitizers, in its own build directory.
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" test

# The tests that run threads (shared models, the thread pool, prefetch), under TSan.
TSAN_BINS := $(notdir $(basename $(wildcard tests/test_nn.c tests/test_gemm.c tests/test_kernels.c tests/test_backend.c tests/test_data.c tests/test_train.c tests/test_audio_data.c tests/test_seq.c tests/test_seqlayers.c tests/test_replica_hooks.c tests/test_spectral_ops.c tests/test_quant.c tests/test_qkernels.c tests/test_conv.c tests/test_conv_direct.c tests/test_conv_implicit.c)))
tsan:
	$(MAKE) BUILD=build-tsan CC=clang OPT="-O1 -g -fsanitize=thread" $(addprefix build-tsan/tests/,$(TSAN_BINS))
	@for t in $(TSAN_BINS); do echo "== tsan $$t"; TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/$$t >/dev/null || exit 1; done
	@echo "tsan: clean"

# Every test binary under valgrind memcheck (tests/scripts/memcheck.sh), one make job each:
# errors and definite leaks fail it, naming the binary and its first error; logs, the tests'
# output and exit codes in $(BUILD)/memcheck/. Skipped with a note where valgrind is absent.
MEMCHECK_BINS := $(notdir $(TESTS))
memcheck: $(TESTS) $(TOOL)
	@if command -v valgrind >/dev/null 2>&1; then \
	    rm -rf $(BUILD)/memcheck && $(MAKE) --no-print-directory memcheck-run; \
	else \
	    echo "memcheck: skipped (valgrind is not installed; apt-get install valgrind)"; \
	fi

memcheck-run: $(MEMCHECK_BINS:%=$(BUILD)/memcheck/%.rc)
	@sh tests/scripts/memcheck.sh summary $(BUILD)/memcheck $(MEMCHECK_BINS)

$(BUILD)/memcheck/%.rc: $(BUILD)/tests/%
	@sh tests/scripts/memcheck.sh run $< $(BUILD)/memcheck

# Fuzzing: tests/fuzz/fuzz_*.c are libFuzzer harnesses; the library is built with coverage
# and sanitizers in build-fuzz/, and each harness runs for FUZZ_SECONDS on a copy of its
# committed seed corpus (tests/fuzz/corpus/<name>/), so new inputs never touch the tree.
# A crash, leak, sanitizer report or failed invariant stops with the input saved under
# build-fuzz/ (replay it: build-fuzz/fuzz/<name> <file>). FUZZ_ARGS passes more options.
FUZZ_SECONDS ?= 30
FUZZ_ARGS    ?=
FUZZERS      := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-build
	@for f in $(FUZZERS); do \
	    rm -rf build-fuzz/corpus/$$f && mkdir -p build-fuzz/corpus/$$f && \
	    cp tests/fuzz/corpus/$$f/* build-fuzz/corpus/$$f/ && \
	    echo "== $$f: $(FUZZ_SECONDS) s" && \
	    build-fuzz/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=build-fuzz/$$f- $(FUZZ_ARGS) build-fuzz/corpus/$$f || exit 1; \
	done

# A longer campaign: each harness for FUZZ_SECONDS on a working corpus kept in
# build-fuzz/corpus-long/ (seeded from the committed one), with executions, coverage and
# findings recorded in build-fuzz/campaign/campaign.md. FUZZERS_LONG picks harnesses.
FUZZERS_LONG ?= $(FUZZERS)
fuzz-long:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-build
	sh tests/fuzz/campaign.sh build-fuzz $(FUZZ_SECONDS) $(FUZZERS_LONG)

fuzz-build: $(FUZZERS:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $< -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

# The distributed tests (tests/mpi/): the MPI build in build-mpi/, then tests/mpi/run.sh runs
# each test program under mpirun with 1, 2 and 4 processes (oversubscribed, loopback only) and
# the command-line scenarios (resume across process counts, a process killed or hanging).
MPI_TESTS := $(patsubst tests/mpi/%.c,%,$(wildcard tests/mpi/test_*.c))
test-mpi:
	$(MAKE) MPI=1 mpi-build
	sh tests/mpi/run.sh $(if $(filter 1,$(MPI)),$(BUILD),build-mpi)

mpi-build: $(MPI_TESTS:%=$(BUILD)/tests/mpi/%) $(BUILD)/tests/mpi/compare_models $(TOOL) $(BUILD)/bench/bench_dist

$(BUILD)/tests/mpi/%: tests/mpi/%.c $(TEST_SUPPORT) $(TEST_HDRS) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support $< $(TEST_SUPPORT) -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

# The page's training in native code, to compare with the browser (docs/web.md).
BENCHES += $(BUILD)/bench/bench_web
$(BUILD)/bench/bench_web: bench/bench_web.c $(WEB_SRC) web/playground.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iweb $< $(WEB_SRC) -o $@ $(LIB_A) $(LDFLAGS) $(LDLIBS)

bench: $(BENCHES)
	@for b in $(BENCHES); do echo "== $$b"; $$b || exit 1; done

# bench/compare.sh: every workload of bench/compare_rows.sh against its peer, interleaved
MODE ?= quick
compare: $(BENCHES) $(TOOL) $(EXAMPLES)
	BUILD=$(BUILD) sh bench/compare.sh $(MODE)

# ---- the browser page (web/, docs/web.md) -------------------------------------------------
# make wasm: the library's sources and web/*.c compiled by emscripten (Debian's emscripten)
# into $(BUILD)/web/nabla.js + nabla.wasm, next to a copy of the page. Single-threaded (no
# -pthread: the pool runs everything on the calling thread, so no SharedArrayBuffer and any
# static server will do); wasm32 has no x86 kernels, so the portable C GEMM and the reference
# kernels run, as plain wasm32: WASM_SIMD=1 compiles them with WebAssembly SIMD128, which
# measured slower for the page's small products (docs/web.md).
# Debian's emcc runs its JavaScript optimiser under node with node-acorn from /usr/share/nodejs,
# which only Debian's own node searches by default: NODE_PATH names it for any other node.
EMCC      ?= emcc
WASM_OPT  ?= -O2
WASM_SIMD ?= 0
WASM_DIR  := $(BUILD)/wasm$(if $(filter 1,$(WASM_SIMD)),-simd)
WEB_OUT   := $(BUILD)/web$(if $(filter 1,$(WASM_SIMD)),-simd)
WASM_CFLAGS := -std=c11 $(WASM_OPT) $(WARN) -Iinclude -Isrc $(if $(filter 1,$(WASM_SIMD)),-msimd128) $(CFLAGS_EXTRA)
WASM_LDFLAGS := -sMODULARIZE=1 -sEXPORT_NAME=createNabla -sENVIRONMENT=web \
	-sALLOW_MEMORY_GROWTH=1 -sWASM_BIGINT=1 -sFILESYSTEM=0 \
	-sEXPORTED_FUNCTIONS=_malloc,_free,_nb_get_threads,_nb_kernel_isa \
	-sEXPORTED_RUNTIME_METHODS=ccall,UTF8ToString
WASM_OBJ  := $(LIB_SRC:%.c=$(WASM_DIR)/%.o) $(WEB_SRC:%.c=$(WASM_DIR)/%.o)
WEB_PAGE  := $(patsubst web/%,$(WEB_OUT)/%,$(wildcard web/*.html web/*.js web/*.css))
EMCC_RUN  := NODE_PATH=/usr/share/nodejs$${NODE_PATH:+:$$NODE_PATH} $(EMCC)

emcc-check:
	@command -v $(EMCC) >/dev/null 2>&1 || \
	    { echo "make wasm: $(EMCC) not found (Debian: apt-get install emscripten)"; exit 1; }

$(WASM_OBJ): | emcc-check

$(WASM_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(EMCC_RUN) $(WASM_CFLAGS) -MMD -MP -c $< -o $@

$(WEB_OUT)/nabla.js: $(WASM_OBJ)
	@mkdir -p $(dir $@)
	$(EMCC_RUN) $(WASM_OPT) $(WASM_LDFLAGS) $(WASM_OBJ) -o $@

$(WEB_PAGE): $(WEB_OUT)/%: web/%
	@mkdir -p $(dir $@)
	cp $< $@

wasm: $(WEB_OUT)/nabla.js $(WEB_PAGE)
	@ls -l $(WEB_OUT)/nabla.js $(WEB_OUT)/nabla.wasm | awk '{print $$5, $$NF}'

# make test-web: the page in Debian's chromium, headless, driven by playwright-core (from npm,
# installed once into web/test/node_modules with --ignore-scripts: no browser is downloaded).
# The test serves $(WEB_OUT) itself on a free local port; its screenshots go to $(BUILD)/web-test.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)
# Without emcc, node (>= 20), npm or chromium the test is skipped with a note saying what to
# install (exit 0): the page's C side is still tested natively by tests/test_web.c.
test-web:
	@if ! command -v $(EMCC) >/dev/null 2>&1; then \
	    echo "test-web: skipped: $(EMCC) not found (Debian: apt-get install emscripten)"; \
	elif ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
	    echo "test-web: skipped: node or npm not found (Debian: apt-get install nodejs npm)"; \
	elif ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then \
	    echo "test-web: skipped: Node.js $$(node --version) is older than 20 (playwright-core needs 20)"; \
	elif [ -z "$(CHROMIUM)" ]; then \
	    echo "test-web: skipped: no chromium (Debian: apt-get install chromium)"; \
	else \
	    $(MAKE) test-web-run; \
	fi

test-web-run: wasm $(BUILD)/examples/xor $(BUILD)/bench/bench_web
	@test -d web/test/node_modules/playwright-core || \
	    (cd web/test && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund)
	node web/test/test_web.mjs --root $(WEB_OUT) --out $(BUILD)/web-test \
	    --chromium "$(CHROMIUM)" --xor-native $(BUILD)/examples/xor \
	    --bench-native $(BUILD)/bench/bench_web

# Serves the built page on http://localhost:$(WEB_PORT)/ (any static server will do).
WEB_PORT ?= 8000
serve-web: wasm
	python3 -m http.server --bind 127.0.0.1 --directory $(WEB_OUT) $(WEB_PORT)

install: lib tool
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/nabla $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/nabla
	install -m 644 include/nabla.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/nabla/*.h include/nabla/*.def $(DESTDIR)$(PREFIX)/include/nabla/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBS_PRIVATE@|$(LDLIBS)|' -e 's|@VERSION@|$(shell sed -n 's/^#define NB_VERSION "\(.*\)"/\1/p' include/nabla/base.h)|' nabla.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nabla.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/nabla $(DESTDIR)$(PREFIX)/include/nabla.h
	rm -f $(DESTDIR)$(PREFIX)/lib/libnabla.a $(DESTDIR)$(PREFIX)/lib/libnabla.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/nabla.pc $(DESTDIR)$(PREFIX)/bin/nabla

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-*

-include $(LIB_OBJ:.o=.d)
-include $(wildcard $(WASM_DIR)/src/*/*.d $(WASM_DIR)/src/*/*/*.d $(WASM_DIR)/web/*.d)

# The link flags a program using the static library needs (for scripts).
# The Python package (python/): built with pip into $(BUILD)/python (no network, no
# build isolation: Debian's python3-setuptools), then its pytest suite. Skipped, with a note,
# when $(PYTHON) lacks its headers (python3-dev), numpy or pytest.
PYTHON ?= python3
test-python: $(LIB_A)
	@if ! $(PYTHON) -c 'import os, sysconfig, numpy, pytest, setuptools, pip; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null; then \
		echo "test-python: skipped ($(PYTHON) lacks python3-dev, pip, numpy, pytest or setuptools)"; \
	else \
		rm -rf $(BUILD)/python python/build && \
		NABLA_LIB=$(abspath $(LIB_A)) $(PYTHON) -m pip install -q --no-build-isolation --no-index --no-deps --target $(BUILD)/python ./python && \
		rm -rf python/build python/nabla.egg-info && \
		PYTHONPATH=$(abspath $(BUILD))/python NABLA_ROOT=$(CURDIR) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests; \
	fi

print-ldlibs:
	@echo $(LDLIBS)
