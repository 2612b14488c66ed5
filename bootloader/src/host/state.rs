//! What leapboot leaves behind, and `leapboot status`:
//!
//! - `/run/leapboot/loaded`: written when leapboot loads an image (entry, kernel, command
//!   line, when, by whom, the boot it was loaded in, the report's path), removed when it
//!   unloads or a load fails. An image that is loaded while this file is missing (or
//!   was written in another boot) was loaded by another tool.
//! - `/run/leapboot/firmware-reboot`: while it exists the unit loads nothing, so the next
//!   reboot goes through firmware and the boot loader (`leapboot reboot --firmware`
//!   makes it; `/run` is emptied at boot, so it holds for one reboot).
//! - `/var/log/leapboot/handoff-<time>.log` and `last-handoff.log`: the handoff report,
//!   written (and synced) before the jump, with a header naming the entry, the time
//!   and the boot it left; the newest [`KEEP_REPORTS`] are kept. The same lines go to
//!   the journal through `logger` (else `/dev/kmsg`).
//!
//! After a kexec boot the command line carries `leapboot.entry=`; `leapboot status`
//! finds the report of that handoff and says "this boot came by kexec from leapboot,
//! entry X, at T".

use super::SystemRoot;
use std::io::Write;
use std::path::{Path, PathBuf};

/// leapboot's runtime directory.
pub const RUN_DIR: &str = "/run/leapboot";
/// The state file of a loaded image.
pub const LOADED_FILE: &str = "/run/leapboot/loaded";
/// The marker that makes the next reboot a firmware reboot.
pub const FIRMWARE_MARKER: &str = "/run/leapboot/firmware-reboot";
/// Where handoff reports are kept.
pub const LOG_DIR: &str = "/var/log/leapboot";
/// The newest report, under [`LOG_DIR`].
pub const LAST_REPORT: &str = "last-handoff.log";
/// How many reports are kept.
pub const KEEP_REPORTS: usize = 10;

/// What `/run/leapboot/loaded` records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Entry id.
    pub entry: String,
    /// Entry title.
    pub title: String,
    /// `vda2:/boot/vmlinuz-6.1.0-50-amd64`.
    pub kernel: String,
    /// The command line handed over.
    pub cmdline: String,
    /// Seconds since the epoch.
    pub loaded_at: u64,
    /// `/proc/sys/kernel/random/boot_id` of the boot that loaded it.
    pub boot_id: String,
    /// `leapboot reboot (uid 0, pid 1234)`.
    pub by: String,
    /// The report's path.
    pub report: Option<String>,
}

/// One `key=value` per line; values hold no newline (they are made single-line).
fn kv(out: &mut String, k: &str, v: &str) {
    out.push_str(k);
    out.push('=');
    out.push_str(&v.replace('\n', " "));
    out.push('\n');
}

fn parse_kv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

impl Loaded {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        kv(&mut s, "entry", &self.entry);
        kv(&mut s, "title", &self.title);
        kv(&mut s, "kernel", &self.kernel);
        kv(&mut s, "cmdline", &self.cmdline);
        kv(&mut s, "loaded_at", &self.loaded_at.to_string());
        kv(&mut s, "boot_id", &self.boot_id);
        kv(&mut s, "by", &self.by);
        if let Some(r) = &self.report {
            kv(&mut s, "report", r);
        }
        s
    }

    /// Reads the file's text; `None` without an entry.
    pub fn parse(text: &str) -> Option<Loaded> {
        let mut l = Loaded::default();
        for (k, v) in parse_kv(text) {
            match k.as_str() {
                "entry" => l.entry = v,
                "title" => l.title = v,
                "kernel" => l.kernel = v,
                "cmdline" => l.cmdline = v,
                "loaded_at" => l.loaded_at = v.parse().unwrap_or(0),
                "boot_id" => l.boot_id = v,
                "by" => l.by = v,
                "report" => l.report = Some(v),
                _ => {}
            }
        }
        (!l.entry.is_empty()).then_some(l)
    }
}

