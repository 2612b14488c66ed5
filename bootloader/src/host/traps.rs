//! The known traps of kexec reboots, explained before anything is loaded (pure
//! functions of a [`Probe`] of the running system): who may load, whether the kernel
//! allows it at all, what lockdown will check, what is loaded already, what takes
//! memory, and what in the shutdown path turns a kexec back into a firmware reboot.
//! Each trap says what it means and what to do; a [`Level::Stop`] trap stops a real
//! load (a dry run reports it and goes on).

/// How serious a trap is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The load cannot work: stop before trying.
    Stop,
    /// It will work, but not as one might expect.
    Warn,
    /// Worth knowing.
    Note,
}

/// One trap found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// How serious.
    pub level: Level,
    /// What is the matter, in words.
    pub what: String,
    /// What to do about it.
    pub remedy: Option<String>,
}

impl Trap {
    fn new(level: Level, what: impl Into<String>, remedy: Option<&str>) -> Trap {
        Trap {
            level,
            what: what.into(),
            remedy: remedy.map(str::to_string),
        }
    }

    /// `stop: what; remedy`, for the plan.
    pub fn line(&self) -> String {
        let tag = match self.level {
            Level::Stop => "stop",
            Level::Warn => "warning",
            Level::Note => "note",
        };
        match &self.remedy {
            Some(r) => format!("{tag}: {}; {r}", self.what),
            None => format!("{tag}: {}", self.what),
        }
    }
}

/// What was read from the running system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Effective uid (`/proc/self/status`).
    pub euid: Option<u32>,
    /// Whether the effective capabilities hold `CAP_SYS_BOOT`.
    pub cap_sys_boot: Option<bool>,
    /// `/proc/sys/kernel/kexec_load_disabled`.
    pub kexec_load_disabled: Option<bool>,
    /// `/sys/kernel/kexec_loaded`.
    pub kexec_loaded: Option<bool>,
    /// leapboot's state file says it loaded the image that is loaded.
    pub loaded_by_leapboot: bool,
    /// `/sys/kernel/security/lockdown`'s active mode.
    pub lockdown: Option<String>,
    /// The `SecureBoot` EFI variable.
    pub secure_boot: Option<bool>,
    /// `/sys/kernel/kexec_crash_size`: bytes reserved for a crash kernel.
    pub crash_size: Option<u64>,
    /// A shutdown initramfs that runs last (`/run/initramfs/shutdown`), and who made it.
    pub shutdown_initramfs: Option<String>,
}

/// `CAP_SYS_BOOT`'s bit in the capability sets.
const CAP_SYS_BOOT: u32 = 22;

/// The effective uid and whether `CAP_SYS_BOOT` is effective, from
/// `/proc/self/status` (`Uid:` real, effective, saved, fs; `CapEff:` hex mask).
pub fn parse_status(text: &str) -> (Option<u32>, Option<bool>) {
    let mut euid = None;
    let mut cap = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Uid:") {
            euid = rest.split_whitespace().nth(1).and_then(|u| u.parse().ok());
        } else if let Some(rest) = line.strip_prefix("CapEff:") {
            cap = u64::from_str_radix(rest.trim(), 16)
                .ok()
                .map(|m| m & (1u64 << CAP_SYS_BOOT) != 0);
        }
    }
    (euid, cap)
}

/// Traps known before any file is read. `replace_foreign`: whether an image loaded
/// by another tool will be replaced (`reboot`, `load` by hand) or kept (the unit).
pub fn before_load(p: &Probe, replace_foreign: bool) -> Vec<Trap> {
    let mut out = Vec::new();
    if p.cap_sys_boot == Some(false) || (p.cap_sys_boot.is_none() && p.euid.is_some_and(|u| u != 0))
    {
        out.push(Trap::new(
            Level::Stop,
            format!(
                "not root: loading a kernel needs CAP_SYS_BOOT (running as uid {})",
                p.euid.map_or("unknown".into(), |u| u.to_string())
            ),
            Some("run it as root (sudo leapboot ...); --dry-run shows the plan as any user"),
        ));
    }
    if p.kexec_load_disabled == Some(true) {
        out.push(Trap::new(
            Level::Stop,
            "kexec is switched off: /proc/sys/kernel/kexec_load_disabled is 1, and the kernel keeps it at 1 until the next boot",
            Some("remove kernel.kexec_load_disabled=1 from /etc/sysctl.d (or the hardening script that sets it) and reboot once through firmware: systemctl reboot"),
        ));
    }
    if p.kexec_loaded == Some(true) && !p.loaded_by_leapboot {
        if replace_foreign {
            out.push(Trap::new(
                Level::Warn,
                "an image is already loaded by another tool (kexec -l, or systemctl kexec); leapboot's load replaces it",
                Some("leapboot status shows what is loaded; leapboot unload removes it"),
            ));
        } else {
            out.push(Trap::new(
                Level::Warn,
                "an image is already loaded by another tool (kexec -l, or systemctl kexec); the unit keeps it, so this reboot boots that image",
                Some("leapboot unload before rebooting, or leapboot reboot, to boot the boot loader's entry instead"),
            ));
        }
    }
    if let Some(m) = p.lockdown.as_deref().filter(|m| *m != "none") {
        out.push(Trap::new(
            Level::Note,
            format!(
                "the running kernel is in lockdown mode '{m}'{}: kexec_file_load loads only a kernel whose signature verifies against the kernel's trusted keys (built-in, secondary, and the platform keyring: UEFI db and MOK)",
                if p.secure_boot == Some(true) { " (Secure Boot is on)" } else { "" }
            ),
            None,
        ));
    } else if p.secure_boot == Some(true) {
        out.push(Trap::new(
            Level::Note,
            "Secure Boot is on but the kernel reports no lockdown: kexec_file_load checks signatures only if the kernel enforces them (KEXEC_SIG_FORCE, IMA)",
            None,
        ));
    }
    if let Some(n) = p.crash_size.filter(|&n| n > 0) {
        out.push(Trap::new(
            Level::Note,
            format!(
                "{} is reserved for a crash kernel (crashkernel=) and is not available for the new kernel and its initrds",
                crate::handoff::report::size(n)
            ),
            None,
        ));
    }
    out
}

