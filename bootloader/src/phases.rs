//! The time PID 1 spends in each phase since it started, for the handoff report and
//! `scripts/bench`.
//!
//! Phases are marked with one-line calls where the work happens ([`add`], [`timer`],
//! [`begin`]/[`end`]): `init` for modules and the menu, `devices` for devices, scan
//! and parse, `handoff` for load. A rescan (`r` in the menu, or after a failed boot)
//! starts a pass of its own ([`rescan`]), so the report says where the time went since
//! PID 1 started, pass by pass: `menu 70.000 s; rescan 1: devices 0.310 s, ...`.

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

/// How many phases there are.
const N: usize = Phase::ALL.len();

#[derive(Debug)]
struct Phases {
    /// CLOCK_BOOTTIME when PID 1 started.
    pid1_start: Option<Duration>,
    /// The current pass: the first, or the last rescan's.
    total: [Duration; N],
    open: [Option<Instant>; N],
    /// The passes before each rescan, oldest first.
    earlier: Vec<[Duration; N]>,
}

impl Phases {
    const fn new() -> Phases {
        Phases {
            pid1_start: None,
            total: [Duration::ZERO; N],
            open: [None; N],
            earlier: Vec::new(),
        }
    }

    fn add(&mut self, phase: Phase, d: Duration) {
        let t = &mut self.total[phase.index()];
        *t = t.saturating_add(d);
    }

    fn set(&mut self, phase: Phase, d: Duration) {
        self.total[phase.index()] = d;
    }

    /// Starts `phase` at `at`, unless it is running already (the menu loop begins the
    /// menu phase on every redraw; the first start counts).
    fn begin_at(&mut self, phase: Phase, at: Instant) {
        self.open[phase.index()].get_or_insert(at);
    }

    fn end_at(&mut self, phase: Phase, at: Instant) {
        if let Some(t) = self.open[phase.index()].take() {
            self.add(phase, at.saturating_duration_since(t));
        }
    }

    /// Closes the current pass (ending any phase still running) and starts the next.
    fn rescan(&mut self) {
        let now = Instant::now();
        for ph in Phase::ALL {
            self.end_at(ph, now);
        }
        self.earlier
            .push(std::mem::replace(&mut self.total, [Duration::ZERO; N]));
    }

    fn times(&self, now: Duration) -> PhaseTimes {
        let pass = |t: &[Duration; N]| -> Vec<(Phase, Duration)> {
            Phase::ALL.iter().map(|&ph| (ph, t[ph.index()])).collect()
        };
        PhaseTimes {
            pid1_start: self.pid1_start,
            now,
            passes: self
                .earlier
                .iter()
                .chain(std::iter::once(&self.total))
                .map(pass)
                .collect(),
        }
    }
}

static PHASES: Mutex<Phases> = Mutex::new(Phases::new());

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
    phases().add(phase, d);
}

/// Replaces a phase's time (the load phase is per attempt).
pub fn set(phase: Phase, d: Duration) {
    phases().set(phase, d);
}

/// Starts timing a phase that [`end`] closes, perhaps in another module; nothing when
/// it is running already.
pub fn begin(phase: Phase) {
    phases().begin_at(phase, Instant::now());
}

/// Closes a phase [`begin`] opened; nothing when none is open.
pub fn end(phase: Phase) {
    phases().end_at(phase, Instant::now());
}

/// Devices are looked for again: what follows is timed as a pass of its own (the menu
/// shown until now keeps its time, and the new scan's times are not added to the old).
pub fn rescan() {
    phases().rescan();
}

/// Times a phase until the returned guard is dropped: `let _t = phases::timer(Phase::Scan);`.
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

/// Time per phase so far, pass by pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseTimes {
    /// CLOCK_BOOTTIME when PID 1 started (the firmware kernel's own boot before it),
    /// when known.
    pub pid1_start: Option<Duration>,
    /// CLOCK_BOOTTIME now.
    pub now: Duration,
    /// Each phase's total in each pass: the first, then one per rescan.
    pub passes: Vec<Vec<(Phase, Duration)>>,
}

/// The phases so far.
pub fn phase_times() -> PhaseTimes {
    let now = boottime();
    phases().times(now)
}

fn secs(d: Duration) -> String {
    format!("{}.{:03} s", d.as_secs(), d.subsec_millis())
}

