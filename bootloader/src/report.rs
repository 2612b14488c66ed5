//! Handoff reports: what leapboot is about to boot (or why it did not), kept for the
//! menu's log viewer, and the time spent in each phase since PID 1 started.
//!
//! Phases are marked with one-line calls where the work happens ([`add`], [`timer`],
//! [`begin`]/[`end`]): `init` for modules and the menu, `discovery` for devices, scan
//! and parse, `boot` for load. They accumulate over rescans, so a report says where
//! the time went since PID 1 started.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A stretch of PID 1's work, in the order it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Loading kernel modules.
    Modules,
    /// Waiting for block devices to appear and settle.
    Devices,
    /// Reading partition tables and probing filesystems.
    Scan,
    /// Reading configs (BLS, GRUB, UKI) into entries.
    Parse,
    /// The menu: from being shown until an entry is chosen.
    Menu,
    /// Reading, checking and loading the chosen kernel (the current attempt).
    Load,
}

impl Phase {
    /// Every phase in order.
    pub const ALL: [Phase; 6] = [
        Phase::Modules,
        Phase::Devices,
        Phase::Scan,
        Phase::Parse,
        Phase::Menu,
        Phase::Load,
    ];

    /// Name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Modules => "modules",
            Phase::Devices => "devices",
            Phase::Scan => "scan",
            Phase::Parse => "parse",
            Phase::Menu => "menu",
            Phase::Load => "load",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug)]
struct Phases {
    /// CLOCK_BOOTTIME when PID 1 started.
    pid1_start: Option<Duration>,
    total: [Duration; 6],
    open: [Option<Instant>; 6],
}

static PHASES: Mutex<Phases> = Mutex::new(Phases {
    pid1_start: None,
    total: [Duration::ZERO; 6],
    open: [None; 6],
});

static HISTORY: Mutex<Vec<Report>> = Mutex::new(Vec::new());

/// Most reports kept.
const KEEP_REPORTS: usize = 32;

fn phases() -> std::sync::MutexGuard<'static, Phases> {
    PHASES.lock().unwrap_or_else(|p| p.into_inner())
}

fn boottime() -> Duration {
    let (s, us) = crate::log::boottime();
    Duration::from_secs(s) + Duration::from_micros(u64::from(us))
}

/// Records that PID 1 starts now (called first thing in `init::run`).
pub fn mark_pid1_start() {
    phases().pid1_start = Some(boottime());
}

/// Adds time spent in a phase.
pub fn add(phase: Phase, d: Duration) {
    let mut p = phases();
    let t = &mut p.total[phase.index()];
    *t = t.saturating_add(d);
}

/// Replaces a phase's time (the load phase is per attempt).
pub fn set(phase: Phase, d: Duration) {
    phases().total[phase.index()] = d;
}

/// Starts timing a phase that [`end`] closes, perhaps in another module.
pub fn begin(phase: Phase) {
    phases().open[phase.index()] = Some(Instant::now());
}

/// Closes a phase [`begin`] opened; nothing when none is open.
pub fn end(phase: Phase) {
    let mut p = phases();
    if let Some(t) = p.open[phase.index()].take() {
        let i = phase.index();
        p.total[i] = p.total[i].saturating_add(t.elapsed());
    }
}

/// Times a phase until the returned guard is dropped: `let _t = report::timer(Phase::Scan);`.
pub fn timer(phase: Phase) -> PhaseTimer {
    PhaseTimer {
        phase,
        start: Instant::now(),
    }
}

/// See [`timer`].
#[derive(Debug)]
pub struct PhaseTimer {
    phase: Phase,
    start: Instant,
}

impl Drop for PhaseTimer {
    fn drop(&mut self) {
        add(self.phase, self.start.elapsed());
    }
}

/// Time per phase so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseTimes {
    /// CLOCK_BOOTTIME when PID 1 started (the firmware kernel's own boot before it),
    /// when known.
    pub pid1_start: Option<Duration>,
    /// CLOCK_BOOTTIME now.
    pub now: Duration,
    /// Each phase's total.
    pub phases: Vec<(Phase, Duration)>,
}

/// The phases so far.
pub fn phase_times() -> PhaseTimes {
    let p = phases();
    PhaseTimes {
        pid1_start: p.pid1_start,
        now: boottime(),
        phases: Phase::ALL
            .iter()
            .map(|&ph| (ph, p.total[ph.index()]))
            .collect(),
    }
}

fn secs(d: Duration) -> String {
    format!("{}.{:03} s", d.as_secs(), d.subsec_millis())
}

