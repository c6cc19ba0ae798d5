//! IMAP responses to the JSON vocabulary of the shared corpus FORMAT.md, and the
//! `postwire decode imap` loop (contract in the corpus DECODE.md).
//!
//! Shared by the conformance tests of `postwire-imap` and by `postwire decode imap` in
//! host-sim (included there with `#[path]`), so that both print exactly the same thing.

#![allow(dead_code)]

use postwire_imap::mutf7;
use postwire_imap::wire::{
    Addresses, BodyStructure, Code, ESearchItem, Envelope, Error, Event, FetchItem, FetchItems,
    IStr, Languages, MetadataCode, Namespaces, Params, ReaderConfig, Response, ResponseReader,
    SeqSet, StatusKind, Value as IValue, Values,
};
use serde_json::{Map, Value, json};

/// Exit status: every byte was consumed by complete responses.
pub const EXIT_OK: i32 = 0;
/// Exit status: the input violates the protocol.
pub const EXIT_ERROR: i32 = 1;
/// Exit status: the input ends inside a response.
pub const EXIT_INCOMPLETE: i32 = 3;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes_of(s: IStr<'_>) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    for c in s.chunks() {
        v.extend_from_slice(c);
    }
    v
}

/// A string value, or `None` when the bytes are not UTF-8.
fn text(b: &[u8]) -> Option<Value> {
    std::str::from_utf8(b)
        .ok()
        .map(|s| Value::String(s.to_owned()))
}

fn lossy(b: &[u8]) -> Value {
    text(b).unwrap_or_else(|| Value::String(hex(b)))
}

fn istr(s: IStr<'_>) -> Value {
    lossy(&bytes_of(s))
}

/// Insert `key` (or `key_hex` for non-UTF-8 bytes); `None` gives `null`.
fn put_bytes(m: &mut Map<String, Value>, key: &str, v: Option<&[u8]>) {
    match v {
        None => {
            m.insert(key.to_owned(), Value::Null);
        }
        Some(b) => match text(b) {
            Some(t) => {
                m.insert(key.to_owned(), t);
            }
            None => {
                m.insert(format!("{key}_hex"), Value::String(hex(b)));
            }
        },
    }
}

