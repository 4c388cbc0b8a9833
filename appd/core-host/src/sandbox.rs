//! The Wasm sandbox: one Wasmtime engine, the core's imports, and the limits that contain a
//! misbehaving core.
//!
//! - **Time:** epoch interruption. A ticker thread advances the engine's epoch every
//!   [`EPOCH_TICK`]; before every guest call the store's deadline is set from
//!   `limits.event_deadline_ms`, so a core that runs past it traps with
//!   [`GuestFault::DeadlineExceeded`]. (A guest blocked *inside a host call*, e.g. a WASI poll
//!   on a clock, is not interrupted by epochs; the broker's watchdog covers that case.)
//! - **Memory:** [`StoreLimits`] cap each linear memory at `limits.max_memory_bytes` and the
//!   number of instances, tables and memories; growth beyond the cap traps
//!   (`trap_on_grow_failure`), so a memory bomb ends as [`GuestFault::Trapped`].
//! - **Stack:** Wasmtime's default `max_wasm_stack`; unbounded recursion traps.
//! - **Authority:** WASI p2 with nothing preopened, no environment, no arguments, no network
//!   and no stdin; stdout/stderr go to the session log ([`crate::guest_output`]); clocks and
//!   random numbers are deterministic ([`crate::deterministic`]) unless the session was
//!   granted [`Capability::Clock`] / [`Capability::Random`].
//! - **The core's own imports** (`weft:app/host`): `emit-state` goes to the session's
//!   [`StateOutbox`], `log` to the session log.

use crate::deterministic::{
    DeterministicMonotonicClock, DeterministicWallClock, SplitMix64, INSECURE_SEED, INSECURE_SEED_VALUE, SECURE_SEED,
};
use crate::guest_output::{truncate_at_char_boundary, GuestLog};
use crate::module_cache::{CacheOutcome, ModuleCache};
use crate::state_outbox::{EmitRefusal, Emitted, StateOutbox};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, WasmBacktrace};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use weft_ipc::frames::{Capability, CoreLimits, CoreWelcome};

/// The `bindgen!` output for the `core` world of `wit/world.wit` (`weft:app@0.2.0`, current).
mod bindings {
    wasmtime::component::bindgen!({
        world: "core",
        path: "wit",
        // Trappable so that a test session can make the core trap (`TestTrap`).
        imports: { "weft:app/host.emit-state": trappable, "weft:app/host.log": trappable },
    });
}

/// The `bindgen!` output for `wit-0.1/world.wit` (`weft:app@0.1.0`): cores built before
/// `page-attached` existed keep running; they are not told of a new page.
mod bindings_0_1 {
    wasmtime::component::bindgen!({
        world: "core",
        path: "wit-0.1",
        imports: { "weft:app/host.emit-state": trappable, "weft:app/host.log": trappable },
    });
}

use bindings::weft::app::host::{EmitError, Host};

/// A core of either world version, linked and ready to instantiate.
enum CorePre {
    Current(bindings::CorePre<HostState>),
    V0_1(bindings_0_1::CorePre<HostState>),
}

/// An instantiated core of either world version.
enum Core {
    Current(bindings::Core),
    V0_1(bindings_0_1::Core),
}

/// The trap message of a fault injected by a test ([`CoreInstance::arm_test_trap`]).
pub const INJECTED_TRAP: &str = "trap injected by the test driver";
/// How often the ticker thread advances the engine's epoch (the deadline's granularity).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Most core (module) instances a component may create.
pub const MAX_INSTANCES: usize = 32;
/// Most tables a component may create.
pub const MAX_TABLES: usize = 32;
/// Most linear memories a component may create (so that `max_memory_bytes` bounds the total).
pub const MAX_MEMORIES: usize = 1;
/// Most elements in one table.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// The virtual address space Wasmtime reserves for each linear memory (its default on 64-bit
/// hosts, set explicitly so that `confine`'s address-space limit is computed from the same
/// figure): 4 GiB, so a 32-bit memory never moves or needs a bounds check.
pub const MEMORY_RESERVATION_BYTES: u64 = 1 << 32;
/// The guard region after (and, as configured, before) each linear memory (Wasmtime's default).
pub const MEMORY_GUARD_BYTES: u64 = 32 << 20;
/// Largest single request for random bytes (larger requests trap).
pub const MAX_RANDOM_BYTES: u64 = 1 << 20;
/// Longest fault detail kept (trap messages with backtraces can be long).
pub const MAX_FAULT_DETAIL_BYTES: usize = 4096;

