//! The handoff: read the chosen entry's kernel and initrds from its volume, build the
//! final command line, check what is about to be loaded ([`crate::preflight`]), log the
//! handoff report ([`crate::report`]), load with kexec and jump. A failure ends the
//! report with the decoded cause and a remedy; headless boots then try the fallback
//! entries ([`boot_with_fallback`]). The TUI, the headless path and `leapboot boot` all
//! go through [`prepare`] and [`execute`] (or [`boot_entry`] as PID 1).
//!
//! The command line the new kernel gets ([`handoff_cmdline`]): the entry's options and the
//! `append` setting ([`final_cmdline`], what the menu's editor starts from) or the menu's
//! edit, then `leapboot.entry=<id>` (unless the `entry_param` setting is off; added at the
//! handoff as GRUB's `linux` command adds `BOOT_IMAGE=`), and for a debug boot ([`debug_params`]) what makes its early
//! boot visible on leapboot's console: `earlycon` for the serial port, `console=` when
//! the entry names none, `ignore_loglevel`, `keep_bootcon`, `printk.devkmsg=on`.

use crate::kexec::{self, Decoded, KexecError, KmsgWatch, Situation};
use crate::log::Area;
use crate::preflight::{self, Preflight, Status};
use crate::report::{self, Outcome, Phase, Report, size};
use crate::settings::{Settings, split_cmdline};
use crate::volume::Volume;
use leapboot_menus::{Entry, FsError, Menu};
use std::time::Instant;

/// Largest kernel image read (bzImages are tens of MiB).
pub const MAX_KERNEL_BYTES: u64 = 256 * 1024 * 1024;
/// Largest total of initrds read.
pub const MAX_INITRD_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Kernel messages about kexec quoted in a report after a failed load.
const KMSG_LINES: usize = 8;

/// Why an entry could not be handed off.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The entry says it cannot boot.
    #[error("entry '{id}' is not bootable: {problem}")]
    NotBootable {
        /// Entry id.
        id: String,
        /// Why.
        problem: String,
    },
    /// Its volume is not among those found.
    #[error("entry '{id}': volume {volume} is not present")]
    NoVolume {
        /// Entry id.
        id: String,
        /// UUID or device.
        volume: String,
    },
    /// Reading a file failed.
    #[error("entry '{id}': cannot read {what} from {device}: {source}")]
    Read {
        /// Entry id.
        id: String,
        /// `kernel` or `initrd`.
        what: &'static str,
        /// Device name.
        device: String,
        /// The filesystem error (names the path).
        source: FsError,
    },
    /// The initrds together are too large.
    #[error("entry '{id}': initrds total more than {MAX_INITRD_BYTES} bytes")]
    InitrdsTooLarge {
        /// Entry id.
        id: String,
    },
    /// A pre-flight check failed; nothing was loaded.
    #[error("entry '{id}': not loaded: {}", .failures.join("; "))]
    Preflight {
        /// Entry id.
        id: String,
        /// Each failed check's message.
        failures: Vec<String>,
    },
    /// `kexec_file_load` failed; the error decoded for the situation.
    #[error("entry '{id}': {decoded}")]
    Load {
        /// Entry id.
        id: String,
        /// Cause and remedy.
        decoded: Decoded,
    },
    /// Staging the files or the jump failed.
    #[error("entry '{id}': {source}")]
    Kexec {
        /// Entry id.
        id: String,
        /// The decoded kexec error.
        source: KexecError,
    },
}

/// Everything needed for the two syscalls, plus the report that was logged.
#[derive(Debug, Clone)]
pub struct Handoff {
    /// Entry id.
    pub id: String,
    /// Kernel image bytes.
    pub kernel: Vec<u8>,
    /// Every initrd, concatenated in order.
    pub initrd: Vec<u8>,
    /// The final command line.
    pub cmdline: String,
    /// The handoff report's lines (as `report.lines`), for `leapboot boot --dry-run`.
    pub summary: Vec<String>,
    /// The report so far; [`execute`] completes it.
    pub report: Report,
    /// What the pre-flight checks found.
    pub preflight: Preflight,
    /// What a failed load is decoded against.
    pub situation: Situation,
}

/// Choices made in the menu for one boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// The whole command line, edited in the menu (replaces [`final_cmdline`]; debug
    /// parameters are still added for a debug boot).
    pub cmdline_override: Option<String>,
    /// Boot with handoff debugging parameters ([`debug_params`]); the `debug` setting
    /// does the same for every boot.
    pub debug: bool,
    /// GRUB environment writes this entry's menu asks for (`next_entry` cleared,
    /// `savedefault`), done just before the load.
    pub env_writes: Vec<leapboot_menus::grub::grubenv::EnvWrite>,
}

