//! The GRUB script evaluator, after `grub-core/script/execute.c`, with the
//! environment contexts of `grub-core/normal/context.c` and the menu execution of
//! `grub-core/normal/menu.c`.
//!
//! What it keeps from GRUB, because configs depend on it:
//! - A config is read one unit at a time: parse, run, parse the next
//!   (`read_config_file`); a syntax error loses that unit only.
//! - Variables live in contexts. `configfile` and entering a submenu open a new
//!   context that starts with copies of the *exported* variables only; closing it
//!   drops everything set inside. `source` runs in the current context.
//! - Unquoted `$var` is split on blanks, and blanks at its ends separate nothing;
//!   `"$var"` is not split; an empty (or all-blank) unquoted expansion is no
//!   argument at all, an empty quoted one is an empty argument; the parts of one
//!   word are glued, so only its unquoted expansions split it
//!   (`grub_script_arglist_to_argv`, `grub_script_argv_split_append`). Every
//!   command's words, its name included, and `for` lists are built this way.
//! - `$?` is the status of the last command; an unknown command prints an error but
//!   counts as success (its status is 0), as in `grub_script_execute_cmdline`.
//! - Menu entry and submenu bodies run only when chosen, in the environment as it
//!   stands when the menu is shown, with `$1`... set to the entry's title and extra
//!   arguments, `$chosen` set to the path of ids, and `$default` narrowed to the part
//!   after its first `>` (`grub_menu_execute_entry`). leapboot runs each body once,
//!   on a copy of the environment, to learn what it would load.
//!
//! Every loop, call and file is bounded (see [`Limits`]); running out ends the scan
//! with an error diagnostic and keeps what was found so far.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::GrubOptions;
use super::grubenv::{EnvBlock, EnvChange, EnvWrite};
use super::lexer::{DqPart, Part, Source, Word};
use super::parser::{Cmd, Parser, Script};
use super::paths::{DeviceMap, split_file_name};
use crate::diag::{Diagnostic, Severity};
use crate::entry;
use crate::fs::{VolumeView, normalize};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Why a file could not be read, without its path (callers name the file).
pub fn fs_reason(e: &crate::fs::FsError) -> String {
    use crate::fs::FsError;
    match e {
        FsError::NotFound { .. } => "not found".into(),
        FsError::NotADirectory { .. } => "not a directory".into(),
        FsError::NotAFile { .. } => "not a regular file".into(),
        FsError::TooLarge { size, limit, .. } => {
            format!("{size} bytes is more than the limit of {limit} bytes")
        }
        FsError::Corrupt { reason, .. } => format!("corrupt filesystem: {reason}"),
        FsError::Io { source, .. } => format!("i/o error: {source}"),
        other => other.to_string(),
    }
}

/// `GRUB_ERR_NONE`.
pub const ERR_NONE: i32 = 0;
/// `GRUB_ERR_TEST_FAILURE`: a test or `false`.
pub const ERR_TEST_FAILURE: i32 = 1;
/// `GRUB_ERR_FILE_NOT_FOUND`.
pub const ERR_FILE_NOT_FOUND: i32 = 5;
/// `GRUB_ERR_BAD_NUMBER`.
pub const ERR_BAD_NUMBER: i32 = 10;
/// `GRUB_ERR_INVALID_COMMAND`.
pub const ERR_INVALID_COMMAND: i32 = 17;
/// `GRUB_ERR_BAD_ARGUMENT`.
pub const ERR_BAD_ARGUMENT: i32 = 18;
/// `GRUB_ERR_NO_KERNEL`.
pub const ERR_NO_KERNEL: i32 = 22;

/// Deepest nesting of `if`, `for` and `while` being executed at once, across calls.
const MAX_NEST: u32 = 160;

/// Bounds on one scan. Exceeding one is an error diagnostic, never a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Commands executed in all (loop iterations, calls, entry bodies included).
    pub max_steps: u64,
    /// Nesting of function calls, `source`, `configfile`, `eval` and submenus.
    pub max_depth: u32,
    /// Menu entries and submenus created.
    pub max_entries: usize,
    /// Bytes in one variable's value.
    pub max_value: usize,
    /// Bytes in one command's expanded arguments.
    pub max_args: usize,
    /// Variables in one context.
    pub max_vars: usize,
    /// Bytes in all names and values of one context.
    pub max_env: usize,
    /// Bytes in one menu entry's title, id and arguments.
    pub max_item: usize,
    /// Bytes in one kernel command line.
    pub max_cmdline: usize,
    /// Bytes in all entries a scan returns (paths, ids, command lines).
    pub max_output: usize,
    /// `save_env` writes recorded while reading the config, and per entry.
    pub max_writes: usize,
    /// Diagnostics kept.
    pub max_diagnostics: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 100_000,
            max_depth: 32,
            max_entries: crate::MAX_ENTRIES_PER_SOURCE,
            max_value: 64 * 1024,
            max_args: 256 * 1024,
            max_vars: 4096,
            max_env: 1024 * 1024,
            max_item: 8 * 1024,
            max_cmdline: 16 * 1024,
            max_output: 8 * 1024 * 1024,
            max_writes: 32,
            max_diagnostics: 500,
        }
    }
}

/// Where commands come from: a file on a volume, or text GRUB generated (blscfg).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// Volume index.
    pub volume: usize,
    /// Path within the volume.
    pub path: Rc<str>,
    /// True for generated text (lines are not file lines).
    pub generated: bool,
}

/// A file on a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Volume index.
    pub volume: usize,
    /// Absolute path within the volume.
    pub path: String,
}

/// BLS data of an entry that `blscfg` created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlsOrigin {
    /// The entry file.
    pub file: FileRef,
    /// Its `version`.
    pub version: Option<String>,
}

/// A body to run later: parsed, or text GRUB generated.
#[derive(Debug, Clone)]
pub enum Body {
    /// A `{ ... }` block.
    Script(Rc<Script>),
    /// Source text (blscfg entries, `--source`).
    Text(Rc<str>),
}

