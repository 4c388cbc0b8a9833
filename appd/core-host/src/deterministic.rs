//! Deterministic stand-ins for the WASI clocks and random sources, given to a core unless its
//! manifest grants the `clock` / `random` capability. Two runs of a core over the same events
//! see the same times and the same "random" numbers.
//!
//! - Clocks start at a fixed instant and advance by [`CLOCK_STEP`] on every read, so time is
//!   strictly increasing (loops that wait for time to pass terminate) but reveals nothing
//!   about the host.
//! - Random numbers come from SplitMix64 with fixed seeds.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// How far a deterministic clock advances per read.
pub const CLOCK_STEP: Duration = Duration::from_micros(1);

/// Where the deterministic wall clock starts: 2000-01-01T00:00:00Z, in seconds since the Unix
/// epoch.
pub const WALL_CLOCK_START_SECS: u64 = 946_684_800;

/// The seed of the `wasi:random/random` stand-in.
pub const SECURE_SEED: u64 = 0x5745_4654_0000_0001;
/// The seed of the `wasi:random/insecure` stand-in.
pub const INSECURE_SEED: u64 = 0x5745_4654_0000_0002;
/// The value of `wasi:random/insecure-seed`.
pub const INSECURE_SEED_VALUE: u128 = 0x5745_4654_5745_4654_5745_4654_5745_4654;

/// Counts reads; shared by nothing, one per clock.
#[derive(Debug, Default)]
struct Reads(AtomicU64);

impl Reads {
    /// The number of reads before this one.
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// A wall clock that starts at [`WALL_CLOCK_START_SECS`] and advances [`CLOCK_STEP`] per read.
#[derive(Debug, Default)]
pub struct DeterministicWallClock {
    reads: Reads,
}

impl HostWallClock for DeterministicWallClock {
    fn resolution(&self) -> Duration {
        CLOCK_STEP
    }

    fn now(&self) -> Duration {
        let reads = u32::try_from(self.reads.next()).unwrap_or(u32::MAX);
        Duration::from_secs(WALL_CLOCK_START_SECS) + CLOCK_STEP * reads
    }
}

/// A monotonic clock that starts at 0 and advances [`CLOCK_STEP`] per read.
#[derive(Debug, Default)]
pub struct DeterministicMonotonicClock {
    reads: Reads,
}

impl HostMonotonicClock for DeterministicMonotonicClock {
    fn resolution(&self) -> u64 {
        CLOCK_STEP.as_nanos() as u64
    }

    fn now(&self) -> u64 {
        self.reads.next().saturating_mul(CLOCK_STEP.as_nanos() as u64)
    }
}

/// SplitMix64: a tiny, fast, well-distributed generator with a fixed seed. Not
/// cryptographically secure — by design, since the point is reproducibility.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl rand_core::TryRng for SplitMix64 {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn clocks_start_fixed_and_strictly_increase() {
        let wall = DeterministicWallClock::default();
        let first = wall.now();
        assert_eq!(first, Duration::from_secs(WALL_CLOCK_START_SECS));
        assert_eq!(wall.now(), first + CLOCK_STEP);
        let mono = DeterministicMonotonicClock::default();
        assert_eq!(mono.now(), 0);
        assert_eq!(mono.now(), 1_000);
        assert_eq!(mono.resolution(), 1_000);
    }

    #[test]
    fn splitmix_is_reproducible_and_fills_odd_lengths() {
        let mut a = SplitMix64::new(SECURE_SEED);
        let mut b = SplitMix64::new(SECURE_SEED);
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        assert_eq!(x, y);
        assert_ne!(x, [0u8; 13]);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(SplitMix64::new(SECURE_SEED).next_u64(), SplitMix64::new(INSECURE_SEED).next_u64());
    }
}
