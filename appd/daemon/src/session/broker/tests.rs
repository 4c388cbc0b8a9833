//! Unit tests of the broker's rules, one short case each.

use super::*;
use crate::manifest::test_package;
use serde_json::json;

const ID: &str = "s1";

fn broker() -> (Broker, Instant) {
    let app = test_package(
        100,
        &[("echo", false, json!({})), ("strict", false, json!({"type": "object", "required": ["n"]}))],
        &[("echo-back", false, json!({})), ("count", true, json!({"type": "integer"}))],
    );
    let now = Instant::now();
    let cfg = BrokerConfig {
        session_id: SessionId(ID.into()),
        app_name: "t".into(),
        validator: Arc::new(Validator::compile(&app).expect("compile")),
        max_message_bytes: 100,
        max_pending_sends: 8,
        ui_event_types: vec!["echo".into(), "strict".into()],
        state_queue_capacity: 4,
        watchdog: Duration::from_secs(2),
        startup_timeout: Duration::from_secs(5),
        test_control: false,
    };
    let mut b = Broker::new(cfg, now);
    b.core_initial_credit();
    let mut out = Vec::new();
    assert_eq!(b.on_core(CoreToBroker::Lifecycle(CoreLifecycle::Ready), now, &mut out), Flow::Continue);
    assert_eq!(b.on_core(CoreToBroker::Credit(Credit { messages: 2, bytes: 1000 }), now, &mut out), Flow::Continue);
    let welcome = b.ui_welcome();
    assert_eq!(welcome.initial_credit, Credit { messages: 2, bytes: 1000 });
    (b, now)
}

fn ui_event(t: &str, seq: u64, payload: &str) -> UiToBroker {
    UiToBroker::Message(Envelope {
        session_id: SessionId(ID.into()),
        stream_id: StreamId::UiToCore,
        class: MessageClass::UiEvent,
        message_type: t.into(),
        sequence: seq,
        payload: payload.into(),
        coalesce_key: None,
    })
}

fn update(t: &str, seq: u64, payload: &str, key: Option<&str>) -> CoreToBroker {
    CoreToBroker::Message(Envelope {
        session_id: SessionId(ID.into()),
        stream_id: StreamId::CoreToUi,
        class: MessageClass::StateUpdate,
        message_type: t.into(),
        sequence: seq,
        payload: payload.into(),
        coalesce_key: key.map(str::to_owned),
    })
}

fn is_violation(flow: Flow, needle: &str) -> bool {
    matches!(flow, Flow::End(EndReason::ProtocolViolation, ref d) if d.contains(needle))
}

#[test]
fn admitted_ui_event_reaches_core_and_page_hears_admission() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert_eq!(b.on_ui(ui_event("echo", 1, "{}"), now, &mut out), Flow::Continue);
    assert!(matches!(out[0], Output::ToUi(BrokerToUi::Admitted { sequence: 1 })));
    assert!(matches!(&out[1], Output::ToCore(BrokerToCore::Message(e)) if e.sequence == 1));
}

#[test]
fn schema_mismatch_is_refused_alone_and_credit_refunded() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert_eq!(b.on_ui(ui_event("strict", 1, "{}"), now, &mut out), Flow::Continue);
    assert!(
        matches!(&out[0], Output::ToUi(BrokerToUi::Rejected { sequence: 1, rejection }) if rejection.kind == RejectKind::SchemaMismatch)
    );
    assert!(matches!(out[1], Output::ToUi(BrokerToUi::Credit(_))));
    // The next event is sequence 2 and reaches the core as its sequence 1: no gap toward the core.
    out.clear();
    assert_eq!(b.on_ui(ui_event("echo", 2, "{}"), now, &mut out), Flow::Continue);
    assert!(matches!(&out[1], Output::ToCore(BrokerToCore::Message(e)) if e.sequence == 1));
    assert_eq!(b.stats().ui_events_rejected.get("schema-mismatch"), Some(&1));
}