/// A `menuentry` or `submenu` as `grub_normal_add_menu_entry` records it.
#[derive(Debug, Clone)]
pub struct MenuItem {
    /// Title (first argument).
    pub title: String,
    /// `--id`, when given.
    pub id: Option<String>,
    /// Positional arguments for the body: the title, then any extra arguments.
    pub args: Vec<String>,
    /// `--class` values.
    pub classes: Vec<String>,
    /// `--users`, when given.
    pub users: Option<String>,
    /// `--hotkey`.
    pub hotkey: Option<String>,
    /// True for `submenu`.
    pub submenu: bool,
    /// What runs when it is chosen.
    pub body: Body,
    /// Where it was defined.
    pub loc: Loc,
    /// Line of the `menuentry` command (0 for generated entries).
    pub line: u32,
    /// Set for entries from `blscfg`.
    pub bls: Option<BlsOrigin>,
}

impl MenuItem {
    /// GRUB's id: `--id`, or the title (`menu_id = id ?: menu_title`).
    pub fn grub_id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.title)
    }
}

/// Which loader a body used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoaderKind {
    /// `linux`, `linux16`, `linuxefi`: the kernel file, the path as written (for
    /// `BOOT_IMAGE=`), and the arguments after it.
    Linux {
        /// Command used.
        command: String,
        /// Kernel file.
        kernel: FileRef,
        /// The path argument as written, after expansion.
        written: String,
        /// Arguments after the path.
        args: Vec<String>,
    },
    /// `multiboot`, `multiboot2` (Xen, tboot) or `xen_hypervisor` (Xen on Arm): the
    /// command and the file it loads, as written.
    Multiboot {
        /// Command used.
        command: String,
        /// The hypervisor or pre-launch kernel, as written.
        file: String,
    },
    /// Another loader (`chainloader`, `kfreebsd`, ...): its command name.
    Other(String),
}

/// What running an entry's body loaded.
#[derive(Debug, Clone, Default)]
pub struct BootPlan {
    /// The loader, if one loaded.
    pub loader: Option<LoaderKind>,
    /// Initrd files, in order.
    pub initrds: Vec<FileRef>,
    /// Devicetree file.
    pub devicetree: Option<FileRef>,
    /// A command that ends the entry without booting (`reboot`, `fwsetup`...).
    pub action: Option<String>,
    /// Why the last `linux` failed.
    pub kernel_error: Option<String>,
    /// The file the last `linux` named when it was not found (shown as the entry's
    /// kernel, as a BLS entry shows its missing kernel).
    pub missing_kernel: Option<FileRef>,
    /// Why the last `initrd` failed.
    pub initrd_error: Option<String>,
    /// `save_env` writes the body made.
    pub writes: Vec<EnvWrite>,
}

/// A menu as shown: its items, evaluated, and the variables that steer it.
#[derive(Debug, Clone, Default)]
pub struct EvalMenu {
    /// Items in order.
    pub items: Vec<EvalItem>,
    /// `default` when the menu is shown.
    pub default: Option<String>,
    /// `timeout`.
    pub timeout: Option<String>,
    /// `timeout_style`.
    pub timeout_style: Option<String>,
    /// `fallback`.
    pub fallback: Option<String>,
    /// The config file that built this menu.
    pub config: Option<FileRef>,
}

/// One evaluated item.
#[derive(Debug, Clone)]
pub struct EvalItem {
    /// The item.
    pub item: MenuItem,
    /// What choosing it does.
    pub kind: EvalKind,
}

/// What choosing an item does.
#[derive(Debug, Clone)]
pub enum EvalKind {
    /// Boots (or fails to boot) as described.
    Leaf(BootPlan),
    /// Shows another menu (a submenu, or a `configfile` from an entry body), after
    /// making these `save_env` writes.
    Menu(EvalMenu, Vec<EnvWrite>),
}

#[derive(Debug, Clone)]
struct Var {
    value: String,
    exported: bool,
}

#[derive(Debug, Clone, Default)]
struct Context {
    vars: HashMap<String, Var>,
    menu: Vec<MenuItem>,
    /// Bytes in names and values, bounded by [`Limits::max_env`].
    bytes: usize,
}

impl Context {
    fn recount(&mut self) {
        self.bytes = self
            .vars
            .iter()
            .map(|(k, v)| k.len().saturating_add(v.value.len()))
            .sum();
    }
}

#[derive(Debug, Clone)]
struct Scope {
    args: Vec<String>,
}

/// Why execution stopped early.
#[derive(Debug, Clone)]
pub enum Halt {
    /// A limit ran out.
    Limit,
    /// `configfile` showed a menu: GRUB boots from it and never returns.
    Menu(EvalMenu),
    /// `exit` or `normal_exit`.
    Exit,
    /// `boot` inside an entry body.
    Boot,
}

/// The interpreter for one scan.
pub struct Interp<'v> {
    pub(super) volumes: &'v [VolumeView<'v>],
    pub(super) devices: DeviceMap,
    pub(super) scan_volume: usize,
    pub(super) limits: Limits,
    pub(super) options: GrubOptions,
    ctxs: Vec<Context>,
    pub(super) functions: HashMap<String, Rc<Script>>,
    scopes: Vec<Scope>,
    pub(super) loc: Loc,
    pub(super) line: u32,
    steps: u64,
    budget_reset: bool,
    depth: u32,
    nest: u32,
    active_loops: u32,
    active_breaks: u32,
    is_continue: bool,
    function_return: bool,
    pub(super) halt: Option<Halt>,
    pub(super) diags: Vec<Diagnostic>,
    dropped_diags: usize,
    once: HashSet<String>,
    /// Environment files as `save_env` left them, so later reads see the change.
    /// Environment files as `save_env` left them in this scan. Shared, not copied,
    /// when a menu entry or submenu is evaluated on a copy of the state (each entry
    /// sees the files as they were before it): a config with thousands of entries
    /// and a megabyte environment file costs no megabyte per entry.
    pub(super) env_files: HashMap<(usize, String), Rc<Vec<u8>>>,
    pub(super) writes: Vec<EnvWrite>,
    /// Set while an entry body runs.
    pub(super) plan: Option<BootPlan>,
    pub(super) entries_created: usize,
    pub(super) bls_files: Vec<FileRef>,
    /// Config files read, in order.
    pub(super) configs: Vec<FileRef>,
    /// What commands at config level loaded (`linux` outside any entry).
    pub(super) top_plan: BootPlan,
    /// The first sign that the config was written for rhboot's GRUB (Fedora, RHEL),
    /// whose `default` rules differ from upstream's ([`super::default`]).
    pub(super) rhboot_evidence: Option<String>,
    empty: Context,
}

