#!/usr/bin/env bash
# Builds every board firmware under hal-examples/boards (each board crate is its own cargo
# workspace with its own target in .cargo/config.toml and its own Cargo.lock) in release mode
# with the locked dependencies, and prints one line per board and job:
#
#   board  job  flash  ram  heap      (bytes)
#
#   flash  what is written to flash: code, read-only data, initialised data (and the RP2040
#          boot2 block, the ESP app descriptor, ESP code copied to IRAM at start-up);
#   ram    statically allocated RAM: .data + .bss (+ ESP IRAM code and the heap region in the
#          boot loader's reclaimed RAM); includes the heap below; the call stack is the rest;
#   heap   part of ram given to a heap allocator: 0 = no allocator in the image. Only the
#          ESP32-C3 has one, for its vendor Wi-Fi driver (postwire does not allocate).
#
# Usage: bash hal-examples/boards/build-all.sh [board ...]
#   (default boards: stm32-eth pico-w esp32c3). CARGO_TARGET_DIR is honoured (default:
#   each board's own target/). Build times go to stderr, the table to stdout.
# Settings (POSTWIRE_SMTP_HOST, POSTWIRE_CA, ...) are read at build time, see README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
boards=("$@")
if [ ${#boards[@]} -eq 0 ]; then
    boards=(stm32-eth pico-w esp32c3)
fi
jobs=(alert imap-commands pop3-commands)

# Targets and llvm-size (rustup component llvm-tools).
installed=$(rustup target list --installed)
for b in "${boards[@]}"; do
    t=$(sed -n 's/^target *= *"\(.*\)"/\1/p' "$here/$b/.cargo/config.toml" | head -n1)
    if ! grep -qx "$t" <<<"$installed"; then
        rustup target add "$t" >&2
        installed=$(rustup target list --installed)
    fi
done
bin=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin
if [ ! -x "$bin/llvm-size" ]; then
    rustup component add llvm-tools >&2
fi

# Sums the sizes of the named sections (an extended regex) of an ELF file.
sections() {
    "$bin/llvm-size" -A "$1" | awk -v re="^($2)\$" '$1 ~ re { s += $2 } END { print s + 0 }'
}

rows=()
for b in "${boards[@]}"; do
    t=$(sed -n 's/^target *= *"\(.*\)"/\1/p' "$here/$b/.cargo/config.toml" | head -n1)
    tdir=${CARGO_TARGET_DIR:-$here/$b/target}
    start=$(date +%s)
    (cd "$here/$b" && CARGO_TARGET_DIR="$tdir" cargo build --release --locked --quiet)
    echo "build-all: $b built in $(($(date +%s) - start)) s" >&2
    for j in "${jobs[@]}"; do
        elf="$tdir/$t/release/$j"
        case "$t" in
            riscv32*)
                flash=$(sections "$elf" '\.trap|\.rwtext|\.rwtext\.wifi|\.data|\.data\.wifi|\.flash\.appdesc|\.rodata|\.rodata\.wifi|\.text')
                ram=$(sections "$elf" '\.trap|\.rwtext|\.rwtext\.wifi|\.data|\.data\.wifi|\.bss|\.noinit|\.dram2_uninit')
                ;;
            *)
                flash=$(sections "$elf" '\.vector_table|\.boot2|\.text|\.rodata|\.data')
                ram=$(sections "$elf" '\.data|\.bss|\.uninit')
                ;;
        esac
        # The regions of esp-alloc's heap_allocator! are statics named HEAP (esp_alloc::HEAP is
        # the allocator itself).
        heap=$("$bin/llvm-nm" -S --radix=d --demangle "$elf" | awk '$3 ~ /^[bBdD]$/ && $4 ~ /::HEAP::h[0-9a-f]+$/ && $4 !~ /^esp_alloc::/ { s += $2 } END { print s + 0 }')
        # The Cortex-M images must not contain an allocator at all (no alloc crate linked).
        if [ "$heap" = 0 ] && "$bin/llvm-nm" "$elf" | grep -qE '__rust_alloc|__rg_alloc|__rdl_alloc'; then
            echo "build-all: $b/$j links an allocator, it must not" >&2
            exit 1
        fi
        rows+=("$(printf '%-10s %-14s %8d %8d %8d' "$b" "$j" "$flash" "$ram" "$heap")")
    done
done

printf '%-10s %-14s %8s %8s %8s\n' board job flash ram heap
printf '%s\n' "${rows[@]}"
