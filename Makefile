# reqivo build, demo and test entry points. `make` builds the library and
# checks the header; `make demo` shows it working; `make test` runs everything.
CBINDGEN_VERSION := 0.29.4
CARGO ?= cargo
RELEASE_DIR := target/release
DEBUG_DIR := target/debug
BUILD := build
CC ?= cc
CFLAGS_TEST := -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude
PYTHON ?= python3

.PHONY: all lib header header-check deps deps-cbindgen deps-system demo test test-rust test-c test-cpp fmt-check clean

all: lib header-check

lib:
	$(CARGO) build --release --locked

# Regenerate include/reqivo.h with the pinned cbindgen.
header: deps-cbindgen
	cbindgen --quiet --config cbindgen.toml --crate reqivo --output include/reqivo.h

# Fails when the checked-in header differs from what the sources generate.
header-check: deps-cbindgen
	@mkdir -p $(BUILD)
	cbindgen --quiet --config cbindgen.toml --crate reqivo --output $(BUILD)/reqivo.h
	@diff -u include/reqivo.h $(BUILD)/reqivo.h || { echo "include/reqivo.h is stale: run 'make header' and commit it"; exit 1; }
	@echo "header-check: include/reqivo.h matches the sources"

deps: deps-cbindgen deps-system

deps-cbindgen:
	@cbindgen --version 2>/dev/null | grep -q " $(CBINDGEN_VERSION)$$" || \
	  $(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked --quiet

# nginx and valgrind for the tests; installed only where missing (needs root).
deps-system:
	@missing=""; \
	  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	  command -v valgrind >/dev/null 2>&1 || missing="$$missing valgrind"; \
	  command -v $(CC) >/dev/null 2>&1 || missing="$$missing gcc"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi

demo: lib
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -Wall -Wextra -O2 -Iinclude examples/get.c -o $(BUILD)/get -L$(RELEASE_DIR) -lreqivo -Wl,-rpath,$(CURDIR)/$(RELEASE_DIR)
	$(PYTHON) examples/demo_server.py $(BUILD)/get

fmt-check:
	$(CARGO) fmt --all -- --check

test: deps fmt-check header-check test-rust test-c test-cpp

# The C++ wrapper, warnings as errors, under AddressSanitizer and UBSan.
test-cpp:
	$(CARGO) build --locked
	@mkdir -p $(BUILD)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-omit-frame-pointer -Iinclude \
	  tests/cpp/wrapper_test.cpp -o $(BUILD)/wrapper_test -L$(DEBUG_DIR) -lreqivo -Wl,-rpath,$(CURDIR)/$(DEBUG_DIR) -pthread
	timeout 120 $(BUILD)/wrapper_test

test-rust:
	$(CARGO) test --locked

test-c: lib
	$(CARGO) build --locked
	tests/c/run.sh

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
