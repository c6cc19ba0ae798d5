//! The random number generator for TLS key shares and TCP sequence numbers.
//!
//! # ⚠ NOT SECURE ⚠
//!
//! [`InsecureDemoRng`] is a xorshift64* generator seeded from a constant. Its output is
//! predictable: anybody can compute the TLS key share and read or change the "encrypted"
//! connection. It exists only so that this size/link proof has a `CryptoRng` to link. A real
//! board MUST use its hardware TRNG (e.g. `embassy_nrf::rng::Rng`, `embassy_stm32::rng::Rng`,
//! the RP2040 ROSC-based generator) or a CSPRNG (e.g. `rand_chacha`) seeded from it.

use rand_core::{CryptoRng, RngCore};

/// **NOT a secure RNG**: predictable xorshift64* from a constant seed, for the link proof
/// only. Replace with the board's hardware RNG; see the [module documentation](self).
pub struct InsecureDemoRng {
    state: u64,
}

impl InsecureDemoRng {
    /// The placeholder generator. **Never ship this.**
    pub const fn new_insecure_constant_seed() -> Self {
        InsecureDemoRng {
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl RngCore for InsecureDemoRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// A LIE, for the link proof only: this generator is not cryptographically secure. The marker
/// is what embedded-tls requires; a board's hardware RNG earns it honestly.
impl CryptoRng for InsecureDemoRng {}
