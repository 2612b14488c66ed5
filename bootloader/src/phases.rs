//! The time PID 1 spends in each phase since it started, for the handoff report and
//! `scripts/bench`.
//!
//! Phases are marked with one-line calls where the work happens ([`add`], [`timer`],
//! [`begin`]/[`end`]): `init` for modules and the menu, `devices` for devices, scan
//! and parse, `handoff` for load. They accumulate over rescans, so a report says where
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
        let parse = t.phases.iter().find(|(p, _)| *p == Phase::Parse).unwrap().1;
        assert!(parse >= Duration::from_millis(12));
        assert!(t.line().contains("parse 0.0"), "{}", t.line());
    }
}
