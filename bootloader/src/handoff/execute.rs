//! Loading with `kexec_file_load` and jumping with `reboot(LINUX_REBOOT_CMD_KEXEC)`; a
//! failure is decoded into the report with the kernel's own kexec messages. A counted
//! BLS entry is renamed (one try used) after the load succeeds and before the jump
//! ([`execute_counted`]), so a failed load does not use up a try.

use super::kexec::{self, KexecError, KmsgWatch};
use super::report::{Outcome, Report};
use super::{BootError, Handoff};
use crate::devices::Volume;
use leapboot_menus::Entry;
use std::time::Instant;

/// Kernel messages about kexec quoted in a report after a failed load.
const KMSG_LINES: usize = 8;

/// Loads with `kexec_file_load`; on failure adds the decoded error and the kernel's
/// own kexec messages to the report. (`leapboot load` and `reboot` load this way, and
/// jump later through systemd.)
pub(crate) fn load_reported(h: &mut Handoff) -> Result<(), BootError> {
    let t = Instant::now();
    let mut kmsg = KmsgWatch::start();
    match kexec::load(&h.kernel, &h.initrd, &h.cmdline) {
        Ok(()) => {
            h.report.line(format!(
                "loaded '{}' in {} ms",
                h.id,
                t.elapsed().as_millis()
            ));
            Ok(())
        }
        Err(KexecError::Load { errno }) => {
            let d = kexec::decode_load_error(errno, &h.situation);
            h.report.line(format!(
                "kexec_file_load failed: {} ({})",
                d.name,
                std::io::Error::from_raw_os_error(errno)
            ));
            h.report.line(format!("cause: {}", d.cause));
            h.report.line(format!("remedy: {}", d.remedy));
            for l in kmsg.kexec_lines(KMSG_LINES) {
                h.report.line(format!("kernel said: {l}"));
            }
            h.report
                .fail(Outcome::LoadFailed, format!("{}: {}", d.name, d.cause));
            Err(BootError::Load {
                id: h.id.clone(),
                decoded: d,
            })
        }
        Err(source) => {
            h.report.line(format!("{source}"));
            h.report.fail(Outcome::LoadFailed, source.to_string());
            Err(BootError::Kexec {
                id: h.id.clone(),
                source,
            })
        }
    }
}

fn jump(h: &mut Handoff) -> BootError {
    h.report.line(format!(
        "end of report for '{}': starting the new kernel",
        h.id
    ));
    let source = kexec::exec();
    kexec::unload();
    h.report.line(format!("{source}"));
    h.report.fail(Outcome::ExecFailed, source.to_string());
    BootError::Kexec {
        id: h.id.clone(),
        source,
    }
}

/// Loads the handoff with `kexec_file_load` and jumps. Returns only on failure.
pub fn execute(h: &Handoff) -> BootError {
    execute_owned(&mut h.clone())
}

fn execute_owned(h: &mut Handoff) -> BootError {
    if let Err(e) = load_reported(h) {
        return e;
    }
    jump(h)
}

/// [`execute`], renaming a counted BLS entry (one try used) after the kernel loaded
/// and before jumping to it, so a failed load does not use up a try.
pub fn execute_counted(h: &Handoff, entry: &Entry, vol: &Volume) -> BootError {
    execute_counted_report(h.clone(), entry, vol).1
}

pub(crate) fn execute_counted_report(
    mut h: Handoff,
    entry: &Entry,
    vol: &Volume,
) -> (Report, BootError) {
    let Some((old, new)) = leapboot_menus::bls::counter::rename_for_boot(entry) else {
        let e = execute_owned(&mut h);
        return (h.report, e);
    };
    if let Err(e) = load_reported(&mut h) {
        return (h.report, e);
    }
    match crate::writes::counting::rename(vol, &old, &new) {
        Ok(()) => h.report.line(format!(
            "boot counting: renamed {old} to {new} on {}",
            vol.info.device
        )),
        Err(e) => h.report.line(format!(
            "boot counting: cannot rename {old} to {new}: {e}; booting anyway"
        )),
    }
    let e = jump(&mut h);
    (h.report, e)
}
