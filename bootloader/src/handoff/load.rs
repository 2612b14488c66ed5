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
use crate::devices::volume::progress::{self, Throttle};
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

/// [`steps`] with the report handed back either way.
pub(crate) fn prepare_into(
    entry: &Entry,
    volumes: &[Volume],
    settings: &Settings,
    opts: &BootOptions,
    mut r: Report,
    started: Instant,
) -> Prepared {
    match steps(entry, volumes, settings, opts, &mut r, started) {
        Ok(s) => Ok(Handoff {
            id: entry.id.clone(),
            summary: r.lines.clone(),
            kernel: s.kernel.data,
            initrd: s.initrds.data,
            cmdline: s.cmdline,
            report: r,
            preflight: s.preflight,
            situation: s.situation,
        }),
        Err(e) => Err(Box::new((r, e))),
    }
}

/// What the steps produce, before the report joins it in a [`Handoff`].
struct Steps {
    kernel: Kernel,
    initrds: Initrds,
    cmdline: String,
    preflight: preflight::Preflight,
    situation: Situation,
}

/// The steps, each adding its lines to the report; the first failure ends them.
fn steps(
    entry: &Entry,
    volumes: &[Volume],
    settings: &Settings,
    opts: &BootOptions,
    r: &mut Report,
    started: Instant,
) -> Result<Steps, BootError> {
    let vol = find_volume(entry, volumes, r)?;
    let kernel = read_kernel(entry, vol, r)?;
    let initrds = read_initrds(entry, vol, r)?;
    let debug = is_debug(settings, opts);
    let consoles = if debug {
        ConsoleEnv::probe(settings)
    } else {
        ConsoleEnv::default()
    };
    let cmdline = handoff_cmdline(entry, settings, opts, &consoles);
    let views = initrds.views();
    let mem = preflight::mem_available();
    let pf = preflight::run(&preflight::Inputs {
        kernel_path: &kernel.path,
        kernel: &kernel.data,
        initrds: &views,
        cmdline: &cmdline,
        mem_available: mem,
    });
    describe_files(r, &pf, &views);
    describe_cmdline(r, &cmdline, &pf);
    if debug {
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
    describe_syscall(r, &kernel, &initrds, &cmdline);
    let situation = situation(&pf, &kernel, &initrds, &cmdline, mem);
    describe_system(r, &situation);
    describe_checks(r, &pf);
    phases::set(Phase::Load, started.elapsed());
    r.line(format!("phases: {}", phases::phase_times().line()));

    if !pf.passed() {
        let failures: Vec<String> = pf.failures().iter().map(|c| c.message.clone()).collect();
        r.line(format!(
            "not loading '{}': a pre-flight check failed",
            entry.id
        ));
        r.fail(Outcome::CheckFailed, failures.join("; "));
        return Err(BootError::Preflight {
            id: entry.id.clone(),
            failures,
        });
    }
    Ok(Steps {
        kernel,
        initrds,
        cmdline,
        preflight: pf,
        situation,
    })
}

/// Step 1: the entry's volume among those open, and the report's header.
fn find_volume<'a>(
    entry: &Entry,
    volumes: &'a [Volume],
    r: &mut Report,
) -> Result<&'a Volume, BootError> {
    let Some(vol) = devices::find(&entry.volume, volumes) else {
        let volume = volume_name(entry);
        header(entry, None, r);
        r.line(format!("volume {volume} is not present"));
        r.fail(
            Outcome::Unreadable,
            format!("volume {volume} is not present"),
        );
        return Err(BootError::NoVolume {
            id: entry.id.clone(),
            volume,
        });
    };
    header(entry, Some(vol), r);
    Ok(vol)
}

/// The kernel image as read: where from, and its bytes.
struct Kernel {
    /// The file, or `file:.linux` for a unified kernel image's section.
    path: String,
    data: Vec<u8>,
}

