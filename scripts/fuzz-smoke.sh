#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a short time (FUZZ_SECONDS, default
# 10) from its committed seeds, so CI catches a parser that panics or runs away on the inputs
# libFuzzer finds quickly. Long runs are for developers: see fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-10}"
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz build 2>&1 | tail -n 3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  # libFuzzer writes new inputs into the first corpus folder: a scratch one, not the seeds.
  if cargo +nightly fuzz run "$target" "$scratch/$target" "${seeds[@]}" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 >"$scratch/$target.log" 2>&1; then
    printf 'fuzz %-16s ok   (%s)\n' "$target" "$(grep -Eo 'Done [0-9]+ runs in [0-9]+ seconds?' "$scratch/$target.log" | tail -n 1)"
  else
    failed=$((failed + 1))
    printf 'fuzz %-16s FAILED\n' "$target"
    tail -n 30 "$scratch/$target.log"
  fi
done
total=$(cargo +nightly fuzz list | wc -l)
echo "fuzz: $((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