impl PhaseTimes {
    /// One line: `firmware kernel 1.523 s, modules 0.112 s, ... ; since PID 1 started 0.850 s`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.pid1_start {
            parts.push(format!("kernel until PID 1 {}", secs(s)));
        }
        for (ph, d) in &self.phases {
            // Outside PID 1 (host mode) only the phases that ran are worth a word.
            if self.pid1_start.is_some() || !d.is_zero() {
                parts.push(format!("{} {}", ph.as_str(), secs(*d)));
            }
        }
        let tail = match self.pid1_start {
            Some(s) => format!(
                "; {} since PID 1 started, {} since boot",
                secs(self.now.saturating_sub(s)),
                secs(self.now)
            ),
            None => format!("; {} since boot", secs(self.now)),
        };
        format!("{}{tail}", parts.join(", "))
    }
}

/// Bytes in words: `8222656 bytes (7.8 MiB)`-style short form, `7.8 MiB`.
pub fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    if bytes >= GIB {
        format!("{}.{} GiB", bytes / GIB, (bytes % GIB) * 10 / GIB)
    } else if bytes >= MIB {
        format!("{}.{} MiB", bytes / MIB, (bytes % MIB) * 10 / MIB)
    } else if bytes >= KIB {
        format!("{}.{} KiB", bytes / KIB, (bytes % KIB) * 10 / KIB)
    } else {
        format!("{bytes} B")
    }
}

/// SHA-256 of `data` in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The entry says it cannot boot (listed with a problem); nothing was read.
    Skipped,
    /// Its volume or a file could not be read.
    Unreadable,
    /// A pre-flight check failed; nothing was loaded.
    CheckFailed,
    /// `kexec_file_load` failed.
    LoadFailed,
    /// The kernel loaded but the jump (`reboot`) returned.
    ExecFailed,
    /// Everything passed (a dry run, or a handoff about to happen).
    Ready,
}

impl Outcome {
    /// Words for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Skipped => "not bootable",
            Outcome::Unreadable => "cannot read",
            Outcome::CheckFailed => "pre-flight check failed",
            Outcome::LoadFailed => "kexec_file_load failed",
            Outcome::ExecFailed => "jump failed",
            Outcome::Ready => "ready",
        }
    }
}

/// One attempt's handoff report: every line as it was logged, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entry id.
    pub entry: String,
    /// 1-based attempt number within a fallback sequence, and how many are planned.
    pub attempt: (usize, usize),
    /// The report's lines (without the log prefix), in order.
    pub lines: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The reason, for a failure: the first failing check or the decoded error.
    pub reason: Option<String>,
}

impl Report {
    /// A new, empty report.
    pub fn new(entry: &str, attempt: (usize, usize)) -> Report {
        Report {
            entry: entry.to_string(),
            attempt,
            lines: Vec::new(),
            outcome: Outcome::Ready,
            reason: None,
        }
    }

    /// Logs a line (area `kexec`, prefixed `handoff: `) and keeps it.
    pub fn line(&mut self, text: impl Into<String>) {
        let text = text.into();
        crate::log!(crate::log::Area::Kexec, "handoff: {text}");
        self.lines.push(text);
    }

    /// Marks the report as failed with this reason (the details are already lines).
    pub fn fail(&mut self, outcome: Outcome, reason: impl Into<String>) {
        let reason = reason.into();
        self.outcome = outcome;
        self.reason = Some(reason);
    }

    /// One line: `attempt 1 of 3: 'id': pre-flight check failed: kernel ... truncated`.
    pub fn summary(&self) -> String {
        let (n, of) = self.attempt;
        match &self.reason {
            Some(r) => format!(
                "attempt {n} of {of}: '{}': {}: {r}",
                self.entry,
                self.outcome.as_str()
            ),
            None => format!(
                "attempt {n} of {of}: '{}': {}",
                self.entry,
                self.outcome.as_str()
            ),
        }
    }
}

/// Keeps a finished report for the menu's log viewer.
pub fn keep(report: &Report) {
    let mut h = HISTORY.lock().unwrap_or_else(|p| p.into_inner());
    if h.len() >= KEEP_REPORTS {
        h.remove(0);
    }
    h.push(report.clone());
}

/// Every report kept since PID 1 started (oldest first).
pub fn history() -> Vec<Report> {
    HISTORY.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(8222656), "7.8 MiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn sha256_of_abc() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn phases_accumulate() {
        add(Phase::Parse, Duration::from_millis(5));
        add(Phase::Parse, Duration::from_millis(7));
        {
            let _t = timer(Phase::Scan);
        }
        let t = phase_times();
        let parse = t.phases.iter().find(|(p, _)| *p == Phase::Parse).unwrap().1;
        assert!(parse >= Duration::from_millis(12));
        assert!(t.line().contains("parse 0.0"), "{}", t.line());
    }
}