fn put_istr(m: &mut Map<String, Value>, key: &str, v: Option<IStr<'_>>) {
    let b = v.map(bytes_of);
    put_bytes(m, key, b.as_deref());
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

fn ranges(s: SeqSet<'_>) -> Value {
    Value::Array(s.map(|(a, b)| json!([a, b])).collect())
}

fn generic(v: IValue<'_>) -> Value {
    match v {
        IValue::Nil => Value::Null,
        IValue::Number(n) => json!(n),
        IValue::String(s) => istr(s),
        IValue::Atom(a) => lossy(a),
        IValue::List(l) => Value::Array(l.map(generic).collect()),
    }
}

/// `(name value name value ...)` to an object.
fn tagged_object(vals: Values<'_>) -> Value {
    let mut m = Map::new();
    let mut it = vals;
    while let Some(k) = it.next() {
        let key = match k {
            IValue::String(s) => String::from_utf8_lossy(&bytes_of(s)).into_owned(),
            IValue::Atom(a) => String::from_utf8_lossy(a).into_owned(),
            other => generic(other).to_string(),
        };
        let v = it.next().map_or(Value::Null, generic);
        m.insert(key.to_ascii_uppercase(), v);
    }
    Value::Object(m)
}

fn code_json(c: &Code<'_>) -> Value {
    let (name, value): (String, Option<Value>) = match c {
        Code::Alert => ("ALERT".into(), None),
        Code::BadCharset(l) => (
            "BADCHARSET".into(),
            l.map(|l| Value::Array(l.map(istr).collect())),
        ),
        Code::Capability(l) => (
            "CAPABILITY".into(),
            Some(Value::Array(l.map(lossy).collect())),
        ),
        Code::Parse => ("PARSE".into(), None),
        Code::PermanentFlags(l) => (
            "PERMANENTFLAGS".into(),
            Some(Value::Array(l.map(lossy).collect())),
        ),
        Code::ReadOnly => ("READ-ONLY".into(), None),
        Code::ReadWrite => ("READ-WRITE".into(), None),
        Code::TryCreate => ("TRYCREATE".into(), None),
        Code::UidNext(n) => ("UIDNEXT".into(), Some(json!(n))),
        Code::UidValidity(n) => ("UIDVALIDITY".into(), Some(json!(n))),
        Code::Unseen(n) => ("UNSEEN".into(), Some(json!(n))),
        Code::AppendUid { uidvalidity, uids } => (
            "APPENDUID".into(),
            Some(json!({"uidvalidity": uidvalidity, "uids": ranges(*uids)})),
        ),
        Code::CopyUid {
            uidvalidity,
            source,
            dest,
        } => (
            "COPYUID".into(),
            Some(
                json!({"uidvalidity": uidvalidity, "source": ranges(*source), "dest": ranges(*dest)}),
            ),
        ),
        Code::UidNotSticky => ("UIDNOTSTICKY".into(), None),
        Code::HighestModSeq(n) => ("HIGHESTMODSEQ".into(), Some(json!(n))),
        Code::NoModSeq => ("NOMODSEQ".into(), None),
        Code::Modified(s) => ("MODIFIED".into(), Some(ranges(*s))),
        Code::Closed => ("CLOSED".into(), None),
        Code::Metadata(m) => (
            "METADATA".into(),
            Some(match m {
                MetadataCode::LongEntries(n) => json!(["LONGENTRIES", n]),
                MetadataCode::MaxSize(n) => json!(["MAXSIZE", n]),
                MetadataCode::TooMany => json!(["TOOMANY"]),
                MetadataCode::NoPrivate => json!(["NOPRIVATE"]),
            }),
        ),
        Code::Other { name, data } => (upper(name), data.map(lossy)),
        _ => ("UNKNOWN".into(), None),
    };
    let mut m = Map::new();
    m.insert("name".into(), Value::String(name));
    if let Some(v) = value {
        m.insert("value".into(), v);
    }
    Value::Object(m)
}

fn addresses(a: Option<Addresses<'_>>) -> Value {
    match a {
        None => Value::Null,
        Some(list) => Value::Array(
            list.map(|a| {
                let mut m = Map::new();
                put_istr(&mut m, "name", a.name);
                put_istr(&mut m, "adl", a.adl);
                put_istr(&mut m, "mailbox", a.mailbox);
                put_istr(&mut m, "host", a.host);
                Value::Object(m)
            })
            .collect(),
        ),
    }
}

/// ENVELOPE object.
pub fn envelope_json(e: &Envelope<'_>) -> Value {
    let mut m = Map::new();
    put_istr(&mut m, "date", e.date());
    put_istr(&mut m, "subject", e.subject());
    m.insert("from".into(), addresses(e.from()));
    m.insert("sender".into(), addresses(e.sender()));
    m.insert("reply_to".into(), addresses(e.reply_to()));
    m.insert("to".into(), addresses(e.to()));
    m.insert("cc".into(), addresses(e.cc()));
    m.insert("bcc".into(), addresses(e.bcc()));
    put_istr(&mut m, "in_reply_to", e.in_reply_to());
    put_istr(&mut m, "message_id", e.message_id());
    Value::Object(m)
}

fn params_into(m: &mut Map<String, Value>, key: &str, p: Option<Params<'_>>) {
    let Some(p) = p else {
        m.insert(key.into(), Value::Null);
        return;
    };
    let pairs: Vec<(String, Option<Vec<u8>>)> = p
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&bytes_of(k)).into_owned(),
                v.map(bytes_of),
            )
        })
        .collect();
    let utf8 = pairs
        .iter()
        .all(|(_, v)| v.as_ref().is_none_or(|v| std::str::from_utf8(v).is_ok()));
    let mut o = Map::new();
    for (k, v) in pairs {
        let val = match v {
            None => Value::Null,
            Some(v) if utf8 => lossy(&v),
            Some(v) => Value::String(hex(&v)),
        };
        o.insert(k, val);
    }
    if utf8 {
        m.insert(key.into(), Value::Object(o));
    } else {
        m.insert(format!("{key}_hex"), Value::Object(o));
    }
}