/// Runs a whole-file read with a progress line on the log at most once a second (a
/// slow disk says how far it is; a fast read says nothing extra).
fn with_progress<T>(what: &str, read: impl FnOnce() -> T) -> T {
    let what = what.to_string();
    let mut throttle = Throttle::new(std::time::Duration::from_secs(1));
    progress::watch(
        move |done, total| {
            if let Some(line) = throttle.line(&what, done, total, Instant::now()) {
                crate::log!(crate::log::Area::Kexec, "{line}");
            }
        },
        read,
    )
}

/// Step 2: the kernel, a file or a unified kernel image's `.linux` section (read by
/// its byte range, never the whole image).
fn read_kernel(entry: &Entry, vol: &Volume, r: &mut Report) -> Result<Kernel, BootError> {
    let section = entry.uki.as_ref().and_then(|u| u.linux.as_ref());
    let path = match section {
        Some(_) => format!("{}:.linux", entry.kernel),
        None => entry.kernel.clone(),
    };
    let read = match section {
        Some(s) if s.size > MAX_KERNEL_BYTES => Err(FsError::TooLarge {
            path: path.clone(),
            size: s.size,
            limit: MAX_KERNEL_BYTES,
        }),
        Some(s) => vol.fs.read_range(&entry.kernel, s.offset, s.size),
        None => with_progress(&format!("kernel {path}"), || {
            vol.fs.read(&entry.kernel, MAX_KERNEL_BYTES)
        }),
    };
    let data = read.map_err(|e| read_failure(r, &entry.id, "kernel", &path, vol, e))?;
    r.line(format!(
        "kernel {path} ({} bytes, {}) sha256 {}",
        data.len(),
        size(data.len() as u64),
        report::sha256_hex(&data)
    ));
    Ok(Kernel { path, data })
}

/// Every initrd, concatenated in order, and where each one is.
#[derive(Default)]
struct Initrds {
    data: Vec<u8>,
    parts: Vec<(String, std::ops::Range<usize>)>,
}

impl Initrds {
    /// Appends one initrd 4-byte aligned: each cpio archive starts aligned, and the
    /// kernel unpacks them one after another. The first is kept as read, not copied
    /// (a 256 MiB initrd would otherwise be copied once more, and held twice).
    fn push(&mut self, path: String, d: Vec<u8>) {
        if self.data.is_empty() {
            self.data = d;
            self.parts.push((path, 0..self.data.len()));
            return;
        }
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
        let start = self.data.len();
        self.data.extend_from_slice(&d);
        self.parts.push((path, start..self.data.len()));
    }

    /// Each initrd's path and bytes.
    fn views(&self) -> Vec<(String, &[u8])> {
        self.parts
            .iter()
            .map(|(p, r)| (p.clone(), self.data.get(r.clone()).unwrap_or_default()))
            .collect()
    }
}

/// Step 3: a unified kernel image's `.initrd` section, then each `initrd` file, at most
/// [`MAX_INITRD_BYTES`] together.
fn read_initrds(entry: &Entry, vol: &Volume, r: &mut Report) -> Result<Initrds, BootError> {
    let too_large = |r: &mut Report, path: String| {
        r.line(format!(
            "initrd {path}: the initrds together are larger than {}",
            size(MAX_INITRD_BYTES)
        ));
        r.fail(Outcome::Unreadable, "initrds too large");
        BootError::InitrdsTooLarge {
            id: entry.id.clone(),
        }
    };
    let mut out = Initrds::default();
    let mut total: u64 = 0;
    if let Some(s) = entry.uki.as_ref().and_then(|u| u.initrd.as_ref()) {
        let path = format!("{}:.initrd", entry.kernel);
        if s.size > MAX_INITRD_BYTES {
            r.line(format!(
                "initrd {path} is larger than {}",
                size(MAX_INITRD_BYTES)
            ));
            r.fail(Outcome::Unreadable, "initrds too large");
            return Err(BootError::InitrdsTooLarge {
                id: entry.id.clone(),
            });
        }
        let d = vol
            .fs
            .read_range(&entry.kernel, s.offset, s.size)
            .map_err(|e| read_failure(r, &entry.id, "initrd", &path, vol, e))?;
        total += d.len() as u64;
        out.push(path, d);
    }
    for path in &entry.initrds {
        let read = with_progress(&format!("initrd {path}"), || {
            vol.fs.read(path, MAX_INITRD_BYTES.saturating_sub(total))
        });
        match read {
            Ok(d) => {
                total += d.len() as u64;
                out.push(path.clone(), d);
            }
            Err(FsError::TooLarge { .. }) => return Err(too_large(r, path.clone())),
            Err(e) => return Err(read_failure(r, &entry.id, "initrd", path, vol, e)),
        }
    }
    Ok(out)
}

