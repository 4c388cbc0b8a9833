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
use std::time::Duration;
use weft_ipc::credit::Credit;
use weft_ipc::envelope::{Envelope, MessageClass, SessionId, StreamId};
use weft_ipc::frames::{BrokerToUi, UiToBroker};
use weft_ipc::transport::{Bootstrap, Inbound};
use weft_ipc::ui_client::{transport_end_reason, UiConnection, UiNotice};
use weft_tests::peer::{Command, Event};

enum Input {
    Broker(Inbound<BrokerToUi>),
    Driver(Command),
    DriverGone,
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
    loop {
        let Ok(input) = inputs.recv() else { return Ok(()) };
        let mut out = Vec::new();
        let mut notices = Vec::new();
        match input {
            Input::DriverGone => return Ok(()),
            Input::Broker(Inbound::Frame(frame)) => connection.channel.on_frame(frame, &mut out, &mut notices),
            Input::Broker(end) => {
                if let Some((reason, detail)) = transport_end_reason(&end) {
                    connection.channel.on_transport_end(reason, &detail, &mut notices);
                }
            }
            Input::Driver(Command::Send { message_type, payload }) => {
                let text = serde_json::to_string(&payload).map_err(|e| e.to_string())?;
                send(&mut connection, &message_type, text, &mut out, &mut emit)?;
            }
            Input::Driver(Command::SendText { message_type, payload_text }) => {
                send(&mut connection, &message_type, payload_text, &mut out, &mut emit)?;
            }
            Input::Driver(Command::SetConsuming { on }) => {
                consuming = on;
                if on && unconsumed.0 > 0 {
                    connection.channel.consumed(unconsumed.0, unconsumed.1, &mut out);
                    unconsumed = (0, 0);
                }
            }
            Input::Driver(Command::State) => emit(Event::State {
                ready_state: connection.channel.ready_state().into(),
                desired_size: connection.channel.desired_size(),
            })?,
            Input::Driver(Command::Close) => connection.channel.close(&mut out),
            Input::Driver(Command::Forge { kind }) => {
                let session_id =
                    if kind == "wrong-session" { SessionId("0".repeat(32)) } else { welcome.session_id.clone() };
                let class = if kind == "wrong-class" { MessageClass::StateUpdate } else { MessageClass::UiEvent };
                let sequence = if kind == "skip-sequence" { 1_000_000 } else { forged_next };
                forged_next += 1;
                let frame = match kind.as_str() {
                    "credit-flood" => UiToBroker::Credit(Credit { messages: u32::MAX, bytes: u64::MAX }),
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
            Input::Driver(Command::Exit { code }) => std::process::exit(code),
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
        connection.transmit(out, &mut notices);
        for notice in notices {
            emit(Event::from_notice(notice))?;
        }
    }
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