/// What the sandbox needs from the session's welcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Memory and time limits.
    pub limits: CoreLimits,
    /// Capabilities granted at launch.
    pub capabilities: Vec<Capability>,
}

impl SandboxConfig {
    /// The sandbox configuration a welcome asks for.
    pub fn from_welcome(welcome: &CoreWelcome) -> SandboxConfig {
        SandboxConfig { limits: welcome.limits.clone(), capabilities: welcome.capabilities.clone() }
    }

    fn grants(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

/// Why the core could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Wasmtime could not be set up.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// The file could not be read, or is not a valid component.
    #[error("cannot load the core: {0}")]
    Load(String),
    /// The component does not fit the `weft:app/core` world (or imports something else).
    #[error("the core does not match the weft:app/core world: {0}")]
    Link(String),
    /// Instantiation failed (limits, or a start function trapped).
    #[error("cannot instantiate the core: {0}")]
    Instantiate(String),
}

/// A guest call that ended the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestFault {
    /// The Wasm trapped (unreachable, out-of-bounds access, stack exhaustion, memory growth
    /// past the limit, a panic...). The detail names the trap.
    Trapped(String),
    /// The call ran past its deadline and was interrupted.
    DeadlineExceeded(String),
}

/// The engine and linker, shared by every instance; owns the epoch ticker.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    config: SandboxConfig,
    /// Started by the first instance, so that loading a core starts no thread (the core host
    /// confines itself between the two, and threads started later inherit that).
    ticker: std::sync::Mutex<Option<Arc<EpochTicker>>>,
    cache: Option<ModuleCache>,
}

/// A compiled, linked core, ready to instantiate.
pub struct LoadedCore {
    pre: CorePre,
}

