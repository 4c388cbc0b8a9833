//! Starting the session's child processes (core host, UI) and watching them exit.
//!
//! Children are started from one long-lived spawner thread: `PR_SET_PDEATHSIG` (which the
//! core host sets on itself) fires when the *thread* that forked the child ends, so forking
//! from a short-lived control thread would kill the child as soon as that thread returned.

use std::io::{self, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use weft_ipc::transport::Bootstrap;

type SpawnJob = (Command, mpsc::SyncSender<io::Result<Child>>);

/// A handle to the spawner thread.
#[derive(Clone)]
pub struct Spawner {
    jobs: mpsc::SyncSender<SpawnJob>,
}

impl Spawner {
    /// Starts the spawner thread; it lives as long as the daemon.
    pub fn start() -> io::Result<Spawner> {
        let (jobs, queue) = mpsc::sync_channel::<SpawnJob>(16);
        thread::Builder::new().name("weft-spawner".into()).spawn(move || {
            for (mut command, reply) in queue {
                let _ = reply.send(command.spawn());
            }
        })?;
        Ok(Spawner { jobs })
    }

    /// Starts `command` with a piped stdin, writes the bootstrap line into it and closes it.
    /// `on_exit` runs on a waiter thread with the exit status and, when `command`'s stdout is
    /// piped, the child's last words (read until the child closes it: see [`Exit`]).
    pub fn spawn(
        &self,
        role: &'static str,
        mut command: Command,
        bootstrap: &Bootstrap,
        on_exit: impl FnOnce(Exit) + Send + 'static,
    ) -> io::Result<ChildProcess> {
        command.stdin(Stdio::piped());
        let (reply, answer) = mpsc::sync_channel(1);
        self.jobs.send((command, reply)).map_err(|_| io::Error::other("spawner thread is gone"))?;
        let mut child = answer.recv().map_err(|_| io::Error::other("spawner thread is gone"))??;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let exited = Arc::new(AtomicBool::new(false));
        let exited_flag = exited.clone();
        thread::Builder::new().name(format!("weft-wait-{role}")).spawn(move || {
            let last_words = stdout.map(read_last_words).unwrap_or_default();
            let status = child.wait();
            exited_flag.store(true, Ordering::SeqCst);
            match status {
                Ok(status) => on_exit(Exit { status, last_words }),
                Err(e) => tracing::error!(role, pid, error = %e, "cannot wait for child"),
            }
        })?;
        let process = ChildProcess { role, pid, exited };
        match stdin {
            Some(stdin) => {
                if let Err(e) = bootstrap.write_to(stdin) {
                    process.kill();
                    return Err(io::Error::other(format!("cannot hand the bootstrap to the {role}: {e}")));
                }
            }
            None => {
                process.kill();
                return Err(io::Error::other("child has no stdin"));
            }
        }
        Ok(process)
    }
}

/// A started child process.
#[derive(Clone, Debug)]
pub struct ChildProcess {
    role: &'static str,
    pid: u32,
    exited: Arc<AtomicBool>,
}

impl ChildProcess {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether it has exited (and been reaped).
    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }

    /// Kills it with SIGKILL unless it has already been reaped (whose pid might be reused).
    pub fn kill(&self) {
        if self.has_exited() {
            return;
        }
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return;
        };
        tracing::info!(role = self.role, pid, "killing child");
        // SAFETY: kill(2) with a pid we spawned and have not reaped; no memory is touched.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// How a child ended: its exit status and its last words.
#[derive(Debug)]
pub struct Exit {
    /// The exit status.
    pub status: ExitStatus,
    /// What it wrote on its stdout, when that was piped: at most
    /// [`weft_ipc::last_words::MAX_LAST_WORDS`] bytes, lossily decoded, the rest discarded.
    /// Untrusted: only [`weft_ipc::last_words::parse_sandbox_violation`] reads it.
    pub last_words: String,
}

impl Exit {
    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The system call its sandbox refused, when that is how it ended: `socket (41)`.
    pub fn sandbox_violation(&self) -> Option<String> {
        if self.status.code() != Some(weft_ipc::last_words::EXIT_SANDBOX_VIOLATION) {
            return None;
        }
        let (name, number) = weft_ipc::last_words::parse_sandbox_violation(&self.last_words)?;
        Some(format!("{name} ({number})"))
    }
}

/// Reads a child's stdout until it closes, keeping the first
/// [`weft_ipc::last_words::MAX_LAST_WORDS`] bytes.
fn read_last_words(mut stdout: ChildStdout) -> String {
    let mut kept = Vec::new();
    let limit = weft_ipc::last_words::MAX_LAST_WORDS as u64;
    let _ = (&mut stdout).take(limit).read_to_end(&mut kept);
    let _ = io::copy(&mut stdout, &mut io::sink());
    String::from_utf8_lossy(&kept).into_owned()
}

/// Describes how a child ended, for logs and session-end details.
pub fn describe_exit(exit: &Exit) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(call) = exit.sandbox_violation() {
        return format!("its sandbox refused the system call {call}");
    }
    let status = &exit.status;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown exit".into(),
    }
}
