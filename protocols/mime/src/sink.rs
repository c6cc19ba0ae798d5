//! Byte sinks used by the composer to render headers.
//!
//! Headers are rendered by deterministic code into a [`Sink`]. The composer renders each
//! header block through a [`Window`]: the bytes before the window are counted and dropped,
//! the bytes inside are copied to the caller's buffer, the rest is counted. Rendering a block
//! again with the window moved on continues exactly where the previous read stopped, so a
//! header block of any length streams through a buffer of any size without being stored.

/// Something that takes bytes.
pub trait Sink {
    /// Append `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

/// Counts the bytes (for validation and lengths).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counter(pub usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
}

/// Copies the bytes `[skip, skip + out.len())` of the rendered stream into `out`.
#[derive(Debug)]
pub struct Window<'o> {
    skip: usize,
    out: &'o mut [u8],
    written: usize,
    total: usize,
}

impl<'o> Window<'o> {
    /// A window starting at stream offset `skip`.
    pub fn new(skip: usize, out: &'o mut [u8]) -> Self {
        Window {
            skip,
            out,
            written: 0,
            total: 0,
        }
    }

    /// Bytes copied into `out`.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Length of the whole rendered stream.
    pub fn total(&self) -> usize {
        self.total
    }
}

impl Sink for Window<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let start = self.total;
        self.total = self.total.saturating_add(bytes.len());
        // Part of `bytes` at or after `skip + written`.
        let want_from = self.skip.saturating_add(self.written);
        if self.total <= want_from || self.written >= self.out.len() {
            return;
        }
        let from = want_from.saturating_sub(start);
        let src = bytes.get(from..).unwrap_or_default();
        let room = self.out.len() - self.written;
        let n = src.len().min(room);
        if let (Some(d), Some(s)) = (
            self.out.get_mut(self.written..self.written + n),
            src.get(..n),
        ) {
            d.copy_from_slice(s);
            self.written += n;
        }
    }
}

/// `core::fmt::Write` over a [`Sink`], for numbers.
pub struct FmtSink<'s, S: Sink + ?Sized>(pub &'s mut S);

impl<S: Sink + ?Sized> core::fmt::Write for FmtSink<'_, S> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.put(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slices_the_stream() {
        let parts: [&[u8]; 4] = [b"Hello", b", ", b"", b"world!"];
        let full = b"Hello, world!";
        for skip in 0..=full.len() {
            for size in 0..6 {
                let mut out = [0u8; 8];
                let mut w = Window::new(skip, &mut out[..size]);
                for p in parts {
                    w.put(p);
                }
                let n = w.written();
                assert_eq!(w.total(), full.len());
                let end = (skip + size).min(full.len());
                assert_eq!(&out[..n], &full[skip..end]);
            }
        }
    }
}
