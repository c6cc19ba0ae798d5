#!/usr/bin/env bash
# Firmware footprint: builds the "proof of no allocation" images (hal-examples/noalloc-image:
# #![no_std], no #[global_allocator], no `alloc` crate) for thumbv7em-none-eabihf and
# thumbv6m-none-eabi in release (opt-level z, LTO) and prints their section sizes.
#
# The link succeeding is the proof: any allocation anywhere in the graph would fail with
# "no global memory allocator found". The script also checks that no `alloc`/`std` feature
# is enabled in the images' (non-proc-macro) dependency graph.
#
# A second table gives the size of the future of each main IMAP client method
# (postwire_imap::client::Client over the firmware's transport, `&mut TlsStream<&mut
# embassy_net::tcp::TcpSocket>`, with embassy-time's Delay; the callbacks capture two
# references, as in the imap-tls image), measured on the target, not on the host: the bin
# `imap-future-sizes` holds, per method, a static byte array `imap_future_sizes::<method>::FUTURE`
# whose length rustc computes as `core::mem::size_of` of the method's future while it compiles
# the image for the target in release (the mechanism embassy's #[task] uses to size a task's
# static storage), and an embassy task awaiting only that call (linked, never spawned) whose
# static storage `<method>::task::POOL` is that future plus a small, about constant overhead
# (task header, arguments, state): a check of the first number. Both sizes are read from the
# ELF with llvm-nm -S; the thumbv6m sizes are compared too.
#
# A third table gives the flash cost of each certificate signature algorithm of postwire-tls
# (its features p256, p384, ed25519, rsa) in the TLS image: the image is rebuilt for
# thumbv7em-none-eabihf with each feature set, and the whole set is also linked for
# thumbv6m-none-eabi (and checked for alloc/std features).
#
# Run from the repository root: bash scripts/footprint.sh
# Exits non-zero if a build or a check fails.
set -euo pipefail
# The images are a workspace of their own and are looked up in their own target/ folder.
unset CARGO_TARGET_DIR

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE_DIR="$ROOT/hal-examples/noalloc-image"
TARGETS=(thumbv7em-none-eabihf thumbv6m-none-eabi)
BINS=(smtp-plain smtp-tls pop3-tls imap-tls mime-compose imap-codec)

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
        pop3-tls) echo "POP3, TLS 1.3 (command-mailbox poll)" ;;
        imap-tls) echo "IMAP client, TLS 1.3 (+STARTTLS)" ;;
        mime-compose) echo "MIME compose + read (no network)" ;;
        imap-codec) echo "IMAP codec: encoder, mUTF-7, reader" ;;
        *) echo "$1" ;;
    esac
}

echo
echo "postwire no-allocation firmware images (release: opt-level z, LTO, codegen-units 1, panic abort)"
echo "flash = .vector_table + .text + .rodata + .data; RAM = .data + .bss (static; the stack comes on top)"
echo
printf '%-36s | %-22s | %8s | %8s | %6s | %7s | %8s | %11s\n' \
    image target .text .rodata .data .bss flash "task"
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
        # The task's static storage: its future with every buffer it holds (TCP, protocol and
        # TLS record buffers) and the nested client/handshake futures.
        case "$bin" in
            pop3-tls) task_fn=poll_task ;;
            imap-tls) task_fn=mailbox_task ;;
            mime-compose) task_fn=compose_task ;;
            imap-codec) task_fn=imap_task ;;
            *) task_fn=alert_task ;;
        esac
        task="$(symbol_size "::${task_fn}::POOL" "$elf")"
        printf '%-36s | %-22s | %8d | %8d | %6d | %7d | %8d | %11s\n' \
            "$(describe "$bin")" "$target" "$text" "$rodata" "$data" "$bss" "$flash" "${task:-?}"
    done
done
echo
echo "sizes in bytes; 'task' = .bss of the task running the mail code (its future incl. every buffer it holds)"

# --- IMAP client futures ----------------------------------------------------------------------
IMAP_METHODS=(greet starttls login authenticate select fetch fetch_body_with search store move_to
    append idle new_since)
imap_label() {
    case "$1" in
        starttls) echo "starttls (plain TCP)" ;;
        *) echo "$1" ;;
    esac
}
echo
echo "IMAP client future sizes (bytes, thumbv7em)"
echo "Client<&mut TlsStream<&mut TcpSocket>, Delay>; future = size_of of the method's future (rustc,"
echo "for the target), task = static storage of an embassy task awaiting only that call"
echo
printf '%-36s | %8s | %8s | %8s\n' method future task overhead
printf -- '%.0s-' {1..68}
echo
elf="target/thumbv7em-none-eabihf/release/imap-future-sizes"
elf6="target/thumbv6m-none-eabi/release/imap-future-sizes"
for elf_ in "$elf" "$elf6"; do
    if [[ ! -f "$elf_" ]]; then
        echo "footprint: $elf_ missing" >&2
        exit 1
    fi