impl Sandbox {
    /// Creates the engine and the linker (WASI p2 + `weft:app/host`); no thread yet.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        wasm.wasm_component_model(true);
        wasm.memory_reservation(MEMORY_RESERVATION_BYTES);
        wasm.memory_guard_size(MEMORY_GUARD_BYTES);
        wasm.guard_before_linear_memory(true);
        let engine = Engine::new(&wasm).map_err(|e| SandboxError::Engine(format!("{e:?}")))?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| SandboxError::Engine(format!("wasi: {e:?}")))?;
        bindings::Core::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |h| h)
            .map_err(|e| SandboxError::Engine(format!("weft:app/host@0.2.0: {e:?}")))?;
        bindings_0_1::Core::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |h| h)
            .map_err(|e| SandboxError::Engine(format!("weft:app/host@0.1.0: {e:?}")))?;
        Ok(Sandbox { engine, linker, config, ticker: std::sync::Mutex::new(None), cache: None })
    }

    /// The epoch ticker, started on first use.
    fn ticker(&self) -> Result<Arc<EpochTicker>, SandboxError> {
        let mut ticker = weft_ipc::lock(&self.ticker);
        if let Some(running) = ticker.as_ref() {
            return Ok(running.clone());
        }
        let started = Arc::new(
            EpochTicker::start(self.engine.clone()).map_err(|e| SandboxError::Engine(format!("epoch ticker: {e}")))?,
        );
        *ticker = Some(started.clone());
        Ok(started)
    }

    /// Loads cores through `cache` (see [`crate::module_cache`]); `None` compiles every time.
    pub fn with_module_cache(mut self, cache: Option<ModuleCache>) -> Sandbox {
        self.cache = cache;
        self
    }

    /// The configuration this sandbox enforces.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Compiles and links a core from a file (a binary component, or component text).
    pub fn load_file(&self, path: &Path) -> Result<LoadedCore, SandboxError> {
        let bytes = std::fs::read(path).map_err(|e| SandboxError::Load(format!("{}: {e}", path.display())))?;
        self.load(&bytes)
    }

    /// Compiles and links a core from bytes (a binary component, or component text).
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedCore, SandboxError> {
        let started = std::time::Instant::now();
        let (component, outcome) = match &self.cache {
            Some(cache) => cache.load(&self.engine, bytes),
            None => Component::new(&self.engine, bytes).map(|c| (c, CacheOutcome::Uncached)),
        }
        .map_err(|e| SandboxError::Load(format!("{e:?}")))?;
        tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, cache = ?outcome, "core compiled or loaded");
        let pre = self.linker.instantiate_pre(&component).map_err(|e| SandboxError::Link(format!("{e:?}")))?;
        // The current world first; a core without `page-attached` is tried as 0.1.0, and if it
        // fits neither, the error names what the current world expects.
        let pre = match bindings::CorePre::new(pre.clone()) {
            Ok(current) => CorePre::Current(current),
            Err(current) => match bindings_0_1::CorePre::new(pre) {
                Ok(old) => CorePre::V0_1(old),
                Err(_) => return Err(SandboxError::Link(format!("{current:?}"))),
            },
        };
        Ok(LoadedCore { pre })
    }

    /// Instantiates a loaded core in a fresh store. Its state updates go to `outbox`;
    /// `session_closed` (set by the session when the broker ends it) makes `emit-state`
    /// answer `session-closed` even in the middle of a call.
    pub fn instantiate(
        &self,
        core: &LoadedCore,
        outbox: StateOutbox,
        session_closed: Arc<AtomicBool>,
    ) -> Result<CoreInstance, SandboxError> {
        // Running before the core's start functions run: they have a deadline too.
        let ticker = self.ticker()?;
        let log = GuestLog::new();
        let limits = &self.config.limits;
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits.max_memory_bytes).unwrap_or(usize::MAX))
            .table_elements(MAX_TABLE_ELEMENTS)
            .instances(MAX_INSTANCES)
            .tables(MAX_TABLES)
            .memories(MAX_MEMORIES)
            .trap_on_grow_failure(true)
            .build();
        let state = HostState {
            wasi: self.wasi_ctx(&log),
            table: ResourceTable::new(),
            limits: store_limits,
            outbox,
            session_closed,
            log: log.clone(),
            trap_armed: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        let deadline_ms = limits.event_deadline_ms;
        let deadline_ticks = deadline_ticks(deadline_ms);
        // Start functions run during instantiation: give them the same deadline.
        store.set_epoch_deadline(deadline_ticks);
        log.start_call();
        let core = match &core.pre {
            CorePre::Current(pre) => pre.instantiate(&mut store).map(Core::Current),
            CorePre::V0_1(pre) => pre.instantiate(&mut store).map(Core::V0_1),
        };
        log.end_call();
        let core = core.map_err(|e| SandboxError::Instantiate(format!("{e:?}")))?;
        Ok(CoreInstance {
            store,
            core,
            deadline_ms,
            deadline_ticks,
            max_memory_bytes: limits.max_memory_bytes,
            log,
            _ticker: ticker,
        })
    }

    /// The WASI context: nothing but stdout/stderr (to the log), and deterministic clocks and
    /// random numbers unless granted.
    fn wasi_ctx(&self, log: &GuestLog) -> WasiCtx {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(log.stdout())
            .stderr(log.stderr())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES);
        if !self.config.grants(Capability::Clock) {
            wasi.wall_clock(DeterministicWallClock::default()).monotonic_clock(DeterministicMonotonicClock::default());
        }
        if !self.config.grants(Capability::Random) {
            wasi.secure_random(SplitMix64::new(SECURE_SEED))
                .insecure_random(SplitMix64::new(INSECURE_SEED))
                .insecure_random_seed(INSECURE_SEED_VALUE);
        }
        wasi.build()
    }
}

/// Ticks for a deadline: rounded up, plus one because the first tick may come at once.
fn deadline_ticks(deadline_ms: u64) -> u64 {
    let tick_ms = EPOCH_TICK.as_millis() as u64;
    deadline_ms.div_ceil(tick_ms).saturating_add(1).max(1)
}