/// `leapboot.entry=<id>`, quoted when the id holds blanks (GRUB title paths); `"` is
/// dropped from the id, since the kernel's parser has no escape for it.
pub fn entry_param(id: &str) -> String {
    let clean: String = id.chars().filter(|&c| c != '"').collect();
    if clean.chars().any(char::is_whitespace) {
        format!("leapboot.entry=\"{clean}\"")
    } else {
        format!("leapboot.entry={clean}")
    }
}

fn push_param(c: &mut String, p: &str) {
    if p.is_empty() {
        return;
    }
    if !c.is_empty() {
        c.push(' ');
    }
    c.push_str(p);
}

/// The entry's command line, then the `append` setting: what the menu's editor starts
/// from. [`handoff_cmdline`] adds what leapboot itself passes.
pub fn final_cmdline(entry: &Entry, settings: &Settings) -> String {
    let mut c = entry.cmdline.trim().to_string();
    if let Some(a) = settings.append.as_deref() {
        push_param(&mut c, a.trim());
    }
    c
}

/// True when a debug boot was asked for, in the menu or by the `debug` setting.
pub fn is_debug(settings: &Settings, opts: &BootOptions) -> bool {
    opts.debug || settings.debug
}

/// The command line handed over: the menu's edit or [`final_cmdline`], then
/// `leapboot.entry=<id>` (when the `entry_param` setting is on and the line does not
/// set it already), then [`debug_params`] for a debug boot.
pub fn handoff_cmdline(
    entry: &Entry,
    settings: &Settings,
    opts: &BootOptions,
    consoles: &ConsoleEnv,
) -> String {
    let mut c = base_cmdline(entry, settings, opts);
    if is_debug(settings, opts) {
        for p in debug_params(&c, consoles) {
            push_param(&mut c, &p);
        }
    }
    c
}

/// [`handoff_cmdline`] without the debug parameters.
fn base_cmdline(entry: &Entry, settings: &Settings, opts: &BootOptions) -> String {
    let mut c = opts
        .cmdline_override
        .clone()
        .unwrap_or_else(|| final_cmdline(entry, settings));
    if settings.entry_param && !has_param(&c, "leapboot.entry") {
        push_param(&mut c, &entry_param(&entry.id));
    }
    c
}

/// A serial port's registers, from `/sys/class/tty/ttySN/{port,iomem_base,io_type}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uart {
    /// earlycon access method: `io`, `mmio`, `mmio16`, `mmio32`, `mmio32be`.
    pub access: &'static str,
    /// I/O port or MMIO address.
    pub addr: u64,
}

/// A console leapboot writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUse {
    /// `ttyS0`, `tty0`, `hvc0`.
    pub name: String,
    /// Options as in `console=ttyS0,115200n8` (from the firmware command line, else the
    /// port's current speed).
    pub options: Option<String>,
    /// For a 8250-style serial port: where its registers are.
    pub uart: Option<Uart>,
}

/// The consoles a debug boot makes visible, and any early console the firmware kernel
/// itself was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleEnv {
    /// leapboot's consoles, in the firmware command line's `console=` order.
    pub consoles: Vec<ConsoleUse>,
    /// `earlycon=...` or `earlyprintk=...` from the firmware command line.
    pub firmware_early: Option<String>,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(
        s.trim().trim_start_matches("0x").trim_start_matches("0X"),
        16,
    )
    .ok()
}

/// A serial port's speed from its termios (when no `console=` option names one).
fn tty_speed(name: &str) -> Option<u32> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(format!("/dev/{name}"))
        .ok()?;
    // SAFETY: tcgetattr fills a termios we own, on an fd open for the call.
    let speed = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(f.as_raw_fd(), &mut t) != 0 {
            return None;
        }
        // The speed bits of c_cflag (what cfgetospeed returns; that function has no
        // static glibc symbol to link against).
        t.c_cflag & libc::CBAUD
    };
    Some(match speed {
        libc::B9600 => 9600,
        libc::B19200 => 19200,
        libc::B38400 => 38400,
        libc::B57600 => 57600,
        libc::B115200 => 115200,
        libc::B230400 => 230400,
        libc::B460800 => 460800,
        libc::B921600 => 921600,
        libc::B1500000 => 1500000,
        _ => return None,
    })
}

