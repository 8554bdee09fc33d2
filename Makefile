# The project's entry points. `make test` is what CI runs (.ci/run), on a fresh machine too.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: setup test fmt lint unit build release emulator bench demo clean

## demo: from a fresh clone: emulator, build, up, invoke --local against moto, then stop
demo:
	scripts/demo

## setup: install what the tests need: the Rust components and the emulator's .venv
setup:
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@scripts/emulator setup

## test: format check, clippy with -D warnings, then every unit and emulator test
test: setup fmt lint
	$(CARGO) test --workspace

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## release: the function's bootstrap, tuned for size and cold start
release:
	$(CARGO) build --release -p function

## bench: measure the function and the deployer against moto; prints a table, writes bench/results.json
bench: setup
	$(CARGO) build --profile bench -p deployer -p bench
	target/release/bench   # cargo puts the bench profile's output in target/release

## emulator: run moto on port 5000 in the foreground (Ctrl-C stops it)
emulator:
	scripts/emulator start 5000

clean:
	$(CARGO) clean
