//! Benchmarks only: where the shell's share of a round trip goes (`weft-shell --probe FILE`).
//!
//! `weft-bench` times the servo path in the page; the probe times, inside the shell, the part
//! of each of those round trips between the page's `send()` reaching the bridge and the echo's
//! delivery being queued for the page's script thread, so the page's share is the difference.
//! A sample is one send that travels alone: a send while nothing else is in flight, closed by
//! the next message (the echo core answers every event with one). Samples that overlap another
//! send are dropped, so the pipelined phases of a benchmark add nothing. Off unless the shell
//! runs with `--probe`: then the bridge calls in at each step below.
//!
//! The steps of one sample, all on the shell's monotonic clock:
//! 1. `read` — the page's send reached the bridge (on the page's script thread);
//! 2. `sent` — it has been written to the broker (checked, framed, written);
//! 3. `echo_received` — the echo's frame was read from the broker, on the reader thread;
//! 4. `echo_handled` — the bridge has made it the page's message event;
//! 5. `delivered` — the delivery holding that event is queued for the page's script thread.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use weft_ipc::lock;

/// The spans of one sample, from the steps in the module doc.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// 1 → 2: the shell's upward share.
    up: Duration,
    /// 2 → 3: appd, the core host and the four IPC hops.
    broker: Duration,
    /// 3 → 4: the bridge handling the broker's frame (on the reader thread).
    hop: Duration,
    /// 4 → 5: the event queued for the page's script thread.
    down: Duration,
}

/// A sample under way.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// The send's payload, in bytes (the benchmark's payload size).
    bytes: usize,
    read: Instant,
    sent: Option<Instant>,
    echo_received: Option<Instant>,
    echo_handled: Option<Instant>,
}

#[derive(Debug, Default)]
struct ProbeState {
    open: Option<Open>,
    /// Sends forwarded to the broker and messages received from it, in all.
    sends: u64,
    messages: u64,
    /// The last frame the reader thread received, and when.
    last_frame: Option<Instant>,
    samples: BTreeMap<usize, Vec<Sample>>,
    dropped: u64,
}

/// The shell's timing of lone round trips (see the module doc), called by the bridge.
#[derive(Debug, Default)]
pub struct Probe {
    state: Mutex<ProbeState>,
}

impl Probe {
    /// Sends of these payload sizes reached the bridge at `read` (the page's sends of one
    /// turn); called before they go to the broker.
    pub fn post(&self, read: Instant, payload_bytes: &[usize]) {
        let mut s = lock(&self.state);
        if payload_bytes.is_empty() {
            return;
        }
        let in_flight = s.sends.saturating_sub(s.messages);
        s.sends += payload_bytes.len() as u64;
        if s.open.take().is_some() {
            s.dropped += 1;
            return;
        }
        if let ([bytes], 0) = (payload_bytes, in_flight) {
            s.open = Some(Open { bytes: *bytes, read, sent: None, echo_received: None, echo_handled: None });
        }
    }

    /// The sends have been written to the broker.
    pub fn sent(&self) {
        let now = Instant::now();
        if let Some(open) = &mut lock(&self.state).open {
            open.sent.get_or_insert(now);
        }
    }

    /// The reader thread received a frame from the broker (any frame: the echo is the one the
    /// bridge then turns into a message).
    pub fn frame_received(&self) {
        lock(&self.state).last_frame = Some(Instant::now());
    }

    /// The bridge made a message from the broker into the page's event; the next delivery
    /// carries it.
    pub fn message_handled(&self) {
        let now = Instant::now();
        let mut s = lock(&self.state);
        s.messages += 1;
        let last_frame = s.last_frame;
        if let Some(open) = &mut s.open {
            if open.sent.is_some() && open.echo_handled.is_none() {
                open.echo_received = last_frame;
                open.echo_handled = Some(now);
            }
        }
    }

    /// What the bridge had for the page is queued for its script thread.
    pub fn delivered(&self) {
        let now = Instant::now();
        let mut s = lock(&self.state);
        let Some(open) = s.open else { return };
        let (Some(sent), Some(received), Some(handled)) = (open.sent, open.echo_received, open.echo_handled) else {
            return;
        };
        s.open = None;
        let sample = Sample {
            up: sent.saturating_duration_since(open.read),
            broker: received.saturating_duration_since(sent),
            hop: handled.saturating_duration_since(received),
            down: now.saturating_duration_since(handled),
        };
        s.samples.entry(open.bytes).or_default().push(sample);
    }