/// A slot list being built into argv: `None` is an argument not yet started.
struct Argv {
    slots: Vec<Option<String>>,
    bytes: usize,
    limit: usize,
    overflow: bool,
}

impl Argv {
    fn new(limit: usize) -> Argv {
        Argv {
            slots: Vec::new(),
            bytes: 0,
            limit,
            overflow: false,
        }
    }

    /// `grub_script_argv_next`: start a new argument unless the last is still empty.
    fn next(&mut self) {
        if !matches!(self.slots.last(), Some(None)) {
            self.slots.push(None);
        }
    }

    /// `grub_script_argv_append`: appending anything, even "", makes the argument exist.
    fn append(&mut self, s: &str) {
        self.bytes = self.bytes.saturating_add(s.len());
        if self.bytes > self.limit {
            self.overflow = true;
            return;
        }
        if self.slots.is_empty() {
            self.slots.push(None);
        }
        if let Some(last) = self.slots.last_mut() {
            last.get_or_insert_with(String::new).push_str(s);
        }
    }

    /// `grub_script_argv_split_append` (`grub-core/script/argv.c`): one argument per
    /// blank-separated word (`grub_isspace`: space, tab, newline, carriage return).
    /// Blanks before the first word and after the last are skipped, so they make no
    /// argument, and a value of blanks alone appends nothing. The first word goes
    /// onto the argument being built (`a${k}b` with `k=" x "` is `axb`).
    fn split_append(&mut self, s: &str) {
        let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
        let mut words = s.split(is_space).filter(|w| !w.is_empty()).peekable();
        while let Some(w) = words.next() {
            self.append(w);
            if words.peek().is_some() {
                self.next();
            }
        }
    }

    fn finish(self) -> Vec<String> {
        self.slots.into_iter().flatten().collect()
    }
}

