//! Reading what an entry boots and checking it before anything is loaded, one step
//! per file: find the volume, read the kernel (a file, or a unified kernel image's
//! `.linux` section), read each initrd (appended 4-byte aligned, as the kernel expects
//! concatenated cpio archives), build the command line ([`super::cmdline`]), run the
//! pre-flight checks ([`super::preflight`]) and write the handoff report.

use super::cmdline::{ConsoleEnv, base_cmdline, debug_params, handoff_cmdline, is_debug};
use super::kexec::{self, Situation};
use super::preflight::{self, Status};
use super::report::{self, Outcome, Report, size};
use super::{BootError, BootOptions, Handoff, MAX_INITRD_BYTES, MAX_KERNEL_BYTES, volume_name};
use crate::devices::{self, Volume};
use crate::phases::{self, Phase};
use crate::settings::Settings;
use leapboot_menus::{Entry, FsError};
use std::time::Instant;

/// Reads the entry's files, runs the pre-flight checks and logs the handoff report.
/// A failed check is an error: nothing is loaded.
pub fn prepare(
    entry: &Entry,
    volumes: &[Volume],
    settings: &Settings,
    opts: &BootOptions,
) -> Result<Handoff, BootError> {
    let r = Report::new(&entry.id, (1, 1));
    if let Some(p) = &entry.problem {
        return Err(BootError::NotBootable {
            id: entry.id.clone(),
            problem: p.clone(),
        });
    }
    prepare_into(entry, volumes, settings, opts, r, Instant::now()).map_err(|b| b.1)
}

fn read_failure(
    r: &mut Report,
    id: &str,
    what: &'static str,
    path: &str,
    vol: &Volume,
    source: FsError,
) -> BootError {
    if source.is_not_found() {
        r.line(format!(
            "{what} {path} is missing from {} (UUID={}): the entry is not bootable",
            vol.info.device,
            vol.info.uuid.as_deref().unwrap_or("-")
        ));
        r.fail(
            Outcome::Unreadable,
            format!("{what} {path} is missing from {}", vol.info.device),
        );
    } else {
        r.line(format!(
            "cannot read {what} {path} from {}: {source}",
            vol.info.device
        ));
        r.fail(
            Outcome::Unreadable,
            format!("cannot read {what} {path}: {source}"),
        );
    }
    BootError::Read {
        id: id.to_string(),
        what,
        device: vol.info.device.clone(),
        source,
    }
}

type Prepared = Result<Handoff, Box<(Report, BootError)>>;

