//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`: real frames of
//! every endpoint serialised exactly as ipc-channel sends them, bootstrap lines, the example
//! manifests and real payloads. Usage: `weft-fuzz-seeds <repo root>`.

use ipc_channel::ipc;
use serde::Serialize;
use std::path::{Path, PathBuf};
use weft_ipc::credit::Credit;
use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};
use weft_ipc::frames::*;
use weft_ipc::reason::{EndReason, SessionEnd};
use weft_ipc::rejection::{RejectKind, Rejection};
use weft_ipc::transport::{decode_batch, Bootstrap};

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let corpus = root.join("fuzz/corpus");
    frames(&corpus.join("frames"));
    manifests(&root, &corpus.join("manifest"));
    payloads(&corpus.join("validation"));
    receive(&corpus.join("receive"));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

/// A batch as ipc-channel puts it on the wire.
fn wire<T: Serialize>(batch: &[T]) -> Vec<u8> {
    postcard::to_stdvec(batch).expect("serialise")
}

fn session() -> SessionId {
    SessionId("3f1c9a0e5b7d42c8a6e0f19b2d4c7a85".into())
}

fn envelope(stream_id: StreamId, class: MessageClass, t: &str, seq: u64, payload: &str, key: Option<&str>) -> Envelope {
    Envelope {
        session_id: session(),
        stream_id,
        class,
        message_type: t.into(),
        sequence: seq,
        payload: payload.into(),
        coalesce_key: key.map(str::to_owned),
    }
}

fn ui_event(t: &str, seq: u64, payload: &str) -> Envelope {
    envelope(StreamId::UiToCore, MessageClass::UiEvent, t, seq, payload, None)
}

fn update(t: &str, seq: u64, payload: &str, key: Option<&str>) -> Envelope {
    envelope(StreamId::CoreToUi, MessageClass::StateUpdate, t, seq, payload, key)
}