impl ConsoleEnv {
    /// Reads leapboot's consoles (the `console` setting, else
    /// `/sys/class/tty/console/active`), their options from `/proc/cmdline`, and serial
    /// port addresses from `/sys/class/tty`.
    pub fn probe(settings: &Settings) -> ConsoleEnv {
        let firmware = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let names: Vec<String> = match settings.console.as_deref() {
            Some(n) if !n.is_empty() => n.to_vec(),
            _ => read_trim("/sys/class/tty/console/active")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        };
        let sys = |name: &str, attr: &str| read_trim(&format!("/sys/class/tty/{name}/{attr}"));
        let uart = |name: &str| -> Option<Uart> {
            let io_type: u32 = sys(name, "io_type")?.parse().ok()?;
            let (access, addr) = match io_type {
                0 => ("io", parse_hex(&sys(name, "port")?)?),
                2 => ("mmio", parse_hex(&sys(name, "iomem_base")?)?),
                3 => ("mmio32", parse_hex(&sys(name, "iomem_base")?)?),
                6 => ("mmio32be", parse_hex(&sys(name, "iomem_base")?)?),
                7 => ("mmio16", parse_hex(&sys(name, "iomem_base")?)?),
                _ => return None,
            };
            (addr != 0).then_some(Uart { access, addr })
        };
        let consoles = names
            .iter()
            .map(|n| ConsoleUse {
                name: n.clone(),
                options: None,
                uart: if n.starts_with("ttyS") { uart(n) } else { None },
            })
            .collect();
        let mut env = ConsoleEnv::from_cmdline(&firmware, consoles);
        for c in &mut env.consoles {
            if c.options.is_none() && c.name.starts_with("ttyS") {
                c.options = tty_speed(&c.name).map(|s| s.to_string());
            }
        }
        env
    }

    /// Fills in options and order from a firmware command line (pure; see [`probe`](ConsoleEnv::probe)).
    pub fn from_cmdline(firmware_cmdline: &str, mut consoles: Vec<ConsoleUse>) -> ConsoleEnv {
        let params = split_cmdline(firmware_cmdline);
        let named: Vec<(String, Option<String>)> = params
            .iter()
            .filter_map(|p| p.strip_prefix("console="))
            .map(|v| match v.split_once(',') {
                Some((n, o)) => (n.to_string(), Some(o.to_string())),
                None => (v.to_string(), None),
            })
            .collect();
        for c in &mut consoles {
            if let Some((_, o)) = named.iter().rev().find(|(n, _)| *n == c.name) {
                c.options.clone_from(o);
            }
        }
        // Keep the firmware's console= order: the last one becomes /dev/console.
        consoles.sort_by_key(|c| named.iter().rposition(|(n, _)| *n == c.name));
        let firmware_early = params
            .iter()
            .rev()
            .find(|p| p.starts_with("earlycon=") || p.starts_with("earlyprintk="))
            .cloned();
        ConsoleEnv {
            consoles,
            firmware_early,
        }
    }
}

fn has_param(cmdline: &str, key: &str) -> bool {
    split_cmdline(cmdline)
        .iter()
        .any(|p| p.split_once('=').map_or(p.as_str(), |(k, _)| k) == key)
}

/// What a debug boot adds to `cmdline` so the new kernel's early boot shows on
/// leapboot's consoles; each only when `cmdline` does not already set it, in this
/// order (early parameters take effect in command-line order, and the early console
/// replays what was logged before it only at the log level in force then):
/// - `ignore_loglevel`: every message, whatever `loglevel=`/`quiet` say;
/// - `earlycon=uart8250,<io|mmio..>,<addr>,<options>` for the first serial console whose
///   registers are known (or the firmware kernel's own `earlycon=`/`earlyprintk=`, or
///   `earlyprintk=serial,ttySN,<speed>` for ttyS0/ttyS1), so messages appear before the
///   console driver starts;
/// - `console=` for each of leapboot's consoles, when the entry names no console;
/// - `keep_bootcon` (the early console keeps printing after the real one starts) and
///   `printk.devkmsg=on` (user-space `/dev/kmsg` writes are not rate-limited away).
pub fn debug_params(cmdline: &str, env: &ConsoleEnv) -> Vec<String> {
    let mut out = Vec::new();
    if !has_param(cmdline, "ignore_loglevel") {
        out.push("ignore_loglevel".to_string());
    }
    let serial = env.consoles.iter().find(|c| c.name.starts_with("ttyS"));
    if !has_param(cmdline, "earlycon") && !has_param(cmdline, "earlyprintk") {
        let opts = |c: &ConsoleUse| c.options.clone().unwrap_or_else(|| "115200".into());
        if let Some(e) = &env.firmware_early {
            out.push(e.clone());
        } else if let Some(c) = serial {
            match &c.uart {
                Some(u) => out.push(format!(
                    "earlycon=uart8250,{},{:#x},{}",
                    u.access,
                    u.addr,
                    opts(c)
                )),
                None if c.name == "ttyS0" || c.name == "ttyS1" => {
                    let speed: String = opts(c).chars().take_while(char::is_ascii_digit).collect();
                    out.push(format!("earlyprintk=serial,{},{speed}", c.name));
                }
                None => {}
            }
        }
    }
    if !has_param(cmdline, "console") {
        for c in &env.consoles {
            match &c.options {
                Some(o) => out.push(format!("console={},{o}", c.name)),
                None => out.push(format!("console={}", c.name)),
            }
        }
    }
    for (key, param) in [
        ("keep_bootcon", "keep_bootcon"),
        ("printk.devkmsg", "printk.devkmsg=on"),
    ] {
        if !has_param(cmdline, key) {
            out.push(param.to_string());
        }
    }
    out
}