pub(crate) fn prepare_into(
    entry: &Entry,
    volumes: &[Volume],
    settings: &Settings,
    opts: &BootOptions,
    mut r: Report,
    started: Instant,
) -> Prepared {
    let id = entry.id.clone();
    let Some(vol) = devices::find(&entry.volume, volumes) else {
        let volume = volume_name(entry);
        header(entry, None, &mut r);
        r.line(format!("volume {volume} is not present"));
        r.fail(
            Outcome::Unreadable,
            format!("volume {volume} is not present"),
        );
        return Err(Box::new((r, BootError::NoVolume { id, volume })));
    };
    header(entry, Some(vol), &mut r);

    // A unified kernel image carries the kernel and initrd as PE sections.
    let uki = entry.uki.as_ref();
    let kernel_path = match uki.and_then(|u| u.linux.as_ref()) {
        Some(_) => format!("{}:.linux", entry.kernel),
        None => entry.kernel.clone(),
    };
    let kernel = match uki.and_then(|u| u.linux.as_ref()) {
        Some(s) if s.size > MAX_KERNEL_BYTES => Err(FsError::TooLarge {
            path: kernel_path.clone(),
            size: s.size,
            limit: MAX_KERNEL_BYTES,
        }),
        Some(s) => vol.fs.read_range(&entry.kernel, s.offset, s.size),
        None => vol.fs.read(&entry.kernel, MAX_KERNEL_BYTES),
    };
    let kernel = match kernel {
        Ok(k) => k,
        Err(e) => {
            let err = read_failure(&mut r, &id, "kernel", &kernel_path, vol, e);
            return Err(Box::new((r, err)));
        }
    };
    r.line(format!(
        "kernel {kernel_path} ({} bytes, {}) sha256 {}",
        kernel.len(),
        size(kernel.len() as u64),
        report::sha256_hex(&kernel)
    ));

    // Initrds: each read whole and appended 4-byte aligned (each cpio archive starts
    // aligned; the kernel unpacks them one after another); `parts` keeps where each is.
    let mut initrd: Vec<u8> = Vec::new();
    let mut parts: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let mut total: u64 = 0;
    let mut append = |initrd: &mut Vec<u8>, path: String, d: Vec<u8>| {
        while !initrd.len().is_multiple_of(4) {
            initrd.push(0);
        }
        let start = initrd.len();
        initrd.extend_from_slice(&d);
        parts.push((path, start..initrd.len()));
    };
    if let Some(s) = uki.and_then(|u| u.initrd.as_ref()) {
        if s.size > MAX_INITRD_BYTES {
            r.line(format!(
                "initrd {}:.initrd is larger than {}",
                entry.kernel,
                size(MAX_INITRD_BYTES)
            ));
            r.fail(Outcome::Unreadable, "initrds too large");
            return Err(Box::new((r, BootError::InitrdsTooLarge { id })));
        }
        match vol.fs.read_range(&entry.kernel, s.offset, s.size) {
            Ok(d) => {
                total += d.len() as u64;
                append(&mut initrd, format!("{}:.initrd", entry.kernel), d);
            }
            Err(e) => {
                let p = format!("{}:.initrd", entry.kernel);
                let err = read_failure(&mut r, &id, "initrd", &p, vol, e);
                return Err(Box::new((r, err)));
            }
        }
    }
    for path in &entry.initrds {
        match vol.fs.read(path, MAX_INITRD_BYTES.saturating_sub(total)) {
            Ok(d) => {
                total += d.len() as u64;
                append(&mut initrd, path.clone(), d);
            }
            Err(FsError::TooLarge { .. }) => {
                r.line(format!(
                    "initrd {path}: the initrds together are larger than {}",
                    size(MAX_INITRD_BYTES)
                ));
                r.fail(Outcome::Unreadable, "initrds too large");
                return Err(Box::new((r, BootError::InitrdsTooLarge { id })));
            }
            Err(e) => {
                let err = read_failure(&mut r, &id, "initrd", path, vol, e);
                return Err(Box::new((r, err)));
            }
        }
    }

    let consoles = if is_debug(settings, opts) {
        ConsoleEnv::probe(settings)
    } else {
        ConsoleEnv::default()
    };
    let cmdline = handoff_cmdline(entry, settings, opts, &consoles);
    let views: Vec<(String, &[u8])> = parts
        .iter()
        .map(|(p, r)| (p.clone(), initrd.get(r.clone()).unwrap_or_default()))
        .collect();
    let mem = preflight::mem_available();
    let pf = preflight::run(&preflight::Inputs {
        kernel_path: &kernel_path,
        kernel: &kernel,
        initrds: &views,
        cmdline: &cmdline,
        mem_available: mem,
    });

    // What the kernel file is: its own version string and boot protocol.
    match pf.kernel.bzimage() {
        Some(b) => {
            r.line(format!(
                "kernel version: {}",
                b.version_string.as_deref().unwrap_or("(no version string)")
            ));
            r.line(format!("kernel image: {}", b.describe()));
        }
        None => r.line(format!("kernel image: {}", pf.kernel.describe())),
    }
    for ((path, data), f) in views.iter().zip(&pf.initrd_formats) {
        r.line(format!(
            "initrd {path} ({} bytes, {}) {} sha256 {}",
            data.len(),
            size(data.len() as u64),
            f.describe(),
            report::sha256_hex(data)
        ));
    }
    if parts.is_empty() {
        r.line("no initrd");
    }
    r.line(format!(
        "command line ({} bytes{}): {cmdline}",
        cmdline.len(),
        pf.cmdline_limit
            .map(|l| format!(" of at most {l}"))
            .unwrap_or_default()
    ));
    if is_debug(settings, opts) {
        let added = debug_params(&base_cmdline(entry, settings, opts), &consoles);
        r.line(format!(
            "debug boot: added {}",
            if added.is_empty() {
                "nothing (already set)".to_string()
            } else {
                added.join(" ")
            }
        ));
    }

    let flags = kexec::load_flags(!initrd.is_empty());
    r.line(format!(
        "syscall: kexec_file_load(kernel memfd {} bytes, {}, cmdline_len {}, flags {}), then reboot(LINUX_REBOOT_CMD_KEXEC)",
        kernel.len(),
        if initrd.is_empty() {
            "no initrd fd".to_string()
        } else {
            format!("initrd memfd {} bytes", initrd.len())
        },
        cmdline.len() + 1,
        kexec::flag_names(flags)
    ));

    let bz = pf.kernel.bzimage();
    let situation = Situation {
        kernel_signed: bz.map(|b| b.signature_size.is_some()),
        image_problems: bz.map(|b| b.kexec_problems()).unwrap_or_default(),
        image: Some(pf.kernel.describe()),
        cmdline_len: cmdline.len(),
        cmdline_limit: pf.cmdline_limit,
        kernel_len: kernel.len() as u64,
        initrd_len: initrd.len() as u64,
        init_size: bz.and_then(|b| b.header.init_size),
        mem_available: mem,
        ..Situation::default()
    }
    .probe_system();
    r.line(format!(
        "system: lockdown {}, kexec_load_disabled {}, kernel {}",
        situation.lockdown.as_deref().unwrap_or("unknown"),
        match situation.kexec_load_disabled {
            Some(true) => "1",
            Some(false) => "0",
            None => "unknown",
        },
        match situation.kernel_signed {
            Some(true) => "signed",
            Some(false) => "unsigned",
            None => "not a PE image",
        }
    ));
    if let Some(m) = pf
        .checks
        .iter()
        .find(|c| c.subject == "memory" && c.status == Status::Ok)
    {
        r.line(format!("memory: {}", m.message));
    }
    for c in &pf.checks {
        match c.status {
            Status::Ok => {}
            Status::Warning => r.line(format!("check warning: {}: {}", c.subject, c.message)),
            Status::Fail => r.line(format!("check failed: {}", c.message)),
        }
        if c.status != Status::Ok
            && let Some(remedy) = &c.remedy
        {
            r.line(format!("remedy: {remedy}"));
        }
    }
    r.line(format!(
        "checks: {}",
        pf.checks
            .iter()
            .map(|c| format!(
                "{} {}",
                c.subject,
                match c.status {
                    Status::Ok => "ok",
                    Status::Warning => "warning",
                    Status::Fail => "FAILED",
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    phases::set(Phase::Load, started.elapsed());
    r.line(format!("phases: {}", phases::phase_times().line()));

    if !pf.passed() {
        let failures: Vec<String> = pf.failures().iter().map(|c| c.message.clone()).collect();
        r.line(format!("not loading '{id}': a pre-flight check failed"));
        r.fail(Outcome::CheckFailed, failures.join("; "));
        return Err(Box::new((r, BootError::Preflight { id, failures })));
    }
    Ok(Handoff {
        id,
        summary: r.lines.clone(),
        kernel,
        initrd,
        cmdline,
        report: r,
        preflight: pf,
        situation,
    })
}

/// The report's first lines: which entry, from which config, on which volume.
pub(crate) fn header(entry: &Entry, vol: Option<&Volume>, r: &mut Report) {
    let (n, of) = r.attempt;
    r.line(format!("report for '{}' (attempt {n} of {of})", entry.id));
    r.line(format!(
        "entry '{}' \"{}\" ({}) from {}:{} on {}",
        entry.id,
        entry.title,
        entry.kind.as_str(),
        entry.source.file,
        entry.source.line,
        entry.volume.device
    ));
    if let Some(v) = vol {
        r.line(format!(
            "volume {} UUID={} LABEL={} ({})",
            v.info.device,
            v.info.uuid.as_deref().unwrap_or("-"),
            v.info.label.as_deref().unwrap_or("-"),
            v.info.fs_type
        ));
    }
}
