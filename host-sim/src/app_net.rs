//! The device logic (`postwire-app`) on the host: its [`Net`] over tokio TCP, plus the
//! delay, clock and RNG it needs, so host code and tests run the same jobs as a firmware
//! (with the same TLS code).
//!
//! ```no_run
//! # async fn demo() -> Result<(), postwire_app::Error> {
//! use postwire_app::{App, Endpoint, Memory, NoEvents, Security, Settings, Trust};
//! use postwire_host_sim::app_net::{TokioNet, host_app};
//! let settings = Settings::new(
//!     Endpoint::new("127.0.0.1", 10465, Security::Implicit),
//!     Trust::Insecure,
//!     "alice",
//!     "alice-pw",
//!     "alice@example.test",
//! );
//! let mut app = host_app(settings, NoEvents);
//! let mut mem = Box::new(Memory::new());
//! # let _ = (&mut app, &mut mem);
//! # Ok(()) }
//! ```

use std::time::Duration;

use postwire_app::{App, Events, Net, Settings};

use crate::net::{TcpTransport, TokioDelay, connect_tcp};
use crate::tls::SystemClock;

/// TCP over tokio for [`postwire_app`]: each [`Net::connect`] opens a new socket
/// (TCP_NODELAY set), so the mailbox jobs can hold two connections at once.
#[derive(Clone, Copy, Debug)]
pub struct TokioNet {
    /// An upper bound of its own for the connect (the app applies its own, usually shorter,
    /// timeout too).
    pub timeout: Duration,
}

impl Default for TokioNet {
    fn default() -> Self {
        TokioNet {
            timeout: Duration::from_secs(60),
        }
    }
}

impl Net for TokioNet {
    type Error = std::io::Error;
    type Conn<'a> = TcpTransport;

    async fn connect(&self, host: &str, port: u16) -> Result<TcpTransport, std::io::Error> {
        connect_tcp(host, port, self.timeout).await
    }
}

/// The app on the host: tokio TCP, tokio timers, the OS RNG, the system clock.
pub type HostApp<'s, V> = App<'s, TokioNet, TokioDelay, rand_core::OsRng, SystemClock, V>;

/// An [`App`] over [`TokioNet`] with `settings`, reporting to `events`.
pub fn host_app<V: Events>(settings: Settings<'_>, events: V) -> HostApp<'_, V> {
    App {
        net: TokioNet::default(),
        delay: TokioDelay,
        rng: rand_core::OsRng,
        clock: SystemClock,
        events,
        settings,
    }
}
