# reqivo build, demo and test entry points. `make` builds the library and
# checks the header; `make demo` shows it working; `make test` runs everything.
CBINDGEN_VERSION := 0.29.4
CARGO_FUZZ_VERSION := 0.13.2
H11_VERSION := 0.16.0
CARGO ?= cargo
RELEASE_DIR := target/release
DEBUG_DIR := target/debug
BUILD := build
CC ?= cc
CFLAGS_TEST := -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude
PYTHON ?= python3
GO ?= go
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ABI_MAJOR := $(word 1,$(subst ., ,$(VERSION)))

# `make test` covers hardening through test-rust (tests/faults.rs, and
# tests/stress.rs at 20,000 requests) and test-c (test_faults, test_misuse
# with its header check, stress_threads plain and under helgrind).
.PHONY: deps-demo stress soak fuzz fuzz-smoke fuzz-diff fuzz-diff-all deps-fuzz bench test-go test-ruby docs docs-check bindings bindings-check all lib lib-debug install install-lib install-debug uninstall test-install header header-check deps deps-cbindgen deps-system demo test test-rust test-c test-cpp fmt-check clean

all: lib header-check

# The shared library's soname is libreqivo.so.$(ABI_MAJOR) (build.rs), so
# programs linked in the tree look for that name: link it beside the file.
lib:
	$(CARGO) build --release --locked
	ln -sf libreqivo.so $(RELEASE_DIR)/libreqivo.so.$(ABI_MAJOR)

lib-debug:
	$(CARGO) build --locked
	ln -sf libreqivo.so $(DEBUG_DIR)/libreqivo.so.$(ABI_MAJOR)

# Regenerate include/reqivo.h with the pinned cbindgen.
header: deps-cbindgen
	cbindgen --quiet --config cbindgen.toml --crate reqivo --output include/reqivo.h

# Fails when the checked-in header differs from what the sources generate.
header-check: deps-cbindgen
	@mkdir -p $(BUILD)
	cbindgen --quiet --config cbindgen.toml --crate reqivo --output $(BUILD)/reqivo.h
	@diff -u include/reqivo.h $(BUILD)/reqivo.h || { echo "include/reqivo.h is stale: run 'make header' and commit it"; exit 1; }
	@echo "header-check: include/reqivo.h matches the sources"

deps: deps-cbindgen deps-system deps-fuzz