/// One running core. It keeps the epoch ticker running even if its [`Sandbox`] is dropped.
pub struct CoreInstance {
    store: Store<HostState>,
    core: Core,
    deadline_ms: u64,
    deadline_ticks: u64,
    max_memory_bytes: u64,
    log: GuestLog,
    _ticker: Arc<EpochTicker>,
}

impl CoreInstance {
    /// Calls the core's `init` under the deadline. `Ok(Err(_))` is the core's own refusal.
    pub fn init(&mut self) -> Result<Result<(), String>, GuestFault> {
        self.arm();
        let result = match &self.core {
            Core::Current(core) => core.call_init(&mut self.store),
            Core::V0_1(core) => core.call_init(&mut self.store),
        };
        self.log.end_call();
        self.classify("init", result)
    }

    /// Calls the core's `handle-event` under the deadline. `Ok(Err(_))` is the core's own
    /// error for this event; the session goes on.
    pub fn handle_event(&mut self, message_type: &str, payload: &str) -> Result<Result<(), String>, GuestFault> {
        self.arm();
        let result = match &self.core {
            Core::Current(core) => core.call_handle_event(&mut self.store, message_type, payload),
            Core::V0_1(core) => core.call_handle_event(&mut self.store, message_type, payload),
        };
        self.log.end_call();
        self.classify("handle-event", result)
    }

    /// Calls the core's `page-attached` under the deadline: a new document of the app's UI
    /// attached. `Ok(None)`: the core is of world 0.1.0 and has no such export.
    pub fn page_attached(&mut self) -> Result<Option<Result<(), String>>, GuestFault> {
        if !matches!(self.core, Core::Current(_)) {
            return Ok(None);
        }
        self.arm();
        let result = match &self.core {
            Core::Current(core) => core.call_page_attached(&mut self.store),
            Core::V0_1(_) => Ok(Ok(())),
        };
        self.log.end_call();
        self.classify("page-attached", result).map(Some)
    }

    /// The version of the `weft:app` world the core was built against.
    pub fn world_version(&self) -> &'static str {
        match self.core {
            Core::Current(_) => "0.2.0",
            Core::V0_1(_) => "0.1.0",
        }
    }

    /// Test mode: the core's next call to a host function traps (with [`INJECTED_TRAP`]).
    pub fn arm_test_trap(&mut self) {
        self.store.data_mut().trap_armed = true;
    }

    /// The session's state outbox (to drain after a call, or to grant credit).
    pub fn outbox(&mut self) -> &mut StateOutbox {
        &mut self.store.data_mut().outbox
    }

    fn arm(&mut self) {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.log.start_call();
    }

    fn classify<T>(&self, call: &str, result: wasmtime::Result<T>) -> Result<T, GuestFault> {
        let err = match result {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return Err(GuestFault::DeadlineExceeded(format!(
                "{call} ran past its {} ms deadline and was interrupted",
                self.deadline_ms
            )));
        }
        // Headline first (the trap, e.g. "wasm trap: call stack exhausted"), then what the
        // core printed to stderr just before (a Rust panic message), then the Wasm backtrace.
        let cause = err.root_cause().to_string();
        let mut detail = format!("{call} trapped: {cause}");
        if cause.contains("growing memory") {
            detail.push_str(&format!(" (the memory limit is {} bytes)", self.max_memory_bytes));
        }
        let stderr = self.log.stderr_tail();
        if !stderr.is_empty() {
            detail.push_str(&format!("\ncore stderr (last lines):\n{stderr}"));
        }
        if let Some(backtrace) = err.downcast_ref::<WasmBacktrace>() {
            detail.push_str(&format!("\n{}", demangle_backtrace(&backtrace.to_string())));
        }
        let (cut, _) = truncate_at_char_boundary(&detail, MAX_FAULT_DETAIL_BYTES);
        Err(GuestFault::Trapped(cut.to_owned()))
    }
}

