//! The test UI peer: a UI endpoint that speaks the UI side of the protocol exactly as the shell
//! does (through `weft_ipc::ui_client`), remote-controlled by a test over a Unix socket.
//!
//! Launched by weft-appd like any UI: `weft-test-ui --driver <socket> <app-dir>`, with the
//! bootstrap line on stdin. It connects to the session, then to the driver socket, and turns
//! JSON-line commands into channel calls and channel notices into JSON-line events (see
//! `weft_tests::peer` for both vocabularies).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use weft_ipc::credit::Credit;
use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};
use weft_ipc::forge;
use weft_ipc::frames::{BrokerToUi, UiToBroker};
use weft_ipc::transport::{Bootstrap, Inbound};
use weft_ipc::ui_client::{transport_end_reason, UiConnection, UiNotice};
use weft_tests::peer::{Command, Event};

enum Input {
    Broker(Inbound<BrokerToUi>),
    Driver(Command),
    DriverGone,
}

/// A flood in progress.
struct Flood {
    message_type: String,
    until: Instant,
    next_i: u64,
    sent: u64,
    admitted: u64,
    refused: u64,
    received: u64,
    last_sequence: u64,
    last_i: Option<u64>,
    in_order: bool,
}

impl Flood {
    /// Sends while there is credit and time left.
    fn pump(&mut self, connection: &mut UiConnection, out: &mut Vec<UiToBroker>) {
        while Instant::now() < self.until && connection.channel.desired_size() > 0 {
            let payload = format!("{{\"i\":{}}}", self.next_i);
            match connection.channel.send(&self.message_type, payload, out) {
                Ok(_) => {
                    self.next_i += 1;
                    self.sent += 1;
                }
                Err(_) => {
                    self.refused += 1;
                    return;
                }
            }
        }
    }

    fn observe(&mut self, notice: &UiNotice) {
        match notice {
            UiNotice::Admitted(_) => self.admitted += 1,
            UiNotice::Rejected(..) => self.refused += 1,
            UiNotice::Message(e) => {
                self.received += 1;
                let i = serde_json::from_str::<serde_json::Value>(&e.payload).ok().and_then(|v| v["i"].as_u64());
                let i_ok = match (self.last_i, i) {
                    (None, Some(i)) => i == 0,
                    (Some(prev), Some(i)) => i == prev + 1,
                    _ => false,
                };
                self.in_order &= e.sequence == self.last_sequence + 1 && i_ok;
                self.last_sequence = e.sequence;
                self.last_i = i;
            }
            _ => {}
        }
    }

