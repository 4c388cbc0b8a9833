//! `weft`: the app developer's command.
//!
//! - `weft new DIR [--template counter|todo|blank] [--name NAME]` writes an app ([`new`]);
//! - `weft run [DIR] [--headless] [--screenshot PNG] [--eval JS]... [--size WxH] [--console]
//!   [--script 'TYPE JSON']... [--record F] [--no-build]`
//!   builds the app's core if it has a crate ([`core_build`]) and runs the app in the
//!   foreground: `weft-appd run` with `weft-shell` as its UI;
//! - `weft dev [DIR] [--headless] [--screenshot PNG] [--eval JS]... [--size WxH]
//!   [--devtools[=PORT]]` runs the app
//!   and follows its files: `ui/` reloads the page, the core and the manifest rebuild or
//!   re-check and restart it ([`dev`]);
//! - `weft check [DIR]` explains every problem of an app package;
//! - `weft types [DIR]` writes the page's TypeScript declarations of the app's message types
//!   ([`types`]);
//! - `weft replay …`, `weft inspect …`, `weft status …` are `weft-appd`'s verbs.
//!
//! Options and the app directory come in any order (DIR defaults to the current directory).
//! `weft` starts the daemon's and the shell's binaries from its own directory; it never passes
//! options on to the shell that the shell did not get from here.

mod core_build;
mod dev;
mod new;
mod types;

