//! Just enough message parsing for IMAP FETCH and SEARCH: header and body, header fields,
//! Content-Type, one level of multipart splitting per call, body sections and simple
//! address lists. Lenient: anything odd is treated as text.

/// Splits a message (or MIME entity) into its header (with the empty line that ends it)
/// and its body. Without an empty line, everything is header.
pub(crate) fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    if raw.starts_with(b"\r\n") {
        return raw.split_at(2);
    }
    if raw.starts_with(b"\n") {
        return raw.split_at(1);
    }
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => raw.split_at(a.min(b)),
        (Some(a), None) | (None, Some(a)) => raw.split_at(a),
        (None, None) => (raw, &[]),
    }
}

/// The fields of a header: (name, whole field with continuation lines and line ends).
pub(crate) fn fields(head: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out: Vec<(&[u8], &[u8])> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // (start, end) of the field being collected.
    let mut cur: Option<usize> = None;
    while i < head.len() {
        let end = head
            .get(i..)
            .and_then(|r| r.iter().position(|&c| c == b'\n'))
            .map_or(head.len(), |p| i + p + 1);
        let line = head.get(i..end).unwrap_or_default();
        let is_cont = matches!(line.first(), Some(b' ' | b'\t'));
        let is_blank = line == b"\r\n" || line == b"\n";
        if !is_cont {
            if let Some(s) = cur.take() {
                let whole = head.get(s..i).unwrap_or_default();
                let name = whole
                    .iter()
                    .position(|&c| c == b':')
                    .and_then(|p| whole.get(..p))
                    .unwrap_or_default();
                out.push((name, whole));
            }
            if is_blank {
                break;
            }
            cur = Some(i);
        }
        i = end;
        start = end;
    }
    if let Some(s) = cur {
        let whole = head.get(s..start).unwrap_or_default();
        let name = whole
            .iter()
            .position(|&c| c == b':')
            .and_then(|p| whole.get(..p))
            .unwrap_or_default();
        out.push((name, whole));
    }
    out
}

