//! Consoles as PID 1 sees them, and the plain-text chooser used until the full-screen
//! menu takes over: the entries, a countdown any key stops, and single keys to boot
//! an entry (`0`-`9`), boot the highlighted default (Enter) or rescan (`r`).
//!
//! `/dev/console` is only the last `console=`; leapboot opens every active console
//! (`/sys/class/tty/console/active`, or the `console` setting) itself and reads keys
//! from all of them with `poll(2)`.

use crate::log::Area;
use leapboot_menus::Menu;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// The consoles leapboot writes to and reads from.
pub struct Consoles {
    list: Vec<(String, File)>,
}

/// What the user (or the countdown) chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Boot the entry at this index.
    Boot(usize),
    /// Look for disks again.
    Rescan,
}

fn active_consoles() -> Vec<String> {
    std::fs::read_to_string("/sys/class/tty/console/active")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn set_keys_mode(f: &File) {
    if let Some(mut t) = crate::sys::tty::get_termios(f) {
        t.c_lflag &= !(libc::ICANON | libc::ECHO);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        let _ = crate::sys::tty::set_termios(f, &t);
    }
}

impl Consoles {
    /// Opens the named consoles (or every active one) and routes the log to them.
    pub fn open(names: Option<&[String]>) -> Consoles {
        let names: Vec<String> = match names {
            Some(n) if !n.is_empty() => n.to_vec(),
            _ => active_consoles(),
        };
        let mut list = Vec::new();
        for name in names {
            let path = format!("/dev/{name}");
            match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOCTTY)
                .open(&path)
            {
                Ok(f) => list.push((name, f)),
                Err(e) => crate::log!(Area::Init, "console {path}: cannot open: {e}"),
            }
        }
        if list.is_empty()
            && let Ok(f) = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOCTTY)
                .open("/dev/console")
        {
            list.push(("console".to_string(), f));
        }
        for (_, f) in &list {
            set_keys_mode(f);
        }
        let sinks = list
            .iter()
            .filter_map(|(_, f)| f.try_clone().ok())
            .collect();
        crate::log::set_consoles(sinks, true);
        Consoles { list }
    }

    /// Names of the open consoles.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Waits up to `wait` (forever when `None`) for a key on any console.
    pub fn key(&self, wait: Option<Duration>) -> Option<u8> {
        let files: Vec<Option<&File>> = self.list.iter().map(|(_, f)| Some(f)).collect();
        if files.is_empty() {
            std::thread::sleep(wait.unwrap_or(Duration::from_secs(3600)));
            return None;
        }
        let ready = crate::sys::tty::poll_readable(&files, wait);
        if !ready.iter().any(|r| r.readable || r.failed) {
            return None;
        }
        for (f, r) in files.iter().flatten().zip(&ready) {
            if r.readable {
                let mut b = [0u8; 1];
                if let Ok(1) = std::io::Read::read(&mut &**f, &mut b) {
                    return Some(b[0]);
                }
            }
        }
        // Hang-up or error on a console: do not spin.
        std::thread::sleep(Duration::from_millis(100));
        None
    }
}

/// Prints the entries, counts down `timeout` seconds (0: boot at once, -1: wait),
/// and returns the choice.
pub fn choose(consoles: &Consoles, menu: &Menu, timeout: i64) -> Choice {
    print_menu(menu);
    if let (Some(d), true) = (menu.default, timeout == 0) {
        crate::log!(
            Area::Menu,
            "timeout 0: booting default entry '{}'",
            menu.entries[d].id
        );
        return Choice::Boot(d);
    }
    if let (Some(d), true) = (menu.default, timeout > 0) {
        crate::log!(
            Area::Menu,
            "booting '{}' in {timeout} s; press any key to stop the countdown",
            menu.entries[d].id
        );
        let end = Instant::now() + Duration::from_secs(timeout as u64);
        let mut shown = timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                crate::log!(
                    Area::Menu,
                    "countdown over: booting default entry '{}'",
                    menu.entries[d].id
                );
                return Choice::Boot(d);
            }
            let secs = left.as_secs() as i64 + 1;
            if secs < shown {
                shown = secs;
                crate::log::console(&format!("\rbooting in {secs} s... "));
            }
            if consoles
                .key(Some(left.min(Duration::from_millis(250))))
                .is_some()
            {
                crate::log::console("\n");
                crate::log!(Area::Menu, "countdown stopped by a key");
                break;
            }
        }
    }
    loop {
        crate::log::console("press 0-9 to boot an entry, Enter for the default, r to rescan\n");
        match consoles.key(None) {
            Some(b'r') | Some(b'R') => return Choice::Rescan,
            Some(b'\r') | Some(b'\n') => {
                if let Some(d) = menu.default {
                    return Choice::Boot(d);
                }
            }
            Some(k @ b'0'..=b'9') => {
                let i = usize::from(k - b'0');
                if i < menu.entries.len() {
                    return Choice::Boot(i);
                }
            }
            _ => {}
        }
    }
}

fn print_menu(menu: &Menu) {
    crate::log!(
        Area::Menu,
        "{} entr{}:",
        menu.entries.len(),
        if menu.entries.len() == 1 { "y" } else { "ies" }
    );
    for (i, e) in menu.entries.iter().enumerate() {
        let mark = if Some(i) == menu.default { "*" } else { " " };
        let why = e
            .problem
            .as_ref()
            .map(|p| format!(" [not bootable: {p}]"))
            .unwrap_or_default();
        crate::log!(
            Area::Menu,
            "{mark}{i:2} {} [{}] on {}{why}",
            e.title,
            e.id,
            e.volume.device
        );
    }
}
