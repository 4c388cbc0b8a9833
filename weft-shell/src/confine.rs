//! The shell confines itself before it joins the session and before Servo starts a thread
//! (Linux confines per thread; threads inherit it). What stays reachable is what rendering a
//! local app needs, and nothing of the user's:
//!
//! | reachable | how | why |
//! |---|---|---|
//! | the app's `ui/` | read | the page and its assets |
//! | `/usr` | read | shared libraries the GL stack loads at run time (Mesa, LLVM), fonts, fontconfig's configuration, Mesa's drirc, glvnd's vendor files, X11's keyboard and cursor data, ICU and time zone data |
//! | `/etc/fonts`, `/etc/ld.so.cache`, `/etc/glvnd`, `/etc/drirc`, `/etc/localtime` | read | fontconfig, the dynamic loader, GL vendor selection, time zone |
//! | `/var/cache/fontconfig`, and the user's font directories and fontconfig cache | read | fonts without rescanning them |
//! | `/sys`, `/proc/self` | read | CPU count and cgroup quota, GPU enumeration, Servo's memory reports |
//! | `/dev/dri`, `/dev/null`, `/dev/urandom` | read, write, ioctl | GPU render nodes (when there is a GPU) |
//! | `$XAUTHORITY` (or `~/.Xauthority`) | read | the X11 connection of a window |
//! | its private directory (`$WEFT_PRIVATE_DIR`, made by appd) | read, write | `TMPDIR` (Servo's storage), Mesa's shader cache; appd removes it when the shell exits |
//! | each output file named on the command line (`--screenshot`, `--report`, `--first-paint`, `--probe`) | write | created before confinement |
//! | `--dev-status FILE` | read | `weft dev`'s overlay |
//! | TCP: bind `--devtools PORT` only | | Firefox's remote debugging, in development |
//!
//! Everything else is refused: no other file or directory can be read, written, created,
//! executed or removed; no TCP connection can be made; abstract Unix sockets and signals stay
//! inside the sandbox; seccomp refuses new processes, `exec` and `ptrace`, and IPv4 and IPv6
//! sockets altogether (UDP too, which Landlock does not govern) unless the devtools server
//! needs them; `no_new_privs`; no core dump. The session's own socket is connected after confinement (Landlock does not
//! govern connecting to a named Unix socket). `WEFT_UNCONFINED=1` turns it all off for
//! debugging, with a warning.

use std::path::{Path, PathBuf};
use weft_confine::landlock::Policy;
use weft_confine::Confinement;

/// What the shell needs beyond the fixed list (see the module docs).
#[derive(Default)]
pub struct Needs {
    /// The app's `ui/` (empty for the console, which shows no page).
    pub ui_dir: PathBuf,
    /// Files the shell writes, by name (created now).
    pub outputs: Vec<PathBuf>,
    /// Files the shell reads, by name.
    pub inputs: Vec<PathBuf>,
    /// A TCP port the shell listens on.
    pub tcp_bind: Option<u16>,
    /// The controlling terminal (the console).
    pub terminal: bool,
}

/// The private directory of a confined shell: appd's ([`weft_ipc::transport::PRIVATE_DIR_ENV`]),
/// which appd removes when the shell exits, or, for a shell started otherwise, one of its own,
/// whose contents it removes when dropped (the directory itself stays: the confined shell may
/// not remove what is outside it).
pub struct PrivateDir {
    path: PathBuf,
    /// Held for its removal when dropped.
    _owned: Option<tempfile::TempDir>,
}

/// Confines the shell (see the module docs); the report for appd and the private directory,
/// which must live as long as the shell.
pub fn confine(needs: &Needs) -> Result<(Confinement, PrivateDir), String> {
    // The private directory and what points at it come first, confined or not, so that an
    // unconfined run differs from a confined one only in what the kernel refuses (Mesa's
    // shader cache in the user's home, for one, makes cold launches slower).
    let private = match std::env::var_os(weft_ipc::transport::PRIVATE_DIR_ENV).map(PathBuf::from) {
        Some(dir) if dir.is_dir() => PrivateDir { path: dir, _owned: None },
        _ => {
            let owned = tempfile::Builder::new()
                .prefix("weft-shell-")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .map_err(|e| format!("cannot make the shell's private directory: {e}"))?;
            PrivateDir { path: owned.path().to_path_buf(), _owned: Some(owned) }
        }
    };
    // No other thread exists yet: setting the environment is safe.
    std::env::set_var("TMPDIR", &private.path);
    std::env::set_var("MESA_SHADER_CACHE_DIR", private.path.join("mesa-shader-cache"));
    if weft_confine::opted_out() {
        tracing::warn!("{}=1: the shell runs UNCONFINED (for debugging only)", weft_confine::OPT_OUT);
        return Ok((weft_confine::unconfined(), private));
    }
    for output in &needs.outputs {
        std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
    }
    let policy = policy(needs, &private.path);
    weft_confine::close_file_descriptors();
    weft_confine::set_no_new_privs().map_err(|e| e.to_string())?;
    let landlock = weft_confine::landlock::restrict(&policy).map_err(|e| e.to_string())?;
    let seccomp =
        weft_confine::seccomp::refuse_new_processes(needs.tcp_bind.is_some()).map_err(|e| format!("seccomp: {e}"))?;
    weft_confine::limit(libc::RLIMIT_CORE, 0).map_err(|e| e.to_string())?;
    let confinement = weft_confine::confined(landlock, seccomp);
    tracing::debug!(?confinement, private = %private.path.display(), "confined");
    Ok((confinement, private))
}

/// The Landlock policy for `needs`, with `private` as the private directory.
fn policy(needs: &Needs, private: &Path) -> Policy {
    let mut read: Vec<PathBuf> = [
        "/usr",
        "/etc/fonts",
        "/etc/ld.so.cache",
        "/etc/glvnd",
        "/etc/drirc",
        "/etc/localtime",
        "/var/cache/fontconfig",
        "/sys",
        "/proc/self",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    if !needs.ui_dir.as_os_str().is_empty() {
        read.push(needs.ui_dir.clone());
    }
    read.extend(needs.inputs.iter().cloned());
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        for dir in
            [".cache/fontconfig", ".config/fontconfig", ".local/share/fonts", ".fonts", ".icons", ".local/share/icons"]
        {
            read.push(home.join(dir));
        }
        read.push(std::env::var_os("XAUTHORITY").map_or_else(|| home.join(".Xauthority"), PathBuf::from));
    }
    let mut devices: Vec<PathBuf> = ["/dev/dri", "/dev/null", "/dev/urandom"].into_iter().map(PathBuf::from).collect();
    if needs.terminal {
        devices.push(PathBuf::from("/dev/tty"));
    }
    Policy {
        read,
        write_dirs: vec![private.to_path_buf()],
        write_files: needs.outputs.clone(),
        devices,
        tcp_bind: needs.tcp_bind.into_iter().collect(),
    }
}
