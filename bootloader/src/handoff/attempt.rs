//! One boot attempt as PID 1, with its report: an entry listed as not bootable is
//! skipped; otherwise its volume is found again on the disks, the files are read
//! ([`super::load`]), the GRUB environment writes the menu asked for are made, and the
//! kernel is loaded and started ([`super::execute`]).

use super::execute::execute_counted_report;
use super::load::{header, prepare_into};
use super::report::{Outcome, Report};
use super::{BootError, BootOptions, volume_name};
use crate::devices;
use crate::log::Area;
use crate::phases::{self, Phase};
use crate::settings::Settings;
use leapboot_menus::Entry;
use std::time::Instant;

/// PID 1's boot of one entry: reopens its volume, prepares and executes the handoff.
/// Returns only on failure; the report is kept in [`report::history`].
pub fn boot_entry(entry: &Entry, settings: &Settings, opts: &BootOptions) -> BootError {
    phases::end(Phase::Menu);
    attempt(entry, settings, opts, (1, 1)).1
}

/// One attempt as PID 1, with its report.
pub(crate) fn attempt(
    entry: &Entry,
    settings: &Settings,
    opts: &BootOptions,
    n: (usize, usize),
) -> (Report, BootError) {
    let started = Instant::now();
    let mut r = Report::new(&entry.id, n);
    crate::log!(Area::Kexec, "booting '{}'", entry.id);
    let err = match check_bootable(entry, &mut r) {
        Err(e) => e,
        Ok(()) => match devices::discovery::reopen(&entry.volume) {
            None => {
                let volume = volume_name(entry);
                header(entry, None, &mut r);
                r.line(format!(
                    "volume {volume} is not present; is the disk attached?"
                ));
                r.fail(
                    Outcome::Unreadable,
                    format!("volume {volume} is not present"),
                );
                BootError::NoVolume {
                    id: entry.id.clone(),
                    volume,
                }
            }
            Some(vol) => {
                match prepare_into(
                    entry,
                    std::slice::from_ref(&vol),
                    settings,
                    opts,
                    r,
                    started,
                ) {
                    Ok(h) => {
                        crate::writes::grubenv::apply_all(&opts.env_writes);
                        let (rep, e) = execute_counted_report(h, entry, &vol);
                        r = rep;
                        e
                    }
                    Err(failed) => {
                        let (rep, e) = *failed;
                        r = rep;
                        e
                    }
                }
            }
        },
    };
    r.line(format!("end of report for '{}'", entry.id));
    super::report::keep(&r);
    (r, err)
}

/// An entry listed with a problem is not read at all.
fn check_bootable(entry: &Entry, r: &mut Report) -> Result<(), BootError> {
    let Some(p) = &entry.problem else {
        return Ok(());
    };
    header(entry, None, r);
    r.line(format!(
        "entry '{}' is not bootable: {p}; skipped",
        entry.id
    ));
    r.fail(Outcome::Skipped, p.clone());
    Err(BootError::NotBootable {
        id: entry.id.clone(),
        problem: p.clone(),
    })
}
