#!/usr/bin/env bash
# Memory and speed of fetching a message over IMAPS from Dovecot: peak RSS and throughput for a
# BIG_MIB (default 20) MiB message against a 1 KiB one, for `postwire imap ... fetch --body-to`
# and, for comparison, the std crate async-imap (bench/async-imap-fetch: tokio + rustls).
#
# Needs the mail-server peers up (bash ../shared/peers/mail-servers.sh up), python3,
# /usr/bin/time (installed with apt-get if missing) and cargo (for the async-imap tool, built
# in release mode into bench/async-imap-fetch/target). postwire is NOT built here: the script
# uses target/release/postwire as it finds it (build it with
# `cargo build --release -p postwire-host-sim`, or set POSTWIRE_BUILD=1 to have this script do
# it; POSTWIRE_BIN=PATH picks another binary). Without an `imap` subcommand in that binary only
# the async-imap rows are measured.
#
# Run from anywhere: bash scripts/imap-fetch-rss.sh   (knobs: RUNS=3 BIG_MIB=20)
# Prints a Markdown table; not a pass/fail test (exit 1 only if a measured run fails or
# returns bytes that differ from what the server holds). The two test messages are put into
# bob's INBOX with IMAP APPEND (falling back to bob's Maildir if the server refuses the size)
# and deleted at the end, also on failure (UID STORE \Deleted + UID EXPUNGE of exactly them).
set -euo pipefail
cd "$(dirname "$0")/.."
. "${MAILPEERS_DIR:-/tmp/mailpeers}/mailpeers.env"

RUNS="${RUNS:-3}"
BIG_MIB="${BIG_MIB:-20}"
ROOT="$PWD"
BIN="${POSTWIRE_BIN:-$ROOT/target/release/postwire}"
BENCH="$ROOT/bench/async-imap-fetch"
AIF="$BENCH/target/release/async-imap-fetch"
export PW=bob-pw

if [[ ! -x /usr/bin/time ]]; then
    (apt-get update -qq && apt-get install -y -qq time) >/dev/null
fi

cargo build --release -q -j 2 --locked --manifest-path "$BENCH/Cargo.toml" --target-dir "$BENCH/target"
if [[ "${POSTWIRE_BUILD:-0}" == 1 ]]; then
    cargo build --release -q -p postwire-host-sim
fi
POSTWIRE_OK=0
if [[ -x "$BIN" ]] && "$BIN" imap --help 2>/dev/null | grep -qi fetch; then
    POSTWIRE_OK=1
fi

WORK="$(mktemp -d)"
TOKEN="pw-imap-rss-$$-$(date +%s%N)"

# Python helper: log in to bob's INBOX over IMAPS (certificate verified against the test CA).
IMAP_PY='
import imaplib, os, ssl, sys
def login():
    ctx = ssl.create_default_context(cafile=os.environ["MAILPEERS_CA_CERT"])
    ctx.check_hostname = False
    m = imaplib.IMAP4_SSL(os.environ["MAILPEERS_HOST"], int(os.environ["MAILPEERS_IMAPS_PORT"]),
                          ssl_context=ctx)
    m.login("bob", "bob-pw")
    typ, _ = m.select("INBOX")
    assert typ == "OK", typ
    return m
def uids_with(m, text):
    typ, dat = m.uid("SEARCH", "SUBJECT", "\"%s\"" % text)
    assert typ == "OK", (typ, dat)
    return dat[0].split() if dat and dat[0] else []
'

cleanup() {
    # Delete every message carrying this run's token (both test messages), and nothing else.
    python3 - "$TOKEN" <<EOF || echo "warning: could not delete the test messages ($TOKEN)" >&2
$IMAP_PY
m = login()
uids = uids_with(m, sys.argv[1])
if uids:
    s = b",".join(uids).decode()
    m.uid("STORE", s, "+FLAGS.SILENT", r"(\Deleted)")
    typ, caps = m.capability()  # after login: the pre-login list lacks UIDPLUS
    if b"UIDPLUS" in caps[0].upper().split():
        m.uid("EXPUNGE", s)  # only these two, not other clients' \Deleted messages
    else:
        m.expunge()
m.logout()
EOF
    rm -rf "$WORK"
}
trap cleanup EXIT

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
    m = msg(tag, size)
    open(f"{work}/{tag}.eml", "wb").write(m)
    open(f"{work}/{tag}.crlf", "wb").write(m.replace(b"\n", b"\r\n"))
EOF

# Store them: IMAP APPEND; if the server refuses (size), write them into bob's Maildir.
for tag in small big; do
    if ! python3 - "$WORK/$tag.crlf" <<EOF 2>"$WORK/append.err"
$IMAP_PY
m = login()
typ, dat = m.append("INBOX", None, None, open(sys.argv[1], "rb").read())
assert typ == "OK", (typ, dat)
m.logout()
EOF
    then
        echo "APPEND of the $tag message refused ($(tail -n1 "$WORK/append.err")); writing it into bob's Maildir" >&2
        MAILDIR="$MAILPEERS_DIR/mail/bob/Maildir"
        f="$MAILDIR/new/$(date +%s).P$$.$tag.$TOKEN.rss"
        cp "$WORK/$tag.eml" "$f"
        chown --reference="$MAILDIR" "$f"
    fi