/// The header of a persisted report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportHeader {
    /// Entry id.
    pub entry: String,
    /// Seconds since the epoch, when the report was written (just before the jump).
    pub time: u64,
    /// The boot the system left.
    pub boot_id: String,
}

/// The report file's text: a header, then the report's lines.
pub fn report_text(h: &ReportHeader, lines: &[String]) -> String {
    let mut s = String::from("# leapboot handoff report\n");
    kv(&mut s, "entry", &h.entry);
    kv(&mut s, "time", &h.time.to_string());
    kv(&mut s, "time_utc", &rfc3339(h.time));
    kv(&mut s, "boot_id", &h.boot_id);
    s.push('\n');
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// A report file's header (the `key=value` lines before the first blank line).
pub fn parse_report_header(text: &str) -> Option<ReportHeader> {
    let head = text.split("\n\n").next()?;
    let mut h = ReportHeader::default();
    for (k, v) in parse_kv(head) {
        match k.as_str() {
            "entry" => h.entry = v,
            "time" => h.time = v.parse().ok()?,
            "boot_id" => h.boot_id = v,
            _ => {}
        }
    }
    (!h.entry.is_empty()).then_some(h)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Seconds since the epoch as `2026-07-02T10:11:12Z`.
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This boot's id.
pub fn boot_id(sys: &SystemRoot) -> String {
    std::fs::read_to_string(sys.path("/proc/sys/kernel/random/boot_id"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// When this boot started (`btime` in `/proc/stat`), seconds since the epoch.
pub fn boot_time(sys: &SystemRoot) -> Option<u64> {
    std::fs::read_to_string(sys.path("/proc/stat"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Writes the state file (through a temporary file and a rename, so a reader never
/// sees half of it).
pub fn write_loaded(sys: &SystemRoot, l: &Loaded) -> std::io::Result<()> {
    let dir = sys.path(RUN_DIR);
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(".loaded.tmp");
    std::fs::write(&tmp, l.to_text())?;
    std::fs::rename(&tmp, sys.path(LOADED_FILE))
}

/// Reads the state file.
pub fn read_loaded(sys: &SystemRoot) -> Option<Loaded> {
    Loaded::parse(&std::fs::read_to_string(sys.path(LOADED_FILE)).ok()?)
}

/// Removes the state file (nothing of leapboot's is loaded any more).
pub fn clear_loaded(sys: &SystemRoot) {
    let _ = std::fs::remove_file(sys.path(LOADED_FILE));
}

/// Whether the firmware-reboot marker exists.
pub fn firmware_marker(sys: &SystemRoot) -> bool {
    sys.path(FIRMWARE_MARKER).exists()
}

/// Makes the firmware-reboot marker.
pub fn set_firmware_marker(sys: &SystemRoot) -> std::io::Result<()> {
    std::fs::create_dir_all(sys.path(RUN_DIR))?;
    std::fs::write(
        sys.path(FIRMWARE_MARKER),
        "the next reboot goes through firmware and the boot loader (leapboot's unit loads nothing)\n",
    )
}

/// Writes the report under [`LOG_DIR`] (synced, so it survives the jump), updates
/// [`LAST_REPORT`], and keeps the newest [`KEEP_REPORTS`]. Returns the report's path.
pub fn persist_report(
    sys: &SystemRoot,
    h: &ReportHeader,
    lines: &[String],
) -> std::io::Result<PathBuf> {
    let dir = sys.path(LOG_DIR);
    std::fs::create_dir_all(&dir)?;
    let stamp = rfc3339(h.time).replace([':', '-'], "");
    let name = format!("handoff-{stamp}.log");
    let path = dir.join(&name);
    let text = report_text(h, lines);
    write_synced(&path, &text)?;
    write_synced(&dir.join(LAST_REPORT), &text)?;
    prune(&dir);
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(PathBuf::from(LOG_DIR).join(name))
}

fn write_synced(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Removes all but the newest [`KEEP_REPORTS`] reports.
fn prune(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("handoff-") && n.ends_with(".log"))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(KEEP_REPORTS);
    for n in names.iter().take(excess) {
        let _ = std::fs::remove_file(dir.join(n));
    }
}

/// The newest report's header and path.
pub fn last_report(sys: &SystemRoot) -> Option<(ReportHeader, PathBuf)> {
    let p = sys.path(LOG_DIR).join(LAST_REPORT);
    let text = std::fs::read_to_string(&p).ok()?;
    parse_report_header(&text).map(|h| (h, PathBuf::from(LOG_DIR).join(LAST_REPORT)))
}

/// Sends the report's lines to the journal: `logger` (syslog, which journald reads;
/// no rate limit), else `/dev/kmsg` (which journald imports, at notice level; the
/// kernel limits the rate of such writes, so a long report may be cut).
pub fn journal(lines: &[String]) -> &'static str {
    let spawned = std::process::Command::new("logger")
        .args(["-t", "leapboot", "-p", "daemon.notice"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut child) = spawned {
        if let Some(mut stdin) = child.stdin.take() {
            for l in lines {
                let _ = writeln!(stdin, "{l}");
            }
        }
        if child.wait().is_ok_and(|s| s.success()) {
            return "journal (logger)";
        }
    }
    if let Ok(mut k) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        for l in lines {
            let _ = k.write_all(format!("<5>leapboot: {l}\n").as_bytes());
        }
        return "kernel log (/dev/kmsg)";
    }
    "nowhere (no logger, no /dev/kmsg)"
}

/// What `leapboot status` is told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusInputs {
    /// `/sys/kernel/kexec_loaded`.
    pub kexec_loaded: Option<bool>,
    /// The state file.
    pub loaded: Option<Loaded>,
    /// This boot's id.
    pub boot_id: String,
    /// `/proc/cmdline`.
    pub cmdline: String,
    /// The newest report, and its path.
    pub last_report: Option<(ReportHeader, String)>,
    /// When this boot started.
    pub boot_time: Option<u64>,
    /// Whether the firmware-reboot marker is set.
    pub firmware_marker: bool,
}

/// `leapboot status`'s lines.
pub fn status_lines(s: &StatusInputs) -> Vec<String> {
    let mut out = Vec::new();
    let ours = s
        .loaded
        .as_ref()
        .filter(|l| l.boot_id.is_empty() || l.boot_id == s.boot_id);
    match (s.kexec_loaded, ours) {
        (Some(true), Some(l)) => {
            out.push(format!(
                "loaded: '{}' \"{}\" by {} at {}",
                l.entry,
                l.title,
                l.by,
                rfc3339(l.loaded_at)
            ));
            out.push(format!("  kernel:  {}", l.kernel));
            out.push(format!("  cmdline: {}", l.cmdline));
            if let Some(r) = &l.report {
                out.push(format!("  report:  {r}"));
            }
            out.push("  the next kexec reboot (systemctl kexec, or a reboot with leapboot's unit) boots it".into());
        }
        (Some(true), None) => out.push(
            "loaded: an image loaded by another tool (kexec -l, systemctl kexec), not by leapboot; leapboot unload removes it".into(),
        ),
        (Some(false), Some(l)) => out.push(format!(
            "not loaded: leapboot loaded '{}' at {}, and it has since been unloaded",
            l.entry,
            rfc3339(l.loaded_at)
        )),
        (Some(false), None) => out.push("not loaded: no kexec image is loaded".into()),
        (None, _) => out.push(
            "unknown: /sys/kernel/kexec_loaded cannot be read (a kernel without kexec, or no sysfs)".into(),
        ),
    }
    if s.firmware_marker {
        out.push(format!(
            "the next reboot goes through firmware ({FIRMWARE_MARKER} is set)"
        ));
    }
    let entry = super::cmdline::param_value(&s.cmdline, "leapboot.entry");
    match (entry, &s.last_report) {
        (Some(e), Some((h, path)))
            if h.entry == e && s.boot_time.is_none_or(|b| h.time <= b.saturating_add(1)) =>
        {
            out.push(format!(
                "this boot came by kexec from leapboot, entry {e}, at {} (report: {path})",
                rfc3339(h.time)
            ));
        }
        (Some(e), _) => out.push(format!(
            "this boot came from leapboot (leapboot.entry={e} on the command line); no handoff report of it under {LOG_DIR} (booted by leapboot as firmware, or the report was not written)"
        )),
        (None, _) => out.push(
            "this boot did not come from leapboot (no leapboot.entry= on the command line)".into(),
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_782_994_272), "2026-07-02T12:11:12Z");
    }

    #[test]
    fn state_round_trip() {
        let l = Loaded {
            entry: "gnulinux-simple-1a57".into(),
            title: "Debian GNU/Linux".into(),
            kernel: "vda2:/boot/vmlinuz-6.1.0-50-amd64".into(),
            cmdline: "BOOT_IMAGE=/boot/vmlinuz root=UUID=1a57 ro\nquiet".into(),
            loaded_at: 1_782_994_272,
            boot_id: "b1".into(),
            by: "leapboot reboot (uid 0, pid 42)".into(),
            report: Some("/var/log/leapboot/handoff-x.log".into()),
        };
        let back = Loaded::parse(&l.to_text()).unwrap();
        assert_eq!(
            back.cmdline,
            "BOOT_IMAGE=/boot/vmlinuz root=UUID=1a57 ro quiet"
        );
        assert_eq!(back.entry, l.entry);
        assert_eq!(back.report, l.report);
        assert_eq!(Loaded::parse("junk\n"), None);
        let h = ReportHeader {
            entry: "x".into(),
            time: 5,
            boot_id: "b".into(),
        };
        let text = report_text(&h, &["a=b".into(), "line".into()]);
        assert_eq!(parse_report_header(&text), Some(h));
    }

    #[test]
    fn status_says_who_loaded_what() {
        let l = Loaded {
            entry: "e".into(),
            title: "E".into(),
            loaded_at: 0,
            boot_id: "now".into(),
            by: "leapboot load".into(),
            ..Loaded::default()
        };
        let mut s = StatusInputs {
            kexec_loaded: Some(true),
            loaded: Some(l.clone()),
            boot_id: "now".into(),
            ..StatusInputs::default()
        };
        assert!(status_lines(&s)[0].starts_with("loaded: 'e' \"E\" by leapboot load at 1970"));
        // Written in an earlier boot: not ours.
        s.boot_id = "later".into();
        assert!(status_lines(&s)[0].contains("another tool"));
        s.kexec_loaded = Some(false);
        assert_eq!(status_lines(&s)[0], "not loaded: no kexec image is loaded");
        s.boot_id = "now".into();
        assert!(status_lines(&s)[0].contains("since been unloaded"));
        s.kexec_loaded = None;
        assert!(status_lines(&s)[0].starts_with("unknown"));
    }

    #[test]
    fn status_after_a_kexec_boot() {
        let s = StatusInputs {
            kexec_loaded: Some(false),
            cmdline: "BOOT_IMAGE=/k ro leapboot.entry=gnulinux-simple-1a57".into(),
            last_report: Some((
                ReportHeader {
                    entry: "gnulinux-simple-1a57".into(),
                    time: 1_782_994_272,
                    boot_id: "old".into(),
                },
                "/var/log/leapboot/last-handoff.log".into(),
            )),
            boot_time: Some(1_782_994_280),
            ..StatusInputs::default()
        };
        let lines = status_lines(&s);
        assert_eq!(
            lines.last().unwrap(),
            "this boot came by kexec from leapboot, entry gnulinux-simple-1a57, at 2026-07-02T12:11:12Z (report: /var/log/leapboot/last-handoff.log)"
        );
        // A report about another entry, or written after this boot started.
        let mut other = s.clone();
        other.cmdline = "leapboot.entry=x".into();
        assert!(other_line(&other).contains("no handoff report"));
        let mut late = s.clone();
        late.boot_time = Some(1_000);
        assert!(other_line(&late).contains("no handoff report"));
        let mut plain = s;
        plain.cmdline = "ro".into();
        assert!(other_line(&plain).contains("did not come from leapboot"));
    }

    fn other_line(s: &StatusInputs) -> String {
        status_lines(s).last().cloned().unwrap_or_default()
    }
}
