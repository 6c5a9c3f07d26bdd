# make run: set up, build and run the demo.  make test: set up, build, run every test and a short fuzz run.
BUILD ?= build
ASAN_BUILD ?= build-asan
GENERATOR ?= Ninja
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 10

.PHONY: setup configure build run test asan bench fuzz install clean

setup:
	@bash scripts/setup-debian.sh

configure: setup
	@cmake -S . -B $(BUILD) -G $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@$(BUILD)/examples/$(or $(DEMO),hello_server)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 120
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

asan: setup
	@cmake -S . -B $(ASAN_BUILD) -G $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug -DCPPCLUSTER_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 240

bench: setup
	@cmake -S . -B build-release -G $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DCPPCLUSTER_TESTS=OFF >/dev/null
	@cmake --build build-release -j $(JOBS)
	@bash bench/run.sh build-release

# make fuzz: build the libFuzzer targets (clang) in build-fuzz/ and run each FUZZ_SECONDS seconds.
fuzz: setup
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-release build-fuzz