use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// WEFT: an app is a Wasm core and an HTML page that talk through a brokered channel.
#[derive(Parser)]
#[command(name = "weft", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a new app (weft.toml, ui/index.html, and the core's Rust crate in core/).
    New {
        /// The new app's directory (new or empty); its name is the app's unless --name says.
        dir: PathBuf,
        /// What to start from: counter, todo or blank.
        #[arg(long, default_value = "counter")]
        template: String,
        /// The app's name (lowercase letters, digits and '-').
        #[arg(long)]
        name: Option<String>,
    },
    /// Build the app's core and run the app in the foreground until it is closed.
    Run {
        /// The app directory (default: the current directory).
        dir: Option<PathBuf>,
        #[command(flatten)]
        view: ViewOptions,
        /// Record every brokered message into this file (JSON lines; `weft replay` reads it).
        #[arg(long)]
        record: Option<PathBuf>,
        /// Run the core.wasm that is there, without building core/.
        #[arg(long)]
        no_build: bool,
    },
    /// Run the app and follow its files: a change under ui/ reloads the page (the session
    /// kept); a change to the core or the manifest rebuilds or re-checks and restarts it.
    Dev {
        /// The app directory (default: the current directory).
        dir: Option<PathBuf>,
        #[command(flatten)]
        view: ViewOptions,
        /// Run Servo's devtools server on 127.0.0.1:PORT (default 6000), for Firefox's remote
        /// debugging: about:debugging, Setup, add the network location localhost:PORT.
        #[arg(long, value_name = "PORT", num_args = 0..=1, require_equals = true, default_missing_value = "6000")]
        devtools: Option<u16>,
    },
    /// Write the page's TypeScript declarations of the app's message types
    /// (ui/weft-app.d.ts, from weft.toml, and ui/weft-channel.d.ts).
    Types {
        /// The app directory (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Check an app package and explain every problem.
    Check {
        /// The app directory (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Replay a recording against a fresh core (weft-appd replay).
    Replay {
        /// weft-appd replay's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Follow a running session's rates and queues (weft-appd inspect).
    Inspect {
        /// weft-appd inspect's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The daemon's sessions (weft-appd status).
    Status {
        /// weft-appd status's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// How the app's page is shown.
#[derive(Args, Clone)]
struct ViewOptions {
    /// No window: render with software GL (no display needed).
    #[arg(long)]
    headless: bool,
    /// Save the page as a PNG once it has settled, then close the app (implies --headless).
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
    /// Run this JavaScript in the page once it has loaded (repeatable, in order; implies
    /// --headless).
    #[arg(long, value_name = "JS")]
    eval: Vec<String>,
    /// The headless viewport, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH")]
    size: Option<String>,
    /// A terminal UI instead of the page: type `<type> <json>` to send a UI event; every
    /// update, rejection and the session's end are printed.
    #[arg(long, conflicts_with_all = ["headless", "screenshot", "eval", "size"])]
    console: bool,
    /// With the console: send this UI event (`<type> <json>`; repeatable, in order), then close
    /// the app once everything has settled (implies --console).
    #[arg(long, value_name = "'TYPE JSON'", conflicts_with_all = ["headless", "screenshot", "eval", "size"])]
    script: Vec<String>,
}

impl ViewOptions {
    fn headless(&self) -> bool {
        self.headless || self.screenshot.is_some() || !self.eval.is_empty()
    }

    pub(crate) fn console(&self) -> bool {
        self.console || !self.script.is_empty()
    }

    /// Whether the app needs a display (a window).
    fn windowed(&self) -> bool {
        !self.headless() && !self.console()
    }

    /// The shell's arguments for this view.
    fn shell_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.console() {
            args.push("--console".to_owned());
        }
        for line in &self.script {
            args.extend(["--script".to_owned(), line.clone()]);
        }
        if self.headless() {
            args.push("--headless".to_owned());
        }
        if let Some(png) = &self.screenshot {
            args.extend(["--screenshot".to_owned(), absolute(png).display().to_string()]);
        }
        for js in &self.eval {
            args.extend(["--eval".to_owned(), js.clone()]);
        }
        if let Some(size) = &self.size {
            args.extend(["--size".to_owned(), size.clone()]);
        }
        if self.headless() && self.screenshot.is_none() {
            // Headless without a screenshot runs until the session ends, however long.
            args.extend(["--timeout".to_owned(), "31536000".to_owned()]);
        }
        args
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::New { dir, template, name } => new_app(&dir, &template, name),
        Cmd::Run { dir, view, record, no_build } => run(&app_dir(dir), &view, record.as_deref(), no_build),
        Cmd::Dev { dir, view, devtools } => dev::dev(&app_dir(dir), &view, devtools),
        Cmd::Types { dir } => page_types(&app_dir(dir)),
        Cmd::Check { dir } => appd(&["check".into(), app_dir(dir).display().to_string()]),
        Cmd::Replay { args } => appd(&[vec!["replay".to_owned()], args].concat()),
        Cmd::Inspect { args } => appd(&[vec!["inspect".to_owned()], args].concat()),
        Cmd::Status { args } => appd(&[vec!["status".to_owned()], args].concat()),
    }
}

fn app_dir(dir: Option<PathBuf>) -> PathBuf {
    absolute(&dir.unwrap_or_else(|| PathBuf::from(".")))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The manifest's file name.
pub(crate) const MANIFEST: &str = "weft.toml";

pub(crate) fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("weft: {message}");
    ExitCode::from(2)
}

fn new_app(dir: &Path, template: &str, name: Option<String>) -> ExitCode {
    let name = match name {
        Some(name) => name,
        None => dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    match new::write_app(dir, template, &name) {
        Ok(files) => {
            println!("weft: wrote the {template} app `{name}` in {}:", dir.display());
            for file in files {
                println!("  {file}");
            }
            println!("run it with: weft run {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn page_types(app_dir: &Path) -> ExitCode {
    match types::write_page_types(app_dir) {
        Ok(files) => {
            println!("weft: wrote {} in {}", files.join(" and "), app_dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Whether the app in `app_dir` can be shown as `view` asks: it has a manifest, and a window
/// has a display.
pub(crate) fn can_open(app_dir: &Path, view: &ViewOptions) -> Result<(), String> {
    if !app_dir.join(MANIFEST).is_file() {
        return Err(format!(
            "{} has no {MANIFEST}: give an app directory (weft new DIR writes one)",
            app_dir.display()
        ));
    }
    if view.windowed() && std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset). Run it headless: \
                    add --headless --screenshot page.png (renders with software GL and saves the page), \
                    or run under a virtual display: xvfb-run weft ..."
            .into());
    }
    Ok(())
}

/// The `weft-appd run` command for the app (given `appd_args`), with the shell as its UI
/// (given `shell_extra`).
pub(crate) fn app_command(
    app_dir: &Path,
    view: &ViewOptions,
    appd_args: &[String],
    shell_extra: &[String],
) -> Result<Command, String> {
    let appd = sibling("weft-appd")?;
    let shell = sibling("weft-shell")?;
    let mut command = Command::new(appd);
    command.arg("run").arg(app_dir).args(appd_args);
    // --ui-command takes the rest of the line: it comes last.
    command.arg("--ui-command").arg(shell).args(shell_extra).args(view.shell_args());
    Ok(command)
}

fn run(app_dir: &Path, view: &ViewOptions, record: Option<&Path>, no_build: bool) -> ExitCode {
    if let Err(e) = can_open(app_dir, view) {
        return fail(e);
    }
    if !no_build {
        if let Err(e) = core_build::build_core(app_dir, core_build::Profile::Release) {
            return fail(e);
        }
    }
    let appd_args: Vec<String> = match record {
        Some(record) => vec!["--record".to_owned(), absolute(record).display().to_string()],
        None => Vec::new(),
    };
    match app_command(app_dir, view, &appd_args, &[]) {
        Ok(mut command) => exit_code_of(command.status(), "weft-appd"),
        Err(e) => fail(e),
    }
}

/// A WEFT binary installed beside this one.
pub(crate) fn sibling(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find weft's own directory: {e}"))?;
    let path = me.with_file_name(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{name} is not beside weft ({}): build the workspace (scripts/build)", path.display()))
    }
}

/// Runs `weft-appd` with `args`, passing its exit code on.
fn appd(args: &[String]) -> ExitCode {
    let appd = match sibling("weft-appd") {
        Ok(appd) => appd,
        Err(e) => return fail(e),
    };
    exit_code_of(Command::new(&appd).args(args).status(), "weft-appd")
}

/// A child's exit code as ours (1 for one that does not fit, or none).
pub(crate) fn exit_code(code: Option<i32>) -> ExitCode {
    ExitCode::from(code.and_then(|c| u8::try_from(c).ok()).unwrap_or(1))
}

/// A child's exit as ours.
fn exit_code_of(status: std::io::Result<std::process::ExitStatus>, what: &str) -> ExitCode {
    match status {
        Ok(status) => match status.code() {
            Some(code) => exit_code(Some(code)),
            None => fail(format!("{what} ended by a signal ({status})")),
        },
        Err(e) => fail(format!("cannot start {what}: {e}")),
    }
}