#[test]
fn framing_errors_end_the_session() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert!(is_violation(b.on_ui(ui_event("echo", 2, "{}"), now, &mut out), "sequence 2 where 1"));
    let (mut b, now) = broker();
    let mut forged = ui_event("echo", 1, "{}");
    if let UiToBroker::Message(e) = &mut forged {
        e.session_id = SessionId("other".into());
    }
    assert!(is_violation(b.on_ui(forged, now, &mut out), "another session"));
    let (mut b, now) = broker();
    let mut wrong_class = ui_event("echo", 1, "{}");
    if let UiToBroker::Message(e) = &mut wrong_class {
        e.class = MessageClass::StateUpdate;
    }
    assert!(is_violation(b.on_ui(wrong_class, now, &mut out), "class state-update"));
    let (mut b, now) = broker();
    assert_eq!(b.on_ui(ui_event("echo", 1, "{}"), now, &mut out), Flow::Continue);
    assert_eq!(b.on_ui(ui_event("echo", 2, "{}"), now, &mut out), Flow::Continue);
    assert!(is_violation(b.on_ui(ui_event("echo", 3, "{}"), now, &mut out), "beyond its credit"));
}

#[test]
fn coalesced_updates_reach_the_page_latest_first_without_gaps() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    for (seq, value) in [(1, "1"), (2, "2"), (3, "3")] {
        assert_eq!(b.on_core(update("count", seq, value, Some("c")), now, &mut out), Flow::Continue);
    }
    assert_eq!(b.on_core(update("echo-back", 4, "\"x\"", None), now, &mut out), Flow::Continue);
    assert_eq!(b.stats().state_updates_coalesced, 2);
    out.clear();
    assert_eq!(b.on_ui(UiToBroker::Credit(Credit { messages: 10, bytes: 1000 }), now, &mut out), Flow::Continue);
    let delivered: Vec<(u64, String)> = out
        .iter()
        .filter_map(|o| match o {
            Output::ToUi(BrokerToUi::Message(e)) => Some((e.sequence, e.payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![(1, "3".to_string()), (2, "\"x\"".to_string())]);
}

#[test]
fn invalid_state_update_is_dropped_and_both_sides_told() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert_eq!(b.on_core(update("count", 1, "\"nan\"", Some("c")), now, &mut out), Flow::Continue);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::ToUi(BrokerToUi::Error(r)) if r.kind == RejectKind::SchemaMismatch)));
    assert!(out.iter().any(|o| matches!(o, Output::ToCore(BrokerToCore::Rejected { sequence: 1, .. }))));
    assert_eq!(b.on_core(update("nope", 2, "1", None), now, &mut out), Flow::Continue);
    assert_eq!(b.stats().state_updates_rejected.get("unknown-type"), Some(&1));
}

#[test]
fn watchdog_ends_a_core_that_holds_an_event() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert_eq!(b.on_ui(ui_event("echo", 1, "{}"), now, &mut out), Flow::Continue);
    assert_eq!(b.on_tick(now + Duration::from_secs(1)), Flow::Continue);
    assert!(matches!(b.on_tick(now + Duration::from_secs(3)), Flow::End(EndReason::CoreUnresponsive, _)));
    assert_eq!(b.end_notice(EndReason::CoreUnresponsive, String::new()).unconfirmed_ui_events, 1);
}

#[test]
fn a_new_page_is_passed_to_the_core_and_changes_no_sequence_or_credit() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert_eq!(b.on_ui(UiToBroker::PageAttached, now, &mut out), Flow::Continue);
    assert!(matches!(out.as_slice(), [Output::ToCore(BrokerToCore::PageAttached)]), "{out:?}");
    out.clear();
    // The page's next UI event still continues the one sequence, with the same credit.
    assert_eq!(b.on_ui(ui_event("echo", 1, "{}"), now, &mut out), Flow::Continue);
    assert!(matches!(out[0], Output::ToUi(BrokerToUi::Admitted { sequence: 1 })));
}

fn credit_to_ui(out: &[Output]) -> Credit {
    out.iter().fold(Credit::default(), |sum, o| match o {
        Output::ToUi(BrokerToUi::Credit(c)) => {
            Credit { messages: sum.messages + c.messages, bytes: sum.bytes + c.bytes }
        }
        _ => sum,
    })
}

fn to_core_sequences(out: &[Output]) -> Vec<u64> {
    out.iter()
        .filter_map(|o| match o {
            Output::ToCore(BrokerToCore::Message(e)) => Some(e.sequence),
            _ => None,
        })
        .collect()
}