/// What the kernel file is (its own version string and boot protocol), and each
/// initrd's size, format and hash.
fn describe_files(r: &mut Report, pf: &preflight::Preflight, initrds: &[(String, &[u8])]) {
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
    for ((path, data), f) in initrds.iter().zip(&pf.initrd_formats) {
        r.line(format!(
            "initrd {path} ({} bytes, {}) {} sha256 {}",
            data.len(),
            size(data.len() as u64),
            f.describe(),
            report::sha256_hex(data)
        ));
    }
    if initrds.is_empty() {
        r.line("no initrd");
    }
}

/// The command line and its length against the kernel's limit.
fn describe_cmdline(r: &mut Report, cmdline: &str, pf: &preflight::Preflight) {
    r.line(format!(
        "command line ({} bytes{}): {cmdline}",
        cmdline.len(),
        pf.cmdline_limit
            .map(|l| format!(" of at most {l}"))
            .unwrap_or_default()
    ));
}

/// The two system calls about to be made.
fn describe_syscall(r: &mut Report, kernel: &Kernel, initrds: &Initrds, cmdline: &str) {
    let flags = kexec::load_flags(!initrds.data.is_empty());
    r.line(format!(
        "syscall: kexec_file_load(kernel memfd {} bytes, {}, cmdline_len {}, flags {}), then reboot(LINUX_REBOOT_CMD_KEXEC)",
        kernel.data.len(),
        if initrds.data.is_empty() {
            "no initrd fd".to_string()
        } else {
            format!("initrd memfd {} bytes", initrds.data.len())
        },
        cmdline.len() + 1,
        kexec::flag_names(flags)
    ));
}

/// What a failed load is decoded against: the image and the running system.
fn situation(
    pf: &preflight::Preflight,
    kernel: &Kernel,
    initrds: &Initrds,
    cmdline: &str,
    mem: Option<u64>,
) -> Situation {
    let bz = pf.kernel.bzimage();
    Situation {
        kernel_signed: bz.map(|b| b.signature_size.is_some()),
        image_problems: bz.map(|b| b.kexec_problems()).unwrap_or_default(),
        image: Some(pf.kernel.describe()),
        cmdline_len: cmdline.len(),
        cmdline_limit: pf.cmdline_limit,
        kernel_len: kernel.data.len() as u64,
        initrd_len: initrds.data.len() as u64,
        init_size: bz.and_then(|b| b.header.init_size),
        mem_available: mem,
        ..Situation::default()
    }
    .probe_system()
}

/// Lockdown, `kexec_load_disabled` and the kernel's signature.
fn describe_system(r: &mut Report, s: &Situation) {
    r.line(format!(
        "system: lockdown {}, kexec_load_disabled {}, kernel {}",
        s.lockdown.as_deref().unwrap_or("unknown"),
        match s.kexec_load_disabled {
            Some(true) => "1",
            Some(false) => "0",
            None => "unknown",
        },
        match s.kernel_signed {
            Some(true) => "signed",
            Some(false) => "unsigned",
            None => "not a PE image",
        }
    ));
}

/// Each pre-flight check's finding, with a remedy for what is not right.
fn describe_checks(r: &mut Report, pf: &preflight::Preflight) {
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