/// A Wasm backtrace with its Rust symbols demangled: each frame line ends `module!symbol`, and
/// a core built with its names kept (`weft dev`) has mangled Rust names there
/// (`_RNvCs…_4core4main`); they read as paths (`core::main`). Other names stay as they are.
fn demangle_backtrace(backtrace: &str) -> String {
    backtrace
        .lines()
        .map(|line| match line.rsplit_once('!') {
            Some((frame, symbol)) => format!("{frame}!{:#}", rustc_demangle::demangle(symbol)),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The store's data: WASI state, limits, and where the core's imports lead.
struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    outbox: StateOutbox,
    session_closed: Arc<AtomicBool>,
    log: GuestLog,
    /// A test armed a trap for the next host call ([`CoreInstance::arm_test_trap`]).
    trap_armed: bool,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl Host for HostState {
    fn emit_state(
        &mut self,
        message_type: String,
        payload: String,
        coalesce_key: Option<String>,
    ) -> wasmtime::Result<Result<(), EmitError>> {
        self.injected_trap()?;
        Ok(self.emit(message_type, payload, coalesce_key))
    }

    fn log(&mut self, message: String) -> wasmtime::Result<()> {
        self.injected_trap()?;
        self.log.log(&message);
        Ok(())
    }
}

impl bindings_0_1::weft::app::host::Host for HostState {
    fn emit_state(
        &mut self,
        message_type: String,
        payload: String,
        coalesce_key: Option<String>,
    ) -> wasmtime::Result<Result<(), bindings_0_1::weft::app::host::EmitError>> {
        use bindings_0_1::weft::app::host::EmitError as Old;
        Ok(Host::emit_state(self, message_type, payload, coalesce_key)?.map_err(|e| match e {
            EmitError::InvalidJson(detail) => Old::InvalidJson(detail),
            EmitError::Backpressure => Old::Backpressure,
            EmitError::SessionClosed => Old::SessionClosed,
        }))
    }

    fn log(&mut self, message: String) -> wasmtime::Result<()> {
        Host::log(self, message)
    }
}

impl HostState {
    /// Fails the current host call with a trap if a test armed one.
    fn injected_trap(&mut self) -> wasmtime::Result<()> {
        if std::mem::take(&mut self.trap_armed) {
            return Err(wasmtime::Error::msg(INJECTED_TRAP));
        }
        Ok(())
    }

    fn emit(&mut self, message_type: String, payload: String, coalesce_key: Option<String>) -> Result<(), EmitError> {
        if self.session_closed.load(Ordering::Acquire) && !self.outbox.is_closed() {
            self.outbox.close();
        }
        match self.outbox.emit(message_type, payload, coalesce_key) {
            Ok(Emitted::Queued | Emitted::Coalesced) => Ok(()),
            Ok(Emitted::DroppedTooLarge { size, limit }) => {
                tracing::warn!(size, limit, "state update dropped: larger than any credit window the broker grants");
                Ok(())
            }
            Err(EmitRefusal::InvalidJson(detail)) => Err(EmitError::InvalidJson(detail)),
            Err(EmitRefusal::Backpressure) => Err(EmitError::Backpressure),
            Err(EmitRefusal::SessionClosed) => Err(EmitError::SessionClosed),
        }
    }
}

/// Advances an engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::Builder::new().name("weft-epoch".into()).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_backtraces_rust_symbols_are_demangled_and_other_names_kept() {
        let trace = "error while executing at wasm backtrace:\n    0:   0x6426 - pan_core.wasm!abort\n    1:   0x5152 - pan_core.wasm!_RNvNtNtNtNtCshXfaRvt2tfW_3std3sys3pal4wasi7helpers14abort_internal";
        assert_eq!(
            super::demangle_backtrace(trace),
            "error while executing at wasm backtrace:\n    0:   0x6426 - pan_core.wasm!abort\n    1:   0x5152 - pan_core.wasm!std::sys::pal::wasi::helpers::abort_internal"
        );
    }
    use super::*;

    #[test]
    fn deadline_ticks_round_up_and_never_reach_zero() {
        assert_eq!(deadline_ticks(0), 1);
        assert_eq!(deadline_ticks(1), 2);
        assert_eq!(deadline_ticks(10), 2);
        assert_eq!(deadline_ticks(200), 21);
        assert_eq!(deadline_ticks(u64::MAX), u64::MAX.div_ceil(10) + 1);
    }
}
