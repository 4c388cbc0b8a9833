//! `weft-appd inspect`: follows one session's traffic and pressure in the terminal, one line
//! per interval, from the same status the control socket gives `weft-appd status --json`.
//! It ends when the session ends (printing the reason) or after `--count` lines.

use crate::control::{self, Request};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// How inspection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    /// The session ended with this reason.
    SessionEnded(String),
    /// The requested number of lines was printed.
    Count,
}

/// What to follow and how.
pub struct InspectRequest {
    /// The session id or a unique prefix (default: the only live session).
    pub session: Option<String>,
    /// Time between lines.
    pub interval: Duration,
    /// Stop after this many lines.
    pub count: Option<u64>,
}

/// Follows a session of the daemon in `runtime_dir`, writing to `out`.
pub fn inspect(runtime_dir: &Path, request: &InspectRequest, out: &mut impl Write) -> Result<Finished, String> {
    let all = sessions(runtime_dir)?;
    let first = select(&all, request.session.as_deref())?;
    let id = first["session_id"].as_str().unwrap_or_default().to_owned();
    let w = |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(|e| format!("cannot write: {e}"));
    w(
        out,
        format!(
            "session {id}  app {}  every {} ms",
            first["app"].as_str().unwrap_or("?"),
            request.interval.as_millis()
        ),
    )?;
    if let Some(recording) = first.get("recording").filter(|r| !r.is_null()) {
        w(out, format!("recording to {}", recording["path"].as_str().unwrap_or("?")))?;
    }
    if first["state"] == "ended" {
        return ended(out, first);
    }
    w(out, HEADER.to_owned())?;
    let mut previous = first.clone();
    let mut previous_at = Instant::now();
    let mut lines = 0;
    loop {
        if request.count.is_some_and(|count| lines >= count) {
            return Ok(Finished::Count);
        }
        // The interval is the sampling period, not a wait for an event.
        std::thread::sleep(request.interval);
        let now = Instant::now();
        let all = sessions(runtime_dir)?;
        let Some(current) = all.iter().find(|s| s["session_id"] == id.as_str()) else {
            w(out, "session ended (no longer listed by the daemon)".to_owned())?;
            return Ok(Finished::SessionEnded(String::new()));
        };
        w(out, row(&previous, current, now.duration_since(previous_at)))?;
        lines += 1;
        if current["state"] == "ended" {
            return ended(out, current);
        }
        previous = current.clone();
        previous_at = now;
    }
}

const HEADER: &str = "  age_s  ui>core/s  core>ui/s  deliv/s  waiting in-core  queue(hw)/cap   credit: page ui core core-ev  coalesced  rejected";

fn ended(out: &mut impl Write, session: &Value) -> Result<Finished, String> {
    let reason = session["end"]["reason"].as_str().unwrap_or("?").to_owned();
    let detail = session["end"]["detail"].as_str().unwrap_or("");
    let mut line = format!("session ended: {reason} ({detail})");
    if let Some(recording) = session.get("recording").filter(|r| !r.is_null()) {
        line.push_str(&format!(
            "; recorded {} records to {} ({} dropped)",
            recording["records"],
            recording["path"].as_str().unwrap_or("?"),
            recording["dropped"]
        ));
    }
    writeln!(out, "{line}").map_err(|e| format!("cannot write: {e}"))?;
    Ok(Finished::SessionEnded(reason))
}

fn sessions(runtime_dir: &Path) -> Result<Vec<Value>, String> {
    let response = control::request(runtime_dir, &Request::Status).map_err(|e| e.to_string())?;
    Ok(response["sessions"].as_array().cloned().unwrap_or_default())
}

/// The session to follow: the one named (id or unique prefix), else the only live one.
fn select<'a>(sessions: &'a [Value], wanted: Option<&str>) -> Result<&'a Value, String> {
    let id = |s: &Value| s["session_id"].as_str().unwrap_or_default().to_owned();
    let candidates: Vec<&Value> = match wanted {
        Some(wanted) => sessions.iter().filter(|s| id(s).starts_with(wanted)).collect(),
        None => sessions.iter().filter(|s| s["state"] != "ended").collect(),
    };
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(match wanted {
            Some(wanted) => format!("no session {wanted:?}"),
            None => "no live session".to_owned(),
        }),
        many => Err(format!(
            "{} sessions match; name one: {}",
            many.len(),
            many.iter().map(|s| id(s)).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn count(v: &Value, key: &str) -> u64 {
    v["stats"][key].as_u64().unwrap_or(0)
}

fn sum_map(v: &Value) -> u64 {
    v.as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// One line: rates since `before`, gauges and totals now.
fn row(before: &Value, now: &Value, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = |f: &dyn Fn(&Value) -> u64| (f(now).saturating_sub(f(before))) as f64 / secs;
    let ui_in = rate(&|v| count(v, "ui_events_admitted") + sum_map(&v["stats"]["ui_events_rejected"]));
    let core_in = rate(&|v| count(v, "state_updates_accepted") + sum_map(&v["stats"]["state_updates_rejected"]));
    let delivered = rate(&|v| count(v, "state_updates_delivered"));
    let credit = |key: &str| now["stats"][key]["messages"].as_u64().unwrap_or(0);
    let mut rejected: Vec<String> = Vec::new();
    for (side, key) in [("ui", "ui_events_rejected"), ("core", "state_updates_rejected")] {
        if let Some(map) = now["stats"][key].as_object() {
            rejected.extend(map.iter().map(|(name, n)| format!("{side}:{name}={n}")));
        }
    }
    format!(
        "{:>7.1}  {:>9.0}  {:>9.0}  {:>7.0}  {:>7} {:>7}  {:>13}   {:>12} {:>2} {:>4} {:>7}  {:>9}  {}",
        now["age_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
        ui_in,
        core_in,
        delivered,
        count(now, "ui_events_waiting"),
        count(now, "ui_events_in_core"),
        format!(
            "{}({})/{}",
            count(now, "state_queue_depth"),
            count(now, "state_queue_high_water"),
            count(now, "state_queue_capacity")
        ),
        credit("page_credit"),
        credit("ui_credit"),
        credit("core_credit"),
        credit("core_event_credit"),
        count(now, "state_updates_coalesced"),
        if rejected.is_empty() { "-".to_owned() } else { rejected.join(" ") },
    )
}
