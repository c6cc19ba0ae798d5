//! Two embassy-net stacks joined in-process: two embassy-net-driver-channel devices whose
//! outgoing Ethernet frames are copied into the other one's receive queue, as if a cable ran
//! between them.

use core::sync::atomic::{AtomicU64, Ordering};

use embassy_futures::join::join;
use embassy_net::driver::{HardwareAddress, LinkState};
use embassy_net_driver_channel as ch;

use crate::MTU;

/// Frames queued per direction in each channel.
const QUEUE: usize = 4;

/// The memory of one channel (frames in both directions).
pub type ChannelState = ch::State<MTU, QUEUE, QUEUE>;

/// The driver a stack runs on: one end of the cable.
pub type ChannelDevice<'d> = ch::Device<'d, MTU>;

/// The cable: run it ([`Link::run`]) beside the two stacks.
pub struct Link<'d> {
    a: ch::Runner<'d, MTU>,
    b: ch::Runner<'d, MTU>,
}

/// What crossed the cable.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Frames, both directions.
    pub frames: AtomicU64,
    /// Bytes of those frames.
    pub bytes: AtomicU64,
}

impl LinkStats {
    /// Frames so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Bytes so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Two drivers with the Ethernet addresses `mac_a` and `mac_b`, and the cable between them.
pub fn link<'d>(
    a: &'d mut ChannelState,
    b: &'d mut ChannelState,
    mac_a: [u8; 6],
    mac_b: [u8; 6],
) -> (ChannelDevice<'d>, ChannelDevice<'d>, Link<'d>) {
    let (runner_a, device_a) = ch::new(a, HardwareAddress::Ethernet(mac_a));
    let (runner_b, device_b) = ch::new(b, HardwareAddress::Ethernet(mac_b));
    (
        device_a,
        device_b,
        Link {
            a: runner_a,
            b: runner_b,
        },
    )
}

impl Link<'_> {
    /// Brings the link up and carries frames both ways, forever.
    pub async fn run(self, stats: &LinkStats) -> ! {
        let (state_a, rx_a, tx_a) = self.a.split();
        let (state_b, rx_b, tx_b) = self.b.split();
        state_a.set_link_state(LinkState::Up);
        state_b.set_link_state(LinkState::Up);
        join(carry(tx_a, rx_b, stats), carry(tx_b, rx_a, stats))
            .await
            .0
    }
}

/// Copies every frame `from` sends into `to`'s receive queue (waiting for room: the cable
/// never drops a frame).
async fn carry(
    mut from: ch::TxRunner<'_, MTU>,
    mut to: ch::RxRunner<'_, MTU>,
    stats: &LinkStats,
) -> ! {
    loop {
        let frame = from.tx_buf().await;
        let len = frame.len();
        let slot = to.rx_buf().await;
        slot[..len].copy_from_slice(frame);
        to.rx_done(len);
        from.tx_done();
        stats.frames.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(len as u64, Ordering::Relaxed);
    }
}
