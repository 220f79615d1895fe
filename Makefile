# The two commands of the README:
#   make demo   build, then run pktgen -> sink over a veth pair in a private namespace
#   make test   install what is missing, build with ASan/UBSan, run every test,
#               list the skipped ones (with CI set, a skip fails the run)
BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)

.PHONY: all demo test deps deps-build bench clean format

# The build needs only the compiler, cmake and libpcap; the test suite needs
# much more (qemu, DPDK, valgrind, tshark, clang ...): scripts/install-deps.sh.
all: deps-build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

deps-build:
	@scripts/install-deps.sh build

deps:
	@scripts/install-deps.sh test

demo: all
	scripts/demo.sh $(BUILD)

# The Release build is compiled too: -O2/-O3 finds warnings (-Werror) that
# the Debug build cannot, and `make demo` uses it. The test build insists on
# the afxdp: kind (USNET_AFXDP=ON): without libxdp it fails instead of
# leaving the afxdp tests out.
test: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUSNET_SANITIZE=ON -DUSNET_AFXDP=ON
	cmake --build $(TEST_BUILD) -j $(JOBS)
	scripts/run-tests.sh $(TEST_BUILD)

bench: deps all
	bench/run-all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
