#!/usr/bin/env bash
# The one test command: installs what it needs, starts the real mail servers, runs every check.
# Run from anywhere: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "toolchain: targets and components"
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imc-unknown-none-elf
rustup component add rustfmt clippy llvm-tools
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3; }

step "rustfmt"
cargo fmt --all -- --check
for d in hal-examples/noalloc-image hal-examples/host-embassy hal-examples/boards/stm32-eth \
         hal-examples/boards/pico-w hal-examples/boards/esp32c3; do
  (cd "$d" && cargo fmt -- --check)
done

step "clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "protocol crates: no panic paths and no std/alloc in library code (tests excluded)"
# The library code of every protocol crate, as a firmware compiles it: no unwrap/expect/panic!/
# unreachable!/todo!/unimplemented! (bad input must give a typed error), no std or alloc paths.
cargo clippy --locked --lib --target thumbv7em-none-eabihf \
  -p postwire-core -p postwire-smtp -p postwire-tls -p postwire-pop3 -p postwire-mime -p postwire-imap \
  -p postwire-app -- \
  -D warnings -D clippy::unwrap_used -D clippy::expect_used -D clippy::panic -D clippy::unreachable \
  -D clippy::todo -D clippy::unimplemented -D clippy::std_instead_of_core -D clippy::alloc_instead_of_core

step "protocol crates build for the firmware targets (no_std, no alloc)"
for target in thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imc-unknown-none-elf; do
  cargo build --locked -p postwire-core -p postwire-smtp -p postwire-tls -p postwire-pop3 -p postwire-mime -p postwire-imap --target "$target"
done

step "no-allocator firmware images link, and their sizes"
bash scripts/footprint.sh

step "real mail servers (Postfix + Dovecot on loopback)"
peers="$root/../shared/peers/mail-servers.sh"
if [ -f "$peers" ]; then
  bash "$peers" up
  export POSTWIRE_REQUIRE_PEERS=1
else
  echo "NOTE: $peers not found: the real-server tests will report that they were skipped."
  if [ "${CI:-}" = "true" ]; then echo "CI needs the peers; failing."; exit 1; fi
fi

step "tests (unit, corpus, transcripts, real servers)"
cargo test --workspace --locked

step "the main job: postwire demo against the in-process test peer (README)"
cargo run --locked -q -p postwire-host-sim -- demo

step "device jobs over embassy-net on the host: two stacks joined in-process (hal-examples/host-embassy)"
(cd hal-examples/host-embassy && cargo test --locked)

step "device jobs over embassy-net on a TAP device in a private network namespace, against Postfix/Dovecot"
if [ "$(id -u)" = 0 ]; then
  bash hal-examples/host-embassy/tap-test.sh
elif [ "${CI:-}" = "true" ]; then
  echo "CI runs as root: the TAP test needs it; failing."; exit 1
else
  echo "SKIPPED: the TAP test needs root (sudo bash hal-examples/host-embassy/tap-test.sh)"
fi

step "fuzz targets, a short run each (nightly, cargo-fuzz)"
bash scripts/fuzz-smoke.sh

step "done"