done
differs=()
for m in "${IMAP_METHODS[@]}"; do
    fut="$(symbol_size "imap_future_sizes::${m}::FUTURE" "$elf")"
    pool="$(symbol_size "imap_future_sizes::${m}::task::POOL" "$elf")"
    if [[ -z "$fut" || -z "$pool" ]]; then
        echo "footprint: no future/task symbol for $m in $elf" >&2
        exit 1
    fi
    flag=""
    if ((fut > 8192)); then flag="  <- over 8 KiB"; fi
    printf '%-36s | %8d | %8d | %8d%s\n' "$(imap_label "$m")" "$fut" "$pool" $((pool - fut)) "$flag"
    fut6="$(symbol_size "imap_future_sizes::${m}::FUTURE" "$elf6")"
    if [[ "$fut6" != "$fut" ]]; then differs+=("$m: ${fut6:-?}"); fi
done
echo
if ((${#differs[@]} == 0)); then
    echo "thumbv6m-none-eabi: the same future sizes"
else
    echo "thumbv6m-none-eabi differs: ${differs[*]}"
fi

# --- Certificate signature algorithms: flash per postwire-tls feature -------------------------
FEATURE_SETS=("" "p256" "p256,p384" "p256,ed25519" "p256,rsa" "p256,p384,ed25519,rsa")
ALL_FEATURES="p256,p384,ed25519,rsa"
OUT="target/footprint"
mkdir -p "$OUT"

flash_of() { # flash_of ELF -> .vector_table + .text + .rodata + .data
    echo $(( $(section .vector_table "$1") + $(section .text "$1") + $(section .rodata "$1") + $(section .data "$1") ))
}

for features in "${FEATURE_SETS[@]}"; do
    echo "footprint: building smtp-tls for thumbv7em-none-eabihf with features [${features}]" >&2
    cargo build --release --target thumbv7em-none-eabihf --bin smtp-tls --no-default-features \
        --features "$features"
    cp "target/thumbv7em-none-eabihf/release/smtp-tls" "$OUT/smtp-tls-v7em-${features:-none}"
done
echo "footprint: building smtp-tls for thumbv6m-none-eabi with features [$ALL_FEATURES]" >&2
cargo build --release --target thumbv6m-none-eabi --bin smtp-tls --no-default-features \
    --features "$ALL_FEATURES"
cp "target/thumbv6m-none-eabi/release/smtp-tls" "$OUT/smtp-tls-v6m-all"
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    tree="$(cargo tree -e normal,features,no-proc-macro --target "$target" --no-default-features \
        --features "$ALL_FEATURES")"
    bad="$(grep -E 'feature "(alloc|std)"' <<<"$tree" | sort -u || true)"
    if [[ -n "$bad" ]]; then
        echo "footprint: alloc/std features with postwire-tls/[$ALL_FEATURES] on $target:" >&2
        echo "$bad" >&2
        exit 1
    fi
done
# Back to the default features, so that the binaries in target/ match the first table.
cargo build --release --target thumbv7em-none-eabihf --bin smtp-tls >/dev/null 2>&1
cargo build --release --target thumbv6m-none-eabi --bin smtp-tls >/dev/null 2>&1

none="$(flash_of "$OUT/smtp-tls-v7em-none")"
p256="$(flash_of "$OUT/smtp-tls-v7em-p256")"
echo
echo "TLS image (smtp-tls, thumbv7em-none-eabihf): flash by certificate signature algorithm"
echo "(postwire-tls features; 'none' verifies no signature at all and only shows the base cost)"
echo
printf '%-26s | %8s | %8s | %8s | %12s | %12s\n' features .text .rodata flash "vs none" "vs p256"
printf -- '%.0s-' {1..88}
echo
for features in "${FEATURE_SETS[@]}"; do
    elf="$OUT/smtp-tls-v7em-${features:-none}"
    flash="$(flash_of "$elf")"
    printf '%-26s | %8d | %8d | %8d | %+12d | %+12d\n' "${features:-none}" \
        "$(section .text "$elf")" "$(section .rodata "$elf")" "$flash" \
        $((flash - none)) $((flash - p256))
done
elf="$OUT/smtp-tls-v6m-all"
echo
printf 'thumbv6m-none-eabi with %s: .text %d, .rodata %d, flash %d, .bss %d (links without an allocator)\n' \
    "$ALL_FEATURES" "$(section .text "$elf")" "$(section .rodata "$elf")" "$(flash_of "$elf")" \
    "$(section .bss "$elf")"

# Board firmware (hal-examples/boards: STM32 Ethernet, Pico W, ESP32-C3), each job linked as
# an image of its own; one target dir shared by the three board workspaces. build-all.sh fails
# when a Cortex-M image links an allocator.
echo
echo "Board firmware (hal-examples/boards; release, opt-level z, LTO): bytes per board and job"
echo "(flash = code + read-only data + initialised data; ram = static RAM incl. all buffers;"
echo " heap = part of ram given to an allocator: only the ESP32-C3's vendor Wi-Fi driver needs one)"
echo
CARGO_TARGET_DIR="$ROOT/hal-examples/boards/target" bash "$ROOT/hal-examples/boards/build-all.sh"
