//! Handing the machine over once the kernel is loaded:
//!
//! - with systemd as PID 1 (`/run/systemd/system` exists, as `sd_booted()` checks):
//!   `systemctl kexec`. systemd stops the services, unmounts the filesystems and runs
//!   `systemd-kexec.service`, whose `systemctl --force kexec` finds the image loaded
//!   (`load_kexec_kernel` in `src/systemctl/systemctl-start-special.c` loads nothing when
//!   `/sys/kernel/kexec_loaded` is 1), and `systemd-shutdown` jumps into it (through
//!   `kexec -e`, or `reboot(LINUX_REBOOT_CMD_KEXEC)` itself when kexec-tools is not
//!   installed, since systemd 252);
//! - `--now`: `sync`, then `reboot(LINUX_REBOOT_CMD_KEXEC)` at once: no service is
//!   stopped and no filesystem unmounted (as `kexec -e`);
//! - `--fallback` after a failed load: an ordinary `systemctl reboot` through firmware
//!   (with the firmware-reboot marker set, so leapboot's unit does not try again).

use super::SystemRoot;

/// How the jump is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `systemctl kexec`.
    Systemd,
    /// `reboot(LINUX_REBOOT_CMD_KEXEC)` now.
    Now,
}

impl Method {
    /// The plan's words.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Systemd => {
                "systemctl kexec: systemd stops the services and unmounts the filesystems, then jumps into the loaded kernel"
            }
            Method::Now => {
                "--now: sync, then reboot(LINUX_REBOOT_CMD_KEXEC) at once, without stopping services or unmounting filesystems"
            }
        }
    }
}

/// True when systemd runs as PID 1 (`sd_booted()`: `/run/systemd/system` is a directory).
pub fn systemd_is_pid1(sys: &SystemRoot) -> bool {
    sys.path("/run/systemd/system").is_dir()
}

/// Runs `systemctl ARGS`; `Err` with what went wrong.
fn systemctl(args: &[&str]) -> Result<(), String> {
    let status = std::process::Command::new("systemctl")
        .args(args)
        .status()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("systemctl {} failed ({status})", args.join(" ")))
    }
}

/// `systemctl kexec`: returns once systemd has queued the kexec reboot.
pub fn systemd_kexec() -> Result<(), String> {
    systemctl(&["kexec"])
}

/// `sync` and `reboot(LINUX_REBOOT_CMD_KEXEC)`; returns only on failure.
pub fn now() -> String {
    crate::handoff::kexec::exec().to_string()
}

/// The ordinary reboot `--fallback` asks for: the firmware-reboot marker, then
/// `systemctl reboot` (or `reboot` without systemd).
pub fn firmware_reboot(sys: &SystemRoot) -> Result<(), String> {
    let _ = super::state::set_firmware_marker(sys);
    if systemd_is_pid1(sys) {
        systemctl(&["reboot"])
    } else {
        let status = std::process::Command::new("reboot")
            .status()
            .map_err(|e| format!("cannot run reboot: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("reboot failed ({status})"))
        }
    }
}