/// Finds the volume an entry's files live on: by filesystem UUID, else device name.
pub fn find_volume<'a>(entry: &Entry, volumes: &'a [Volume]) -> Option<&'a Volume> {
    volumes
        .iter()
        .find(|v| {
            entry.volume.uuid.is_some()
                && v.info.uuid == entry.volume.uuid
                && v.info.device == entry.volume.device
        })
        .or_else(|| {
            volumes
                .iter()
                .find(|v| entry.volume.uuid.is_some() && v.info.uuid == entry.volume.uuid)
        })
        .or_else(|| {
            volumes
                .iter()
                .find(|v| v.info.device == entry.volume.device)
        })
}

fn volume_name(entry: &Entry) -> String {
    match &entry.volume.uuid {
        Some(u) => format!("{} (UUID={u})", entry.volume.device),
        None => entry.volume.device.clone(),
    }
}

/// The order headless boots try entries in: the chosen one, then GRUB's `fallback`
/// indexes, then every other entry in menu order starting after the chosen one and
/// wrapping around; each index once.
pub fn fallback_order(entries: usize, chosen: usize, grub_fallbacks: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::new();
    let mut push = |i: usize| {
        if i < entries && !order.contains(&i) {
            order.push(i);
        }
    };
    push(chosen);
    for &i in grub_fallbacks {
        push(i);
    }
    for k in 1..=entries {
        push((chosen + k) % entries.max(1));
    }
    order
}

/// Headless boot: tries the chosen entry, then the fallbacks ([`fallback_order`]), each
/// with a full handoff report, and returns every report when none started (the caller
/// then waits in the menu). Entries listed as not bootable are skipped with a report
/// line saying why. Returns only on failure.
pub fn boot_with_fallback(
    menu: &Menu,
    chosen: usize,
    settings: &Settings,
    opts: &BootOptions,
) -> Vec<Report> {
    report::end(Phase::Menu);
    let order = fallback_order(menu.entries.len(), chosen, &menu.fallbacks);
    let total = order.len();
    let mut reports = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        let Some(entry) = menu.entries.get(i) else {
            continue;
        };
        if n > 0 {
            crate::log!(
                Area::Kexec,
                "fallback: trying entry {i} '{}' ({} of {total})",
                entry.id,
                n + 1
            );
        }
        let opts = BootOptions {
            env_writes: menu.env_writes_for(i).to_vec(),
            ..opts.clone()
        };
        let (r, err) = attempt(entry, settings, &opts, (n + 1, total));
        crate::log!(Area::Kexec, "boot failed: {err}");
        reports.push(r);
    }
    crate::log!(
        Area::Kexec,
        "no entry could be booted ({} attempt{}); staying in the menu. Reports:",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    for r in &reports {
        crate::log!(Area::Kexec, "  {}", r.summary());
    }
    reports
}

/// PID 1's boot of one entry: reopens its volume, prepares and executes the handoff.
/// Returns only on failure; the report is kept in [`report::history`].
pub fn boot_entry(entry: &Entry, settings: &Settings, opts: &BootOptions) -> BootError {
    report::end(Phase::Menu);
    attempt(entry, settings, opts, (1, 1)).1
}

/// One attempt as PID 1, with its report.
fn attempt(
    entry: &Entry,
    settings: &Settings,
    opts: &BootOptions,
    n: (usize, usize),
) -> (Report, BootError) {
    let started = Instant::now();
    let mut r = Report::new(&entry.id, n);
    crate::log!(Area::Kexec, "booting '{}'", entry.id);
    let err = match check_bootable(entry, &mut r) {
        Err(e) => e,
        Ok(()) => match crate::discovery::reopen_volume(entry) {
            None => {
                let volume = volume_name(entry);
                header(entry, None, &mut r);
                r.line(format!(
                    "volume {volume} is not present; is the disk attached?"
                ));
                r.fail(
                    Outcome::Unreadable,
                    format!("volume {volume} is not present"),
                );
                BootError::NoVolume {
                    id: entry.id.clone(),
                    volume,
                }
            }
            Some(vol) => {
                match prepare_into(
                    entry,
                    std::slice::from_ref(&vol),
                    settings,
                    opts,
                    r,
                    started,
                ) {
                    Ok(h) => {
                        crate::volume::envwrite::apply_all(&opts.env_writes);
                        let (rep, e) = execute_counted_report(h, entry, &vol);
                        r = rep;
                        e
                    }
                    Err(failed) => {
                        let (rep, e) = *failed;
                        r = rep;
                        e
                    }
                }
            }
        },
    };
    r.line(format!("end of report for '{}'", entry.id));
    report::keep(&r);
    (r, err)
}