/// BODY / BODYSTRUCTURE object.
pub fn body_json(b: &BodyStructure<'_>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), istr(b.media_type()));
    m.insert("subtype".into(), istr(b.subtype()));
    if b.is_multipart() {
        m.insert(
            "parts".into(),
            Value::Array(b.parts().map(|p| body_json(&p)).collect()),
        );
        if b.has_params_field() {
            params_into(&mut m, "params", b.params());
        }
    } else {
        params_into(&mut m, "params", b.params());
        put_istr(&mut m, "id", b.id());
        put_istr(&mut m, "description", b.description());
        put_istr(&mut m, "encoding", b.encoding());
        m.insert("size".into(), json!(b.size()));
        if let Some(l) = b.lines() {
            m.insert("lines".into(), json!(l));
        }
        if let Some(e) = b.envelope() {
            m.insert("envelope".into(), envelope_json(&e));
        }
        if let Some(inner) = b.body() {
            m.insert("body".into(), body_json(&inner));
        }
        if let Some(md5) = b.md5() {
            put_istr(&mut m, "md5", md5);
        }
    }
    if let Some(d) = b.disposition() {
        let v = match d {
            None => Value::Null,
            Some(d) => {
                let mut o = Map::new();
                o.insert("type".into(), istr(d.kind));
                params_into(&mut o, "params", d.params);
                Value::Object(o)
            }
        };
        m.insert("disposition".into(), v);
    }
    if let Some(l) = b.language() {
        let v = match l {
            None => Value::Null,
            Some(Languages::One(s)) => json!([istr(s)]),
            Some(Languages::List(l)) => Value::Array(l.map(istr).collect()),
        };
        m.insert("language".into(), v);
    }
    if let Some(loc) = b.location() {
        put_istr(&mut m, "location", loc);
    }
    if let Some(ext) = b.extensions() {
        m.insert(
            "extensions".into(),
            Value::Array(ext.map(generic).collect()),
        );
    }
    Value::Object(m)
}

/// Add the items of a FETCH response to `m`.
pub fn fetch_items_into(m: &mut Map<String, Value>, items: FetchItems<'_>) {
    for (name, item) in items.with_names() {
        let key = upper(name);
        let v = match item {
            FetchItem::Uid(n)
            | FetchItem::Rfc822Size(n)
            | FetchItem::BinarySize(n)
            | FetchItem::ModSeq(n)
            | FetchItem::GmMsgId(n)
            | FetchItem::GmThrId(n) => json!(n),
            FetchItem::Flags(f) => Value::Array(f.map(lossy).collect()),
            FetchItem::InternalDate(s) => istr(s),
            FetchItem::Envelope(e) => envelope_json(&e),
            FetchItem::Body(b) | FetchItem::BodyStructure(b) => body_json(&b),
            FetchItem::Section(s)
            | FetchItem::EmailId(s)
            | FetchItem::ThreadId(s)
            | FetchItem::SaveDate(s) => {
                put_istr(m, &key, s);
                continue;
            }
            FetchItem::GmLabels(l) => Value::Array(l.map(istr).collect()),
            FetchItem::Other(v) => {
                let vals: Vec<Value> = v.map(generic).collect();
                if vals.len() == 1 {
                    vals.into_iter().next().unwrap_or(Value::Null)
                } else {
                    Value::Array(vals)
                }
            }
            _ => Value::Null,
        };
        m.insert(key, v);
    }
}

fn namespaces(n: Option<Namespaces<'_>>) -> Value {
    match n {
        None => Value::Null,
        Some(list) => Value::Array(
            list.map(|d| {
                let mut v = vec![istr(d.prefix), d.delimiter.map_or(Value::Null, istr)];
                let mut ext = Map::new();
                for (k, vals) in d.extensions {
                    ext.insert(
                        String::from_utf8_lossy(&bytes_of(k)).into_owned(),
                        Value::Array(vals.map(istr).collect()),
                    );
                }
                if !ext.is_empty() {
                    v.push(Value::Object(ext));
                }
                Value::Array(v)
            })
            .collect(),
        ),
    }
}