impl<'v> Interp<'v> {
    /// An interpreter for a scan of `volumes[scan_volume]`.
    pub fn new(
        volumes: &'v [VolumeView<'v>],
        scan_volume: usize,
        options: &GrubOptions,
    ) -> Interp<'v> {
        let infos: Vec<&entry::VolumeInfo> = volumes.iter().map(|v| v.info).collect();
        let devices = DeviceMap::new(&infos, &options.device_names, &options.device_aliases);
        Interp {
            volumes,
            devices,
            scan_volume,
            limits: options.limits,
            options: options.clone(),
            ctxs: vec![Context::default()],
            functions: HashMap::new(),
            scopes: Vec::new(),
            loc: Loc {
                volume: scan_volume,
                path: Rc::from(""),
                generated: false,
            },
            line: 0,
            steps: 0,
            budget_reset: false,
            depth: 0,
            nest: 0,
            active_loops: 0,
            active_breaks: 0,
            is_continue: false,
            function_return: false,
            halt: None,
            diags: Vec::new(),
            dropped_diags: 0,
            once: HashSet::new(),
            env_files: HashMap::new(),
            writes: Vec::new(),
            plan: None,
            entries_created: 0,
            bls_files: Vec::new(),
            configs: Vec::new(),
            top_plan: BootPlan::default(),
            rhboot_evidence: None,
            empty: Context::default(),
        }
    }

    // ---------------------------------------------------------------- diagnostics

    /// How a file is named in diagnostics: its path on the scanned volume, or
    /// `(device)path` on another.
    pub(super) fn display_file(&self, volume: usize, path: &str) -> String {
        if volume == self.scan_volume {
            path.to_string()
        } else {
            let dev = self
                .volumes
                .get(volume)
                .map(|v| v.info.device.as_str())
                .unwrap_or("?");
            format!("({dev}){path}")
        }
    }

    /// Records a diagnostic about the current command.
    pub(super) fn diag(&mut self, severity: Severity, message: impl Into<String>) {
        let file = self.display_file(self.loc.volume, &self.loc.path);
        let line = if self.loc.generated { 0 } else { self.line };
        self.diag_at(severity, &file, line, message);
    }

    /// Records a diagnostic once per scan for `key`.
    pub(super) fn diag_once(
        &mut self,
        key: String,
        severity: Severity,
        message: impl Into<String>,
    ) {
        if self.once.insert(key) {
            self.diag(severity, message);
        }
    }

    pub(super) fn diag_at(
        &mut self,
        severity: Severity,
        file: &str,
        line: u32,
        message: impl Into<String>,
    ) {
        // Errors that end the scan are always kept; repeats of one diagnostic are not.
        if self.diags.len() >= self.limits.max_diagnostics && severity != Severity::Error {
            self.dropped_diags = self.dropped_diags.saturating_add(1);
            return;
        }
        let mut message: String = message.into();
        if self
            .diags
            .iter()
            .rev()
            .take(64)
            .any(|d| d.line == line && d.message == message && d.file == file)
        {
            return;
        }
        if self.diags.len() >= self.limits.max_diagnostics.saturating_add(16) {
            self.dropped_diags = self.dropped_diags.saturating_add(1);
            return;
        }
        if message.len() > 600 {
            let mut cut = 600;
            while !message.is_char_boundary(cut) {
                cut = cut.saturating_sub(1);
            }
            message.truncate(cut);
            message.push_str("...");
        }
        self.diags
            .push(Diagnostic::new(severity, file, line, message));
    }

    /// Diagnostics, with a last one counting any that were dropped.
    pub(super) fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        let mut out = std::mem::take(&mut self.diags);
        if self.dropped_diags > 0 {
            let file = self.display_file(self.loc.volume, &self.loc.path);
            out.push(Diagnostic::new(
                Severity::Error,
                &file,
                0,
                format!("{} more diagnostics were not kept", self.dropped_diags),
            ));
        }
        out
    }

    // ---------------------------------------------------------------- limits

    /// Counts one step; false (and a halt) when the budget is spent.
    fn step(&mut self) -> bool {
        if self.halt.is_some() {
            return false;
        }
        self.steps = self.steps.saturating_add(1);
        if self.steps > self.limits.max_steps {
            self.diag(
                Severity::Error,
                format!(
                    "stopped after {} commands: the config loops or is too large; entries found so far are kept",
                    self.limits.max_steps
                ),
            );
            self.halt = Some(Halt::Limit);
            return false;
        }
        true
    }

    /// Counts work proportional to `bytes` (copies, parsing, file reads) against the
    /// same budget as commands: one step per 64 bytes.
    pub(super) fn charge(&mut self, bytes: usize) -> bool {
        let units = u64::try_from(bytes / 64).unwrap_or(u64::MAX);
        if units == 0 {
            return self.halt.is_none();
        }
        self.steps = self.steps.saturating_add(units.saturating_sub(1));
        self.step()
    }

    /// Enters one level of nesting; false (with a diagnostic) when too deep.
    pub(super) fn enter(&mut self, what: &str) -> bool {
        if self.depth >= self.limits.max_depth {
            self.diag(
                Severity::Error,
                format!(
                    "{what} nested deeper than {} levels, not run",
                    self.limits.max_depth
                ),
            );
            return false;
        }
        self.depth = self.depth.saturating_add(1);
        true
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// A fresh step budget, once per scan, so the entries found before a config ran
    /// out of its own can still be evaluated.
    pub(super) fn reset_budget(&mut self) {
        if self.budget_reset {
            return;
        }
        self.budget_reset = true;
        self.steps = 0;
        if matches!(self.halt, Some(Halt::Limit)) {
            self.halt = None;
        }
    }

    pub(super) fn halted(&self) -> bool {
        self.halt.is_some()
    }

    // ---------------------------------------------------------------- variables

    fn ctx(&self) -> &Context {
        // The stack is never empty: it starts with one context and pops only what it
        // pushed.
        self.ctxs.last().unwrap_or(&self.empty)
    }

    fn ctx_mut(&mut self) -> &mut Context {
        if self.ctxs.is_empty() {
            self.ctxs.push(Context::default());
        }
        self.ctxs.last_mut().unwrap_or(&mut self.empty)
    }

    /// `grub_env_get`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.ctx().vars.get(name).map(|v| v.value.as_str())
    }

    /// `grub_env_set`; refuses values over the limit. `root` drops surrounding
    /// parentheses, as its write hook `grub_env_write_root` does.
    pub(super) fn set(&mut self, name: &str, value: &str) -> bool {
        let value = if name == "root" {
            value
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .unwrap_or(value)
        } else {
            value
        };
        if value.len() > self.limits.max_value {
            self.diag(
                Severity::Error,
                format!(
                    "value of `{name}` is {} bytes, more than the limit of {}; not set",
                    value.len(),
                    self.limits.max_value
                ),
            );
            return false;
        }
        self.charge(value.len());
        let (max_vars, max_env) = (self.limits.max_vars, self.limits.max_env);
        let ctx = self.ctx_mut();
        let old = ctx
            .vars
            .get(name)
            .map_or(0, |v| name.len().saturating_add(v.value.len()));
        let bytes = ctx
            .bytes
            .saturating_sub(old)
            .saturating_add(name.len())
            .saturating_add(value.len());
        if bytes > max_env {
            self.diag(
                Severity::Error,
                format!("variables take more than {max_env} bytes; `{name}` not set"),
            );
            return false;
        }
        if let Some(v) = ctx.vars.get_mut(name) {
            v.value.clear();
            v.value.push_str(value);
            ctx.bytes = bytes;
            return true;
        }
        if ctx.vars.len() >= max_vars {
            self.diag(
                Severity::Error,
                format!("more than {max_vars} variables; `{name}` not set"),
            );
            return false;
        }
        ctx.vars.insert(
            name.to_string(),
            Var {
                value: value.to_string(),
                exported: false,
            },
        );
        ctx.bytes = bytes;
        true
    }

    /// `grub_env_unset`.
    pub(super) fn unset(&mut self, name: &str) {
        let ctx = self.ctx_mut();
        if let Some(v) = ctx.vars.remove(name) {
            ctx.bytes = ctx
                .bytes
                .saturating_sub(name.len().saturating_add(v.value.len()));
        }
    }

    /// `grub_env_export`: creates the variable empty when missing.
    pub(super) fn export(&mut self, name: &str) {
        if self.get(name).is_none() && !self.set(name, "") {
            return;
        }
        if let Some(v) = self.ctx_mut().vars.get_mut(name) {
            v.exported = true;
        }
    }

    /// `grub_env_context_open`: a new context with copies of the exported variables
    /// and an empty menu.
    pub(super) fn push_context(&mut self) {
        let vars = self
            .ctx()
            .vars
            .iter()
            .filter(|(_, v)| v.exported)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut ctx = Context {
            vars,
            menu: Vec::new(),
            bytes: 0,
        };
        ctx.recount();
        self.ctxs.push(ctx);
    }

    /// `grub_env_context_close`.
    pub(super) fn pop_context(&mut self) {
        if self.ctxs.len() > 1 {
            self.ctxs.pop();
        }
    }

    /// Menu items of the current context.
    pub(super) fn menu_len(&self) -> usize {
        self.ctx().menu.len()
    }

    pub(super) fn add_menu_item(&mut self, item: MenuItem) -> bool {
        if self.entries_created >= self.limits.max_entries {
            if self.entries_created == self.limits.max_entries {
                self.diag(
                    Severity::Error,
                    format!(
                        "more than {} menu entries; the rest are skipped",
                        self.limits.max_entries
                    ),
                );
                self.entries_created = self.entries_created.saturating_add(1);
            }
            return false;
        }
        self.entries_created = self.entries_created.saturating_add(1);
        self.ctx_mut().menu.push(item);
        true
    }

    // ---------------------------------------------------------------- positional parameters

    /// Runs `f` with `args` as `$1`...; `setparams` inside replaces them.
    pub(super) fn with_scope<T>(&mut self, args: Vec<String>, f: impl FnOnce(&mut Self) -> T) -> T {
        self.scopes.push(Scope { args });
        let r = f(self);
        self.scopes.pop();
        r
    }

    /// `setparams`: replaces the positional parameters (an error outside a scope).
    pub(super) fn set_params(&mut self, args: Vec<String>) -> bool {
        match self.scopes.last_mut() {
            Some(s) => {
                s.args = args;
                true
            }
            None => false,
        }
    }

    /// `shift [n]`.
    pub(super) fn shift(&mut self, n: usize) -> bool {
        match self.scopes.last_mut() {
            Some(s) if n <= s.args.len() => {
                s.args.drain(..n);
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    // ---------------------------------------------------------------- expansion

    /// `grub_script_env_get` into `out`, as the arguments of one word part.
    fn expand_var(&self, out: &mut Argv, name: &str, quoted: bool) {
        let special =
            name.starts_with(|c: char| c.is_ascii_digit()) || matches!(name, "#" | "*" | "@");
        // The values form their own slot list; the caller's loop stops at the first
        // empty slot (`for (i = 0; values && values[i]; i++)`).
        let mut vals = Argv::new(usize::MAX);
        vals.next();
        if !special {
            if let Some(v) = self.get(name).filter(|v| !v.is_empty()) {
                if quoted {
                    vals.append(v);
                } else {
                    vals.split_append(v);
                }
            }
        } else if let Some(scope) = self.scopes.last() {
            let args = &scope.args;
            match name {
                "#" => vals.append(&args.len().to_string()),
                "*" => {
                    for (i, a) in args.iter().enumerate() {
                        if quoted {
                            if i != 0 {
                                vals.append(" ");
                            }
                            vals.append(a);
                        } else {
                            if i != 0 {
                                vals.next();
                            }
                            vals.split_append(a);
                        }
                    }
                }
                "@" => {
                    for (i, a) in args.iter().enumerate() {
                        if i != 0 {
                            vals.next();
                        }
                        if quoted {
                            vals.append(a);
                        } else {
                            vals.split_append(a);
                        }
                    }
                }
                _ => {
                    // `grub_strtoul (name, 0, 10)`: decimal, so `$010` is `$10`.
                    let idx = name.parse::<usize>().ok().and_then(|n| n.checked_sub(1));
                    if let Some(a) = idx.and_then(|i| args.get(i)) {
                        if quoted {
                            vals.append(a);
                        } else {
                            vals.split_append(a);
                        }
                    }
                }
            }
        }
        for (i, v) in vals.slots.iter().enumerate() {
            let Some(v) = v else { break };
            if i != 0 {
                out.next();
            }
            out.append(v);
        }
    }

    fn expand_dq(&self, out: &mut Argv, parts: &[DqPart]) {
        out.append("");
        for p in parts {
            match p {
                DqPart::Lit(s) => out.append(s),
                DqPart::Var(n) => self.expand_var(out, n, true),
            }
        }
    }

    /// Expands words into arguments (`grub_script_arglist_to_argv`); `None` when
    /// they grow past the limit.
    pub(super) fn expand(&mut self, words: &[Word]) -> Option<Vec<String>> {
        let mut out = Argv::new(self.limits.max_args);
        for w in words {
            out.next();
            for p in &w.parts {
                match p {
                    Part::Lit(s) => {
                        if !s.is_empty() {
                            out.append(s);
                        }
                    }
                    Part::Sq(s) => out.append(s),
                    Part::Dq(parts) | Part::Gettext(parts) => self.expand_dq(&mut out, parts),
                    Part::Var(n) => self.expand_var(&mut out, n, false),
                }
            }
        }
        if out.overflow {
            self.diag(
                Severity::Error,
                format!(
                    "arguments longer than {} bytes; command skipped",
                    self.limits.max_args
                ),
            );
            return None;
        }
        if !self.charge(out.bytes) {
            return None;
        }
        Some(out.finish())
    }

    // ---------------------------------------------------------------- execution

    /// Runs a list of commands (`grub_script_execute_cmdlist`).
    pub(super) fn exec_script(&mut self, s: &Script) -> i32 {
        let mut ret = ERR_NONE;
        for cmd in &s.cmds {
            if self.active_breaks > 0 || self.halted() {
                break;
            }
            if matches!(cmd, Cmd::Function { .. }) {
                continue;
            }
            ret = self.exec_cmd(cmd);
            if self.function_return {
                break;
            }
        }
        ret
    }

    /// Runs one unit: its function definitions first (GRUB defines them while
    /// parsing), then its commands.
    pub(super) fn exec_unit(&mut self, s: &Script) -> i32 {
        for cmd in &s.cmds {
            if let Cmd::Function { name, body, line } = cmd {
                self.line = *line;
                self.define_function(name, body.clone());
            }
        }
        self.exec_script(s)
    }

    fn define_function(&mut self, name: &str, body: Rc<Script>) {
        if !self.functions.contains_key(name) && self.functions.len() >= 1024 {
            self.diag(
                Severity::Error,
                format!("more than 1024 functions; `{name}` not defined"),
            );
            return;
        }
        self.functions.insert(name.to_string(), body);
    }

    fn exec_cmd(&mut self, cmd: &Cmd) -> i32 {
        if !self.step() {
            return ERR_NONE;
        }
        self.line = cmd.line();
        let compound = !matches!(cmd, Cmd::Simple { .. });
        if compound {
            // Calls nest scripts inside scripts; bound the total so the Rust stack is
            // never at risk, whatever a config does.
            if self.nest >= MAX_NEST {
                self.diag(
                    Severity::Error,
                    format!("commands nested deeper than {MAX_NEST} levels, not run"),
                );
                return ERR_BAD_ARGUMENT;
            }
            self.nest = self.nest.saturating_add(1);
        }
        let ret = self.exec_cmd_inner(cmd);
        if compound {
            self.nest = self.nest.saturating_sub(1);
        }
        self.set_status(ret);
        ret
    }

    fn exec_cmd_inner(&mut self, cmd: &Cmd) -> i32 {
        match cmd {
            Cmd::Simple { words, block, .. } => self.exec_simple(words, block.as_ref()),
            Cmd::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                let r = self.exec_script(cond);
                if self.function_return || self.halted() {
                    return r;
                }
                self.set_status(r);
                if r == ERR_NONE {
                    self.exec_script(then)
                } else if let Some(o) = otherwise {
                    self.exec_script(o)
                } else {
                    ERR_NONE
                }
            }
            Cmd::For {
                var, words, body, ..
            } => self.exec_for(var, words, body),
            Cmd::While {
                cond, body, until, ..
            } => self.exec_while(cond, body, *until),
            Cmd::Function { .. } => ERR_NONE,
        }
    }

    fn set_status(&mut self, ret: i32) {
        self.set("?", &ret.to_string());
    }

    fn exec_for(&mut self, var: &str, words: &[Word], body: &Script) -> i32 {
        let Some(values) = self.expand(words) else {
            return ERR_BAD_ARGUMENT;
        };
        self.active_loops = self.active_loops.saturating_add(1);
        let mut result = ERR_NONE;
        for v in values {
            if self.halted() {
                break;
            }
            if self.is_continue && self.active_breaks == 1 {
                self.active_breaks = 0;
            }
            if self.active_breaks == 0 {
                self.set(var, &v);
                result = self.exec_script(body);
                if self.function_return {
                    break;
                }
            }
            if !self.step() {
                break;
            }
        }
        if self.active_breaks > 0 {
            self.active_breaks = self.active_breaks.saturating_sub(1);
        }
        self.active_loops = self.active_loops.saturating_sub(1);
        result
    }

    fn exec_while(&mut self, cond: &Script, body: &Script, until: bool) -> i32 {
        self.active_loops = self.active_loops.saturating_add(1);
        let mut result;
        loop {
            result = self.exec_script(cond);
            if self.function_return || self.halted() {
                break;
            }
            if if until {
                result == ERR_NONE
            } else {
                result != ERR_NONE
            } {
                break;
            }
            result = self.exec_script(body);
            if self.function_return || self.halted() {
                break;
            }
            if self.active_breaks == 1 && self.is_continue {
                self.active_breaks = 0;
            }
            if self.active_breaks > 0 {
                break;
            }
            if !self.step() {
                break;
            }
        }
        if self.active_breaks > 0 {
            self.active_breaks = self.active_breaks.saturating_sub(1);
        }
        self.active_loops = self.active_loops.saturating_sub(1);
        result
    }

    /// `break`/`continue [n]`.
    pub(super) fn do_break(&mut self, count: u32, is_continue: bool) {
        self.is_continue = is_continue;
        self.active_breaks = count.min(self.active_loops);
    }

    /// `return [n]`.
    pub(super) fn do_return(&mut self) -> bool {
        if self.scopes.is_empty() {
            return false;
        }
        self.function_return = true;
        true
    }

    fn exec_simple(&mut self, words: &[Word], block: Option<&Rc<Script>>) -> i32 {
        let Some(args) = self.expand(words) else {
            return ERR_BAD_ARGUMENT;
        };
        let Some(first) = args.first() else {
            return ERR_NONE;
        };
        let (invert, name, rest) = if first == "!" {
            match args.get(1) {
                Some(n) => (true, n.clone(), args.get(2..).unwrap_or(&[]).to_vec()),
                None => {
                    self.diag(Severity::Warning, "`!` without a command");
                    return ERR_BAD_ARGUMENT;
                }
            }
        } else {
            (false, first.clone(), args.get(1..).unwrap_or(&[]).to_vec())
        };
        let ret = self.dispatch(&name, rest, block);
        if invert {
            match ret {
                ERR_TEST_FAILURE => ERR_NONE,
                ERR_NONE => ERR_TEST_FAILURE,
                _ => ERR_NONE,
            }
        } else {
            ret
        }
    }

    /// Calls a function (`grub_script_function_call`).
    pub(super) fn call_function(&mut self, body: &Rc<Script>, args: Vec<String>) -> i32 {
        if !self.enter("function call") {
            return ERR_BAD_ARGUMENT;
        }
        let loops = self.active_loops;
        self.active_loops = 0;
        let ret = self.with_scope(args, |it| it.exec_script(body));
        self.function_return = false;
        self.active_loops = loops;
        self.leave();
        ret
    }

    /// Runs source text unit by unit (`grub_script_execute_sourcecode`), reporting
    /// syntax errors against `loc`.
    pub(super) fn exec_text(&mut self, text: &str, loc: Loc) -> i32 {
        let src = Source::new(text, crate::MAX_LINE_BYTES);
        self.exec_source(&src, loc)
    }

    fn exec_source(&mut self, src: &Source, loc: Loc) -> i32 {
        if !self.charge(src.len()) {
            return ERR_BAD_ARGUMENT;
        }
        let saved = std::mem::replace(&mut self.loc, loc);
        let saved_line = self.line;
        for &(line, len) in &src.long_lines {
            self.line = line;
            self.diag(
                Severity::Warning,
                format!(
                    "line of {len} bytes is longer than {}, skipped",
                    crate::MAX_LINE_BYTES
                ),
            );
        }
        for &(line, column) in &src.nul_lines {
            self.line = line;
            self.diag(
                Severity::Warning,
                format!(
                    "NUL byte at column {column}: the rest of the line is ignored, as GRUB's \
                     line reader (grub_file_getline) does; a quote it leaves open runs on \
                     into the next lines"
                ),
            );
        }
        let mut parser = Parser::new(src);
        let mut ret = ERR_NONE;
        while !self.halted() {
            match parser.next_unit() {
                Ok(Some(unit)) => ret = self.exec_unit(&unit),
                Ok(None) => break,
                Err(e) => {
                    self.line = e.line;
                    self.diag(
                        Severity::Warning,
                        format!("{}; the command is skipped", e.message),
                    );
                    parser.recover(&e);
                    if !self.step() {
                        break;
                    }
                }
            }
        }
        self.loc = saved;
        self.line = saved_line;
        ret
    }

    /// `read_config_file`: runs a config file in the current context with
    /// `$config_file` and `$config_directory` set (and restored afterwards).
    pub(super) fn read_config_file(&mut self, file: &FileRef, grub_name: &str, data: &[u8]) -> i32 {
        let old_file = self.get("config_file").map(str::to_string);
        let old_dir = self.get("config_directory").map(str::to_string);
        let full = if grub_name.starts_with('(') {
            grub_name.to_string()
        } else {
            format!("({}){}", self.devices.name(file.volume), file.path)
        };
        self.set("config_file", &full);
        let dir = match full.rfind('/') {
            Some(i) => full.get(..i).unwrap_or("").to_string(),
            None => full.clone(),
        };
        self.set("config_directory", &dir);
        self.export("config_file");
        self.export("config_directory");
        self.configs.push(file.clone());
        if self.rhboot_evidence.is_none() && file.path.split('/').any(|c| c == "grub2") {
            // `grub2-install` puts GRUB's files in a `grub2` directory; upstream's
            // `grub-install` in `grub`.
            let shown = self.display_file(file.volume, &file.path);
            self.rhboot_evidence = Some(format!("the config is {shown}, in a `grub2` directory"));
        }
        let text = String::from_utf8_lossy(data);
        let ret = self.exec_text(
            &text,
            Loc {
                volume: file.volume,
                path: Rc::from(file.path.as_str()),
                generated: false,
            },
        );
        match old_file {
            Some(v) => {
                self.set("config_file", &v);
            }
            None => self.unset("config_file"),
        }
        match old_dir {
            Some(v) => {
                self.set("config_directory", &v);
            }
            None => self.unset("config_directory"),
        }
        ret
    }

    // ---------------------------------------------------------------- files

    /// Resolves a GRUB file name to a volume and path: `(dev)/path`, or `/path` on
    /// `$root`. A device that names none of the volumes falls back to the volume the
    /// config was found on, with a warning.
    pub(super) fn resolve(&mut self, name: &str) -> Result<FileRef, String> {
        self.resolve_with(name, true)
    }

    /// Like [`Interp::resolve`], but a device that names no volume is an error, as
    /// it is for GRUB (file tests, `search --file`).
    pub(super) fn resolve_strict(&mut self, name: &str) -> Result<FileRef, String> {
        self.resolve_with(name, false)
    }

    fn resolve_with(&mut self, name: &str, fallback: bool) -> Result<FileRef, String> {
        let (dev, path) =
            split_file_name(name).ok_or_else(|| format!("missing `)` in `{name}`"))?;
        let dev = match dev {
            Some(d) => d.to_string(),
            None => match self.get("root") {
                Some(r) if !r.is_empty() => r.to_string(),
                _ => return Err(format!("`{name}`: variable `root` isn't set")),
            },
        };
        let volume = match self.devices.resolve(&dev) {
            Some(v) => v,
            None if !fallback => return Err(format!("no volume is GRUB device `{dev}`")),
            None => {
                if self.once.insert(format!("device {dev}")) {
                    let fallback = self
                        .volumes
                        .get(self.scan_volume)
                        .map(|v| v.info.device.clone())
                        .unwrap_or_default();
                    self.diag(
                        Severity::Warning,
                        format!("GRUB device `{dev}` is none of the volumes leapboot reads; using {fallback}, where the config is"),
                    );
                }
                self.scan_volume
            }
        };
        if path.is_empty() {
            return Ok(FileRef {
                volume,
                path: String::new(),
            });
        }
        if !path.starts_with('/') {
            return Err(format!("invalid file name `{name}`"));
        }
        match normalize(path) {
            Some(p) => Ok(FileRef { volume, path: p }),
            None if path.chars().all(|c| c == '/') => Ok(FileRef {
                volume,
                path: "/".into(),
            }),
            None => Err(format!("file name `{name}` goes outside the volume (`..`)")),
        }
    }

    /// The volume's file system.
    pub(super) fn fs(&self, volume: usize) -> Option<&'v dyn crate::fs::FileSystem> {
        self.volumes.get(volume).map(|v| v.fs)
    }

    /// Reads a whole file (through environment edits made earlier in the scan).
    pub(super) fn read_file(&mut self, f: &FileRef) -> Result<Vec<u8>, String> {
        let data = match self.env_files.get(&(f.volume, f.path.clone())) {
            Some(data) => data.as_ref().clone(),
            None => {
                let fs = self
                    .fs(f.volume)
                    .ok_or_else(|| "no such volume".to_string())?;
                fs.read(&f.path, crate::MAX_CONFIG_BYTES)
                    .map_err(|e| fs_reason(&e))?
            }
        };
        if !self.charge(data.len()) {
            return Err("not read: the scan is out of its step budget".into());
        }
        Ok(data)
    }

    /// Kind and size of a file.
    pub(super) fn metadata(&self, f: &FileRef) -> Option<crate::fs::Metadata> {
        if f.path.is_empty() || f.path == "/" {
            return Some(crate::fs::Metadata {
                kind: crate::fs::FileKind::Dir,
                len: 0,
            });
        }
        if let Some(data) = self.env_files.get(&(f.volume, f.path.clone())) {
            let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
            return Some(crate::fs::Metadata {
                kind: crate::fs::FileKind::File,
                len,
            });
        }
        self.fs(f.volume)?.metadata(&f.path).ok()
    }

    /// True when `f` is a regular file.
    pub(super) fn is_file(&self, f: &FileRef) -> bool {
        matches!(self.metadata(f), Some(m) if m.kind == crate::fs::FileKind::File)
    }

    /// The volume reference of volume `i`.
    pub(super) fn volume_ref(&self, i: usize) -> entry::VolumeRef {
        self.volumes
            .get(i)
            .map(|v| v.info.to_ref())
            .unwrap_or(entry::VolumeRef {
                uuid: None,
                label: None,
                device: String::new(),
            })
    }

    // ---------------------------------------------------------------- grubenv

    /// Reads an environment block file.
    pub(super) fn read_env(&mut self, f: &FileRef) -> Result<EnvBlock, String> {
        let data = self.read_file(f)?;
        EnvBlock::parse(&data).map_err(|e| e.to_string())
    }

    /// Records a `save_env`: applies it to the in-scan copy and remembers it.
    pub(super) fn save_env(&mut self, f: &FileRef, changes: Vec<EnvChange>) -> Result<(), String> {
        let done = match self.plan.as_ref() {
            Some(plan) => plan.writes.len(),
            None => self.writes.len(),
        };
        if done >= self.limits.max_writes {
            return Err(format!(
                "more than {} `save_env` writes; not recorded",
                self.limits.max_writes
            ));
        }
        let mut blk = self.read_env(f)?;
        // Removing a variable the block does not hold changes nothing.
        let changes: Vec<EnvChange> = changes
            .into_iter()
            .filter(|c| match c {
                EnvChange::Unset(n) => blk.get(n).is_some(),
                EnvChange::Set(..) => true,
            })
            .collect();
        blk.apply(&changes).map_err(|e| e.to_string())?;
        self.env_files
            .insert((f.volume, f.path.clone()), Rc::new(blk.as_bytes().to_vec()));
        let write = EnvWrite {
            volume: self.volume_ref(f.volume),
            path: f.path.clone(),
            changes,
            source: entry::Source {
                file: self.display_file(self.loc.volume, &self.loc.path),
                line: if self.loc.generated { 0 } else { self.line },
            },
        };
        match self.plan.as_mut() {
            Some(plan) => plan.writes.push(write),
            None => self.writes.push(write),
        }
        Ok(())
    }

    /// The boot plan being filled: the running entry's, or the config level's.
    pub(super) fn plan_mut(&mut self) -> &mut BootPlan {
        match self.plan {
            Some(ref mut p) => p,
            None => &mut self.top_plan,
        }
    }

    /// True while an entry body runs.
    pub(super) fn in_entry(&self) -> bool {
        self.plan.is_some()
    }

    // ---------------------------------------------------------------- menus

    /// Evaluates the current context's menu as GRUB would show it.
    pub(super) fn eval_menu(&mut self) -> EvalMenu {
        let items = std::mem::take(&mut self.ctx_mut().menu);
        let mut menu = EvalMenu {
            items: Vec::with_capacity(items.len()),
            default: self.get("default").map(str::to_string),
            timeout: self.get("timeout").map(str::to_string),
            timeout_style: self.get("timeout_style").map(str::to_string),
            fallback: self.get("fallback").map(str::to_string),
            config: None,
        };
        for item in &items {
            let kind = if matches!(self.halt, Some(Halt::Limit)) {
                let plan = BootPlan {
                    kernel_error: Some(
                        "not run: the scan used up its step budget before this entry".into(),
                    ),
                    ..BootPlan::default()
                };
                EvalKind::Leaf(plan)
            } else if item.submenu {
                self.eval_submenu(item)
            } else {
                self.eval_entry(item)
            };
            menu.items.push(EvalItem {
                item: item.clone(),
                kind,
            });
        }
        self.ctx_mut().menu = items;
        menu
    }

    /// Sets `$chosen` and narrows `$default` as `grub_menu_execute_entry` does.
    fn enter_item(&mut self, item: &MenuItem) {
        let mut id = String::new();
        for c in item.grub_id().chars() {
            if c == '>' {
                id.push('>');
            }
            id.push(c);
        }
        let chosen = match self.get("chosen") {
            Some(c) => format!("{c}>{id}"),
            None => id,
        };
        self.set("chosen", &chosen);
        self.export("chosen");
        let rest = self
            .get("default")
            .and_then(super::default::remainder)
            .map(str::to_string);
        match rest {
            Some(r) => {
                self.set("default", &r);
            }
            None => self.unset("default"),
        }
    }

    fn run_body(&mut self, item: &MenuItem) {
        let args = item.args.clone();
        match &item.body {
            Body::Script(s) => {
                let s = s.clone();
                let saved = std::mem::replace(&mut self.loc, item.loc.clone());
                self.with_scope(args, |it| it.exec_script(&s));
                self.loc = saved;
            }
            Body::Text(t) => {
                let t = t.clone();
                let loc = item.loc.clone();
                self.with_scope(args, |it| it.exec_text(&t, loc));
            }
        }
        self.function_return = false;
        self.active_breaks = 0;
    }

    /// The variables of every context (menus do not change while an entry runs).
    fn save_vars(&mut self) -> Vec<HashMap<String, Var>> {
        let bytes = self.ctxs.iter().map(|c| c.bytes).sum();
        self.charge(bytes);
        self.ctxs.iter().map(|c| c.vars.clone()).collect()
    }

    fn restore_vars(&mut self, saved: Vec<HashMap<String, Var>>) {
        self.ctxs.truncate(saved.len().max(1));
        for (c, vars) in self.ctxs.iter_mut().zip(saved) {
            c.vars = vars;
            c.recount();
        }
    }

    fn eval_entry(&mut self, item: &MenuItem) -> EvalKind {
        let saved_vars = self.save_vars();
        let saved_funcs = self.functions.clone();
        let saved_env = self.env_files.clone();
        let saved_plan = self.plan.replace(BootPlan::default());
        let saved_line = self.line;
        self.enter_item(item);
        if self.enter("menu entry") {
            self.run_body(item);
            self.leave();
        }
        let mut plan = std::mem::replace(&mut self.plan, saved_plan).unwrap_or_default();
        let nested = match self.halt.take() {
            Some(Halt::Menu(m)) => Some(m),
            Some(Halt::Boot) | None => None,
            Some(Halt::Exit) => {
                plan.action.get_or_insert_with(|| "exit".into());
                None
            }
            Some(Halt::Limit) => {
                self.halt = Some(Halt::Limit);
                None
            }
        };
        self.restore_vars(saved_vars);
        self.functions = saved_funcs;
        self.env_files = saved_env;
        self.line = saved_line;
        match nested {
            Some(m) => EvalKind::Menu(m, plan.writes),
            None => EvalKind::Leaf(plan),
        }
    }

    fn eval_submenu(&mut self, item: &MenuItem) -> EvalKind {
        if !self.enter("submenu") {
            return EvalKind::Menu(EvalMenu::default(), Vec::new());
        }
        let saved_env = self.env_files.clone();
        let saved_writes = std::mem::take(&mut self.writes);
        let saved_line = self.line;
        let old_chosen = self.get("chosen").map(str::to_string);
        let old_default = self.get("default").map(str::to_string);
        self.push_context();
        // Restore the caller's `chosen` and `default` inside the new context first:
        // `grub_menu_execute_entry` reads them before opening it.
        match &old_chosen {
            Some(c) => {
                self.set("chosen", c);
            }
            None => self.unset("chosen"),
        }
        match &old_default {
            Some(d) => {
                self.set("default", d);
            }
            None => self.unset("default"),
        }
        self.set("timeout", "0");
        self.enter_item(item);
        self.run_body(item);
        let menu = match self.halt.take() {
            Some(Halt::Menu(m)) => m,
            Some(Halt::Limit) => {
                self.halt = Some(Halt::Limit);
                EvalMenu::default()
            }
            _ => self.eval_menu(),
        };
        self.pop_context();
        let writes = std::mem::replace(&mut self.writes, saved_writes);
        self.env_files = saved_env;
        self.line = saved_line;
        self.leave();
        EvalKind::Menu(menu, writes)
    }
}