impl PhaseTimes {
    /// One line: `kernel until PID 1 2.365 s, modules 0.112 s, ..., menu 0.000 s, load
    /// 0.221 s; 0.850 s since PID 1 started, 3.215 s since boot`, each rescan's pass
    /// after the first's as `; rescan 1: devices 0.310 s, ...`.
    pub fn line(&self) -> String {
        let pid1 = self.pid1_start.is_some();
        let last = self.passes.len().saturating_sub(1);
        let mut segments = Vec::new();
        for (i, pass) in self.passes.iter().enumerate() {
            let mut parts = Vec::new();
            if i == 0
                && let Some(s) = self.pid1_start
            {
                parts.push(format!("kernel until PID 1 {}", secs(s)));
            }
            for &(ph, d) in pass {
                // Outside PID 1 (host mode) only the phases that ran are worth a word;
                // in PID 1 the current pass names every phase it can have (modules
                // load once, a load belongs to the pass that booted).
                let named = match (i, ph) {
                    (0, Phase::Load) => i == last,
                    (0, _) => true,
                    (_, Phase::Modules) => false,
                    _ => i == last,
                };
                if !d.is_zero() || (pid1 && named) {
                    parts.push(format!("{} {}", ph.as_str(), secs(d)));
                }
            }
            match i {
                0 => segments.push(parts.join(", ")),
                _ if !parts.is_empty() => {
                    segments.push(format!("rescan {i}: {}", parts.join(", ")));
                }
                _ => {}
            }
        }
        let parts = segments.join("; ");
        let tail = match self.pid1_start {
            Some(s) => format!(
                "; {} since PID 1 started, {} since boot",
                secs(self.now.saturating_sub(s)),
                secs(self.now)
            ),
            None => format!("; {} since boot", secs(self.now)),
        };
        format!("{parts}{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_accumulate() {
        add(Phase::Parse, Duration::from_millis(5));
        add(Phase::Parse, Duration::from_millis(7));
        {
            let _t = timer(Phase::Scan);
        }
        let t = phase_times();
        let parse = t
            .passes
            .last()
            .unwrap()
            .iter()
            .find(|(p, _)| *p == Phase::Parse)
            .unwrap()
            .1;
        assert!(parse >= Duration::from_millis(12));
        assert!(t.line().contains("parse 0.0"), "{}", t.line());
    }

    /// A rescan (`r`) starts a pass of its own: its devices, scan and parse times are
    /// not added to the first pass's, the menu shown before it keeps its time, and the
    /// line says which pass each time belongs to.
    #[test]
    fn a_rescan_gets_its_own_phase_line() {
        let mut p = Phases::new();
        p.add(Phase::Modules, Duration::from_millis(600));
        p.add(Phase::Devices, Duration::from_millis(300));
        p.add(Phase::Scan, Duration::from_millis(30));
        p.add(Phase::Parse, Duration::from_millis(20));
        p.add(Phase::Menu, Duration::from_millis(70_000));
        p.rescan();
        p.add(Phase::Devices, Duration::from_millis(310));
        p.add(Phase::Scan, Duration::from_millis(31));
        p.add(Phase::Parse, Duration::from_millis(21));
        p.add(Phase::Menu, Duration::from_millis(7_789));
        p.set(Phase::Load, Duration::from_millis(221));
        p.pid1_start = Some(Duration::from_millis(2_365));
        let t = p.times(Duration::from_secs(81));
        assert_eq!(
            t.line(),
            "kernel until PID 1 2.365 s, modules 0.600 s, devices 0.300 s, scan 0.030 s, \
             parse 0.020 s, menu 70.000 s; rescan 1: devices 0.310 s, scan 0.031 s, \
             parse 0.021 s, menu 7.789 s, load 0.221 s; 78.635 s since PID 1 started, \
             81.000 s since boot"
        );
    }

    /// A phase begun twice (the menu drawn again after a redraw) keeps its first start.
    #[test]
    fn begin_twice_keeps_the_first_start() {
        let mut p = Phases::new();
        let start = Instant::now();
        p.begin_at(Phase::Menu, start);
        p.begin_at(Phase::Menu, start + Duration::from_secs(5));
        p.end_at(Phase::Menu, start + Duration::from_secs(7));
        assert_eq!(p.total[Phase::Menu.index()], Duration::from_secs(7));
    }
}
