//! The console + kmsg logger (the line format is in `docs/log.md`).
//!
//! Every line is `[SSSSS.UUUUUU] leapboot: AREA: message`, stamped with
//! CLOCK_BOOTTIME, the clock printk uses, so leapboot's lines and the kernel's sort
//! together. Lines go to every console sink (each active console as PID 1, stderr
//! on a host) and to `/dev/kmsg` at debug level (7), so the kernel does not echo
//! them a second time on a console with the default log level. The last lines are
//! kept in memory for the log viewer and the handoff report. Nothing is printed until
//! asked ([`set_stderr`], [`set_consoles`]).

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

/// Log areas (`docs/log.md`, "Areas").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// PID 1 duties, settings.
    Init,
    /// Kernel modules.
    Modules,
    /// Block devices and partition tables.
    Disk,
    /// Filesystems.
    Volume,
    /// Config sources and entries.
    Config,
    /// The menu and countdown.
    Menu,
    /// Loading and executing the new kernel.
    Kexec,
    /// Host-mode kexec reboots.
    Reboot,
}

impl Area {
    /// Name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Init => "init",
            Area::Modules => "modules",
            Area::Disk => "disk",
            Area::Volume => "volume",
            Area::Config => "config",
            Area::Menu => "menu",
            Area::Kexec => "kexec",
            Area::Reboot => "reboot",
        }
    }
}

/// Most lines kept in memory.
const KEEP: usize = 4096;

struct Logger {
    sinks: Vec<File>,
    stderr: bool,
    kmsg: Option<File>,
    lines: VecDeque<String>,
    /// While the full-screen menu is drawn: lines kept back from the consoles.
    held: Option<Vec<String>>,
}

impl Logger {
    /// The logger before anyone set it up: lines are kept in memory only.
    const fn new() -> Logger {
        Logger {
            sinks: Vec::new(),
            stderr: false,
            kmsg: None,
            lines: VecDeque::new(),
            held: None,
        }
    }
}

static LOGGER: Mutex<Logger> = Mutex::new(Logger::new());

fn lock() -> std::sync::MutexGuard<'static, Logger> {
    // A panic while logging must not silence every later line.
    LOGGER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds and microseconds of CLOCK_BOOTTIME.
pub fn boottime() -> (u64, u32) {
    let t = crate::sys::system::boottime();
    (t.as_secs(), t.subsec_micros())
}

/// Formats a CLOCK_BOOTTIME stamp as printk does.
pub fn stamp() -> String {
    let (s, us) = boottime();
    format!("[{s:5}.{us:06}]")
}

/// Sends lines to these console files instead of stderr (PID 1), and to `/dev/kmsg`.
pub fn set_consoles(consoles: Vec<File>, kmsg: bool) {
    let mut l = lock();
    l.stderr = consoles.is_empty();
    l.sinks = consoles;
    l.kmsg = if kmsg {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/kmsg")
            .ok()
    } else {
        None
    };
}

/// Whether log lines go to stderr while no console is set: off until asked (the
/// host commands' `-v`, PID 1 before its consoles are open), so the library is quiet
/// in tests and in other programs.
pub fn set_stderr(on: bool) {
    let mut l = lock();
    if l.sinks.is_empty() {
        l.stderr = on;
    }
}

/// Logs one line.
pub fn log(area: Area, args: fmt::Arguments<'_>) {
    // One call, one line: a newline or terminal control inside a title or path from a
    // disk is shown as an escape, never obeyed and never a forged line of its own.
    let msg = args.to_string();
    if msg.is_empty() {
        return;
    }
    let part = crate::printable::printable(&msg);
    let line = format!("{} leapboot: {}: {}", stamp(), area.as_str(), part);
    let mut l = lock();
    if let Some(held) = &mut l.held {
        if held.len() < KEEP {
            held.push(line.clone());
        }
    } else {
        if l.stderr {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        for sink in &mut l.sinks {
            // Consoles are raw ttys: end lines with CR LF.
            let _ = sink.write_all(format!("{line}\r\n").as_bytes());
        }
    }
    if let Some(k) = &mut l.kmsg {
        let _ = k.write_all(format!("<7>leapboot: {}: {}", area.as_str(), part).as_bytes());
    }
    if l.lines.len() >= KEEP {
        l.lines.pop_front();
    }
    l.lines.push_back(line);
}

/// While the full-screen menu is drawn (`true`), log lines still go to `/dev/kmsg`
/// and the in-memory log but not to the consoles, where they would scribble over
/// the menu. Releasing (`false`) writes the lines kept back, so the console record
/// stays complete.
pub fn hold_consoles(hold: bool) {
    let mut l = lock();
    if hold {
        if l.held.is_none() {
            l.held = Some(Vec::new());
        }
        return;
    }
    let Some(held) = l.held.take() else {
        return;
    };
    for line in held {
        if l.stderr {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        for sink in &mut l.sinks {
            let _ = sink.write_all(format!("{line}\r\n").as_bytes());
        }
    }
}

/// Writes text to the consoles without a log prefix (menus, prompts).
pub fn console(text: &str) {
    let mut l = lock();
    if l.held.is_some() {
        return;
    }
    if l.stderr {
        let _ = write!(std::io::stderr(), "{text}");
    }
    let crlf = text.replace('\n', "\r\n");
    for sink in &mut l.sinks {
        let _ = sink.write_all(crlf.as_bytes());
    }
}

/// Waits, at most `max`, until the consoles have sent everything written to them
/// (`TIOCOUTQ` reaches 0), so a serial line shows the last lines before a kexec jump
/// ends the running kernel. Bounded because a serial line with hardware flow control
/// and nothing attached never drains.
pub fn drain_consoles(max: std::time::Duration) {
    // Held throughout: nothing else writes meanwhile, and the files stay open.
    let l = lock();
    let end = std::time::Instant::now() + max;
    for f in &l.sinks {
        loop {
            let queued = crate::sys::tty::output_queue(f).unwrap_or(0);
            if queued == 0 || std::time::Instant::now() >= end {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    // What TIOCOUTQ counts excludes the UART's own FIFO (16 bytes: about 1.4 ms at 115200).
    std::thread::sleep(std::time::Duration::from_millis(10));
}

/// The lines logged so far (most recent last).
pub fn lines() -> Vec<String> {
    lock().lines.iter().cloned().collect()
}

/// Logs a line: `log!(Area::Disk, "{}: {}", dev, msg)`.
#[macro_export]
macro_rules! log {
    ($area:expr, $($arg:tt)*) => { $crate::log::log($area, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library prints nothing until asked (`-v` on a host, or PID 1), so a test
    /// run's output holds no log lines.
    #[test]
    fn quiet_until_asked() {
        assert!(!Logger::new().stderr);
    }
}