fn frames(dir: &Path) {
    let secret = "9d".repeat(32);
    let credit = Credit { messages: 64, bytes: 128 * 1024 };
    let end = SessionEnd {
        reason: EndReason::ProtocolViolation,
        detail: "sequence 3 after 1".into(),
        unconfirmed_ui_events: 2,
        undelivered_state_updates: 1,
    };
    let rejection = Rejection {
        kind: RejectKind::SchemaMismatch,
        detail: "payload at /n: \"3\" is not of type \"integer\"".into(),
    };

    // UI → broker (what the broker decodes from the page's process).
    let (to_ui, _keep_ui) = ipc::channel::<Vec<BrokerToUi>>().expect("channel");
    let ui: Vec<(&str, Vec<UiToBroker>)> = vec![
        (
            "ui-hello",
            vec![UiToBroker::Hello(UiHello {
                protocol_version: 1,
                session_id: session(),
                secret: secret.clone(),
                to_ui,
            })],
        ),
        ("ui-message", vec![UiToBroker::Message(ui_event("increment", 1, r#"{"by":1}"#))]),
        (
            "ui-messages",
            vec![
                UiToBroker::Message(ui_event("strict", 1, r#"{"n":3}"#)),
                UiToBroker::Message(ui_event("echo", 2, r#"{"coalesce":"k","v":[1,2,3]}"#)),
                UiToBroker::Credit(Credit { messages: 2, bytes: 40 }),
            ],
        ),
        ("ui-credit", vec![UiToBroker::Credit(credit)]),
        ("ui-close", vec![UiToBroker::Close]),
        (
            "ui-test-control",
            vec![UiToBroker::TestControl(TestAction::KillCore), UiToBroker::TestControl(TestAction::TrapCore)],
        ),
        ("ui-empty", vec![]),
    ];
    for (name, batch) in ui {
        write(dir, name, &wire(&batch));
    }

    // Core → broker.
    let (to_core, _keep_core) = ipc::channel::<Vec<BrokerToCore>>().expect("channel");
    let core: Vec<(&str, Vec<CoreToBroker>)> = vec![
        (
            "core-hello",
            vec![CoreToBroker::Hello(CoreHello { protocol_version: 1, session_id: session(), secret, to_core })],
        ),
        ("core-ready", vec![CoreToBroker::Lifecycle(CoreLifecycle::Ready), CoreToBroker::Credit(credit)]),
        ("core-update", vec![CoreToBroker::Message(update("count", 1, r#"{"value":42}"#, Some("count")))]),
        (
            "core-updates",
            vec![
                CoreToBroker::Message(update("echo", 1, r#"{"n":3}"#, None)),
                CoreToBroker::Message(update("tick", 2, r#"{"i":7}"#, Some("tick"))),
                CoreToBroker::Credit(Credit::one(12)),
            ],
        ),
        (
            "core-lifecycle",
            vec![
                CoreToBroker::Lifecycle(CoreLifecycle::EventFailed { sequence: 4, error: "no such item".into() }),
                CoreToBroker::Lifecycle(CoreLifecycle::DeadlineExceeded("handle-event after 1000 ms".into())),
                CoreToBroker::Lifecycle(CoreLifecycle::Trapped("wasm trap: unreachable".into())),
                CoreToBroker::Lifecycle(CoreLifecycle::StartFailed("not a component".into())),
            ],
        ),
    ];
    for (name, batch) in core {
        write(dir, name, &wire(&batch));
    }

    // Broker → UI and broker → core (what the shell and the core host decode).
    let to_ui: Vec<(&str, Vec<BrokerToUi>)> = vec![
        (
            "broker-ui-welcome",
            vec![BrokerToUi::Welcome(UiWelcome {
                protocol_version: 1,
                session_id: session(),
                app_name: "counter".into(),
                max_message_bytes: 1024,
                max_pending_sends: 256,
                ui_event_types: vec!["increment".into(), "reset".into()],
                initial_credit: credit,
                test_control: false,
            })],
        ),
        (
            "broker-ui-verdicts",
            vec![
                BrokerToUi::Admitted { sequence: 1 },
                BrokerToUi::Rejected { sequence: 2, rejection: rejection.clone() },
                BrokerToUi::Credit(Credit::one(9)),
                BrokerToUi::Message(update("count", 1, r#"{"value":1}"#, Some("count"))),
                BrokerToUi::Error(Rejection { kind: RejectKind::CoreError, detail: "boom".into() }),
            ],
        ),
        ("broker-ui-end", vec![BrokerToUi::SessionEnd(end.clone())]),
    ];
    for (name, batch) in to_ui {
        write(dir, name, &wire(&batch));
    }
    let to_core: Vec<(&str, Vec<BrokerToCore>)> = vec![
        (
            "broker-core-welcome",
            vec![BrokerToCore::Welcome(CoreWelcome {
                protocol_version: 1,
                session_id: session(),
                capabilities: vec![Capability::Clock, Capability::Random],
                limits: CoreLimits { max_memory_bytes: 64 << 20, event_deadline_ms: 1000, outbox_capacity: 4096 },
                max_message_bytes: 16384,
                initial_credit: credit,
                carried_events: Vec::new(),
            })],
        ),
        (
            "broker-core-events",
            vec![
                BrokerToCore::Message(ui_event("increment", 1, r#"{"by":5}"#)),
                BrokerToCore::Credit(credit),
                BrokerToCore::Rejected { sequence: 3, rejection },
                BrokerToCore::TestTrap,
            ],
        ),
        ("broker-core-end", vec![BrokerToCore::SessionEnd(end)]),
    ];
    for (name, batch) in to_core {
        write(dir, name, &wire(&batch));
    }

    // Every seed without a channel in it must decode as what it is.
    assert!(decode_batch::<UiToBroker>(&wire(&[UiToBroker::Close])).is_ok());
    assert!(decode_batch::<CoreToBroker>(&wire(&[CoreToBroker::Credit(credit)])).is_ok());

    // The bootstrap line on a child's stdin.
    let bootstrap =
        Bootstrap { server_name: "/tmp/.tmpAbC123/socket".into(), session_id: session(), secret: "ab".repeat(32) };
    let mut line = Vec::new();
    bootstrap.write_to(&mut line).expect("bootstrap");
    write(dir, "bootstrap", &line);
    write(dir, "bootstrap-extra", br#"{"server_name":"s","session_id":"x","secret":"y","extra":[1,{"a":null}]}"#);
}

fn manifests(root: &Path, dir: &Path) {
    for app in ["counter", "echo", "hostile"] {
        let text = std::fs::read(root.join("examples").join(app).join("weft.toml")).expect("example manifest");
        write(dir, &format!("example-{app}"), &text);
    }
    let cases: &[(&str, &str)] = &[
        ("schema-file", "[app]\nname = \"s\"\n[ui-events.a]\nschema_file = \"schema.json\"\n[state-updates.b]\ncoalescible = true\nschema_file = \"any.json\"\n"),
        ("schema-file-bad", "[app]\nname = \"s\"\n[ui-events.a]\nschema_file = \"bad.json\"\n[ui-events.b]\nschema_file = \"invalid.json\"\n[ui-events.c]\nschema_file = \"latin1.json\"\n[ui-events.d]\nschema_file = \"../x.json\"\n"),
        ("paths", "[app]\nname = \"p\"\ncore = \"module.wasm\"\nui = \"ui/missing.html\"\n[ui-events.a]\nschema = {}\n"),
        ("paths-2", "[app]\nname = \"p\"\ncore = \"/etc/core.wasm\"\nui = \"../ui/index.html\"\n[ui-events.a]\nschema = {}\n"),
        ("short-core", "[app]\nname = \"p\"\ncore = \"short.wasm\"\n[ui-events.a]\nschema = {}\n"),
        ("capabilities", "[app]\nname = \"c\"\ncapabilities = [\"clock\", \"random\", \"clock\", \"network\"]\n[ui-events.a]\nschema = {}\n"),
        ("limits", "[app]\nname = \"l\"\n[limits]\nmax_message_bytes = 0\nmax_pending_sends = 70000\nevent_deadline_ms = 5\nmax_memory_mib = 4097\n[ui-events.a]\nschema = {}\n"),
        ("limits-max", "[app]\nname = \"l\"\n[limits]\nmax_message_bytes = 65536\nmax_pending_sends = 65536\nevent_deadline_ms = 60000\nmax_memory_mib = 4096\n[ui-events.a]\nschema = {}\n"),
        ("bad-names", "[app]\nname = \"Bad Name\"\n[ui-events.\"\"]\nschema = {}\n[ui-events.\"a b\"]\ncoalescible = true\nschema = {}\n[ui-events.x]\nschema = {}\nschema_file = \"any.json\"\n[ui-events.y]\n"),
        ("typos", "[app]\nname=\"a\"\nnmae=\"b\"\n[ui-event.a]\nschema={}\n"),
        ("no-events", "[app]\nname = \"n\"\n[state-updates.a]\nschema = {}\n"),
        ("schemas", "[app]\nname = \"k\"\n[ui-events.a]\nschema = { type = \"nope\" }\n[ui-events.b]\nschema = { \"$ref\" = \"http://example.com/s.json\" }\n[ui-events.c]\nschema = { type = \"string\", pattern = \"(a+)+$\", format = \"date-time\" }\n[ui-events.d]\nschema = { anyOf = [{ type = \"integer\", minimum = 1.5 }, { enum = [1, \"a\", true] }], \"$defs\" = { x = { \"$ref\" = \"#/$defs/x\" } } }\n[ui-events.e]\nschema = { t = 1979-05-27T07:32:00Z }\n"),
    ];
    for (name, text) in cases {
        write(dir, name, text.as_bytes());
    }
}

fn payloads(dir: &Path) {
    // Byte 0: bit 0 = state update, bit 1 = with a coalescing key; then "type\nkey\npayload".
    let cases: &[(&str, u8, &str, &str, &str)] = &[
        ("strict-ok", 0, "strict", "", r#"{"n": 3}"#),
        ("strict-string", 0, "strict", "", r#"{"n": "3"}"#),
        ("strict-float", 0, "strict", "", r#"{"n": 1.5}"#),
        ("strict-missing", 0, "strict", "", "{}"),
        ("strict-keyed", 2, "strict", "k", r#"{"n": 1}"#),
        ("echo-any", 0, "echo", "", r#"[1, "two", {"three": [null, true, 4e10]}]"#),
        ("echo-not-json", 0, "echo", "", "{nope"),
        ("echo-deep", 0, "echo", "", &format!("{}{}", "[".repeat(200), "]".repeat(200))),
        ("increment", 0, "increment", "", r#"{"by": 5}"#),
        ("increment-extra", 0, "increment", "", r#"{"by": 5, "x": 1}"#),
        ("increment-range", 0, "increment", "", r#"{"by": 1000001}"#),
        ("count", 3, "count", "count", r#"{"value": 42}"#),
        ("count-unkeyed", 1, "count", "", r#"{"value": -1}"#),
        ("count-as-event", 0, "count", "", r#"{"value": 1}"#),
        ("unknown", 0, "nope", "", "{}"),
        (
            "complex-add",
            0,
            "complex",
            "",
            r#"{"kind": "add", "items": [{"id": "a1", "tags": ["a", "b"], "weight": 1.5, "child": {"id": "b", "tags": []}}], "at": "2026-01-02T03:04:05Z", "position": [1, 2], "meta": {"x-a": "v", "x-b": null}}"#,
        ),
        ("complex-rename", 3, "complex", "r", r#"{"kind": "rename", "name": "new name"}"#),
        (
            "complex-bad",
            1,
            "complex",
            "",
            r#"{"kind": "add", "items": [{"id": "A", "tags": ["a", "a"], "weight": 0}], "name": "", "position": [1, 2, 3], "meta": {"x-averyveryverylongkey": 1}}"#,
        ),
        ("complex-remove", 0, "complex", "", r#"{"kind": "remove", "at": "yesterday"}"#),
        ("too-large", 0, "echo", "", &format!("\"{}\"", "x".repeat(1100))),
        ("unicode", 0, "echo", "", "{\"é\": \"\\ud83d\\ude00 \u{1f600}\", \"\\u0000\": 1}"),
    ];
    for (name, flags, t, key, payload) in cases {
        let mut bytes = vec![*flags];
        bytes.extend_from_slice(format!("{t}\n{key}\n{payload}").as_bytes());
        write(dir, name, &bytes);
    }
}

/// Seeds for the receive target, in its input format (fuzz_targets/receive.rs): well-formed
/// messages (one datagram, with shared memory and channels named, and one with follow-ups on a
/// dedicated channel) and the forgeries of `weft_ipc::forge::Forgery` as raw headers.
fn receive(dir: &Path) {
    /// `Carried` as postcard writes it: channels and shared memory are indices.
    #[derive(Serialize)]
    struct CarriedWire {
        bytes: Vec<u8>,
        senders: Vec<usize>,
        receivers: Vec<usize>,
        memory: Vec<usize>,
    }
    let encode = |bytes: Vec<u8>, senders: Vec<usize>, memory: Vec<usize>| {
        postcard::to_stdvec(&CarriedWire { bytes, senders, receivers: vec![], memory }).expect("serialise")
    };
    let u16le = |n: usize| (n as u16).to_le_bytes().to_vec();
    // One datagram: flags, body, the header if raw, attachments.
    let datagram = |flags: u8, body: &[u8], raw_header: Option<(usize, usize)>, kinds: &[u8]| {
        let mut d = vec![flags];
        d.extend(u16le(body.len()));
        d.extend_from_slice(body);
        if let Some((fragment, total)) = raw_header {
            d.extend(fragment.to_ne_bytes());
            d.extend(total.to_ne_bytes());
        }
        d.push(kinds.len() as u8);
        d.extend_from_slice(kinds);
        d
    };
    let one = |d: Vec<u8>| [vec![0u8], d].concat();
    write(dir, "plain", &one(datagram(0, &encode(b"hello".to_vec(), vec![], vec![]), None, &[])));
    // A channel (kind 0) named as sender 0, and shared memory (kind 2, 4096 bytes) named as 0.
    let mut named = datagram(0, &encode(vec![7; 32], vec![0], vec![0]), None, &[0, 2]);
    named.extend(u16le(4096));
    write(dir, "named-channel-and-memory", &one(named));
    // Follow-ups: the first 40 bytes in the datagram, the rest on the dedicated channel.
    let long = encode(vec![9; 300], vec![], vec![]);
    let mut split = vec![0u8, 2 | 4];
    split.extend(u16le(40));
    split.extend_from_slice(&long[..40]);
    split.extend(((long.len() - 40) as u32).to_le_bytes());
    split.push(0);
    split.extend(u16le(long.len() - 40));
    split.extend_from_slice(&long[40..]);
    write(dir, "follow-ups", &split);
    // Raw headers that lie (see weft_ipc::forge::Forgery).
    let header = 16;
    let cases: [(&str, usize, usize, &[u8], &[u8]); 6] = [
        ("huge-total", header + 4, 1 << 45, &[0; 4], &[0]),
        ("total-below-fragment", header + 8, 4, &[0; 8], &[]),
        ("no-dedicated-channel", header + 4, 100, &[0; 4], &[]),
        ("fragment-under-header", 8, 1, &[0], &[]),
        ("fragment-overstated", 1 << 40, 1, &[0], &[]),
        ("pipe-attached", header + 1, 1, &[0], &[1]),
    ];
    for (name, fragment, total, body, kinds) in cases {
        write(dir, name, &one(datagram(1, body, Some((fragment, total)), kinds)));
    }
    // An empty datagram (no header) carrying a channel: `recvmsg` returns 0 for it.
    let mut empty = vec![0u8, 1 | 8];
    empty.extend(u16le(0));
    empty.extend([0, 1, 0]);
    write(dir, "empty-with-descriptors", &empty);
    // A zero-length shared memory region, named: reading it must give an empty slice.
    let mut empty_memory = datagram(0, &encode(vec![], vec![], vec![0]), None, &[2]);
    empty_memory.extend(u16le(0));
    write(dir, "empty-memory-named", &one(empty_memory));
    // Two messages, the second naming a channel that was never attached.
    let mut two = vec![1u8];
    two.extend(datagram(0, &encode(vec![], vec![], vec![]), None, &[]));
    two.extend(datagram(0, &encode(vec![], vec![3], vec![]), None, &[4, 3, 5]));
    write(dir, "unattached-index", &two);
}
