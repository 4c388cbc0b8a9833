//! Landlock: which files, directories and TCP ports a process keeps (`landlock` crate).
//!
//! Every right this build knows is *handled* (refused unless a rule grants it): reading,
//! writing, creating, removing, executing, truncating, ioctl on devices; TCP bind and connect;
//! and the scopes that keep abstract Unix sockets and signals inside the sandbox. A process
//! that is sandboxed can also no longer ptrace one outside it.

use crate::ConfineError;
use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use std::path::PathBuf;

/// The newest Landlock ABI this build knows; an older kernel enforces what it has.
const NEWEST_ABI: ABI = ABI::V6;

/// What a sandboxed process may still reach. Empty: nothing at all.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Files and directories (with everything beneath) it may read, and list; never write or
    /// execute.
    pub read: Vec<PathBuf>,
    /// Directories it may read and write beneath (create, remove, rename inside them).
    pub write_dirs: Vec<PathBuf>,
    /// Existing files it may write and truncate (outputs opened before confinement by name).
    pub write_files: Vec<PathBuf>,
    /// Devices (files, or directories of them) it may read, write and send ioctls to: the GPU's
    /// render nodes, `/dev/null`.
    pub devices: Vec<PathBuf>,
    /// TCP ports it may bind (a development server).
    pub tcp_bind: Vec<u16>,
}

/// Applies `policy` to the calling thread and the threads it starts later; how fully the
/// kernel enforces it: `fully-enforced` or `partially-enforced`. A path of the policy that does
/// not exist is skipped (a font directory this machine lacks).
pub fn restrict(policy: &Policy) -> Result<&'static str, ConfineError> {
    let error = |e: &dyn std::fmt::Display| ConfineError::Landlock(e.to_string());
    let all = AccessFs::from_all(NEWEST_ABI);
    let read = AccessFs::from_read(NEWEST_ABI) & !AccessFs::Execute;
    let write_file = AccessFs::WriteFile | AccessFs::Truncate;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(|e| error(&e))?
        .handle_access(AccessNet::from_all(NEWEST_ABI))
        .map_err(|e| error(&e))?
        .scope(Scope::from_all(NEWEST_ABI))
        .map_err(|e| error(&e))?
        .create()
        .map_err(|e| error(&e))?;
    let rules = [
        (&policy.read, read),
        (&policy.write_dirs, all & !AccessFs::Execute),
        (&policy.write_files, read | write_file),
        (&policy.devices, read | write_file | AccessFs::IoctlDev),
    ];
    for (paths, access) in rules {
        for path in paths {
            let Ok(fd) = PathFd::new(path) else {
                tracing::debug!(path = %path.display(), "not on this machine: no rule");
                continue;
            };
            // A file takes only the rights that apply to files (Landlock refuses the others).
            let access = if path.is_dir() { access } else { access & AccessFs::from_file(NEWEST_ABI) };
            ruleset = ruleset.add_rule(PathBeneath::new(fd, access)).map_err(|e| error(&e))?;
        }
    }
    for &port in &policy.tcp_bind {
        ruleset = ruleset.add_rule(NetPort::new(port, AccessNet::BindTcp)).map_err(|e| error(&e))?;
    }
    let status = ruleset.restrict_self().map_err(|e| error(&e))?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok("fully-enforced"),
        RulesetStatus::PartiallyEnforced => Ok("partially-enforced"),
        RulesetStatus::NotEnforced => Err(ConfineError::NoLandlock),
    }
}
