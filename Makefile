# Thin wrapper over CMake: the two commands a user needs are `make run` and
# `make test`; both install missing Debian packages first (scripts/install-deps).
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps run test sanitize clean format bundle

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The main job: the dossier (devices & health, and every capability's quick mode).
run: deps
	@$(MAKE) --no-print-directory build
	$(BUILD)/gpuops dossier -o out/dossier

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Test suite under AddressSanitizer + UndefinedBehaviorSanitizer (no CUDA plugin).
sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGPUOPS_SANITIZE=ON -DGPUOPS_CUDA=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# What a GPU-machine run carries (scripts/gpu-bundle; docs/gpu-runs.md).
bundle: deps
	scripts/gpu-bundle

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cu')

clean:
	rm -rf $(BUILD) build-asan out dist
