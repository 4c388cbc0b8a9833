//! A compromised core host, for tests: installed as `weft-core-host` beside a copy of
//! `weft-appd` (see `weft_tests::harness::Daemon::start_with_test_core`), so appd starts it for
//! every session exactly as it starts the real one.
//!
//! `weft-test-core <path/to/core.wasm>`: if the core's directory holds a file `forge-datagram`
//! naming a forgery (`weft_ipc::forge::Forgery::name`), it joins the session as a core host
//! would (bootstrap on stdin, hello, welcome), then writes that forged datagram onto its socket to
//! appd, below ipc-channel's sender, and waits for the session's end. Any other core is run by
//! the real core host (`$WEFT_TEST_REAL_CORE_HOST`), which this process becomes (`exec`), so
//! other sessions of the same daemon are untouched.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use weft_ipc::forge;
use weft_ipc::frames::{BrokerToCore, CoreHello, CoreToBroker};
use weft_ipc::transport::{self, Bootstrap};

/// The variable naming the real core host that other cores run in.
const REAL_CORE_HOST: &str = "WEFT_TEST_REAL_CORE_HOST";

fn main() {
    // Like the real core host: die with appd, so no test leaves this process behind.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [core] = args.as_slice() else {
        eprintln!("usage: weft-test-core <path/to/core.wasm>");
        std::process::exit(2);
    };
    let forgery = core.parent().map(|dir| dir.join("forge-datagram")).filter(|f| f.is_file());
    let Some(forgery) = forgery else {
        let Some(real) = std::env::var_os(REAL_CORE_HOST) else {
            eprintln!("weft-test-core: ${REAL_CORE_HOST} is not set");
            std::process::exit(2);
        };
        let error = std::process::Command::new(real).arg(core).exec();
        eprintln!("weft-test-core: cannot run the real core host: {error}");
        std::process::exit(2);
    };
    if let Err(e) = forge_in_session(&forgery) {
        eprintln!("weft-test-core: {e}");
        std::process::exit(1);
    }
}

/// Joins the session, writes the forgery `file` names, and waits for the end.
fn forge_in_session(file: &Path) -> Result<(), String> {
    let name = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let kind = forge::Forgery::from_name(name.trim()).ok_or_else(|| format!("no forgery named {name:?}"))?;
    let bootstrap = Bootstrap::read_from(std::io::stdin().lock()).map_err(|e| e.to_string())?;
    let to_broker = transport::connect::<CoreToBroker>(&bootstrap.server_name).map_err(|e| e.to_string())?;
    let (to_core, from_broker) = transport::channel::<BrokerToCore>().map_err(|e| e.to_string())?;
    let hello = CoreHello {
        protocol_version: weft_ipc::PROTOCOL_VERSION,
        session_id: bootstrap.session_id.clone(),
        secret: bootstrap.secret.clone(),
        to_core,
    };
    to_broker.send(vec![CoreToBroker::Hello(hello)]).map_err(|e| e.to_string())?;
    match from_broker.try_recv_timeout(Duration::from_secs(20)) {
        Ok(batch) if matches!(batch.first(), Some(BrokerToCore::Welcome(_))) => {}
        other => return Err(format!("no welcome: {other:?}")),
    }
    let socket = forge::socket_connected_to(&bootstrap.server_name).map_err(|e| e.to_string())?;
    forge::send(socket, kind).map_err(|e| format!("cannot write the forgery: {e}"))?;
    eprintln!("weft-test-core: wrote a {} datagram", kind.name());
    // The broker ends the session (a SessionEnd, then the channel closes) or kills this process.
    while let Ok(batch) = from_broker.recv() {
        for frame in batch {
            if let BrokerToCore::SessionEnd(end) = frame {
                eprintln!("weft-test-core: session ended: {}", end.reason.code());
            }
        }
    }
    Ok(())
}
