#!/usr/bin/env bash
# The device jobs over embassy-net on a TAP device against the real Postfix/Dovecot peers.
# Needs root. Usage (from anywhere): bash hal-examples/host-embassy/tap-test.sh
#
# 1. starts the peers (../shared/peers/mail-servers.sh up; 127.0.0.1 only) and builds the
#    test binary and the forwarder beforehand (cargo --offline after a `cargo fetch`);
# 2. creates a private network namespace with a TAP device whose kernel side is 10.43.0.1/24
#    (the embassy-net stack is 10.43.0.2/24 on the other side of it);
# 3. makes the peers reachable from the namespace: pw-forward (this crate) listens on
#    10.43.0.1:<port> inside the namespace and passes each connection through a Unix socket
#    in a private temp directory to a second pw-forward outside, which connects to
#    127.0.0.1:<port> (a socket path is visible from both namespaces: no veth, no routes);
# 4. runs the test binary inside the namespace with POSTWIRE_TAP set, and removes
#    everything on exit (trap).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${POSTWIRE_SHARED:-$(cd "$repo/.." && pwd)/shared}

if [ "$(id -u)" != 0 ]; then
    echo "tap-test.sh: needs root (network namespace and TAP device)" >&2
    exit 2
fi

ns=pwtap$$
tap=pwtap0
host_ip=10.43.0.1
dev_addr=10.43.0.2/24
run=$(mktemp -d /tmp/pw-tap.XXXXXX)
pids=()

cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$run"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "tap-test: starting the mail peers"
if ! bash "$shared/peers/mail-servers.sh" up >"$run/peers.log" 2>&1; then
    cat "$run/peers.log" >&2
    echo "tap-test: mail-servers.sh up failed" >&2
    exit 1
fi
env_file=${MAILPEERS_DIR:-/tmp/mailpeers}/mailpeers.env
# shellcheck disable=SC1090
. "$env_file"

echo "tap-test: building"
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
cargo fetch --locked >/dev/null
cargo build --locked --offline --bin pw-forward
bin=$(cargo test --locked --offline --test tap --no-run --message-format=json \
    | grep -o '"executable":"[^"]*"' | sed 's/"executable":"\(.*\)"/\1/' | grep '/tap-' | tail -n 1)
fwd=$CARGO_TARGET_DIR/debug/pw-forward
[ -x "$bin" ] || { echo "tap-test: test binary not found" >&2; exit 1; }

echo "tap-test: network namespace $ns, TAP device $tap ($host_ip on the kernel side)"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" ip tuntap add dev "$tap" mode tap
ip -n "$ns" addr add "$host_ip/24" dev "$tap"
ip -n "$ns" link set "$tap" up

ports=("$MAILPEERS_SUBMISSIONS_PORT" "$MAILPEERS_SUBMISSION_PORT" "$MAILPEERS_IMAPS_PORT"
    "$MAILPEERS_IMAP_PORT" "$MAILPEERS_POP3S_PORT" "$MAILPEERS_POP3_PORT")
outer=() inner=()
for p in "${ports[@]}"; do
    outer+=("unix:$run/$p.sock=tcp:$MAILPEERS_HOST:$p")
    inner+=("tcp:$host_ip:$p=unix:$run/$p.sock")
done
"$fwd" --ready "$run/outer.ready" "${outer[@]}" &
pids+=($!)
ip netns exec "$ns" "$fwd" --ready "$run/inner.ready" "${inner[@]}" &
pids+=($!)
for _ in $(seq 100); do
    [ -e "$run/outer.ready" ] && [ -e "$run/inner.ready" ] && break
    sleep 0.1
done
[ -e "$run/outer.ready" ] && [ -e "$run/inner.ready" ] || { echo "tap-test: forwarders did not start" >&2; exit 1; }

echo "tap-test: running $(basename "$bin") in $ns"
ip netns exec "$ns" env POSTWIRE_TAP="$tap" POSTWIRE_TAP_HOST="$host_ip" POSTWIRE_TAP_ADDR="$dev_addr" \
    MAILPEERS_DIR="$(dirname "$env_file")" "$bin"
