# Quick start: `make demo` builds everything (installing missing Debian packages when run as root) and runs
# the demo; `make test` builds and runs the whole CTest suite.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build demo test test-asan fuzz clean

all: build

build:
	@tools/deps.sh build
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

demo:
	@tools/deps.sh demo
	@$(MAKE) --no-print-directory build
	@tools/demo.sh $(BUILD)

test:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer), as CI runs it.
test-asan:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory build BUILD=build-asan CMAKE_FLAGS="-DLSTMC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

# libFuzzer targets for the spec parser, pipeline text, safetensors/weights, checkpoints and the IR text
# (FUZZ_SECONDS each, default 60).
fuzz:
	@tools/deps.sh fuzz
	@tools/fuzz.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
