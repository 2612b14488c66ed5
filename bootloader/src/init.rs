//! PID 1: mount what leapboot needs, open the consoles, read the settings, load the
//! modules, find the disks, build the menu, and boot, forever. Nothing here returns:
//! every failure degrades to a message and the menu, and a panic anywhere is caught,
//! logged, and the loop starts over (the kernel panics if PID 1 exits).

use crate::devices::discovery::Discovery;
use crate::devices::scan;
use crate::handoff::{self, BootOptions};
use crate::log::Area;
use crate::settings::{SETTINGS_FILE, Settings};
use crate::tui::Policy;
use crate::tui::text::{self as console, Consoles};
use crate::tui::{Action, Tui, TuiError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Entry point when running as PID 1. Never returns.
pub fn run() -> ! {
    // Until the consoles are open, log lines go to stderr (the kernel's console).
    crate::log::set_stderr(true);
    std::panic::set_hook(Box::new(|info| {
        crate::log!(Area::Init, "internal error: {info}");
    }));
    let started = Instant::now();
    crate::phases::mark_pid1_start();
    mount_basics();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if let Err(e) = scan::contain("init", || session(started, attempt)) {
            crate::log!(Area::Init, "{e}; restarting in 1 s");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn mount(src: &str, target: &str, fstype: &str, flags: libc::c_ulong, data: &str) {
    let _ = std::fs::create_dir_all(target);
    if let Err(e) = crate::sys::mount::mount(src, target, fstype, flags, Some(data))
        && e.raw_os_error() != Some(libc::EBUSY)
    {
        crate::log!(Area::Init, "mount {fstype} on {target} failed: {e}");
    }
}

/// devtmpfs on /dev, proc, sysfs, a tmpfs on /run.
fn mount_basics() {
    let nosuid = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    mount("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755");
    mount("proc", "/proc", "proc", nosuid, "");
    mount("sysfs", "/sys", "sysfs", nosuid, "");
    mount(
        "tmpfs",
        "/run",
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=0755",
    );
    // /dev/kmsg rate-limits user writes unless told otherwise.
    let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", "on\n");
}

/// Reads defaults, the settings file and the kernel command line; logs problems.
pub fn load_settings() -> Settings {
    let mut s = Settings::default();
    let mut problems = Vec::new();
    match std::fs::read_to_string(SETTINGS_FILE) {
        Ok(text) => problems.extend(s.apply_toml(SETTINGS_FILE, &text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => problems.push(format!("{SETTINGS_FILE}: {e}")),
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    problems.extend(s.apply_cmdline(&cmdline));
    for p in problems {
        crate::log!(Area::Init, "settings: {p}; the rest still apply");
    }
    s
}

/// One pass: settings, consoles, modules, then scan and boot until a boot succeeds.
fn session(started: Instant, attempt: u32) {
    let settings = load_settings();
    let consoles = Consoles::open(settings.console.as_deref());
    crate::log!(
        Area::Init,
        "leapboot {} as PID 1 on Linux {} (pass {attempt}); consoles: {}",
        env!("CARGO_PKG_VERSION"),
        crate::modules::kernel_release(),
        consoles.names().join(", ")
    );
    crate::log!(
        Area::Init,
        "settings: timeout={} default={} device_wait_ms={} append={} debug={}",
        settings.timeout,
        settings.default.as_deref().unwrap_or("-"),
        settings.device_wait_ms,
        settings.append.as_deref().unwrap_or("-"),
        settings.debug
    );
    if attempt == 1 {
        let names = settings.modules.clone().unwrap_or_else(|| {
            crate::modules::listed_modules(Path::new(crate::modules::MODULES_LIST))
        });
        let dir = Path::new("/lib/modules").join(crate::modules::kernel_release());
        let t = Instant::now();
        let n = crate::modules::load_all_within(&dir, &names, Duration::from_secs(5));
        crate::phases::add(crate::phases::Phase::Modules, t.elapsed());
        crate::log!(
            Area::Modules,
            "{n} module(s) loaded in {} ms",
            t.elapsed().as_millis()
        );
    }
    if settings.require_signature && !crate::handoff::lockdown::enforce_signatures() {
        // Enforcement was asked for and cannot be had: booting anything would break
        // the promise, so stay here and say why.
        loop {
            crate::log!(
                Area::Init,
                "require_signature is set but cannot be enforced; not booting"
            );
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let mut timeout = settings.timeout;
    let mut discovery = Discovery::start(&settings);
    // The full-screen menu, unless the machine is headless (`timeout = 0`: the text
    // chooser keeps the serial record plain) or no console can be drawn on; a menu
    // that fails hands over to the text chooser for the rest of the session.
    let mut tui: Option<Tui> = None;
    let mut use_tui = settings.timeout != 0;
    loop {
        if use_tui {
            if tui.is_none() {
                match Tui::open(&consoles.names(), Pid1Policy::new(&settings), timeout) {
                    Ok(t) => tui = Some(t),
                    Err(e) => {
                        crate::log!(Area::Menu, "{e}; using the text menu");
                        use_tui = false;
                    }
                }
            }
            if let Some(t) = tui.as_mut() {
                crate::phases::begin(crate::phases::Phase::Menu);
                if let Err(e) = menu_choice(t, &mut discovery, &settings) {
                    crate::log!(Area::Menu, "{e}; using the text menu");
                    tui = None;
                    use_tui = false;
                    timeout = -1;
                    // The menu took discovery's news: start over for the text menu.
                    discovery.rescan();
                }
                continue;
            }
        }
        let snap = discovery.wait_settled();
        crate::log!(
            Area::Init,
            "{} ms since PID 1 started",
            started.elapsed().as_millis()
        );
        report_if_nothing_bootable(&snap.menu, &snap.volumes);
        crate::phases::begin(crate::phases::Phase::Menu);
        match console::choose(&consoles, &snap.menu, timeout) {
            // Headless: the chosen entry, then the fallbacks, each with a report.
            console::Choice::Boot(i) if timeout == 0 => {
                handoff::boot_with_fallback(&snap.menu, i, &settings, &BootOptions::default());
            }
            console::Choice::Boot(i) => {
                if let Some(entry) = snap.menu.entries.get(i) {
                    let opts = BootOptions {
                        env_writes: snap.menu.env_writes_for(i).to_vec(),
                        ..BootOptions::default()
                    };
                    let err = handoff::boot_entry(entry, &settings, &opts);
                    crate::log!(Area::Kexec, "boot failed: {err}");
                }
            }
            console::Choice::Rescan => {}
        }
        // After a failed boot or a rescan, wait for the user instead of looping.
        timeout = -1;
        discovery.rescan();
    }
}

/// One choice in the full-screen menu: boots the chosen entry (returning, with the
/// menu still there, when the attempt fails) or starts a rescan.
fn menu_choice(
    tui: &mut Tui,
    discovery: &mut Discovery,
    settings: &Settings,
) -> Result<(), TuiError> {
    match tui.run(discovery)? {
        Action::Boot {
            index,
            cmdline_override,
            debug,
        } => {
            let Some(entry) = tui.state().menu().entries.get(index).cloned() else {
                return Ok(());
            };
            tui.booting(index, cmdline_override.as_deref(), debug);
            let opts = BootOptions {
                cmdline_override,
                debug,
                env_writes: tui.state().menu().env_writes_for(index).to_vec(),
            };
            let err = handoff::boot_entry(&entry, settings, &opts);
            crate::log!(Area::Kexec, "boot failed: {err}");
            tui.boot_failed(&err.to_string());
        }
        Action::Rescan => {
            discovery.rescan();
            tui.state_mut().rescanning();
        }
        Action::Redraw => {}
    }
    Ok(())
}

/// PID 1's answers to what the menu asks ([`Policy`]): command lines from the handoff's
/// rules, passwords from the settings, and the "nothing bootable" report.
#[derive(Debug, Clone)]
pub struct Pid1Policy {
    settings: Settings,
}

impl Pid1Policy {
    /// The policy for these settings.
    pub fn new(settings: &Settings) -> Pid1Policy {
        Pid1Policy {
            settings: settings.clone(),
        }
    }
}

impl Policy for Pid1Policy {
    fn cmdline(&self, entry: &leapboot_menus::Entry) -> String {
        handoff::final_cmdline(entry, &self.settings)
    }

    fn locked_down(&self) -> bool {
        self.settings.lockdown
    }

    fn has_password(&self) -> bool {
        self.settings.password.is_some()
    }

    fn password_ok(&self, typed: &str) -> bool {
        self.settings.password.as_deref().is_some_and(|hash| {
            crate::settings::password::PasswordHash::parse(hash).is_ok_and(|h| h.verify(typed))
        })
    }

    fn nothing_bootable(
        &self,
        menu: &leapboot_menus::Menu,
        volumes: &[leapboot_menus::VolumeInfo],
    ) {
        report_if_nothing_bootable(menu, volumes);
    }
}

/// Says so when nothing can be booted, naming every volume looked at (the text
/// chooser and, through [`Pid1Policy`], the full-screen menu).
pub fn report_if_nothing_bootable(
    menu: &leapboot_menus::Menu,
    volumes: &[leapboot_menus::VolumeInfo],
) {
    if menu.default.is_some() {
        return;
    }
    let looked: Vec<String> = volumes
        .iter()
        .map(|v| {
            format!(
                "{} ({} UUID={})",
                v.device,
                v.fs_type,
                v.uuid.as_deref().unwrap_or("-")
            )
        })
        .collect();
    crate::log!(
        Area::Menu,
        "no bootable entry found; volumes looked at: {}",
        if looked.is_empty() {
            "none".to_string()
        } else {
            looked.join(", ")
        }
    );
}
