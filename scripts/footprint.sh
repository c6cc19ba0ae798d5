#!/usr/bin/env bash
# Firmware footprint: builds the "proof of no allocation" images (hal-examples/noalloc-image:
# #![no_std], no #[global_allocator], no `alloc` crate) for thumbv7em-none-eabihf and
# thumbv6m-none-eabi in release (opt-level z, LTO) and prints their section sizes.
#
# The link succeeding is the proof: any allocation anywhere in the graph would fail with
# "no global memory allocator found". The script also checks that no `alloc`/`std` feature
# is enabled in the images' (non-proc-macro) dependency graph.
#
# Run from the repository root: bash scripts/footprint.sh
# Exits non-zero if a build or a check fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE_DIR="$ROOT/hal-examples/noalloc-image"
TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi)
BINS=(smtp-plain smtp-tls)

# The image crate is its own workspace with its own .cargo/config.toml (link.x), which cargo
# only reads from the current directory: build from there.
cd "$IMAGE_DIR"

if command -v rustup >/dev/null 2>&1; then
    rustup target add "${TARGETS[@]}" >/dev/null
    rustup component add llvm-tools >/dev/null
fi

SYSROOT="$(rustc --print sysroot)"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="$SYSROOT/lib/rustlib/$HOST/bin"
LLVM_SIZE="$BIN_DIR/llvm-size"
LLVM_NM="$BIN_DIR/llvm-nm"
if [[ ! -x "$LLVM_SIZE" ]]; then
    echo "footprint: $LLVM_SIZE not found (rustup component add llvm-tools)" >&2
    exit 1
fi

for target in "${TARGETS[@]}"; do
    echo "footprint: building ${BINS[*]} for $target" >&2
    cargo build --release --target "$target" --bins
    # No alloc/std feature may be enabled in what ends up on the device (proc-macros run on
    # the host and may use std).
    tree="$(cargo tree -e normal,features,no-proc-macro --target "$target")"
    bad="$(grep -E 'feature "(alloc|std)"' <<<"$tree" | sort -u || true)"
    if [[ -n "$bad" ]]; then
        echo "footprint: alloc/std features in the $target image's dependency graph:" >&2
        echo "$bad" >&2
        exit 1
    fi
done

section() { # section NAME ELF -> size in bytes (0 when absent)
    "$LLVM_SIZE" -A "$2" | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

symbol_size() { # symbol_size PATTERN ELF -> size of the first matching symbol
    local hex
    hex="$("$LLVM_NM" -S -C "$2" | awk -v p="$1" 'index($0, p) && !done { print $2; done = 1 }')"
    if [[ -n "$hex" ]]; then printf '%d' "$((16#$hex))"; fi
}

describe() {
    case "$1" in
        smtp-plain) echo "SMTP, plain TCP" ;;
        smtp-tls) echo "SMTP, TLS 1.3 (implicit + STARTTLS)" ;;
        *) echo "$1" ;;
    esac
}

echo
echo "postwire no-allocation firmware images (release: opt-level z, LTO, codegen-units 1, panic abort)"
echo "flash = .vector_table + .text + .rodata + .data; RAM = .data + .bss (static; the stack comes on top)"
echo
printf '%-36s | %-22s | %8s | %8s | %6s | %7s | %8s | %11s\n' \
    image target .text .rodata .data .bss flash "alert task"
printf -- '%.0s-' {1..126}
echo
for bin in "${BINS[@]}"; do
    for target in "${TARGETS[@]}"; do
        elf="target/$target/release/$bin"
        if [[ ! -f "$elf" ]]; then
            echo "footprint: $elf missing" >&2
            exit 1
        fi
        text="$(section .text "$elf")"
        rodata="$(section .rodata "$elf")"
        data="$(section .data "$elf")"
        bss="$(section .bss "$elf")"
        vt="$(section .vector_table "$elf")"
        flash=$((vt + text + rodata + data))
        # The alert task's static storage: its future with every buffer it holds (TCP, SMTP and
        # TLS record buffers) and the nested client/handshake futures.
        task="$(symbol_size "::alert_task::POOL" "$elf")"
        printf '%-36s | %-22s | %8d | %8d | %6d | %7d | %8d | %11s\n' \
            "$(describe "$bin")" "$target" "$text" "$rodata" "$data" "$bss" "$flash" "${task:-?}"
    done
done
echo
echo "sizes in bytes; 'alert task' = .bss of the task running the mail client (its future incl. buffers)"