/// Traps of the shutdown path, for a handover through systemd (not `--now`).
pub fn before_handover(p: &Probe) -> Vec<Trap> {
    let mut out = Vec::new();
    if let Some(who) = &p.shutdown_initramfs {
        out.push(Trap::new(
            Level::Warn,
            format!(
                "a shutdown initramfs ({who}) runs last and is handed the verb 'kexec': if it does not start the loaded kernel itself (Ubuntu's finalrd does not), the machine reboots through firmware"
            ),
            Some("use --now to jump without the shutdown initramfs, or disable it (systemctl disable finalrd)"),
        ));
    }
    out
}

/// The lockdown trap once the kernel is known: an unsigned kernel under lockdown stops.
pub fn signature(
    lockdown: Option<&str>,
    kernel_signed: Option<bool>,
    kernel: &str,
) -> Option<Trap> {
    let m = lockdown.filter(|m| *m == "integrity" || *m == "confidentiality")?;
    match kernel_signed {
        Some(true) => Some(Trap::new(
            Level::Note,
            format!(
                "{kernel} is signed; under lockdown '{m}' kexec_file_load verifies that signature before it loads"
            ),
            None,
        )),
        _ => Some(Trap::new(
            Level::Stop,
            format!(
                "lockdown '{m}' (Secure Boot) lets kexec_file_load load only a kernel whose signature verifies, and {kernel} carries no signature"
            ),
            Some(
                "boot the distribution's signed kernel (on Debian, linux-image-*-amd64 is signed), or sign this one with sbsign using a key enrolled in db or MOK",
            ),
        )),
    }
}

/// Who made the shutdown initramfs in `/run/initramfs`, from what it holds.
pub fn shutdown_initramfs_owner(has_finalrd: bool, has_dracut: bool) -> String {
    match (has_finalrd, has_dracut) {
        (true, _) => "/run/initramfs/shutdown from finalrd".into(),
        (false, true) => "/run/initramfs/shutdown from dracut".into(),
        _ => "/run/initramfs/shutdown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let s = "Name:\tleapboot\nUid:\t1000\t0\t0\t0\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_status(s), (Some(0), Some(true)));
        let s = "Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n";
        assert_eq!(parse_status(s), (Some(1000), Some(false)));
        assert_eq!(parse_status(""), (None, None));
    }

    fn levels(t: &[Trap]) -> Vec<Level> {
        t.iter().map(|t| t.level).collect()
    }

    #[test]
    fn each_trap_says_what_and_what_to_do() {
        let p = Probe {
            euid: Some(1000),
            cap_sys_boot: Some(false),
            kexec_load_disabled: Some(true),
            kexec_loaded: Some(true),
            loaded_by_leapboot: false,
            lockdown: Some("integrity".into()),
            secure_boot: Some(true),
            crash_size: Some(256 << 20),
            shutdown_initramfs: Some(shutdown_initramfs_owner(true, false)),
        };
        let t = before_load(&p, true);
        assert_eq!(
            levels(&t),
            [
                Level::Stop,
                Level::Stop,
                Level::Warn,
                Level::Note,
                Level::Note
            ]
        );
        assert!(t[0].line().contains("not root") && t[0].line().contains("uid 1000"));
        assert!(t[1].line().contains("kexec_load_disabled is 1") && t[1].line().contains("sysctl"));
        assert!(t[2].line().contains("replaces it"));
        assert!(t[3].line().contains("Secure Boot is on"));
        assert!(t[4].line().contains("256.0 MiB"));
        assert!(before_load(&p, false)[2].what.contains("keeps it"));
        let h = before_handover(&p);
        assert!(h[0].line().contains("finalrd") && h[0].line().contains("--now"));
        // Root, nothing loaded, no lockdown: nothing to say.
        let ok = Probe {
            euid: Some(0),
            cap_sys_boot: Some(true),
            kexec_load_disabled: Some(false),
            kexec_loaded: Some(false),
            lockdown: Some("none".into()),
            ..Probe::default()
        };
        assert!(before_load(&ok, true).is_empty());
        // Our own image loaded earlier is not a trap.
        let ours = Probe {
            kexec_loaded: Some(true),
            loaded_by_leapboot: true,
            ..ok
        };
        assert!(before_load(&ours, true).is_empty());
    }

    #[test]
    fn unsigned_kernel_under_lockdown_stops() {
        let t = signature(Some("integrity"), Some(false), "/boot/vmlinuz-x").unwrap();
        assert_eq!(t.level, Level::Stop);
        assert!(t.line().contains("carries no signature") && t.line().contains("sbsign"));
        assert_eq!(
            signature(Some("confidentiality"), Some(true), "k")
                .unwrap()
                .level,
            Level::Note
        );
        assert_eq!(signature(Some("none"), Some(false), "k"), None);
        assert_eq!(signature(None, None, "k"), None);
    }
}