#[test]
fn a_core_swap_holds_events_for_the_new_core_which_replays_the_old_ones() {
    let (mut b, now) = broker();
    b.keep_ui_history(vec![CarriedEvent { message_type: "echo".into(), payload: "{\"earlier\":1}".into() }]);
    let mut out = Vec::new();
    assert_eq!(b.on_ui(ui_event("echo", 1, "{\"n\":1}"), now, &mut out), Flow::Continue);
    assert_eq!(to_core_sequences(&out), vec![1]);
    let swap = b.begin_core_swap();
    let payloads: Vec<&str> = swap.carried_events.iter().map(|e| e.payload.as_str()).collect();
    assert_eq!(payloads, ["{\"earlier\":1}", "{\"n\":1}"]);
    assert_eq!(swap.not_carried, None);
    assert!(!swap.tell_page_attached, "the replay tells the new core itself");
    assert!(b.core_swap_under_way());
    // Held: admitted, but not handed to the old core, though it has credit.
    out.clear();
    assert_eq!(b.on_ui(ui_event("echo", 2, "{\"n\":2}"), now, &mut out), Flow::Continue);
    assert!(matches!(out[0], Output::ToUi(BrokerToUi::Admitted { sequence: 2 })));
    assert!(to_core_sequences(&out).is_empty());
    // The new core takes over: credit for the state queue, and the held event once it grants.
    out.clear();
    b.commit_core_swap(2, None, now, &mut out);
    assert!(matches!(out[0], Output::ToCore(BrokerToCore::Credit(Credit { messages: 4, .. }))));
    assert!(to_core_sequences(&out).is_empty());
    // (The new core's `Ready` is the runner's cue to commit; the broker gets what follows.)
    out.clear();
    assert_eq!(b.on_core(CoreToBroker::Credit(Credit { messages: 2, bytes: 1000 }), now, &mut out), Flow::Continue);
    assert_eq!(to_core_sequences(&out), vec![2], "sequences toward the core go on");
    // The page held the old core's unused grant (1 message): the new grant pays it first.
    assert_eq!(credit_to_ui(&out).messages, 1);
    let stats = b.stats();
    assert_eq!(stats.core_swaps, 1);
    assert_eq!(stats.ui_credit.messages + stats.ui_events_waiting, stats.core_event_credit.messages);
    // The history goes on past the swap, for the next one.
    let next = b.begin_core_swap();
    assert_eq!(next.carried_events.len(), 3);
}

#[test]
fn after_a_swap_the_new_cores_updates_start_at_one_and_the_old_ones_are_refused() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert_eq!(b.on_core(update("count", 1, "1", Some("c")), now, &mut out), Flow::Continue);
    b.begin_core_swap();
    b.commit_core_swap(0, None, now, &mut out);
    assert_eq!(b.on_core(update("count", 1, "2", Some("c")), now, &mut out), Flow::Continue);
    assert!(is_violation(b.on_core(update("count", 3, "3", Some("c")), now, &mut out), "sequence 3 where 2"));
}

#[test]
fn a_swap_the_new_core_fails_lets_the_held_events_go_on_to_the_old_core() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    b.begin_core_swap();
    assert_eq!(b.on_ui(ui_event("echo", 1, "{}"), now, &mut out), Flow::Continue);
    assert!(to_core_sequences(&out).is_empty());
    out.clear();
    b.abort_core_swap(now, &mut out);
    assert_eq!(to_core_sequences(&out), vec![1]);
    assert!(!b.core_swap_under_way());
    assert_eq!(b.stats().core_swaps, 0);
}

#[test]
fn a_session_without_history_swaps_afresh_and_says_so() {
    let (mut b, now) = broker();
    let mut out = Vec::new();
    assert_eq!(b.on_ui(UiToBroker::PageAttached, now, &mut out), Flow::Continue);
    let swap = b.begin_core_swap();
    assert!(swap.carried_events.is_empty());
    assert_eq!(swap.not_carried.as_deref(), Some("the session keeps no history of its UI events"));
    assert!(swap.tell_page_attached, "the new core must send its state to the attached page");
}
