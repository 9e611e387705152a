# zmq-auth — `make demo` and `make test` work on a fresh Debian 12 / Ubuntu machine:
# each first installs the missing system packages (scripts/install-deps.sh), then runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

CARGO ?= cargo
# The features every build of this repository uses. Not --all-features: `zmq-0-9` and
# `zmq-0-10` select the libzmq binding and one build holds exactly one (`make
# test-zmq-0-10` runs the other). `test-hooks` comes in through the dev-dependency.
FEATURES ?= zmq-0-9,cli,cli-postgres,sqlite,postgres,metrics
# Seconds one example may run before it counts as hung (a failed handshake can hang).
EXAMPLE_TIMEOUT ?= 300

# rustup puts cargo in ~/.cargo/bin; a shell that has not sourced ~/.cargo/env lacks it.
ifneq ($(wildcard $(HOME)/.cargo/bin/cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif

.PHONY: help print-features deps venv demo test test-zmq-0-10 lint doc fuzz-check fuzz loom clean

help:
	@echo "make demo   install system packages if missing, run the ironhouse example"
	@echo "make test   install system packages if missing, run cargo test (FEATURES) and every example, then the zmq-0-10 pass"
	@echo "make test-zmq-0-10  only the rust-zmq 0.10 pass (scripts/zmq-0-10.sh)"
	@echo "make lint   cargo fmt --check and cargo clippy --all-targets --features $(FEATURES) -D warnings"
	@echo "make doc    cargo doc --no-deps with warnings as errors"
	@echo "make deps   only install the missing system packages"
	@echo "make venv   create .venv with the pinned pyzmq (for the pyzmq interop tests)"
	@echo "make fuzz-check  build the fuzz targets and replay their seed inputs"
	@echo "make fuzz   fuzz each target for FUZZ_SECONDS (default 300); needs cargo-fuzz"
	@echo "make loom   model-check the engine's cross-thread hand-off with loom"

deps:
	@bash scripts/install-deps.sh

# For .ci/run: the one list of features.
print-features:
	@echo $(FEATURES)

# The Python virtualenv (.venv, pinned pyzmq from PyPI) for tests/interop_pyzmq.rs.
venv: deps
	@bash scripts/setup-pyzmq-venv.sh

demo: deps
	$(CARGO) run --example ironhouse

# The secret audit (tests/suite_audit.rs): `make test` builds with --cfg zmq_auth_audit
# (in its own target directory, so it does not rebuild what plain `cargo` builds), and
# every process of the run records what the crate logged and every secret it was given
# in AUDIT_DIR; the last step searches all the logs for all the secrets.
AUDIT_DIR ?= $(CURDIR)/target/secret-audit
AUDIT_TARGET_DIR ?= $(CURDIR)/target/audit-build
test: export ZMQ_AUTH_AUDIT_DIR := $(AUDIT_DIR)
test: export CARGO_TARGET_DIR := $(AUDIT_TARGET_DIR)
# `override`: `make test RUSTFLAGS=...` adds to the flag instead of dropping it.
test: export override RUSTFLAGS := $(RUSTFLAGS) --cfg zmq_auth_audit

# `cargo test --features $(FEATURES)` (so doctests and the `cli` feature's tool and tests/cli.rs
# run too), then every examples/*.rs except bench*, then the audit of everything they
# logged. The later steps use the same features, so nothing is rebuilt.
test: deps venv
	@if [ -n "$${CARGO_ENCODED_RUSTFLAGS:-}" ]; then \
	    echo "make test: CARGO_ENCODED_RUSTFLAGS is set; it would override RUSTFLAGS, which carries the --cfg zmq_auth_audit that the secret audit needs. Unset it (put its flags in RUSTFLAGS)." >&2; \
	    exit 1; \
	fi
	rm -rf "$(AUDIT_DIR)"
	mkdir -p "$(AUDIT_DIR)"
	$(CARGO) test --features $(FEATURES)
	@pass=0; fail=0; failed=""; \
	for f in examples/*.rs; do \
	    [ -e "$$f" ] || continue; \
	    name=$$(basename "$$f" .rs); \
	    case "$$name" in bench*) echo "skipping example $$name (benchmark)"; continue;; esac; \
	    echo "==> $(CARGO) run --quiet --features $(FEATURES) --example $$name"; \
	    if timeout -k 10 $(EXAMPLE_TIMEOUT) $(CARGO) run --quiet --features $(FEATURES) --example "$$name"; then \
	        pass=$$((pass + 1)); \
	    else \
	        rc=$$?; fail=$$((fail + 1)); failed="$$failed $$name"; \
	        if [ "$$rc" -eq 124 ]; then echo "example $$name timed out after $(EXAMPLE_TIMEOUT) s"; \
	        else echo "example $$name FAILED (exit $$rc)"; fi; \
	    fi; \
	done; \
	if [ "$$fail" -ne 0 ]; then echo "failed examples:$$failed"; fi; \
	if [ $$((pass + fail)) -eq 0 ]; then echo "no examples to run"; \
	else echo "examples: $$pass passed, $$fail failed"; fi; \
	[ "$$fail" -eq 0 ]
	$(CARGO) test --features $(FEATURES) --test suite_audit -- --ignored --nocapture
	@# The rust-zmq 0.10 pass builds elsewhere (target/zmq-0-10), without the audit cfg.
	env -u RUSTFLAGS -u ZMQ_AUTH_AUDIT_DIR -u CARGO_TARGET_DIR bash scripts/zmq-0-10.sh

# The crate on rust-zmq 0.10 (feature zmq-0-10) with the README's `links` override, and
# tests/downstream (a zmq 0.10 application, the tokio example): see the script.
test-zmq-0-10: deps
	bash scripts/zmq-0-10.sh

lint: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --features $(FEATURES) -- -D warnings

doc: deps
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --features $(FEATURES)

# The fuzz targets (fuzz/, their own workspace) still build, and run each seed input
# once. A plain build needs no cargo-fuzz: it links libFuzzer without coverage
# instrumentation, and libFuzzer given files runs them and exits (non-zero on a panic).
fuzz-check: deps
	$(CARGO) build --quiet --manifest-path fuzz/Cargo.toml --target-dir fuzz/target/plain
	@for src in fuzz/fuzz_targets/*.rs; do \
	    t=$$(basename "$$src" .rs); \
	    n=$$(find fuzz/seeds/$$t -type f 2>/dev/null | wc -l); \
	    [ "$$n" -gt 0 ] || { echo "fuzz target $$t has no seeds in fuzz/seeds/$$t"; exit 1; }; \
	    out=$$(fuzz/target/plain/debug/$$t fuzz/seeds/$$t/* 2>&1) || { \
	        echo "$$out" | tail -n 30; echo "fuzz target $$t FAILED on its seeds"; exit 1; }; \
	    echo "fuzz target $$t: ran $$(echo "$$out" | grep -c '^Executed') of $$n seed inputs"; \
	done

# Fuzzing for real (cargo-fuzz, libFuzzer with coverage): each target in turn for
# FUZZ_SECONDS, new inputs kept in fuzz/corpus/TARGET (not committed), the seeds read
# too. A crash stops with the input in fuzz/artifacts/TARGET/; see FUZZING.md.
# FUZZ_TARGETS picks some (default: all). LeakSanitizer ignores one known non-leak
# (fuzz/lsan-suppressions.txt says which and why); every other leak still fails.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
fuzz: deps
	@command -v cargo-fuzz >/dev/null || { echo "make fuzz needs cargo-fuzz: cargo install cargo-fuzz"; exit 1; }
	@cd fuzz && for t in $(FUZZ_TARGETS); do \
	    [ -f fuzz_targets/$$t.rs ] || { echo "no fuzz target $$t"; exit 1; }; \
	    mkdir -p corpus/$$t; \
	    echo "==> fuzzing $$t for $(FUZZ_SECONDS) s"; \
	    LSAN_OPTIONS="suppressions=$(CURDIR)/fuzz/lsan-suppressions.txt$${LSAN_OPTIONS:+:$$LSAN_OPTIONS}" \
	    RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t corpus/$$t seeds/$$t -- \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

# The loom model of src/engine/handoff.rs (tests/loom_handoff.rs), built by the loom/
# crate so that `--cfg loom` reaches only loom and the model (see loom/Cargo.toml).
loom:
	cd loom && RUSTFLAGS="--cfg loom" $(CARGO) test --release --target-dir ../target/loom --test loom_handoff

clean:
	$(CARGO) clean
