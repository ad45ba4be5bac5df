# Quick start: `make demo` builds everything (installing missing Debian packages when run as root) and runs
# the demo; `make test` builds and runs the whole CTest suite.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build demo test clean

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

clean:
	rm -rf $(BUILD)
