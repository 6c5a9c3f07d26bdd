# make run: set up, build the demo alone and run it.  make test: set up, build everything, run every
# test and a short fuzz run.  make install [PREFIX=dir]: the library, headers, CMake package and
# pkg-config files.  make package: a Debian package (libcppcluster-dev_<version>_<arch>.deb in BUILD).
BUILD ?= build
ASAN_BUILD ?= build-asan
GENERATOR ?= Ninja
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 10
DEMO ?= hello_server
PREFIX ?= /usr/local
LIBRARIES = cppcluster cppcluster_shared

PORT ?= 8000

.PHONY: setup configure build run run-cppcluster test asan bench fuzz install package clean

setup:
	@bash scripts/setup-debian.sh

configure: setup
	@cmake -S . -B $(BUILD) -G $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(DEMO)
	@$(BUILD)/examples/$(DEMO)

# make run-cppcluster: the cppcluster command running a plain server (no cppcluster in it) as 2
# workers on PORT, with the admin endpoint on 127.0.0.1:9100.
run-cppcluster: configure
	@cmake --build $(BUILD) -j $(JOBS) --target cppcluster_cli plain_server
	@$(BUILD)/bin/cppcluster run --listen tcp://0.0.0.0:$(PORT) --workers 2 --admin 127.0.0.1:9100 -- $(BUILD)/bench/plain_server

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

# Builds only the libraries. As root, refreshes the dynamic linker's cache afterwards so that
# programs find the new libcppcluster.so (DESTDIR=dir stages the files instead).
install: configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(LIBRARIES)
	@cmake --install $(BUILD) --prefix $(PREFIX)
	@if [ "$$(id -u)" -eq 0 ] && [ -z "$${DESTDIR:-}" ]; then ldconfig; fi

# The package holds only the libraries: build those, then cpack installs them into its staging
# tree (under Ninja it builds nothing more itself).
package: configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(LIBRARIES)
	@cd $(BUILD) && cpack -G DEB

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-release build-fuzz
