# The project's entry points. `make test` is what CI runs (.ci/run), on a fresh machine too.
SHELL := /bin/bash
CARGO ?= cargo
# The dependency-policy checker (deny.toml); `make setup` installs exactly this version.
CARGO_DENY_VERSION := 0.20.2
# The other Lambda architecture's Rust target: arm64 (Graviton) on an x86_64 host, and back.
CROSS_TARGET := $(if $(filter aarch64,$(shell uname -m)),x86_64,aarch64)-unknown-linux-gnu

.PHONY: setup test fmt lint deny audit soak unit build release emulator bench demo clean

## demo: from a fresh clone: emulator, build, up, invoke --local against moto, then stop
demo:
	scripts/demo

## setup: install what the tests need: the Rust components and the other architecture's target,
## cargo-deny, the emulator's .venv, the Debian packages of scripts/debian (chromium, strace, the
## cross toolchain and qemu-user) and actionlint (scripts/actionlint, into .tools/)
setup:
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup target list --installed 2>/dev/null | grep -qx '$(CROSS_TARGET)' || rustup target add $(CROSS_TARGET)
	@$(CARGO) deny --version 2>/dev/null | grep -qx 'cargo-deny $(CARGO_DENY_VERSION)' \
	  || $(CARGO) install --locked cargo-deny@$(CARGO_DENY_VERSION)
	@scripts/emulator setup
	@scripts/debian setup
	@scripts/actionlint setup

## test: format check, clippy with -D warnings, the dependency policy, then every unit and emulator test
test: setup fmt lint deny
	$(CARGO) test --workspace

## deny: the dependency policy of deny.toml: licenses, banned crates, sources (offline once fetched)
deny:
	$(CARGO) deny check licenses bans sources

## audit: known vulnerabilities (RustSec); needs the network, so it is not part of `make test`
audit:
	$(CARGO) deny check advisories

## soak: the full fault and crash sweeps (every kill point, 10 seeds per fault rate) and each printed
## action of `deployer policy` deleted in turn, with figures
soak: setup
	SOAK=1 $(CARGO) test -p deployer --test faults --test crash --test policy -- --nocapture --test-threads 1

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## release: the function's bootstrap, tuned for size and cold start
release:
	$(CARGO) build --release -p function

## bench: measure the function and the deployer against moto (with 0 and 40 ms per request, and in
## AWS-typical mode beside each verb's critical path); prints a table, writes bench/results.json
bench: setup
	$(CARGO) build --profile bench -p deployer -p bench -p testkit
	target/release/bench   # cargo puts the bench profile's output in target/release

## emulator: run moto on port 5000 in the foreground (Ctrl-C stops it)
emulator:
	scripts/emulator start 5000

clean:
	$(CARGO) clean