    fn settled(&self, connection: &UiConnection) -> bool {
        Instant::now() >= self.until && connection.channel.unsettled_sends() == 0 && self.received >= self.admitted
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("weft-test-ui: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let driver_path = match args.iter().position(|a| a == "--driver") {
        Some(i) => args.get(i + 1).cloned().ok_or("--driver needs a socket path")?,
        None => return Err("usage: weft-test-ui --driver <socket> <app-dir>".into()),
    };
    let mut bootstrap = Bootstrap::read_from(std::io::stdin().lock()).map_err(|e| e.to_string())?;
    if args.iter().any(|a| a == "--corrupt-secret") {
        // A local attacker who found the server name but not the secret.
        bootstrap.secret = "0".repeat(bootstrap.secret.len());
    }
    if let Some(i) = args.iter().position(|a| a == "--forge-handshake") {
        // A compromised UI whose first datagram is forged: it never says hello. appd refuses the
        // endpoint and kills this process, which waits for that.
        let kind =
            args.get(i + 1).and_then(|k| forge::Forgery::from_name(k)).ok_or("--forge-handshake needs a forgery")?;
        let socket = forge::connect(&bootstrap.server_name).map_err(|e| format!("cannot connect: {e}"))?;
        forge::send(std::os::fd::AsRawFd::as_raw_fd(&socket), kind).map_err(|e| format!("cannot forge: {e}"))?;
        loop {
            std::thread::park();
        }
    }
    let (inputs_tx, inputs) = mpsc::sync_channel::<Input>(8192);
    let broker_tx = inputs_tx.clone();
    let mut connection = UiConnection::connect(&bootstrap, Duration::from_secs(10), move |item| {
        broker_tx.send(Input::Broker(item)).is_ok()
    })
    .map_err(|e| format!("cannot join the session: {e}"))?;

    let driver = UnixStream::connect(&driver_path).map_err(|e| format!("cannot reach the driver: {e}"))?;
    let mut driver_out = driver.try_clone().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for line in BufReader::new(driver).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Command>(&line) {
                Ok(cmd) => {
                    if inputs_tx.send(Input::Driver(cmd)).is_err() {
                        return;
                    }
                }
                Err(e) => eprintln!("weft-test-ui: bad driver command {line:?}: {e}"),
            }
        }
        let _ = inputs_tx.send(Input::DriverGone);
    });

    let mut emit = |event: Event| -> Result<(), String> {
        let line = serde_json::to_string(&event).map_err(|e| e.to_string())?;
        writeln!(driver_out, "{line}").map_err(|e| format!("driver gone: {e}"))
    };
    let welcome = connection.channel.welcome().clone();
    emit(Event::Welcome { session_id: welcome.session_id.0.clone(), app: welcome.app_name.clone() })?;

    let mut consuming = true;
    let mut unconsumed = (0u32, 0u64);
    let mut forged_next = 1u64;
    let mut flood: Option<Flood> = None;
    loop {
        // While flooding, wake up to keep sending even if nothing arrives.
        let input = if flood.is_some() {
            match inputs.recv_timeout(Duration::from_millis(5)) {
                Ok(input) => Some(input),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            }
        } else {
            match inputs.recv() {
                Ok(input) => Some(input),
                Err(_) => return Ok(()),
            }
        };
        let mut out = Vec::new();
        let mut notices = Vec::new();
        match input {
            None => {}
            Some(Input::DriverGone) => return Ok(()),
            Some(Input::Broker(Inbound::Frame(frame))) => connection.channel.on_frame(frame, &mut out, &mut notices),
            Some(Input::Broker(end)) => {
                if let Some((reason, detail)) = transport_end_reason(&end) {
                    connection.channel.on_transport_end(reason, &detail, &mut notices);
                }
            }
            Some(Input::Driver(Command::Send { message_type, payload })) => {
                let text = serde_json::to_string(&payload).map_err(|e| e.to_string())?;
                send(&mut connection, &message_type, text, &mut out, &mut emit)?;
            }
            Some(Input::Driver(Command::SendText { message_type, payload_text })) => {
                send(&mut connection, &message_type, payload_text, &mut out, &mut emit)?;
            }
            Some(Input::Driver(Command::SetConsuming { on })) => {
                consuming = on;
                if on && unconsumed.0 > 0 {
                    connection.channel.consumed(unconsumed.0, unconsumed.1, &mut out);
                    unconsumed = (0, 0);
                }
            }
            Some(Input::Driver(Command::State)) => emit(Event::State {
                ready_state: connection.channel.ready_state().into(),
                desired_size: connection.channel.desired_size(),
            })?,
            Some(Input::Driver(Command::Close)) => connection.channel.close(&mut out),
            Some(Input::Driver(Command::Forge { kind })) => {
                let session_id =
                    if kind == "wrong-session" { SessionId("0".repeat(32)) } else { welcome.session_id.clone() };
                let class = if kind == "wrong-class" { MessageClass::StateUpdate } else { MessageClass::UiEvent };
                let sequence = if kind == "skip-sequence" { 1_000_000 } else { forged_next };
                forged_next += 1;
                let frame = match kind.as_str() {
                    "credit-flood" => UiToBroker::Credit(Credit { messages: u32::MAX, bytes: u64::MAX }),
                    "test-control" => UiToBroker::TestControl(weft_ipc::frames::TestAction::KillCore),
                    _ => UiToBroker::Message(Envelope {
                        session_id,
                        stream_id: StreamId::UiToCore,
                        class,
                        message_type: "echo".into(),
                        sequence,
                        payload: "{}".into(),
                        coalesce_key: None,
                    }),
                };
                out.push(frame);
            }
            Some(Input::Driver(Command::ForgeDatagram { kind, count })) => {
                emit(forge_datagrams(&bootstrap, &kind, count))?;
            }
            Some(Input::Driver(Command::Flood { message_type, seconds })) => {
                flood = Some(Flood {
                    message_type,
                    until: Instant::now() + Duration::from_secs_f64(seconds),
                    next_i: 0,
                    sent: 0,
                    admitted: 0,
                    refused: 0,
                    received: 0,
                    last_sequence: 0,
                    last_i: None,
                    in_order: true,
                });
            }
            Some(Input::Driver(Command::SecondConnect)) => {
                let event = match UiConnection::connect(&bootstrap, Duration::from_secs(2), |_| true) {
                    Ok(_) => Event::SecondConnect { refused: false, detail: "joined twice".into() },
                    Err(e) => Event::SecondConnect { refused: true, detail: e.to_string() },
                };
                emit(event)?;
            }
            Some(Input::Driver(Command::Exit { code })) => std::process::exit(code),
        }
        for notice in &notices {
            if let UiNotice::Message(envelope) = notice {
                if consuming {
                    connection.channel.consumed(1, envelope.size() as u64, &mut out);
                } else {
                    unconsumed.0 += 1;
                    unconsumed.1 += envelope.size() as u64;
                }
            }
        }
        if let Some(f) = flood.as_mut() {
            f.pump(&mut connection, &mut out);
        }
        connection.transmit(out, &mut notices);
        if let Some(f) = flood.as_mut() {
            // A flood reports totals, not one event per message.
            for notice in &notices {
                f.observe(notice);
            }
            notices.retain(|n| matches!(n, UiNotice::SessionEnd(_) | UiNotice::Error(_)));
            // A session that ends mid-flood settles it: the totals come before the end.
            let ended = notices.iter().any(|n| matches!(n, UiNotice::SessionEnd(_)));
            if ended || f.settled(&connection) {
                emit(Event::FloodDone {
                    sent: f.sent,
                    admitted: f.admitted,
                    refused: f.refused,
                    received: f.received,
                    in_order: f.in_order,
                })?;
                flood = None;
            }
        }
        for notice in notices {
            emit(Event::from_notice(notice))?;
        }
    }
}

