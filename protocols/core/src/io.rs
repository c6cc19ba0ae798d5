//! Transport helpers shared by the async clients.

use embedded_io_async::Write;

/// Why [`write_all_flush`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteAllError<E> {
    /// The transport failed.
    Io(E),
    /// The transport accepted no bytes (`Ok(0)` for a non-empty buffer): it is closed.
    Zero,
}

/// Write all of `bytes`, then flush.
///
/// Unlike `Write::write_all`, whose default panics when a transport returns `Ok(0)`, this
/// reports [`WriteAllError::Zero`]: a broken transport must not panic a firmware.
///
/// ```
/// # embassy_futures::block_on(async {
/// let mut out = [0u8; 8];
/// let mut w: &mut [u8] = &mut out;
/// postwire_core::io::write_all_flush(&mut w, b"A1 NOOP").await.unwrap();
/// // The slice is full after 8 bytes: more is refused (an error, never a panic).
/// assert!(postwire_core::io::write_all_flush(&mut w, b"\r\n!").await.is_err());
/// # });
/// ```
pub async fn write_all_flush<W: Write>(
    w: &mut W,
    mut bytes: &[u8],
) -> Result<(), WriteAllError<W::Error>> {
    while !bytes.is_empty() {
        let n = w.write(bytes).await.map_err(WriteAllError::Io)?;
        if n == 0 {
            return Err(WriteAllError::Zero);
        }
        bytes = bytes.get(n..).unwrap_or_default();
    }
    w.flush().await.map_err(WriteAllError::Io)
}
