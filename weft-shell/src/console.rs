//! The terminal console UI: one loop over the session's frames and the user's lines.

use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;
use weft_ipc::frames::{BrokerToUi, UiToBroker};
use weft_ipc::transport::{Bootstrap, Inbound};
use weft_ipc::ui_client::{transport_end_reason, UiConnection, UiNotice};

/// Prints a line for the user; nobody may be reading (a daemon's UI has stdout closed), and a
/// failed write is not a reason to end the session.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

enum Input {
    Broker(Inbound<BrokerToUi>),
    Line(String),
    ScriptDone,
    Quiet,
}

/// After a script, the app closes once its sends are settled and nothing arrived for this long.
const QUIET: Duration = Duration::from_millis(300);

/// Joins the session and runs until it ends. Scripted lines go first; then the terminal is
/// read if there is one, else the app is closed once every scripted send is settled and the
/// session has been quiet for a moment (this is a demo console, not a test oracle).
pub fn run(script: Vec<String>) -> Result<ExitCode, String> {
    // No page here, but the same confinement (with the terminal): before any thread starts.
    let needs = crate::confine::Needs { terminal: true, ..crate::confine::Needs::default() };
    let (confinement, _private) =
        crate::confine::confine(&needs).map_err(|e| format!("cannot confine the shell: {e}"))?;
    let bootstrap = Bootstrap::read_from(std::io::stdin().lock()).map_err(|e| e.to_string())?;
    let (inputs_tx, inputs) = mpsc::sync_channel::<Input>(4096);
    let broker_tx = inputs_tx.clone();
    let mut connection = UiConnection::connect(&bootstrap, Duration::from_secs(10), move |item| {
        broker_tx.send(Input::Broker(item)).is_ok()
    })
    .map_err(|e| format!("cannot join the session: {e}"))?;
    let welcome = connection.channel.welcome().clone();
    let mut reported = Vec::new();
    connection.channel.confined(confinement, &mut reported);
    connection.transmit(reported, &mut Vec::new());
    say!(
        "weft-shell (console): app {:?}, session {}; UI events: {}",
        welcome.app_name,
        welcome.session_id,
        welcome.ui_event_types.join(", ")
    );
    let interactive = match std::fs::File::open("/dev/tty") {
        Ok(tty) if script.is_empty() => {
            say!("type `<message-type> [json]`, or `quit`");
            let tx = inputs_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(tty).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Input::Line(line)).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Input::ScriptDone);
            });
            true
        }
        _ => false,
    };
    for line in script {
        let _ = inputs_tx.try_send(Input::Line(line));
    }
    if !interactive {
        let _ = inputs_tx.try_send(Input::ScriptDone);
    }
    drop(inputs_tx);

    let mut closing_when_settled = false;
    loop {
        let input = if closing_when_settled {
            match inputs.recv_timeout(QUIET) {
                Ok(input) => input,
                Err(mpsc::RecvTimeoutError::Timeout) => Input::Quiet,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(ExitCode::FAILURE),
            }
        } else {
            match inputs.recv() {
                Ok(input) => input,
                Err(_) => return Ok(ExitCode::FAILURE),
            }
        };
        let mut out = Vec::new();
        let mut notices = Vec::new();
        match input {
            Input::Broker(Inbound::Frame(frame)) => connection.channel.on_frame(frame, &mut out, &mut notices),
            Input::Broker(end) => {
                if let Some((reason, detail)) = transport_end_reason(&end) {
                    connection.channel.on_transport_end(reason, &detail, &mut notices);
                }
            }
            Input::Line(line) => send_line(&mut connection, line.trim(), &mut out),
            Input::ScriptDone => closing_when_settled = true,
            Input::Quiet => {
                // Every scripted send settled and the core has been quiet: close the app.
                if connection.channel.unsettled_sends() == 0 {
                    connection.channel.close(&mut out);
                    closing_when_settled = false;
                }
            }
        }
        for notice in &notices {
            if let UiNotice::Message(envelope) = notice {
                connection.channel.consumed(1, envelope.size() as u64, &mut out);
            }
        }
        connection.transmit(out, &mut notices);
        for notice in notices {
            if let Some(code) = print_notice(notice) {
                let _ = std::io::stdout().flush();
                return Ok(code);
            }
        }
        let _ = std::io::stdout().flush();
    }
}

fn send_line(connection: &mut UiConnection, line: &str, out: &mut Vec<UiToBroker>) {
    if line.is_empty() {
        return;
    }
    if line == "quit" || line == "exit" {
        connection.channel.close(out);
        return;
    }
    let (message_type, payload) = line.split_once(char::is_whitespace).unwrap_or((line, "{}"));
    let payload = payload.trim();
    if let Err(e) = serde_json::from_str::<serde_json::Value>(payload) {
        say!("  ! not JSON ({e}); nothing sent");
        return;
    }
    match connection.channel.send(message_type, payload.to_owned(), out) {
        Ok(sequence) => say!("> #{sequence} {message_type} {payload}"),
        Err(r) => say!("  ! {}: {}", r.kind.name(), r.detail),
    }
}

/// Prints a notice; returns the exit code once the session has ended.
fn print_notice(notice: UiNotice) -> Option<ExitCode> {
    match notice {
        UiNotice::Admitted(_) => {}
        UiNotice::Rejected(sequence, r) => say!("  ! #{sequence} rejected: {}: {}", r.kind.name(), r.detail),
        UiNotice::Message(e) => say!("< #{} {} {}", e.sequence, e.message_type, e.payload),
        UiNotice::Error(r) => say!("  ! error: {}: {}", r.kind.name(), r.detail),
        UiNotice::SessionEnd(end) => {
            say!("session ended: {} ({})", end.reason, end.detail);
            return Some(if end.reason.code() == "app-closed" { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
    }
    None
}