    /// A document attached: a sample under way is dropped.
    pub fn document_attached(&self) {
        let mut s = lock(&self.state);
        if s.open.take().is_some() {
            s.dropped += 1;
        }
    }

    /// The medians per payload size, as JSON: `{"rows": [{"payload_bytes", "samples",
    /// "up_us", "broker_us", "hop_us", "down_us", "shell_us"}], "dropped": n}`; `shell_us` is
    /// the median of each sample's whole span (read → delivered), not the sum of the medians.
    pub fn summary(&self) -> serde_json::Value {
        let s = lock(&self.state);
        let median = |mut v: Vec<Duration>| -> f64 {
            v.sort();
            v.get(v.len() / 2).map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
        };
        let rows: Vec<serde_json::Value> = s
            .samples
            .iter()
            .map(|(bytes, samples)| {
                let span = |f: fn(&Sample) -> Duration| median(samples.iter().map(f).collect());
                serde_json::json!({
                    "payload_bytes": bytes,
                    "samples": samples.len(),
                    "up_us": span(|x| x.up),
                    "broker_us": span(|x| x.broker),
                    "hop_us": span(|x| x.hop),
                    "down_us": span(|x| x.down),
                    "shell_us": span(|x| x.up + x.broker + x.hop + x.down),
                })
            })
            .collect();
        serde_json::json!({ "rows": rows, "dropped": s.dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` echoes come back from the broker, each delivered to the page on its own.
    fn echoes(probe: &Probe, n: usize) {
        for _ in 0..n {
            probe.frame_received();
            probe.message_handled();
            probe.delivered();
        }
    }

    /// One lone round trip, step by step.
    fn round_trip(probe: &Probe, bytes: usize) {
        probe.post(Instant::now(), &[bytes]);
        probe.sent();
        echoes(probe, 1);
    }

    fn rows(probe: &Probe) -> Vec<(u64, u64)> {
        let summary = probe.summary();
        summary["rows"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| (r["payload_bytes"].as_u64().unwrap_or(0), r["samples"].as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn lone_round_trips_are_sampled_per_payload_size() {
        let probe = Probe::default();
        for _ in 0..3 {
            round_trip(&probe, 64);
        }
        round_trip(&probe, 1024);
        assert_eq!(rows(&probe), vec![(64, 3), (1024, 1)]);
        let summary = probe.summary();
        let row = &summary["rows"][0];
        for span in ["up_us", "broker_us", "hop_us", "down_us", "shell_us"] {
            assert!(row[span].as_f64().is_some_and(|v| v >= 0.0), "{span}: {row}");
        }
    }

    #[test]
    fn overlapping_and_batched_sends_are_not_sampled() {
        let probe = Probe::default();
        // Two sends in one post.
        probe.post(Instant::now(), &[64, 64]);
        probe.sent();
        echoes(&probe, 2);
        // A lone send, then another before its echo: both dropped.
        probe.post(Instant::now(), &[64]);
        probe.sent();
        probe.post(Instant::now(), &[64]);
        probe.sent();
        echoes(&probe, 2);
        assert_eq!(rows(&probe), vec![]);
        assert_eq!(probe.summary()["dropped"], 1);
        // Once nothing is in flight, a lone send is sampled again.
        round_trip(&probe, 64);
        assert_eq!(rows(&probe), vec![(64, 1)]);
    }

    #[test]
    fn the_sample_closes_with_the_echos_delivery_not_the_verdicts() {
        let probe = Probe::default();
        probe.post(Instant::now(), &[64]);
        probe.sent();
        // The verdict arrives and is delivered on its own first.
        probe.frame_received();
        probe.delivered();
        assert_eq!(rows(&probe), vec![], "the verdict's delivery does not close the sample");
        echoes(&probe, 1);
        assert_eq!(rows(&probe), vec![(64, 1)]);
    }

    #[test]
    fn a_document_attaching_drops_the_sample_under_way() {
        let probe = Probe::default();
        probe.post(Instant::now(), &[64]);
        probe.sent();
        probe.document_attached();
        echoes(&probe, 1);
        assert_eq!(rows(&probe), vec![]);
        assert_eq!(probe.summary()["dropped"], 1);
    }
}
