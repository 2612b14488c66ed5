//! Handoff reports: what leapboot is about to boot (or why it did not), kept for the
//! menu's log viewer. Phase times come from [`crate::phases`].

use std::sync::Mutex;

static HISTORY: Mutex<Vec<Report>> = Mutex::new(Vec::new());

/// Most reports kept.
const KEEP_REPORTS: usize = 32;

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
}