/// The values of every field called `name` (case-insensitive), unfolded and trimmed.
pub(crate) fn field_values(head: &[u8], name: &str) -> Vec<Vec<u8>> {
    fields(head)
        .into_iter()
        .filter(|(n, _)| n.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
        .map(|(n, whole)| {
            let v = whole.get(n.len() + 1..).unwrap_or_default();
            let unfolded: Vec<u8> = v
                .iter()
                .copied()
                .filter(|&c| c != b'\r' && c != b'\n')
                .collect();
            unfolded.trim_ascii().to_vec()
        })
        .collect()
}

/// Content-Type of an entity: lower-case type and subtype, and parameters (lower-case
/// names). Default `text/plain; charset=us-ascii`.
pub(crate) fn content_type(head: &[u8]) -> (String, String, Vec<(String, String)>) {
    let Some(v) = field_values(head, "Content-Type").into_iter().next() else {
        return (
            "text".into(),
            "plain".into(),
            vec![("charset".into(), "us-ascii".into())],
        );
    };
    let v = String::from_utf8_lossy(&v).into_owned();
    let mut parts = split_outside_quotes(&v, ';').into_iter();
    let mt = parts.next().unwrap_or_default();
    let (t, st) = mt
        .trim()
        .split_once('/')
        .map(|(a, b)| (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .unwrap_or_else(|| ("text".into(), "plain".into()));
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .map_or_else(
                    || v.to_string(),
                    |x| x.replace("\\\"", "\"").replace("\\\\", "\\"),
                );
            Some((k.trim().to_ascii_lowercase(), v))
        })
        .collect();
    (t, st, params)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// The parts of a multipart entity (each with its own header), or empty when the entity
/// is not multipart or has no boundary.
pub(crate) fn multipart_parts(entity: &[u8]) -> Vec<&[u8]> {
    let (head, body) = split(entity);
    let (t, _, params) = content_type(head);
    let Some(boundary) = params.iter().find(|(k, _)| k == "boundary").map(|(_, v)| v) else {
        return Vec::new();
    };
    if t != "multipart" || boundary.is_empty() {
        return Vec::new();
    }
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut i = 0;
    while i < body.len() {
        let end = body
            .get(i..)
            .and_then(|r| r.iter().position(|&c| c == b'\n'))
            .map_or(body.len(), |p| i + p + 1);
        let line = body.get(i..end).unwrap_or_default();
        if let Some(rest) = line.strip_prefix(delim.as_bytes()) {
            let rest = rest.trim_ascii_end();
            let close = rest.starts_with(b"--");
            if rest.is_empty() || close {
                if let Some(s) = part_start.take() {
                    // The line break before the delimiter belongs to it.
                    let mut e = i;
                    if body.get(..e).is_some_and(|b| b.ends_with(b"\r\n")) {
                        e -= 2;
                    } else if body.get(..e).is_some_and(|b| b.ends_with(b"\n")) {
                        e -= 1;
                    }
                    parts.push(body.get(s..e.max(s)).unwrap_or_default());
                }
                if close {
                    break;
                }
                part_start = Some(end);
            }
        }
        i = end;
    }
    parts
}

/// The bytes of a FETCH body section (`""`, `TEXT`, `HEADER`, `HEADER.FIELDS (..)`,
/// `HEADER.FIELDS.NOT (..)`, `1`, `1.2`, `2.MIME`, `2.TEXT` of a message/rfc822 part),
/// or `None` for an unsupported or malformed section. A part that does not exist is
/// empty, as RFC 3501 allows.
pub(crate) fn section(raw: &[u8], spec: &str) -> Option<Vec<u8>> {
    let up = spec.to_ascii_uppercase();
    let mut rest = up.as_str();
    let mut entity = raw;
    let mut in_part = false;
    loop {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        let n: usize = rest.get(..digits)?.parse().ok()?;
        if n == 0 {
            return None;
        }
        rest = rest.get(digits..)?;
        rest = rest.strip_prefix('.').unwrap_or(rest);
        let (head, body) = split(entity);
        let (t, st, _) = content_type(head);
        if t == "multipart" {
            entity = multipart_parts(entity)
                .get(n - 1)
                .copied()
                .unwrap_or_default();
        } else if in_part && t == "message" && st == "rfc822" {
            // Parts of an encapsulated message.
            let inner = body;
            let (ih, _) = split(inner);
            if content_type(ih).0 == "multipart" {
                entity = multipart_parts(inner)
                    .get(n - 1)
                    .copied()
                    .unwrap_or_default();
            } else if n == 1 {
                entity = inner;
            } else {
                entity = &[];
            }
        } else if n != 1 {
            entity = &[];
        }
        in_part = true;
    }
    let (head, body) = split(entity);
    let message = if in_part {
        // HEADER / TEXT of a part apply to an encapsulated message.
        let (t, st, _) = content_type(head);
        if rest.is_empty() {
            return Some(body.to_vec());
        }
        if rest == "MIME" {
            return Some(head.to_vec());
        }
        if !(t == "message" && st == "rfc822") {
            return None;
        }
        body
    } else {
        entity
    };
    let (mh, mb) = split(message);
    match rest {
        "" => Some(message.to_vec()),
        "TEXT" => Some(mb.to_vec()),
        "HEADER" => Some(mh.to_vec()),
        _ => {
            let (not, list) = if let Some(l) = rest.strip_prefix("HEADER.FIELDS.NOT") {
                (true, l)
            } else {
                (false, rest.strip_prefix("HEADER.FIELDS")?)
            };
            let list = list.trim().strip_prefix('(')?.strip_suffix(')')?;
            let names: Vec<&str> = list.split_whitespace().collect();
            let mut out = Vec::new();
            for (name, whole) in fields(mh) {
                let listed = names
                    .iter()
                    .any(|n| name.trim_ascii().eq_ignore_ascii_case(n.as_bytes()));
                if listed != not {
                    out.extend_from_slice(whole);
                }
            }
            out.extend_from_slice(b"\r\n");
            Some(out)
        }
    }
}

/// An address in ENVELOPE form: (display name, mailbox, host).
pub(crate) type Address = (Option<Vec<u8>>, Vec<u8>, Option<Vec<u8>>);

/// Parses an address list simply: comma-separated `Name <a@b>` or `a@b`, groups
/// flattened, comments dropped.
pub(crate) fn addresses(value: &[u8]) -> Vec<Address> {
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut cur = Vec::new();
    let (mut quoted, mut angle, mut paren) = (false, false, 0usize);
    for &c in value {
        match c {
            b'"' if paren == 0 => quoted = !quoted,
            b'<' if !quoted && paren == 0 => angle = true,
            b'>' if !quoted && paren == 0 => angle = false,
            b'(' if !quoted => paren += 1,
            b')' if !quoted && paren > 0 => {
                paren -= 1;
                continue;
            }
            b',' | b';' if !quoted && !angle && paren == 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        if paren == 0 {
            cur.push(c);
        }
    }
    items.push(cur);
    let mut out = Vec::new();
    for item in items {
        let mut item = item.trim_ascii();
        // Group: `name: a@b, c@d;` - drop the group name.
        if let Some(colon) = item.iter().position(|&c| c == b':')
            && !item
                .get(..colon)
                .is_some_and(|h| h.contains(&b'"') || h.contains(&b'<'))
        {
            item = item.get(colon + 1..).unwrap_or_default().trim_ascii();
        }
        if item.is_empty() {
            continue;
        }
        let (name, addr) = match (
            item.iter().position(|&c| c == b'<'),
            item.iter().rposition(|&c| c == b'>'),
        ) {
            (Some(a), Some(b)) if a < b => {
                let name = item.get(..a).unwrap_or_default().trim_ascii();
                let name = name
                    .strip_prefix(b"\"")
                    .and_then(|n| n.strip_suffix(b"\""))
                    .unwrap_or(name);
                let name: Vec<u8> = name.iter().copied().filter(|&c| c != b'\\').collect();
                (
                    (!name.is_empty()).then_some(name),
                    item.get(a + 1..b).unwrap_or_default().trim_ascii(),
                )
            }
            _ => (None, item),
        };
        let (mailbox, host) = match addr.iter().rposition(|&c| c == b'@') {
            Some(at) => (
                addr.get(..at).unwrap_or_default().to_vec(),
                Some(addr.get(at + 1..).unwrap_or_default().to_vec()),
            ),
            None => (addr.to_vec(), None),
        };
        out.push((name, mailbox, host));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: \"Ann, A.\" <ann@x.test>\r\nSubject: hi\r\n there\r\nTo: b@y.test, (c) C <c@y.test>\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\npre\r\n--BB\r\nContent-Type: text/plain\r\n\r\none\r\n--BB\r\n\r\ntwo\r\n--BB--\r\n";

    #[test]
    fn header_and_sections() {
        let (h, b) = split(MSG);
        assert!(h.ends_with(b"\r\n\r\n"));
        assert!(b.starts_with(b"pre"));
        assert_eq!(field_values(h, "subject"), vec![b"hi there".to_vec()]);
        assert_eq!(
            section(MSG, "HEADER.FIELDS (SUBJECT)").unwrap(),
            b"Subject: hi\r\n there\r\n\r\n"
        );
        assert_eq!(section(MSG, "1").unwrap(), b"one");
        assert_eq!(section(MSG, "2").unwrap(), b"two");
        assert_eq!(
            section(MSG, "1.MIME").unwrap(),
            b"Content-Type: text/plain\r\n\r\n"
        );
        assert_eq!(section(MSG, "3").unwrap(), b"");
        assert_eq!(section(MSG, "").unwrap(), MSG);
        assert!(section(MSG, "BOGUS").is_none());
        let single = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(section(single, "1").unwrap(), b"body\r\n");
        assert_eq!(section(single, "TEXT").unwrap(), b"body\r\n");
    }

    #[test]
    fn address_lists() {
        let (h, _) = split(MSG);
        let from = field_values(h, "From").remove(0);
        assert_eq!(
            addresses(&from),
            vec![(
                Some(b"Ann, A.".to_vec()),
                b"ann".to_vec(),
                Some(b"x.test".to_vec())
            )]
        );
        let to = field_values(h, "To").remove(0);
        let a = addresses(&to);
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].0.as_deref(), Some(&b"C"[..]));
        assert_eq!(addresses(b"undisclosed-recipients:;"), vec![]);
    }
}