/// Writes `count` forged datagrams of `kind` onto this peer's socket to appd.
fn forge_datagrams(bootstrap: &Bootstrap, kind: &str, count: u32) -> Event {
    let Some(kind) = forge::Forgery::from_name(kind) else {
        return Event::DatagramsForged { sent: 0, error: Some(format!("no forgery named {kind:?}")) };
    };
    let socket = match forge::socket_connected_to(&bootstrap.server_name) {
        Ok(socket) => socket,
        Err(e) => return Event::DatagramsForged { sent: 0, error: Some(e.to_string()) },
    };
    for sent in 0..count {
        if let Err(e) = forge::send(socket, kind) {
            return Event::DatagramsForged { sent, error: Some(e.to_string()) };
        }
    }
    Event::DatagramsForged { sent: count, error: None }
}

fn send(
    connection: &mut UiConnection,
    message_type: &str,
    payload: String,
    out: &mut Vec<UiToBroker>,
    emit: &mut impl FnMut(Event) -> Result<(), String>,
) -> Result<(), String> {
    match connection.channel.send(message_type, payload, out) {
        Ok(sequence) => emit(Event::Sent { sequence }),
        Err(r) => emit(Event::Refused { name: r.kind.name().into(), code: r.kind.code().into(), detail: r.detail }),
    }
}
