#!/usr/bin/env bash
# Memory and speed of `postwire pop3 retr --out` over POP3S: peak RSS and throughput for a
# 20 MiB message against a 1 KiB one, and Python's poplib on the same messages for comparison.
#
# Needs the mail-server peers up (bash ../shared/peers/mail-servers.sh up), root (the messages
# are written straight into bob's Maildir: Postfix refuses messages over 10,240,000 bytes),
# python3 and /usr/bin/time. Run from the repository root: bash scripts/pop3-retr-rss.sh
# Prints a table; not a pass/fail test. The two test messages are deleted at the end (by
# unique-id, through `postwire pop3 dele N --uid UID`).
set -euo pipefail
cd "$(dirname "$0")/.."
. "${MAILPEERS_DIR:-/tmp/mailpeers}/mailpeers.env"

RUNS="${RUNS:-3}"
BIG_MIB="${BIG_MIB:-20}"
cargo build --release -q -p postwire-host-sim
BIN="$PWD/target/release/postwire"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
MAILDIR="$MAILPEERS_DIR/mail/bob/Maildir"
TOKEN="pw-rss-$$-$(date +%s%N)"
export PW=bob-pw

# Two messages: 1 KiB and BIG_MIB MiB of 76-character lines, some starting with dots.
python3 - "$WORK" "$TOKEN" "$BIG_MIB" <<'EOF'
import sys
work, token, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
def msg(tag, size):
    head = (f"From: Alice <alice@example.test>\nTo: Bob <bob@example.test>\n"
            f"Subject: rss {tag} {token}\nMessage-ID: <{tag}.{token}@example.test>\n"
            f"Date: Sun, 22 Nov 2026 00:00:00 +0000\n\n").encode()
    lines, n, i = [head], len(head), 0
    while n < size:
        line = (b"." if i % 7 == 0 else b"") + (b"%08d " % i) + b"x" * 66 + b"\n"
        lines.append(line); n += len(line); i += 1
    return b"".join(lines)
for tag, size in (("small", 1024), ("big", mib * 1024 * 1024)):
    open(f"{work}/{tag}.eml", "wb").write(msg(tag, size))
    # What RETR must return: CRLF line ends (the maildir file has LF).
    open(f"{work}/{tag}.crlf", "wb").write(msg(tag, size).replace(b"\n", b"\r\n"))
EOF
for tag in small big; do
    f="$MAILDIR/new/$(date +%s).P$$.$tag.$TOKEN.rss"
    cp "$WORK/$tag.eml" "$f"
    chown --reference="$MAILDIR" "$f"
done

# Message numbers and unique-ids (poplib, so the measured tool is not used to find them).
read -r SMALL_N SMALL_UID BIG_N BIG_UID < <(python3 - "$TOKEN" <<'EOF'
import poplib, ssl, sys, os
tok = sys.argv[1]
ctx = ssl.create_default_context(cafile=os.environ["MAILPEERS_CA_CERT"]); ctx.check_hostname = False
p = poplib.POP3_SSL(os.environ["MAILPEERS_HOST"], int(os.environ["MAILPEERS_POP3S_PORT"]), context=ctx)
p.user("bob"); p.pass_("bob-pw")
found = {}
for i in range(len(p.list()[1]), 0, -1):
    head = b"\n".join(p.top(i, 0)[1])
    for tag in ("small", "big"):
        if f"rss {tag} {tok}".encode() in head and tag not in found:
            found[tag] = (i, p.uidl(i).split()[2].decode())
    if len(found) == 2:
        break
p.quit()
print(found["small"][0], found["small"][1], found["big"][0], found["big"][1])
EOF
)

measure() { # measure LABEL FILE-EXPECTED CMD... -> prints "rss_kib seconds"
    local expected="$1"; shift
    /usr/bin/time -v -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr" || {
        cat "$WORK/stderr" >&2; exit 1; }
    cmp -s "$WORK/out" "$expected" || { echo "retrieved bytes differ from $expected" >&2; exit 1; }
    local rss wall
    rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$WORK/time")
    wall=$(awk '/Elapsed \(wall clock\)/ { print $NF }' "$WORK/time" \
        | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    echo "$rss $wall"
}

POPLIB_PY='
import poplib, ssl, sys, os
n, out = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=os.environ["MAILPEERS_CA_CERT"]); ctx.check_hostname = False
p = poplib.POP3_SSL(os.environ["MAILPEERS_HOST"], int(os.environ["MAILPEERS_POP3S_PORT"]), context=ctx)
p.user("bob"); p.pass_("bob-pw")
resp, lines, octets = p.retr(n)
open(out, "wb").write(b"".join(l + b"\r\n" for l in lines))
p.quit()
'

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '\n%-26s | %8s | %12s | %10s | %12s\n' "run (median of $RUNS)" size "peak RSS" time throughput
printf -- '%.0s-' {1..80}; echo
for tool in postwire poplib; do
    for tag in small big; do
        n=SMALL_N; [[ $tag == big ]] && n=BIG_N
        rss_list=(); t_list=()
        for _ in $(seq "$RUNS"); do
            if [[ $tool == postwire ]]; then
                r=$(measure "$WORK/$tag.crlf" "$BIN" pop3 --server "pop3s://$MAILPEERS_HOST:$MAILPEERS_POP3S_PORT" \
                    --tls-name "$MAILPEERS_TLS_NAME" --ca "$MAILPEERS_CA_CERT" --user bob --password-env PW \
                    retr "${!n}" --out "$WORK/out")
            else
                r=$(measure "$WORK/$tag.crlf" python3 -c "$POPLIB_PY" "${!n}" "$WORK/out")
            fi
            rss_list+=("${r% *}"); t_list+=("${r#* }")
        done
        rss=$(printf '%s\n' "${rss_list[@]}" | median)
        t=$(printf '%s\n' "${t_list[@]}" | median)
        size=$(stat -c %s "$WORK/$tag.crlf")
        printf '%-26s | %8s | %9s KiB | %8.2f s | %7.1f MB/s\n' "$tool retr $tag" "$size" "$rss" "$t" \
            "$(awk -v s="$size" -v t="$t" 'BEGIN { print (t > 0 ? s / t / 1e6 : 0) }')"
        eval "RSS_${tool}_${tag}=$rss"
    done
done
echo
echo "postwire: peak RSS 20 MiB - 1 KiB = $(( RSS_postwire_big - RSS_postwire_small )) KiB (must stay under 1024 KiB)"
echo "poplib:   peak RSS 20 MiB - 1 KiB = $(( RSS_poplib_big - RSS_poplib_small )) KiB"
echo "(time and throughput include connect, TLS handshake and login; loopback, release build)"

# Remove the two messages, guarded by their unique-ids.
"$BIN" pop3 --server "pop3s://$MAILPEERS_HOST:$MAILPEERS_POP3S_PORT" --tls-name "$MAILPEERS_TLS_NAME" \
    --ca "$MAILPEERS_CA_CERT" --user bob --password-env PW \
    dele "$SMALL_N" --uid "$SMALL_UID" --then dele "$BIG_N" --uid "$BIG_UID" >/dev/null
[[ $(( RSS_postwire_big - RSS_postwire_small )) -lt 1024 ]]