/// The FORMAT.md object for one complete response.
pub fn response_json(r: &Response<'_>) -> Value {
    let mut m = Map::new();
    let ty = |m: &mut Map<String, Value>, t: &str| {
        m.insert("type".into(), Value::String(t.into()));
    };
    match r {
        Response::Status(s) => {
            ty(&mut m, "status");
            m.insert("tag".into(), s.tag.map_or(Value::Null, lossy));
            let st = match s.kind {
                StatusKind::Ok => "OK",
                StatusKind::No => "NO",
                StatusKind::Bad => "BAD",
                StatusKind::PreAuth => "PREAUTH",
                StatusKind::Bye => "BYE",
            };
            m.insert("status".into(), json!(st));
            m.insert(
                "code".into(),
                s.code.as_ref().map_or(Value::Null, code_json),
            );
            put_bytes(&mut m, "text", s.text);
        }
        Response::Continuation(c) => {
            ty(&mut m, "continuation");
            if let Some(b) = c.base64() {
                m.insert("base64".into(), lossy(b));
            } else {
                m.insert(
                    "code".into(),
                    c.code.as_ref().map_or(Value::Null, code_json),
                );
                put_bytes(&mut m, "text", c.text);
            }
        }
        Response::Capability(l) => {
            ty(&mut m, "capability");
            m.insert("caps".into(), Value::Array(l.map(lossy).collect()));
        }
        Response::Enabled(l) => {
            ty(&mut m, "enabled");
            m.insert("caps".into(), Value::Array(l.map(lossy).collect()));
        }
        Response::List(l) => {
            ty(&mut m, if l.lsub { "lsub" } else { "list" });
            m.insert(
                "attributes".into(),
                Value::Array(l.attributes.map(lossy).collect()),
            );
            m.insert("delimiter".into(), l.delimiter.map_or(Value::Null, istr));
            let name = bytes_of(l.mailbox);
            if l.is_inbox() {
                m.insert("mailbox".into(), json!("INBOX"));
            } else {
                put_bytes(&mut m, "mailbox", Some(&name));
            }
            let mut out = vec![0u8; name.len() * 4 + 8];
            if let Ok(n) = mutf7::decode(&name, &mut out) {
                put_bytes(&mut m, "mailbox_decoded", Some(&out[..n]));
            }
            if let Some(ext) = l.extended {
                m.insert("extended".into(), tagged_object(ext));
            }
        }
        Response::MailboxStatus(s) => {
            ty(&mut m, "mailbox_status");
            put_istr(&mut m, "mailbox", Some(s.mailbox));
            let mut items = Map::new();
            for (k, v) in s.items {
                items.insert(upper(k), json!(v));
            }
            if let Some(id) = s.items.mailbox_id() {
                items.insert("MAILBOXID".into(), istr(id));
            }
            m.insert("items".into(), Value::Object(items));
        }
        Response::Search(s) | Response::Sort(s) => {
            ty(
                &mut m,
                if matches!(r, Response::Search(_)) {
                    "search"
                } else {
                    "sort"
                },
            );
            m.insert(
                "ids".into(),
                Value::Array(s.ids.map(|n| json!(n)).collect()),
            );
            if let Some(ms) = s.modseq {
                m.insert("modseq".into(), json!(ms));
            }
        }
        Response::Thread(t) => {
            ty(&mut m, "thread");
            m.insert("top_level_count".into(), json!(t.top_level_count));
        }
        Response::ESearch(e) => {
            ty(&mut m, "esearch");
            m.insert("tag".into(), e.tag.map_or(Value::Null, istr));
            m.insert("uid".into(), json!(e.uid));
            let mut d = Map::new();
            for item in e.data {
                let (k, v) = match item {
                    ESearchItem::Min(n) => ("MIN".to_owned(), json!(n)),
                    ESearchItem::Max(n) => ("MAX".to_owned(), json!(n)),
                    ESearchItem::Count(n) => ("COUNT".to_owned(), json!(n)),
                    ESearchItem::ModSeq(n) => ("MODSEQ".to_owned(), json!(n)),
                    ESearchItem::All(s) => ("ALL".to_owned(), ranges(s)),
                    ESearchItem::Other(name, v) => (upper(name), generic(v)),
                    _ => continue,
                };
                d.insert(k, v);
            }
            m.insert("data".into(), Value::Object(d));
        }
        Response::Flags(f) => {
            ty(&mut m, "flags");
            m.insert("flags".into(), Value::Array(f.map(lossy).collect()));
        }
        Response::Exists(n) => {
            ty(&mut m, "exists");
            m.insert("n".into(), json!(n));
        }
        Response::Recent(n) => {
            ty(&mut m, "recent");
            m.insert("n".into(), json!(n));
        }
        Response::Expunge(n) => {
            ty(&mut m, "expunge");
            m.insert("n".into(), json!(n));
        }
        Response::Vanished(v) => {
            ty(&mut m, "vanished");
            m.insert("earlier".into(), json!(v.earlier));
            m.insert("uids".into(), ranges(v.uids));
        }
        Response::Fetch(f) => {
            ty(&mut m, "fetch");
            m.insert("seq".into(), json!(f.seq));
            let mut items = Map::new();
            fetch_items_into(&mut items, f.items);
            m.insert("items".into(), Value::Object(items));
        }
        Response::Namespace(n) => {
            ty(&mut m, "namespace");
            m.insert("personal".into(), namespaces(n.personal));
            m.insert("other".into(), namespaces(n.other));
            m.insert("shared".into(), namespaces(n.shared));
        }
        Response::Id(p) => {
            ty(&mut m, "id");
            let v = match p {
                None => Value::Null,
                Some(p) => Value::Array(
                    p.map(|(k, v)| json!([istr(k), v.map_or(Value::Null, istr)]))
                        .collect(),
                ),
            };
            m.insert("params".into(), v);
        }
        Response::Quota(q) => {
            ty(&mut m, "quota");
            put_istr(&mut m, "root", Some(q.root));
            m.insert(
                "resources".into(),
                Value::Array(
                    q.resources
                        .map(|(n, u, l)| json!([upper(n), u, l]))
                        .collect(),
                ),
            );
        }
        Response::QuotaRoot(q) => {
            ty(&mut m, "quotaroot");
            put_istr(&mut m, "mailbox", Some(q.mailbox));
            m.insert("roots".into(), Value::Array(q.roots.map(istr).collect()));
        }
        Response::Acl(a) => {
            ty(&mut m, "acl");
            put_istr(&mut m, "mailbox", Some(a.mailbox));
            let v: Vec<Value> = a.entries.collect::<Vec<_>>()
                .chunks(2)
                .map(|p| json!({"identifier": istr(p[0]), "rights": p.get(1).map_or(Value::Null, |r| istr(*r))}))
                .collect();
            m.insert("acls".into(), Value::Array(v));
        }
        Response::ListRights(l) => {
            ty(&mut m, "listrights");
            put_istr(&mut m, "mailbox", Some(l.mailbox));
            put_istr(&mut m, "identifier", Some(l.identifier));
            put_istr(&mut m, "required", Some(l.required));
            m.insert(
                "optional".into(),
                Value::Array(l.optional.map(istr).collect()),
            );
        }
        Response::MyRights(r) => {
            ty(&mut m, "myrights");
            put_istr(&mut m, "mailbox", Some(r.mailbox));
            put_istr(&mut m, "rights", Some(r.rights));
        }
        Response::Metadata(md) => {
            ty(
                &mut m,
                if md.with_values {
                    "metadata"
                } else {
                    "metadata_unsolicited"
                },
            );
            put_istr(&mut m, "mailbox", Some(md.mailbox));
            let vals: Vec<Value> = md.entries.map(generic).collect();
            let entries = if md.with_values {
                vals.chunks(2)
                    .map(|p| json!([p[0].clone(), p.get(1).cloned().unwrap_or(Value::Null)]))
                    .collect()
            } else {
                vals
            };
            m.insert("entries".into(), Value::Array(entries));
        }
        Response::Other(o) => {
            ty(&mut m, "other");
            m.insert("name".into(), json!(upper(o.name)));
            if let Some(n) = o.number {
                m.insert("number".into(), json!(n));
            }
            put_bytes(&mut m, "rest", Some(o.rest));
        }
        _ => ty(&mut m, "unknown"),
    }
    Value::Object(m)
}

