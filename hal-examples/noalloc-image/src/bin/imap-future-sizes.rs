//! Measures the futures of the IMAP client's methods on the target, with the firmware's
//! transport type (`&mut TlsStream<&mut embassy_net::tcp::TcpSocket>`, as in `imap-tls`) and
//! embassy-time's `Delay`. `scripts/footprint.sh` reads the results from the symbol table of
//! this image; nothing here is meant to run.
//!
//! Two measurements per method, each a symbol whose size `llvm-nm --print-size` reports:
//!
//! - `imap_future_sizes::<method>::FUTURE`: a byte array of exactly
//!   `core::mem::size_of` of the future the method returns, evaluated by rustc while it
//!   compiles this image for the target, in the release profile (the same mechanism embassy's
//!   `#[task]` macro uses to size a task's static storage). The callbacks capture what those
//!   in `imap-tls` capture (two references), so the sizes are those of the firmware's calls.
//! - `imap_future_sizes::<method>::task::POOL`: the static storage of an embassy task that
//!   awaits only that call (the task is linked, never spawned). It holds the method's future
//!   plus the task's own header, arguments and state; the difference to `FUTURE` is that
//!   overhead and must stay small and about constant, which checks the first measurement.
#![no_std]
#![no_main]

use embassy_net::tcp::TcpSocket;
use embassy_time::{Delay, Timer};
use embedded_io_async::ErrorKind;
use postwire_core::sasl::Credentials;
use postwire_imap::client::{Client, FetchEvent, IdleControl, IdleEvent};
use postwire_imap::proto::Checkpoint;
use postwire_imap::wire::{FetchAttr, SearchKey, SeqRange, StoreMode};
use postwire_noalloc_image as _;
use postwire_tls::TlsStream;

/// The client as `imap-tls` has it over TLS (lifetimes do not change a layout).
type Imap =
    Client<'static, &'static mut TlsStream<'static, &'static mut TcpSocket<'static>>, Delay>;
/// The client before STARTTLS, over the plain socket.
type PlainImap = Client<'static, &'static mut TcpSocket<'static>, Delay>;

/// `size_of` of what `f` returns, at compile time.
const fn future_size<A, R, F: FnOnce(A) -> R>(_: &F) -> usize {
    core::mem::size_of::<R>()
}

/// One probe: `mod $name { FUTURE, task }` for the call `$call` with the arguments given.
macro_rules! probe {
    ($name:ident, ($($arg:ident : $ty:ty),+ $(,)?) => $call:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            const SIZE: usize = future_size(&|($($arg,)+): ($($ty,)+)| $call);
            /// Exactly as large as the method's future.
            pub static FUTURE: [u8; SIZE] = [0; SIZE];
            /// A task awaiting only this call.
            #[embassy_executor::task]
            pub async fn task($($arg: $ty),+) {
                let _ = $call.await;
            }
            /// Keeps both symbols in the image (the task is linked, never spawned).
            pub fn keep() {
                core::hint::black_box(&FUTURE);
                core::hint::black_box(task as fn($($ty),+) -> _);
            }
        }
    };
}

probe!(greet, (c: &'static mut Imap) => c.greet());
probe!(starttls, (c: &'static mut PlainImap) => c.starttls());
probe!(login, (c: &'static mut Imap, user: &'static str, pass: &'static str) => c.login(user, pass));
probe!(authenticate, (c: &'static mut Imap, creds: &'static Credentials<'static>) => c.authenticate(creds, None));
probe!(select, (c: &'static mut Imap, mailbox: &'static str) => c.select(mailbox));
probe!(fetch, (c: &'static mut Imap, set: &'static [SeqRange], attrs: &'static [FetchAttr<'static>], n: &'static mut usize) =>
c.fetch(true, set, attrs, move |ev| {
    if let FetchEvent::Data { data, .. } = ev {
        *n += data.len();
    }
    Ok::<(), ErrorKind>(())
}));
probe!(fetch_body_with, (c: &'static mut Imap, body: &'static mut [u8; 256], len: &'static mut usize) =>
c.fetch_body_with(1, "TEXT", move |chunk| {
    let take = chunk.len().min(body.len() - *len);
    if let (Some(dst), Some(src)) = (body.get_mut(*len..*len + take), chunk.get(..take)) {
        dst.copy_from_slice(src);
        *len += take;
    }
    Ok::<(), ErrorKind>(())
}));
probe!(search, (c: &'static mut Imap, keys: &'static [SearchKey<'static>], uids: &'static mut [u64; 8], n: &'static mut usize) =>
c.search(true, keys, move |uid| {
    if let Some(slot) = uids.get_mut(*n) {
        *slot = uid;
        *n += 1;
    }
}));
probe!(store, (c: &'static mut Imap, set: &'static [SeqRange]) =>
    c.store(true, set, StoreMode::Add, &["\\Seen"], true, |_| {}));
probe!(move_to, (c: &'static mut Imap, set: &'static [SeqRange], mailbox: &'static str) => c.move_to(true, set, mailbox));
probe!(append, (c: &'static mut Imap, mailbox: &'static str, source: &'static mut &'static [u8]) =>
    c.append(mailbox, &["\\Seen"], None, source.len() as u64, source));
probe!(idle, (c: &'static mut Imap) =>
c.idle(Timer::after_secs(600), |ev| match ev {
    IdleEvent::Exists(_) => IdleControl::Stop,
    _ => IdleControl::Continue,
}));
probe!(new_since, (c: &'static mut Imap, since: Checkpoint, uids: &'static mut [u64; 8], n: &'static mut usize) =>
c.new_since(since, move |uid| {
    if let Some(slot) = uids.get_mut(*n) {
        *slot = uid;
        *n += 1;
    }
}));

#[cortex_m_rt::entry]
fn main() -> ! {
    greet::keep();
    starttls::keep();
    login::keep();
    authenticate::keep();
    select::keep();
    fetch::keep();
    fetch_body_with::keep();
    search::keep();
    store::keep();
    move_to::keep();
    append::keep();
    idle::keep();
    new_since::keep();
    loop {
        cortex_m::asm::wfi();
    }
}
