//! Locked-down mode (the `lockdown`, `password` and `require_signature` settings).
//!
//! - With `lockdown = true`, editing a command line (and later a shell) needs the
//!   password; GRUB's superusers rule is the model: booting listed entries stays free.
//! - `password` is a GRUB PBKDF2 string as `grub-mkpasswd-pbkdf2` prints it:
//!   `grub.pbkdf2.sha512.ITERATIONS.SALT_HEX.HASH_HEX` (grub-core/commands/password_pbkdf2.c
//!   stores the same fields), so one tool makes passwords for both loaders.
//! - With `require_signature = true`, leapboot raises the firmware kernel's lockdown to
//!   `integrity` before the first load: `kexec_file_load` then refuses any kernel whose
//!   signature the kernel cannot verify (KEXEC_SIG), and a refused kernel is reported.
//!   Lockdown can only be raised, never lowered, so this lasts until the next reset.
//!
//! These three settings come from `/etc/leapboot.toml` inside the firmware payload;
//! the kernel command line can switch them on but never off.

use crate::log::Area;

/// The kernel lockdown state (`none`, `integrity`, `confidentiality`), read by the
/// handoff report's own reader.
pub fn kernel_lockdown() -> Option<String> {
    super::kexec::lockdown_mode()
}

/// Raises the kernel's lockdown to `integrity` so unsigned kernels are refused by
/// `kexec_file_load`. Logs what it did; returns whether enforcement is on.
pub fn enforce_signatures() -> bool {
    match kernel_lockdown().as_deref() {
        Some("integrity") | Some("confidentiality") => {
            crate::log!(
                Area::Kexec,
                "signature enforcement: kernel lockdown already on; unsigned kernels are refused"
            );
            true
        }
        Some(_) => match std::fs::write("/sys/kernel/security/lockdown", "integrity") {
            Ok(()) => {
                crate::log!(
                    Area::Kexec,
                    "signature enforcement: kernel lockdown raised to integrity; kernels must carry a signature the firmware kernel trusts"
                );
                true
            }
            Err(e) => {
                crate::log!(
                    Area::Kexec,
                    "signature enforcement: cannot raise kernel lockdown: {e}; refusing to boot anything"
                );
                false
            }
        },
        None => {
            crate::log!(
                Area::Kexec,
                "signature enforcement: the firmware kernel has no lockdown support (CONFIG_SECURITY_LOCKDOWN_LSM); refusing to boot anything"
            );
            false
        }
    }
}