deps-cbindgen:
	@cbindgen --version 2>/dev/null | grep -q " $(CBINDGEN_VERSION)$$" || { \
	  echo "installing (cargo): cbindgen $(CBINDGEN_VERSION), about a minute"; \
	  $(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked --quiet; }

# cargo-fuzz for fuzz/run.sh, and h11 (the independent parser fuzz-diff
# compares against), both pinned so results do not drift between machines.
# A distribution Python refuses pip installs (PEP 668) unless told that
# this one package is fine.
deps-fuzz:
	@cargo fuzz --version 2>/dev/null | grep -q " $(CARGO_FUZZ_VERSION)$$" || { \
	  echo "installing (cargo): cargo-fuzz $(CARGO_FUZZ_VERSION), about two minutes"; \
	  $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --quiet; }
	@$(PYTHON) -c 'import h11, sys; sys.exit(h11.__version__ != "$(H11_VERSION)")' 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check "h11==$(H11_VERSION)" 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check --break-system-packages "h11==$(H11_VERSION)"

# What `make demo` needs on a fresh machine: a C compiler, Ruby with its ffi
# gem (the Ruby demo) and the `websockets` Python package (the WebSocket echo
# server) and openssl (the demo's HTTPS CA); installed only where missing (apt needs root). Go and Rust are
# expected, as the README says.
DEMO_APT := ruby ruby-ffi openssl
# What `make test` needs on top: nginx, valgrind, strace (tests/syscalls.rs),
# openssl (the C TLS tests' PKI), the C++ and CMake toolchain, Ruby's test,
# Faraday and async (the fiber scheduler tests) packages, the system's
# public suffix list, and the brotli and zstd command-line tools (they
# compress the br and zstd bodies of the decoding tests in every language),
# and microsocks (the SOCKS5 peer of the proxy tests).
TEST_APT := $(DEMO_APT) nginx-light valgrind strace g++ cmake pkg-config \
  ruby-minitest ruby-webrick ruby-faraday ruby-async publicsuffix brotli zstd \
  microsocks

deps-demo:
	@tools/install_deps.sh $(DEMO_APT)

deps-system:
	@tools/install_deps.sh $(TEST_APT)

# docs/API.md is generated from the header; every function's comment must
# state ownership, NULL handling, thread safety, returns and version.
docs:
	$(PYTHON) tools/gen_api_docs.py

docs-check:
	$(PYTHON) tools/gen_api_docs.py --check

# What the bindings take from the header (DESIGN §3): Go's codes_gen.go,
# Ruby's codes.rb and native_gen.rb, and the exception block of
# include/reqivo.hpp, all written by tools/gen_bindings.py.
bindings:
	$(PYTHON) tools/gen_bindings.py

# Fails, with a diff, when a generated file differs from what the header
# makes now, and when include/reqivo.hpp neither calls an export nor lists
# it, with the reason, as unwrapped (Go and Ruby check their own coverage
# in their tests).
bindings-check:
	$(PYTHON) tools/gen_bindings.py --check --check-coverage

# Benchmarks (not part of `make test`): nginx on CPU 0, each client on
# CPU 1; writes bench/REPORT.md. See bench/README.md.
bench: lib
	bench/run.sh

# Thread stress at full size: 200,000 requests on 8 threads sharing one
# session against nginx (`make test` runs 20,000). STRESS_FLAGS=--release
# measures the optimized build instead (one more build of the crate).
STRESS_REQUESTS ?= 200000
STRESS_FLAGS ?=
stress:
	REQIVO_STRESS_REQUESTS=$(STRESS_REQUESTS) REQIVO_REQUIRE_NGINX=1 \
	  $(CARGO) test --locked $(STRESS_FLAGS) --test stress -- --nocapture

# The soak (not part of `make test`): one million keep-alive requests to
# nginx through the C API, RSS printed every 100,000; about a minute.
soak: lib
	nice tests/soak/run.sh

# ---- install ----------------------------------------------------------
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
DESTDIR ?=
STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
# Path from lib/cmake/reqivo back to the prefix, for a relocatable package.
LIBREL := $(patsubst $(PREFIX)/%,%,$(LIBDIR))
REL_PREFIX := $(shell echo "$(LIBREL)/cmake/reqivo" | sed 's|[^/]*|..|g')
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
  -e 's|@ABI_MAJOR@|$(ABI_MAJOR)|g' -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|g' -e 's|@LIBREL@|$(LIBREL)|g' \
  -e 's|@REL_PREFIX@|$(REL_PREFIX)|g' -e 's|@STATIC_LIBS_CMAKE@|$(subst $(space),;,$(STATIC_LIBS))|g'
empty :=
space := $(empty) $(empty)

# The installed libraries are stripped (the release build keeps debug info
# for profiling): the .so loses its symbol table and debug info but keeps its
# exported reqivo_* symbols, and names its debug file (.gnu_debuglink); the .a
# loses its debug info and the LLVM bitcode rustc embeds for its own LTO (a C
# linker never reads it). `make install-debug` adds that debug file in
# $(LIBDIR)/.debug, where gdb looks, and the .a with its debug info.
# packaging/ldconfig.sh then runs ldconfig when LIBDIR is in the dynamic
# linker's search path and we are root (not for a DESTDIR staging), or says
# how programs find the library when it is not.
STRIP ?= strip
OBJCOPY ?= objcopy
NO_BITCODE := --remove-section=.llvmbc --remove-section=.llvmcmd
SO := libreqivo.so.$(VERSION)
DEBUG_FILE := $(DESTDIR)$(LIBDIR)/.debug/$(SO).debug

# install builds the library (make lib) where cargo is on the PATH; where it
# is not, as under `sudo make install` (sudo's PATH seldom has cargo), it
# installs what `make lib` built.
install-lib:
	@if command -v $(CARGO) >/dev/null 2>&1; then $(MAKE) --no-print-directory lib; \
	elif [ -f $(RELEASE_DIR)/libreqivo.so ] && [ -f $(RELEASE_DIR)/libreqivo.a ]; then \
	  echo "$(CARGO) not found: installing the library 'make lib' built"; \
	else echo "$(CARGO) not found and no library built: run 'make lib', then 'sudo make install'"; exit 1; fi

install: install-lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/reqivo $(DESTDIR)$(PREFIX)/include
	install -m 755 $(RELEASE_DIR)/libreqivo.so $(DESTDIR)$(LIBDIR)/$(SO)
	$(OBJCOPY) --only-keep-debug $(DESTDIR)$(LIBDIR)/$(SO) $(DESTDIR)$(LIBDIR)/$(SO).debug
	$(STRIP) --strip-unneeded --remove-section=.comment $(DESTDIR)$(LIBDIR)/$(SO)
	cd $(DESTDIR)$(LIBDIR) && $(OBJCOPY) --add-gnu-debuglink=$(SO).debug $(SO) && rm $(SO).debug
	ln -sf $(SO) $(DESTDIR)$(LIBDIR)/libreqivo.so.$(ABI_MAJOR)
	ln -sf libreqivo.so.$(ABI_MAJOR) $(DESTDIR)$(LIBDIR)/libreqivo.so
	$(STRIP) --strip-debug $(NO_BITCODE) --remove-section=.comment --enable-deterministic-archives \
	  -o $(DESTDIR)$(LIBDIR)/libreqivo.a $(RELEASE_DIR)/libreqivo.a
	chmod 644 $(DESTDIR)$(LIBDIR)/libreqivo.a
	install -m 644 include/reqivo.h include/reqivo.hpp $(DESTDIR)$(PREFIX)/include/
	$(SUBST) packaging/reqivo.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/reqivo.pc
	$(SUBST) packaging/reqivo-static.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/reqivo-static.pc
	$(SUBST) packaging/reqivoConfig.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/reqivo/reqivoConfig.cmake
	$(SUBST) packaging/reqivoConfigVersion.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/reqivo/reqivoConfigVersion.cmake
	@DESTDIR="$(DESTDIR)" packaging/ldconfig.sh install $(LIBDIR)

# The same debug info as the installed .so (objcopy's output is the same for
# the same build, so it matches the .so's debuglink), and the .a unstripped.
install-debug: install
	install -d $(dir $(DEBUG_FILE))
	$(OBJCOPY) --only-keep-debug $(RELEASE_DIR)/libreqivo.so $(DEBUG_FILE)
	chmod 644 $(DEBUG_FILE)
	$(OBJCOPY) $(NO_BITCODE) $(RELEASE_DIR)/libreqivo.a $(DESTDIR)$(LIBDIR)/libreqivo.a

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(SO) $(DESTDIR)$(LIBDIR)/libreqivo.so.$(ABI_MAJOR) \
	  $(DESTDIR)$(LIBDIR)/libreqivo.so $(DESTDIR)$(LIBDIR)/libreqivo.a $(DEBUG_FILE) \
	  $(DESTDIR)$(PREFIX)/include/reqivo.h $(DESTDIR)$(PREFIX)/include/reqivo.hpp \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/reqivo.pc $(DESTDIR)$(LIBDIR)/pkgconfig/reqivo-static.pc \
	  $(DESTDIR)$(LIBDIR)/cmake/reqivo/reqivoConfig.cmake $(DESTDIR)$(LIBDIR)/cmake/reqivo/reqivoConfigVersion.cmake
	rmdir $(DESTDIR)$(LIBDIR)/cmake/reqivo $(dir $(DEBUG_FILE)) 2>/dev/null || true
	@DESTDIR="$(DESTDIR)" packaging/ldconfig.sh uninstall $(LIBDIR)

demo: deps-demo lib
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -Wall -Wextra -O2 -Iinclude examples/get.c -o $(BUILD)/get -L$(RELEASE_DIR) -lreqivo -Wl,-rpath,$(CURDIR)/$(RELEASE_DIR)
	$(CC) -std=c11 -Wall -Wextra -O2 -Iinclude examples/json_cookies.c -o $(BUILD)/json_cookies -L$(RELEASE_DIR) -lreqivo -Wl,-rpath,$(CURDIR)/$(RELEASE_DIR)
	$(CC) -std=c11 -Wall -Wextra -O2 -Iinclude examples/ws_echo.c -o $(BUILD)/ws_echo -L$(RELEASE_DIR) -lreqivo -Wl,-rpath,$(CURDIR)/$(RELEASE_DIR)
	cd examples/go && CGO_CFLAGS="$$(../../bindings/go/cgo_cflags.sh)" $(GO) build -tags reqivo_tree -o ../../$(BUILD)/go-demo .
	$(PYTHON) examples/demo_server.py $(BUILD)/get $(BUILD)/json_cookies $(BUILD)/go-demo \
	  "env REQIVO_LIB=$(CURDIR)/$(RELEASE_DIR)/libreqivo.so ruby -Ibindings/ruby/lib examples/ruby/demo.rb" \
	  --ws $(BUILD)/ws_echo --ws "$(BUILD)/go-demo ws" \
	  --ws "env REQIVO_LIB=$(CURDIR)/$(RELEASE_DIR)/libreqivo.so ruby -Ibindings/ruby/lib examples/ruby/ws_echo.rb"

# rustfmt, and no tracked file citing a tracker item instead of saying what
# it means (tools/check_citations.py).
fmt-check:
	@$(CARGO) fmt --version >/dev/null 2>&1 || { echo "installing (rustup): rustfmt"; rustup component add rustfmt; }
	$(CARGO) fmt --all -- --check
	$(PYTHON) tools/check_citations.py

test: deps fmt-check header-check bindings-check docs-check test-rust fuzz-smoke fuzz-diff test-c test-cpp test-install test-go test-ruby

# The Ruby binding, against this checkout's library (REQIVO_LIB wins over
# an installed copy found through pkg-config).
test-ruby: lib
	REQIVO_LIB=$(CURDIR)/$(RELEASE_DIR)/libreqivo.so bindings/ruby/test.sh

# The Go binding against this checkout's library (-tags reqivo_tree): generated
# codes current, vet, -race, and -tags reqivo_debug. test-install builds a Go
# program outside the tree against the installed copy.
test-go: lib
	bindings/go/test.sh

# Installs into a temporary prefix; builds C (pkg-config) and C++ (CMake)
# programs against the installed copy; checks exported symbols and soname.
test-install: lib
	tests/install/run.sh

# The C++ wrapper, warnings as errors, under AddressSanitizer and UBSan.
test-cpp: lib-debug
	@mkdir -p $(BUILD)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-omit-frame-pointer -Iinclude \
	  tests/cpp/wrapper_test.cpp -o $(BUILD)/wrapper_test -L$(DEBUG_DIR) -lreqivo -Wl,-rpath,$(CURDIR)/$(DEBUG_DIR) -pthread
	timeout 120 $(BUILD)/wrapper_test

test-rust:
	$(CARGO) test --locked

# Fuzzing (fuzz/run.sh): replays fuzz/regressions and fuzz/corpus, then runs
# each target for FUZZ_SECONDS. The build is cached in fuzz/target.
fuzz: deps-fuzz
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),300) fuzz/run.sh

# The CI run: 60 s per target unless FUZZ_SECONDS says otherwise.
fuzz-smoke: deps-fuzz
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) fuzz/run.sh

# reqivo's reading of the checked-in corpus against h11's (the same on
# every run, so `make test` cannot fail by chance); fails on a disagreement
# fuzz/DIFFERENTIAL.md does not explain. `make fuzz-diff-all` also reads
# what the fuzzers generated (fuzz/target/corpus): new disagreements to
# fix or write down, and to seed into fuzz/corpus.
fuzz-diff: deps-fuzz
	$(CARGO) build --locked --quiet --features fuzzing --example wire_view
	$(PYTHON) fuzz/differential/compare.py --wire-view $(DEBUG_DIR)/examples/wire_view

fuzz-diff-all: deps-fuzz
	$(CARGO) build --locked --quiet --features fuzzing --example wire_view
	$(PYTHON) fuzz/differential/compare.py --generated --wire-view $(DEBUG_DIR)/examples/wire_view

test-c: lib lib-debug
	tests/c/run.sh

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
