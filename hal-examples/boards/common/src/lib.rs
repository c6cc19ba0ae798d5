//! Board-independent parts of the postwire board firmware (`hal-examples/boards/*`).
//!
//! - [`settings`]: server names, ports, credentials and the trust anchors, fixed at build
//!   time from `POSTWIRE_*` environment variables;
//! - [`net`]: the embassy-net stack on any `embassy_net_driver::Driver` with DHCP and DNS,
//!   and a bounded "resolve, then connect" for TCP;
//! - [`app_net`]: `postwire_app::Net` over embassy-net (DNS + a pool of TCP sockets);
//! - [`jobs`]: the three device jobs (alert, IMAP command mailbox, POP3 command mailbox) as
//!   never-ending tasks with retries.
//!
//! `no_std`, no allocator: all memory is static or on the task's stack.
#![no_std]

pub mod app_net;
pub mod jobs;
pub mod net;
pub mod settings;
