//! The result of an incremental parse step.

/// Outcome of an incremental parser that may need more input.
///
/// Parsers in the postwire crates return `Ok(Status::Complete(..))` when a whole item was
/// parsed, `Ok(Status::Partial)` when the input ends before the item does (read more bytes
/// and call again; this is not an error) and `Err(..)` for malformed input.
///
/// ```
/// use postwire_core::Status;
///
/// fn first_byte(input: &[u8]) -> Status<u8> {
///     match input.first() {
///         Some(&b) => Status::Complete(b),
///         None => Status::Partial,
///     }
/// }
/// assert_eq!(first_byte(b"x"), Status::Complete(b'x'));
/// assert!(first_byte(b"").is_partial());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<T> {
    /// A complete item.
    Complete(T),
    /// More input is needed before anything can be decided.
    Partial,
}

impl<T> Status<T> {
    /// Whether this is [`Status::Complete`].
    pub const fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// Whether this is [`Status::Partial`].
    pub const fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }

    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(v) => Some(v),
            Status::Partial => None,
        }
    }

    /// Map the complete value.
    ///
    /// ```
    /// use postwire_core::Status;
    /// assert_eq!(Status::Complete(2).map(|v| v * 2), Status::Complete(4));
    /// assert_eq!(Status::<u8>::Partial.map(|v| v * 2), Status::Partial);
    /// ```
    pub fn map<U, F: FnOnce(T) -> U>(self, f: F) -> Status<U> {
        match self {
            Status::Complete(v) => Status::Complete(f(v)),
            Status::Partial => Status::Partial,
        }
    }
}