/// An entry listed with a problem is not read at all.
fn check_bootable(entry: &Entry, r: &mut Report) -> Result<(), BootError> {
    let Some(p) = &entry.problem else {
        return Ok(());
    };
    header(entry, None, r);
    r.line(format!(
        "entry '{}' is not bootable: {p}; skipped",
        entry.id
    ));
    r.fail(Outcome::Skipped, p.clone());
    Err(BootError::NotBootable {
        id: entry.id.clone(),
        problem: p.clone(),
    })
}

fn header(entry: &Entry, vol: Option<&Volume>, r: &mut Report) {
    let (n, of) = r.attempt;
    r.line(format!("report for '{}' (attempt {n} of {of})", entry.id));
    r.line(format!(
        "entry '{}' \"{}\" ({}) from {}:{} on {}",
        entry.id,
        entry.title,
        entry.kind.as_str(),
        entry.source.file,
        entry.source.line,
        entry.volume.device
    ));
    if let Some(v) = vol {
        r.line(format!(
            "volume {} UUID={} LABEL={} ({})",
            v.info.device,
            v.info.uuid.as_deref().unwrap_or("-"),
            v.info.label.as_deref().unwrap_or("-"),
            v.info.fs_type
        ));
    }
}

/// Reads the entry's files, runs the pre-flight checks and logs the handoff report.
/// A failed check is an error: nothing is loaded.
pub fn prepare(
    entry: &Entry,
    volumes: &[Volume],
    settings: &Settings,
    opts: &BootOptions,
) -> Result<Handoff, BootError> {
    let r = Report::new(&entry.id, (1, 1));
    if let Some(p) = &entry.problem {
        return Err(BootError::NotBootable {
            id: entry.id.clone(),
            problem: p.clone(),
        });
    }
    prepare_into(entry, volumes, settings, opts, r, Instant::now()).map_err(|b| b.1)
}

fn read_failure(
    r: &mut Report,
    id: &str,
    what: &'static str,
    path: &str,
    vol: &Volume,
    source: FsError,
) -> BootError {
    if source.is_not_found() {
        r.line(format!(
            "{what} {path} is missing from {} (UUID={}): the entry is not bootable",
            vol.info.device,
            vol.info.uuid.as_deref().unwrap_or("-")
        ));
        r.fail(
            Outcome::Unreadable,
            format!("{what} {path} is missing from {}", vol.info.device),
        );
    } else {
        r.line(format!(
            "cannot read {what} {path} from {}: {source}",
            vol.info.device
        ));
        r.fail(
            Outcome::Unreadable,
            format!("cannot read {what} {path}: {source}"),
        );
    }
    BootError::Read {
        id: id.to_string(),
        what,
        device: vol.info.device.clone(),
        source,
    }
}

type Prepared = Result<Handoff, Box<(Report, BootError)>>;