/// The outcome of decoding a byte stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// One object per complete response, then possibly a `remainder` object.
    pub lines: Vec<Value>,
    /// [`EXIT_OK`], [`EXIT_ERROR`] or [`EXIT_INCOMPLETE`].
    pub exit: i32,
    /// The reason for an error or an incomplete input.
    pub message: String,
}

/// Reader settings for [`decode`].
#[derive(Debug, Clone, Copy)]
pub struct DecodeSettings {
    /// Reader buffer size (the line limit).
    pub buffer: usize,
    /// Literals up to this size are kept inline.
    pub inline_literal_max: usize,
    /// Input is fed in pieces of this size (0 = all that fits).
    pub chunk: usize,
}

impl DecodeSettings {
    /// 64 KiB buffer, literals inline when they fit, whole-buffer reads.
    pub const DEFAULT: DecodeSettings = DecodeSettings {
        buffer: 64 * 1024,
        inline_literal_max: 64 * 1024,
        chunk: 0,
    };
}

struct PendingFetch {
    seq: u64,
    items: Map<String, Value>,
    key: String,
    data: Vec<u8>,
}

fn streamed_key(name: &[u8]) -> String {
    upper(name)
}

/// Decode `input` with the streaming reader: one JSON object per response.
pub fn decode(input: &[u8], greeting: bool, s: DecodeSettings) -> Decoded {
    let mut storage = vec![0u8; s.buffer.max(1)];
    let cfg = ReaderConfig {
        inline_literal_max: s.inline_literal_max,
        max_literal: 1 << 40,
        greeting,
    };
    let mut r = ResponseReader::new(&mut storage, cfg);
    let mut out = Vec::new();
    let mut pending: Option<PendingFetch> = None;
    let mut fed = 0;
    loop {
        // Drain events.
        loop {
            match r.next_event() {
                Ok(None) => break,
                Ok(Some(ev)) => match ev {
                    Event::Response(resp) => out.push(response_json(&resp)),
                    Event::FetchHead {
                        seq,
                        items,
                        streamed,
                    } => {
                        let mut m = Map::new();
                        fetch_items_into(&mut m, items);
                        pending = Some(PendingFetch {
                            seq,
                            items: m,
                            key: streamed_key(streamed.name),
                            data: Vec::new(),
                        });
                    }
                    Event::LiteralData { data, .. } => {
                        if let Some(p) = pending.as_mut() {
                            p.data.extend_from_slice(data);
                        }
                    }
                    Event::FetchMore { items, streamed } => {
                        if let Some(mut p) = pending.take() {
                            let data = std::mem::take(&mut p.data);
                            put_bytes(&mut p.items, &p.key.clone(), Some(&data));
                            fetch_items_into(&mut p.items, items);
                            match streamed {
                                Some(st) => {
                                    p.key = streamed_key(st.name);
                                    pending = Some(p);
                                }
                                None => out.push(json!({"type": "fetch", "seq": p.seq, "items": Value::Object(p.items)})),
                            }
                        }
                    }
                    _ => {}
                },
                Err(e) => {
                    let msg = match e {
                        Error::Malformed { offset } => format!(
                            "malformed IMAP response (byte {offset} of the response that ends at input byte {})",
                            r.position()
                        ),
                        other => format!("{other} (near input byte {})", r.position()),
                    };
                    return Decoded {
                        lines: out,
                        exit: EXIT_ERROR,
                        message: msg,
                    };
                }
            }
        }
        if fed == input.len() {
            break;
        }
        let end = if s.chunk == 0 {
            input.len()
        } else {
            (fed + s.chunk).min(input.len())
        };
        let n = r.feed(&input[fed..end]);
        if n == 0 {
            return Decoded {
                lines: out,
                exit: EXIT_ERROR,
                message: "reader stalled with a full buffer".into(),
            };
        }
        fed += n;
    }
    let p = r.pending();
    if p.bytes > 0 {
        let mut rem = Map::new();
        rem.insert("type".into(), json!("remainder"));
        rem.insert("bytes".into(), json!(p.bytes));
        if p.needed > 0 {
            rem.insert("needed".into(), json!(p.needed));
        }
        out.push(Value::Object(rem));
        return Decoded {
            lines: out,
            exit: EXIT_INCOMPLETE,
            message: format!(
                "incomplete: the input ends inside a response ({} bytes left)",
                p.bytes
            ),
        };
    }
    Decoded {
        lines: out,
        exit: EXIT_OK,
        message: String::new(),
    }
}
