# faultline — the two commands a newcomer needs: `make demo` and `make test`.
# Each installs what is missing from Debian (libpcap-dev, zlib1g-dev, and for tests the real
# servers and tools they talk to) before it builds.

SHELL := /bin/bash
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MAN_DATE ?= 2026-11-23
# At most this many tests run at once (Swift Testing starts every test at once by
# default: about 550 here, with dozens of child processes and a few hundred threads
# runnable on two cores, and the tests' shared event loops then waited seconds for a
# core; see docs/robustness.md). 12 keeps the suite near its unbounded time.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH ?= 12

# Needed to build: libpcap and zlib through pkg-config.
BUILD_PACKAGES := libpcap-dev zlib1g-dev pkg-config
# Needed by tests that talk to real servers and tools (util-linux: setpriv, to
# drop CAP_NET_RAW in the capture-refused test; curl and python3-urllib3: real clients the
# retry checker judges; redis-tools: redis-cli for the run examples; python3-yaml and
# python3-jsonschema: check the CI examples and run files against their schema;
# chromium: renders the HTML report headless; time: GNU time measures a command's own
# peak memory in the hostile-input tests).
TEST_PACKAGES := redis-server redis-tools tshark util-linux curl python3 python3-urllib3 python3-yaml python3-jsonschema chromium time

.PHONY: all build release symbol-order demo test deps test-deps man bench clean profiles fuzz sanitize

all: build

deps:
	@$(call apt_install,$(BUILD_PACKAGES))

test-deps: deps
	@$(call apt_install,$(TEST_PACKAGES))
	@# Toxiproxy's own Python client, which drives `faultline serve` in a test (PyPI; the
	@# test is skipped when it cannot be installed).
	@python3 -c 'import toxiproxy, requests' 2>/dev/null || python3 -m pip install --quiet toxiproxy-python==0.1.1 requests \
	  || echo "toxiproxy-python not installed: the Toxiproxy client test will be skipped"

build: deps
	$(SWIFT) build

## Builds the binary to install or measure: .build-release/release/faultline, optimised,
## with Swift's runtime and Foundation linked in, so it needs only libpcap, zlib and the C and C++
## runtime libraries where it runs (and starts with 3 MiB less resident; bench/RESULTS.md).
## Without run-time exclusivity checks: they were a fifth of a kept-alive request's
## instructions in the proxy (bench/RESULTS.md); the debug build the tests run keeps them,
## and every test that runs the binary passes against this one too (FAULTLINE_BINARY).
## Linked by lld with packed relative relocations and no exported symbols: the loader
## then reads 43 KB of relocations at start instead of 2.9 MB, and no 3 MB symbol
## table (packed relocations need glibc 2.36 or later where the binary runs; Debian 12
## has it). Each function in a section of its own, placed in scripts/faultline.order's
## order: the functions the proxy runs lie together, not spread over the 26 MB of code
## (`make symbol-order` writes the file). Together 8 MiB less resident in an idle proxy
## (bench/RESULTS.md, "Functions placed together").
## The bench scripts build with these flags too (`make release RELEASE_SCRATCH=…`).
RELEASE_SCRATCH ?= .build-release
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -enforce-exclusivity=unchecked \
	-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic \
	-Xswiftc -Xfrontend -Xswiftc -function-sections \
	-Xlinker --symbol-ordering-file=$(CURDIR)/scripts/faultline.order -Xlinker --no-warn-symbol-ordering \
	--product faultline
# The Swift driver keeps objects built with other -Xfrontend flags (its incremental build
# looks at the sources only), so a change of flags starts the release build afresh.
release: deps
	@stamp=$(RELEASE_SCRATCH)/release-flags; \
	if [ -d $(RELEASE_SCRATCH)/release ] && [ "$$(cat $$stamp 2>/dev/null)" != "$(RELEASE_FLAGS)" ]; then \
	  echo "release flags changed: building $(RELEASE_SCRATCH) afresh"; \
	  rm -rf "$$(readlink -f $(RELEASE_SCRATCH)/release)" $(RELEASE_SCRATCH)/release; \
	fi
	$(SWIFT) build $(RELEASE_FLAGS) --scratch-path $(RELEASE_SCRATCH)
	@echo "$(RELEASE_FLAGS)" > $(RELEASE_SCRATCH)/release-flags

## Rewrites scripts/faultline.order from a run of the release build under valgrind
## (scripts/symbol-order.py), then links the release build again with it.
symbol-order: release
	@$(call apt_install,valgrind redis-server redis-tools)
	scripts/symbol-order.py $(RELEASE_SCRATCH)/release/faultline
	@# SwiftPM does not know the file: remove the binary so that it links again.
	rm -f $(RELEASE_SCRATCH)/release/faultline
	$(SWIFT) build $(RELEASE_FLAGS) --scratch-path $(RELEASE_SCRATCH)

## Runs the whole pipeline on embedded sample services.
demo: deps
	$(SWIFT) build --product faultline
	.build/debug/faultline demo

## Builds and runs every test.
## The log is kept in .build/test.log; failures are repeated at the end so they are
## the last thing on screen.
test: test-deps
	$(SWIFT) build --build-tests
	@set -o pipefail; $(SWIFT) test --skip-build 2>&1 | tee .build/test.log || { \
	  echo; echo "== failures (the whole log is in .build/test.log) =="; \
	  grep -E -A6 '^✘.*(recorded|failed)|^.*Fatal error|^error:' .build/test.log | head -150; exit 1; }

## Runs each parser's libFuzzer target (HTTP, RESP, line, length, profile, event log,
## pcap) for FUZZ_SECONDS (600) each, FUZZ_JOBS (2) at a time, at the lowest priority.
## Never built by `build` or `test`; see docs/robustness.md.
fuzz: deps
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),600) FUZZ_JOBS=$(or $(FUZZ_JOBS),2) scripts/fuzz.sh $(FUZZ_TARGETS)

## Runs the suite under --sanitize=thread, then --sanitize=address (scratch folders
## .build-tsan and .build-asan); SANITIZERS and SANITIZE_FILTER narrow it.
sanitize: test-deps
	scripts/sanitize.sh

## Regenerates man/faultline.1 from the commands' own help.
man: deps
	@$(call apt_install,python3)
	$(SWIFT) package plugin --allow-writing-to-package-directory generate-manual --date $(MAN_DATE)
	$(SWIFT) build --product faultline
	@# The generator leaves out each option's default and writes a generic EXIT STATUS:
	@# scripts/man-page.py puts both back from the same help (and .Pp between paragraphs).
	set -o pipefail; .build/debug/faultline --experimental-dump-help \
	  | python3 scripts/man-page.py .build/plugins/GenerateManual/outputs/faultline/faultline.1 > .build/faultline.1
	mv .build/faultline.1 man/faultline.1

## Rebuilds the profile library built into the binary from profiles/*.yaml
## (ShippedProfilesTests fails when it is out of date).
profiles:
	scripts/generate-shipped-profiles.sh

## Benchmarks against no proxy, haproxy and socat (run by hand, not in CI).
bench: deps
	bench/run.sh

clean:
	rm -rf .build

# apt_install(PACKAGES): installs the ones dpkg does not know yet, quietly.
define apt_install
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  echo "installing from Debian:$$missing"; \
  $(SUDO) apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
fi
endef