fn prepare_into(
    entry: &Entry,
    volumes: &[Volume],
    settings: &Settings,
    opts: &BootOptions,
    mut r: Report,
    started: Instant,
) -> Prepared {
    let id = entry.id.clone();
    let Some(vol) = find_volume(entry, volumes) else {
        let volume = volume_name(entry);
        header(entry, None, &mut r);
        r.line(format!("volume {volume} is not present"));
        r.fail(
            Outcome::Unreadable,
            format!("volume {volume} is not present"),
        );
        return Err(Box::new((r, BootError::NoVolume { id, volume })));
    };
    header(entry, Some(vol), &mut r);

    // A unified kernel image carries the kernel and initrd as PE sections.
    let uki = entry.uki.as_ref();
    let kernel_path = match uki.and_then(|u| u.linux.as_ref()) {
        Some(_) => format!("{}:.linux", entry.kernel),
        None => entry.kernel.clone(),
    };
    let kernel = match uki.and_then(|u| u.linux.as_ref()) {
        Some(s) if s.size > MAX_KERNEL_BYTES => Err(FsError::TooLarge {
            path: kernel_path.clone(),
            size: s.size,
            limit: MAX_KERNEL_BYTES,
        }),
        Some(s) => vol.fs.read_range(&entry.kernel, s.offset, s.size),
        None => vol.fs.read(&entry.kernel, MAX_KERNEL_BYTES),
    };
    let kernel = match kernel {
        Ok(k) => k,
        Err(e) => {
            let err = read_failure(&mut r, &id, "kernel", &kernel_path, vol, e);
            return Err(Box::new((r, err)));
        }
    };
    r.line(format!(
        "kernel {kernel_path} ({} bytes, {}) sha256 {}",
        kernel.len(),
        size(kernel.len() as u64),
        report::sha256_hex(&kernel)
    ));

    // Initrds: each read whole and appended 4-byte aligned (each cpio archive starts
    // aligned; the kernel unpacks them one after another); `parts` keeps where each is.
    let mut initrd: Vec<u8> = Vec::new();
    let mut parts: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let mut total: u64 = 0;
    let mut append = |initrd: &mut Vec<u8>, path: String, d: Vec<u8>| {
        while !initrd.len().is_multiple_of(4) {
            initrd.push(0);
        }
        let start = initrd.len();
        initrd.extend_from_slice(&d);
        parts.push((path, start..initrd.len()));
    };
    if let Some(s) = uki.and_then(|u| u.initrd.as_ref()) {
        if s.size > MAX_INITRD_BYTES {
            r.line(format!(
                "initrd {}:.initrd is larger than {}",
                entry.kernel,
                size(MAX_INITRD_BYTES)
            ));
            r.fail(Outcome::Unreadable, "initrds too large");
            return Err(Box::new((r, BootError::InitrdsTooLarge { id })));
        }
        match vol.fs.read_range(&entry.kernel, s.offset, s.size) {
            Ok(d) => {
                total += d.len() as u64;
                append(&mut initrd, format!("{}:.initrd", entry.kernel), d);
            }
            Err(e) => {
                let p = format!("{}:.initrd", entry.kernel);
                let err = read_failure(&mut r, &id, "initrd", &p, vol, e);
                return Err(Box::new((r, err)));
            }
        }
    }
    for path in &entry.initrds {
        match vol.fs.read(path, MAX_INITRD_BYTES.saturating_sub(total)) {
            Ok(d) => {
                total += d.len() as u64;
                append(&mut initrd, path.clone(), d);
            }
            Err(FsError::TooLarge { .. }) => {
                r.line(format!(
                    "initrd {path}: the initrds together are larger than {}",
                    size(MAX_INITRD_BYTES)
                ));
                r.fail(Outcome::Unreadable, "initrds too large");
                return Err(Box::new((r, BootError::InitrdsTooLarge { id })));
            }
            Err(e) => {
                let err = read_failure(&mut r, &id, "initrd", path, vol, e);
                return Err(Box::new((r, err)));
            }
        }
    }

    let consoles = if is_debug(settings, opts) {
        ConsoleEnv::probe(settings)
    } else {
        ConsoleEnv::default()
    };
    let cmdline = handoff_cmdline(entry, settings, opts, &consoles);
    let views: Vec<(String, &[u8])> = parts
        .iter()
        .map(|(p, r)| (p.clone(), initrd.get(r.clone()).unwrap_or_default()))
        .collect();
    let mem = preflight::mem_available();
    let pf = preflight::run(&preflight::Inputs {
        kernel_path: &kernel_path,
        kernel: &kernel,
        initrds: &views,
        cmdline: &cmdline,
        mem_available: mem,
    });

    // What the kernel file is: its own version string and boot protocol.
    match pf.kernel.bzimage() {
        Some(b) => {
            r.line(format!(
                "kernel version: {}",
                b.version_string.as_deref().unwrap_or("(no version string)")
            ));
            r.line(format!("kernel image: {}", b.describe()));
        }
        None => r.line(format!("kernel image: {}", pf.kernel.describe())),
    }
    for ((path, data), f) in views.iter().zip(&pf.initrd_formats) {
        r.line(format!(
            "initrd {path} ({} bytes, {}) {} sha256 {}",
            data.len(),
            size(data.len() as u64),
            f.describe(),
            report::sha256_hex(data)
        ));
    }
    if parts.is_empty() {
        r.line("no initrd");
    }
    r.line(format!(
        "command line ({} bytes{}): {cmdline}",
        cmdline.len(),
        pf.cmdline_limit
            .map(|l| format!(" of at most {l}"))
            .unwrap_or_default()
    ));
    if is_debug(settings, opts) {
        let added = debug_params(&base_cmdline(entry, settings, opts), &consoles);
        r.line(format!(
            "debug boot: added {}",
            if added.is_empty() {
                "nothing (already set)".to_string()
            } else {
                added.join(" ")
            }
        ));
    }

    let flags = kexec::load_flags(!initrd.is_empty());
    r.line(format!(
        "syscall: kexec_file_load(kernel memfd {} bytes, {}, cmdline_len {}, flags {}), then reboot(LINUX_REBOOT_CMD_KEXEC)",
        kernel.len(),
        if initrd.is_empty() {
            "no initrd fd".to_string()
        } else {
            format!("initrd memfd {} bytes", initrd.len())
        },
        cmdline.len() + 1,
        kexec::flag_names(flags)
    ));

    let bz = pf.kernel.bzimage();
    let situation = Situation {
        kernel_signed: bz.map(|b| b.signature_size.is_some()),
        image_problems: bz.map(|b| b.kexec_problems()).unwrap_or_default(),
        image: Some(pf.kernel.describe()),
        cmdline_len: cmdline.len(),
        cmdline_limit: pf.cmdline_limit,
        kernel_len: kernel.len() as u64,
        initrd_len: initrd.len() as u64,
        init_size: bz.and_then(|b| b.header.init_size),
        mem_available: mem,
        ..Situation::default()
    }
    .probe_system();
    r.line(format!(
        "system: lockdown {}, kexec_load_disabled {}, kernel {}",
        situation.lockdown.as_deref().unwrap_or("unknown"),
        match situation.kexec_load_disabled {
            Some(true) => "1",
            Some(false) => "0",
            None => "unknown",
        },
        match situation.kernel_signed {
            Some(true) => "signed",
            Some(false) => "unsigned",
            None => "not a PE image",
        }
    ));
    if let Some(m) = pf
        .checks
        .iter()
        .find(|c| c.subject == "memory" && c.status == Status::Ok)
    {
        r.line(format!("memory: {}", m.message));
    }
    for c in &pf.checks {
        match c.status {
            Status::Ok => {}
            Status::Warning => r.line(format!("check warning: {}: {}", c.subject, c.message)),
            Status::Fail => r.line(format!("check failed: {}", c.message)),
        }
        if c.status != Status::Ok
            && let Some(remedy) = &c.remedy
        {
            r.line(format!("remedy: {remedy}"));
        }
    }
    r.line(format!(
        "checks: {}",
        pf.checks
            .iter()
            .map(|c| format!(
                "{} {}",
                c.subject,
                match c.status {
                    Status::Ok => "ok",
                    Status::Warning => "warning",
                    Status::Fail => "FAILED",
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report::set(Phase::Load, started.elapsed());
    r.line(format!("phases: {}", report::phase_times().line()));

    if !pf.passed() {
        let failures: Vec<String> = pf.failures().iter().map(|c| c.message.clone()).collect();
        r.line(format!("not loading '{id}': a pre-flight check failed"));
        r.fail(Outcome::CheckFailed, failures.join("; "));
        return Err(Box::new((r, BootError::Preflight { id, failures })));
    }
    Ok(Handoff {
        id,
        summary: r.lines.clone(),
        kernel,
        initrd,
        cmdline,
        report: r,
        preflight: pf,
        situation,
    })
}

/// Loads with `kexec_file_load`; on failure adds the decoded error and the kernel's
/// own kexec messages to the report.
fn load_reported(h: &mut Handoff) -> Result<(), BootError> {
    let t = Instant::now();
    let mut kmsg = KmsgWatch::start();
    match kexec::load(&h.kernel, &h.initrd, &h.cmdline) {
        Ok(()) => {
            h.report.line(format!(
                "loaded '{}' in {} ms",
                h.id,
                t.elapsed().as_millis()
            ));
            Ok(())
        }
        Err(KexecError::Load { errno }) => {
            let d = kexec::decode_load_error(errno, &h.situation);
            h.report.line(format!(
                "kexec_file_load failed: {} ({})",
                d.name,
                std::io::Error::from_raw_os_error(errno)
            ));
            h.report.line(format!("cause: {}", d.cause));
            h.report.line(format!("remedy: {}", d.remedy));
            for l in kmsg.kexec_lines(KMSG_LINES) {
                h.report.line(format!("kernel said: {l}"));
            }
            h.report
                .fail(Outcome::LoadFailed, format!("{}: {}", d.name, d.cause));
            Err(BootError::Load {
                id: h.id.clone(),
                decoded: d,
            })
        }
        Err(source) => {
            h.report.line(format!("{source}"));
            h.report.fail(Outcome::LoadFailed, source.to_string());
            Err(BootError::Kexec {
                id: h.id.clone(),
                source,
            })
        }
    }
}

fn jump(h: &mut Handoff) -> BootError {
    h.report.line(format!(
        "end of report for '{}': starting the new kernel",
        h.id
    ));
    let source = kexec::exec();
    kexec::unload();
    h.report.line(format!("{source}"));
    h.report.fail(Outcome::ExecFailed, source.to_string());
    BootError::Kexec {
        id: h.id.clone(),
        source,
    }
}

/// Loads the handoff with `kexec_file_load` and jumps. Returns only on failure.
pub fn execute(h: &Handoff) -> BootError {
    execute_owned(&mut h.clone())
}

fn execute_owned(h: &mut Handoff) -> BootError {
    if let Err(e) = load_reported(h) {
        return e;
    }
    jump(h)
}

/// [`execute`], renaming a counted BLS entry (one try used) after the kernel loaded
/// and before jumping to it, so a failed load does not use up a try.
pub fn execute_counted(h: &Handoff, entry: &Entry, vol: &Volume) -> BootError {
    execute_counted_report(h.clone(), entry, vol).1
}

fn execute_counted_report(mut h: Handoff, entry: &Entry, vol: &Volume) -> (Report, BootError) {
    let Some((old, new)) = leapboot_menus::bls::counter::rename_for_boot(entry) else {
        let e = execute_owned(&mut h);
        return (h.report, e);
    };
    if let Err(e) = load_reported(&mut h) {
        return (h.report, e);
    }
    match crate::volume::counting::rename(vol, &old, &new) {
        Ok(()) => h.report.line(format!(
            "boot counting: renamed {old} to {new} on {}",
            vol.info.device
        )),
        Err(e) => h.report.line(format!(
            "boot counting: cannot rename {old} to {new}: {e}; booting anyway"
        )),
    }
    let e = jump(&mut h);
    (h.report, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_order_chosen_grub_then_wrap() {
        assert_eq!(fallback_order(4, 1, &[]), [1, 2, 3, 0]);
        assert_eq!(fallback_order(4, 1, &[3, 3, 9]), [1, 3, 2, 0]);
        assert_eq!(fallback_order(0, 0, &[]), Vec::<usize>::new());
        assert_eq!(fallback_order(1, 0, &[]), [0]);
    }

    #[test]
    fn entry_param_quotes_blanks() {
        assert_eq!(entry_param("debian-6.1"), "leapboot.entry=debian-6.1");
        assert_eq!(
            entry_param("Advanced options>Debian \"x\""),
            "leapboot.entry=\"Advanced options>Debian x\""
        );
    }

    fn serial_env() -> ConsoleEnv {
        ConsoleEnv::from_cmdline(
            "console=tty0 console=ttyS0,115200n8 quiet",
            vec![
                ConsoleUse {
                    name: "ttyS0".into(),
                    options: None,
                    uart: Some(Uart {
                        access: "io",
                        addr: 0x3f8,
                    }),
                },
                ConsoleUse {
                    name: "tty0".into(),
                    options: None,
                    uart: None,
                },
            ],
        )
    }

    #[test]
    fn debug_params_for_serial() {
        let env = serial_env();
        assert_eq!(env.consoles[0].name, "tty0");
        assert_eq!(env.consoles[1].options.as_deref(), Some("115200n8"));
        assert_eq!(
            debug_params("root=/dev/sda1 quiet", &env),
            [
                "ignore_loglevel",
                "earlycon=uart8250,io,0x3f8,115200n8",
                "console=tty0",
                "console=ttyS0,115200n8",
                "keep_bootcon",
                "printk.devkmsg=on"
            ]
        );
        // What the entry sets already is not added again.
        assert_eq!(
            debug_params(
                "console=ttyS1 earlyprintk=vga keep_bootcon printk.devkmsg=ratelimit",
                &env
            ),
            ["ignore_loglevel"]
        );
    }

    #[test]
    fn debug_params_reuse_firmware_early_console_and_fall_back_to_earlyprintk() {
        let env = ConsoleEnv::from_cmdline(
            "console=ttyS0 earlycon=uart8250,mmio32,0xfe215040,115200",
            vec![ConsoleUse {
                name: "ttyS0".into(),
                options: Some("9600".into()),
                uart: None,
            }],
        );
        assert_eq!(
            debug_params("", &env)[1],
            "earlycon=uart8250,mmio32,0xfe215040,115200"
        );
        let env = ConsoleEnv {
            consoles: vec![ConsoleUse {
                name: "ttyS1".into(),
                options: Some("57600n8".into()),
                uart: None,
            }],
            firmware_early: None,
        };
        assert_eq!(debug_params("", &env)[1], "earlyprintk=serial,ttyS1,57600");
    }
}