done

# UIDs by subject token, and the exact bytes the server returns for BODY[] (the reference for
# the byte-for-byte check), both through imaplib so that no measured tool is used.
read -r SMALL_UID BIG_UID < <(python3 - "$TOKEN" "$WORK" <<EOF
$IMAP_PY
tok, work = sys.argv[1], sys.argv[2]
m = login()
out = []
for tag in ("small", "big"):
    uids = uids_with(m, "rss %s %s" % (tag, tok))
    assert len(uids) == 1, (tag, uids)
    typ, dat = m.uid("FETCH", uids[0], "BODY.PEEK[]")
    assert typ == "OK", (typ, dat)
    body = next(d[1] for d in dat if isinstance(d, tuple))
    open("%s/%s.server" % (work, tag), "wb").write(body)
    out.append(uids[0].decode())
m.logout()
print(*out)
EOF
)
for tag in small big; do
    cmp -s "$WORK/$tag.server" "$WORK/$tag.crlf" \
        || echo "note: the server's $tag message differs from the generated CRLF file; checking against the server's bytes" >&2
done

FAILED=0
# measure EXPECTED-FILE CMD... -> prints "rss_kib seconds" (nothing, status 1 on failure).
# Peak RSS is GNU time's %M; the wall time is taken around it in nanoseconds, because %e has
# only 10 ms resolution (its value is kept in $WORK/time too).
measure() {
    local expected="$1" t0 t1; shift
    rm -f "$WORK/out"
    t0=$(date +%s%N)
    if ! /usr/bin/time -f '%M %e' -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr"; then
        { echo "failed: $*"; cat "$WORK/stderr"; } >&2
        return 1
    fi
    t1=$(date +%s%N)
    if ! cmp -s "$WORK/out" "$expected"; then
        echo "fetched bytes differ from the server's message ($expected): $*" >&2
        return 1
    fi
    awk -v ns=$(( t1 - t0 )) '{ printf "%s %.3f\n", $1, ns / 1e9; exit }' "$WORK/time"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

ROWS=()
for tool in async-imap postwire; do
    for tag in small big; do
        uid=SMALL_UID; [[ $tag == big ]] && uid=BIG_UID
        size=$(stat -c %s "$WORK/$tag.server")
        if [[ $tool == postwire && $POSTWIRE_OK != 1 ]]; then
            ROWS+=("| postwire | $tag ($size B) | postwire imap: not available (build target/release/postwire with the imap subcommand) | | |")
            continue
        fi
        rss_list=(); t_list=(); ok=1
        for _ in $(seq "$RUNS"); do
            if [[ $tool == async-imap ]]; then
                cmd=("$AIF" --host "$MAILPEERS_HOST" --port "$MAILPEERS_IMAPS_PORT" --ca "$MAILPEERS_CA_CERT"
                     --user bob --password-env PW --mailbox INBOX --uid "${!uid}" --out "$WORK/out")
            else
                cmd=("$BIN" imap --server "imaps://$MAILPEERS_HOST:$MAILPEERS_IMAPS_PORT" --user bob
                     --password-env PW --ca "$MAILPEERS_CA_CERT" fetch INBOX "${!uid}" --uid --body-to "$WORK/out")
            fi
            if ! r=$(measure "$WORK/$tag.server" "${cmd[@]}"); then ok=0; FAILED=1; break; fi
            rss_list+=("${r% *}"); t_list+=("${r#* }")
            [[ $tool == async-imap ]] && echo "async-imap $tag: $(cat "$WORK/stdout")" >&2
        done
        if [[ $ok != 1 ]]; then
            ROWS+=("| $tool | $tag ($size B) | failed (see the messages above) | | |")
            continue
        fi
        rss=$(printf '%s\n' "${rss_list[@]}" | median)
        t=$(printf '%s\n' "${t_list[@]}" | median)
        mbs=$(awk -v s="$size" -v t="$t" 'BEGIN { if (t > 0) printf "%.1f", s / t / 1e6; else print "n/a" }')
        ROWS+=("| $tool | $tag ($size B) | $rss | $t | $mbs |")
        printf -v "RSS_${tool//-/_}_$tag" '%s' "$rss"
    done
done

echo
echo "IMAPS fetch of one message from Dovecot ($MAILPEERS_HOST:$MAILPEERS_IMAPS_PORT), median of $RUNS runs"
echo
echo "| tool | message | peak RSS (KiB) | time (s) | MB/s |"
echo "|---|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
for tool in async-imap postwire; do
    v="${tool//-/_}"; s="RSS_${v}_small"; b="RSS_${v}_big"
    if [[ -n "${!s:-}" && -n "${!b:-}" ]]; then
        echo "- $tool: peak RSS big - small = $(( ${!b} - ${!s} )) KiB"
    elif [[ $tool == postwire && $POSTWIRE_OK != 1 ]]; then
        echo "- postwire imap: not available (build target/release/postwire with the imap subcommand)"
    else
        echo "- $tool: no RSS difference (a run failed)"
    fi
done
echo
echo "(time = wall clock of the whole process: start, connect, TLS handshake, login, select, fetch,"
echo " write, logout; MB/s = server's message size / time; loopback, release builds)"
exit "$FAILED"
