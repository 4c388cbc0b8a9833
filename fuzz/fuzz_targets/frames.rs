//! Bytes that cross a process boundary: any byte string, decoded as one IPC message of each
//! endpoint (with ipc-channel's own deserializer, as a reader thread does) and as the
//! bootstrap line a child reads on stdin. Decoding must fail cleanly or succeed, never panic,
//! and never allocate more than a small multiple of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_ipc::frames::{BrokerToCore, BrokerToUi, CoreToBroker, UiToBroker};
use weft_ipc::transport::{decode_batch, Bootstrap};

fuzz_target!(|data: &[u8]| {
    // What the broker decodes from each peer.
    if let Ok(batch) = decode_batch::<UiToBroker>(data) {
        for frame in &batch {
            if let UiToBroker::Message(envelope) = frame {
                let _ = envelope.size();
            }
        }
    }
    let _ = decode_batch::<CoreToBroker>(data);
    // What the peers decode from the broker.
    let _ = decode_batch::<BrokerToUi>(data);
    let _ = decode_batch::<BrokerToCore>(data);
    // The bootstrap line on a child's stdin.
    let _ = Bootstrap::read_from(data);
});
