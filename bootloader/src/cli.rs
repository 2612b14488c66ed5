//! Host mode: the same binary run on an installed system or a developer machine.
//! `list` and `check` read volumes exactly as PID 1 does; `boot` loads an entry with
//! kexec and jumps to it (`--dry-run` stops after the handoff summary).
//!
//! Exit status ([`EXIT_STATUS_HELP`], README "Host commands"): 0 ok, 1 problems `check`
//! found (or an entry `boot` cannot boot), 2 usage or input that cannot be read. Every
//! path given that cannot be opened, read or understood is named on stderr with the
//! reason and the likely fix, without `-v`; the inputs that can be read are still read.

use crate::devices::disk::{self, Disk, Scheme};
use crate::devices::scan;
use crate::devices::volume::{Volume, dir::DirVolume};
use crate::handoff;
use crate::settings::Settings;
use clap::{Args, Parser, Subcommand};
use leapboot_menus::{Menu, Severity, VolumeInfo, VolumeRole, VolumeScan};
use serde_json::json;
use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status for problems `check` found in the configs, or an entry `boot` cannot boot.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit status for a usage error (clap's own exit with it too) or an input that cannot
/// be opened, read or understood.
pub const EXIT_UNREADABLE: u8 = 2;

/// The exit codes, as `--help` prints them (README, "Host commands", says the same).
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success
  1  check: the configs have errors, or a partition table was read around damage;
     boot: the entry cannot boot, or booting failed
  2  usage error, or a path given that cannot be opened, read or understood (each is
     named on stderr with the reason); without --root and --disk: no disk could be read";

/// leapboot: a kexec-based Linux boot loader.
#[derive(Debug, Parser)]
#[command(name = "leapboot", version, about, long_about = None, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List boot entries in boot order, the default marked with '*'.
    List {
        #[command(flatten)]
        src: Source,
        /// Print one JSON object {"schema_version": 1, "entries": [...]} (docs/json.md, docs/list.schema.json).
        #[arg(long)]
        json: bool,
    },
    /// Read every config and report each problem with file and line; exit 1 on errors.
    Check {
        #[command(flatten)]
        src: Source,
    },
    /// Load an entry with kexec and boot it (the default entry unless --entry).
    Boot {
        #[command(flatten)]
        src: Source,
        /// Entry id (or BLS-style glob) to boot.
        #[arg(long)]
        entry: Option<String>,
        /// Parameters appended to the entry's command line.
        #[arg(long)]
        append: Option<String>,
        /// Read the files and print the handoff summary, but do not load or boot.
        #[arg(long)]
        dry_run: bool,
    },
    /// Reboot with kexec into the entry this machine's boot loader would boot next.
    #[command(after_help = crate::host::run::EXIT_HELP)]
    Reboot(crate::host::RebootArgs),
    /// Load the entry the boot loader would boot next, for a later kexec reboot.
    #[command(after_help = crate::host::run::EXIT_HELP)]
    Load(crate::host::LoadArgs),
    /// Unload a loaded kexec image.
    Unload(crate::host::UnloadArgs),
    /// Whether a kexec image is loaded, which and by whom, and how this boot came.
    Status(crate::host::StatusArgs),
}

#[derive(Debug, Args)]
struct Source {
    /// The root of one volume, such as a mounted /boot or ESP (repeatable).
    #[arg(long, value_name = "DIR")]
    root: Vec<PathBuf>,
    /// A disk image or block device, read without mounting (repeatable).
    #[arg(long, value_name = "IMAGE")]
    disk: Vec<PathBuf>,
    /// Glob over entry ids that overrides the configs' default (the `default` setting).
    #[arg(long, value_name = "GLOB")]
    default: Option<String>,
    /// Log every step to stderr.
    #[arg(short, long)]
    verbose: bool,
}

/// The volumes read from a [`Source`], and what could not be read.
#[derive(Default)]
struct Inputs {
    volumes: Vec<Volume>,
    /// One message per input that could not be opened, read or understood: which,
    /// why, and the likely fix. Any makes the exit status [`EXIT_UNREADABLE`].
    unreadable: Vec<String>,
    /// Disks found (not named) that could not be opened while others could.
    warnings: Vec<String>,
    /// Partition tables read around damage (a backup GPT, a cut extended chain):
    /// warnings that make `check` fail.
    damage: Vec<String>,
}

/// Where to look when the user named nothing.
const NAME_AN_INPUT: &str =
    "name a disk image or block device with --disk, or a mounted /boot or ESP with --root";

impl Source {
    /// Reads every `--root` and `--disk` (each file or device once, however often it
    /// is named), or every disk when neither is given.
    fn read(&self) -> Inputs {
        let mut inputs = Inputs::default();
        let mut seen = HashSet::new();
        for root in &self.root {
            if !first_time(&mut seen, root) {
                continue;
            }
            if let Err(why) = check_root(root) {
                inputs
                    .unreadable
                    .push(format!("--root {}: {why}", root.display()));
                continue;
            }
            let info = VolumeInfo {
                uuid: None,
                label: None,
                device: root.display().to_string(),
                fs_type: "dir".into(),
                role: VolumeRole::Other,
            };
            inputs.volumes.push(Volume {
                location: None,
                info,
                fs: Box::new(DirVolume::new(root)),
            });
        }
        // The disks are read together: a RAID1 array or an LV may span several.
        let mut together = scan::Together::default();
        let mut members_only = Vec::new();
        for path in &self.disk {
            if !first_time(&mut seen, path) {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let found = check_disk(path).map(|()| together.disk_volumes(path, &name));
            match found {
                // Judged once the arrays and LVs are assembled.
                Ok(v) if v.is_empty() && together.has_members(path) => {
                    members_only.push(path.clone())
                }
                Ok(v) if v.is_empty() => {
                    let locked = together.locked(path);
                    if locked.is_empty() {
                        inputs.unreadable.push(format!(
                            "--disk {}: {}",
                            path.display(),
                            why_no_volume(path, &name)
                        ));
                    }
                    // Read, but locked: a warning, not an error.
                    for l in locked {
                        inputs
                            .warnings
                            .push(format!("--disk {}: {l}", path.display()));
                    }
                }
                Ok(v) => inputs.volumes.extend(v),
                Err(why) => inputs
                    .unreadable
                    .push(format!("--disk {}: {why}", path.display())),
            }
        }
        let stacked = together.stacked_volumes();
        for path in members_only.iter().filter(|p| !stacked.used.contains(p)) {
            inputs.unreadable.push(format!(
                "--disk {}: holds RAID or LVM members that give no volume leapboot reads \
                 (see the warnings; -v shows each step)",
                path.display()
            ));
        }
        inputs.warnings.extend(stacked.problems);
        inputs.damage.extend(stacked.damage);
        inputs.volumes.extend(stacked.volumes);
        if self.root.is_empty() && self.disk.is_empty() {
            // An installed system: its mounted boot volumes; else (an initramfs, a
            // container without /boot) every disk.
            match crate::host::running_system_volumes() {
                Some((volumes, warnings)) => {
                    inputs.volumes.extend(volumes);
                    inputs.warnings.extend(warnings);
                }
                None => self.read_every_disk(&mut inputs),
            }
        }
        inputs
    }

    /// No `--root` or `--disk`: every disk in sysfs; an error only when none could be
    /// read at all.
    fn read_every_disk(&self, inputs: &mut Inputs) {
        let disks = disk::sysfs::whole_disks(Path::new("/sys/class/block"));
        let mut cannot = Vec::new();
        let mut together = scan::Together::default();
        for d in &disks {
            match std::fs::File::open(&d.node) {
                Ok(_) => inputs
                    .volumes
                    .extend(together.disk_volumes(&d.node, &d.name)),
                Err(e) => cannot.push(format!("{}: cannot open: {e}", d.node.display())),
            }
        }
        let stacked = together.stacked_volumes();
        inputs.volumes.extend(stacked.volumes);
        inputs.damage.extend(stacked.damage);
        cannot.extend(stacked.problems);
        if !inputs.volumes.is_empty() {
            inputs.warnings = cannot;
            return;
        }
        if disks.is_empty() {
            inputs.unreadable.push(format!(
                "no disks found in /sys/class/block; {NAME_AN_INPUT}"
            ));
            return;
        }
        inputs.unreadable.extend(cannot);
        let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
        inputs.unreadable.push(format!(
            "nothing could be read on {} (-v shows each step); run as root, or {NAME_AN_INPUT}",
            names.join(", ")
        ));
    }
}

/// True the first time a file or directory is seen, by its canonical path (the same
/// disk named twice, or through a symlink, is read once).
fn first_time(seen: &mut HashSet<PathBuf>, p: &Path) -> bool {
    seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// Why `e` stopped a path from being opened, and the likely fix.
fn open_error(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => {
            format!("cannot open: {e}; run as root, or as a user who may read it")
        }
        _ => format!("cannot open: {e}"),
    }
}

/// A `--root` must be a directory that can be read.
fn check_root(root: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(root).map_err(|e| match e.kind() {
        ErrorKind::NotFound => "no such directory".to_string(),
        _ => open_error(&e),
    })?;
    if !meta.is_dir() {
        let what = if meta.is_file() {
            "a file"
        } else {
            "not a file"
        };
        return Err(format!(
            "is {what}, not a directory; did you mean --disk {}?",
            root.display()
        ));
    }
    std::fs::read_dir(root).map_err(|e| open_error(&e))?;
    Ok(())
}

/// A `--disk` must be a file or block device that can be opened.
fn check_disk(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => "no such file".to_string(),
        _ => open_error(&e),
    })?;
    if meta.is_dir() {
        return Err(format!(
            "is a directory, not a disk image or block device; did you mean --root {}?",
            path.display()
        ));
    }
    std::fs::File::open(path).map_err(|e| open_error(&e))?;
    Ok(())
}

/// Why a disk that opened gave no volume: empty, no partition table and no
/// filesystem, partitions without a filesystem leapboot reads, or the error that
/// stopped its partition table from being read.
fn why_no_volume(path: &Path, name: &str) -> String {
    let disk = match Disk::open(path, name) {
        Ok(d) => d,
        Err(e) => return e.to_string(),
    };
    if disk.size == 0 {
        return "is empty (0 bytes)".into();
    }
    match scan::contain(name, || disk::partitions(&disk)) {
        Ok(Ok(parts)) => match parts.first().map(|p| p.scheme) {
            Some(Scheme::Gpt) | Some(Scheme::Mbr) => format!(
                "{} partition(s), none holding a filesystem leapboot reads (ext4, FAT, XFS, Btrfs; -v says why)",
                parts.len()
            ),
            _ => {
                "no partition table and no filesystem leapboot reads (ext4, FAT, XFS, Btrfs)".into()
            }
        },
        Ok(Err(e)) => e.to_string(),
        Err(e) => e,
    }
}

/// Runs the host command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let src = match &cli.command {
        Command::List { src, .. } | Command::Check { src } | Command::Boot { src, .. } => src,
        Command::Reboot(a) => return ExitCode::from(crate::host::reboot(a)),
        Command::Load(a) => return ExitCode::from(crate::host::load(a)),
        Command::Unload(a) => return ExitCode::from(crate::host::unload(a)),
        Command::Status(a) => return ExitCode::from(crate::host::status(a)),
    };
    // The log goes to stderr with -v, and for a real boot, whose record it is; a dry
    // run prints its report once, on stdout.
    let real_boot = matches!(cli.command, Command::Boot { dry_run: false, .. });
    crate::log::set_stderr(src.verbose || real_boot);
    let inputs = src.read();
    for w in inputs.warnings.iter().chain(&inputs.damage) {
        crate::errln!("leapboot: warning: {w}");
    }
    for u in &inputs.unreadable {
        crate::errln!("leapboot: {u}");
    }
    let unreadable = !inputs.unreadable.is_empty();
    let not_read = inputs.unreadable.len();
    let damaged = inputs.damage.len();
    let volumes = inputs.volumes;
    if unreadable && matches!(cli.command, Command::Boot { .. }) {
        // Booting something else than what was asked about would surprise.
        return ExitCode::from(EXIT_UNREADABLE);
    }
    let (scans, menu) = scan::entries(&volumes, src.default.as_deref());
    let code = match cli.command {
        Command::List { json, .. } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&to_json(&menu)).unwrap_or_default()
                );
            } else {
                print_list(&menu, &volumes);
            }
            0
        }
        Command::Check { .. } => check(&scans, &menu, not_read, damaged),
        Command::Boot {
            entry,
            append,
            dry_run,
            ..
        } => boot(&menu, &volumes, entry.as_deref(), append, dry_run),
        // Run by `crate::host` before any volume is read (see the first match).
        Command::Reboot(_) | Command::Load(_) | Command::Unload(_) | Command::Status(_) => 0,
    };
    ExitCode::from(if unreadable { EXIT_UNREADABLE } else { code })
}

/// `boot`: the entry `pattern` names (the first that can boot among those it
/// matches) or the default; its handoff report with `dry_run`, else the jump.
fn boot(
    menu: &Menu,
    volumes: &[Volume],
    pattern: Option<&str>,
    append: Option<String>,
    dry_run: bool,
) -> u8 {
    let index = match pattern {
        Some(p) => {
            let matching: Vec<usize> = (0..menu.entries.len())
                .filter(|&i| {
                    menu.entries
                        .get(i)
                        .is_some_and(|e| leapboot_menus::menu::pattern_matches(p, e))
                })
                .collect();
            let bootable = matching
                .iter()
                .copied()
                .find(|&i| menu.entries.get(i).is_some_and(|e| e.bootable()));
            match bootable.or(matching.first().copied()) {
                Some(i) => i,
                None => {
                    let ids: Vec<&str> = menu.entries.iter().map(|e| e.id.as_str()).collect();
                    crate::errln!(
                        "leapboot: no entry matches '{p}' (the entries: {})",
                        if ids.is_empty() {
                            "none".to_string()
                        } else {
                            ids.join(", ")
                        }
                    );
                    return EXIT_UNREADABLE;
                }
            }
        }
        None => match menu.default {
            Some(i) => i,
            None => {
                nothing_to_boot(menu, volumes);
                return EXIT_PROBLEMS;
            }
        },
    };
    let Some(e) = menu.entries.get(index) else {
        return EXIT_PROBLEMS;
    };
    let settings = Settings {
        append,
        ..Settings::default()
    };
    let h = match handoff::prepare(e, volumes, &settings, &handoff::BootOptions::default()) {
        Ok(h) => h,
        Err(err) => {
            crate::errln!("leapboot: {err}");
            return EXIT_PROBLEMS;
        }
    };
    if dry_run {
        for l in &h.summary {
            crate::outln!("{l}");
        }
        return 0;
    }
    crate::errln!("leapboot: {}", handoff::execute(&h));
    EXIT_PROBLEMS
}

/// Why there is no default to boot: no entries at all, or none that can boot.
fn nothing_to_boot(menu: &Menu, volumes: &[Volume]) {
    if menu.entries.is_empty() {
        crate::errln!(
            "leapboot: no boot entries (volumes looked at: {})",
            looked_at(volumes)
        );
        return;
    }
    crate::errln!(
        "leapboot: no bootable entry among the {} found:",
        menu.entries.len()
    );
    for e in &menu.entries {
        crate::errln!(
            "leapboot:   '{}' cannot boot: {}",
            e.id,
            e.problem.as_deref().unwrap_or("-")
        );
    }
}

/// The volumes' devices, for "looked at" messages.
fn looked_at(volumes: &[Volume]) -> String {
    let looked: Vec<&str> = volumes.iter().map(|v| v.info.device.as_str()).collect();
    if looked.is_empty() {
        "none".into()
    } else {
        looked.join(", ")
    }
}

/// `value`, or `none` in its place when it is empty (no blank at the end of a line).
fn or_none<'a>(value: &'a str, none: &'a str) -> &'a str {
    if value.is_empty() { none } else { value }
}

fn print_list(menu: &Menu, volumes: &[Volume]) {
    if menu.entries.is_empty() {
        crate::outln!(
            "no boot entries (volumes looked at: {})",
            looked_at(volumes)
        );
    }
    for (i, e) in menu.entries.iter().enumerate() {
        let mark = if Some(i) == menu.default { '*' } else { ' ' };
        crate::outln!("{mark} {} [{}]", e.title, e.id);
        crate::outln!(
            "    source:  {}:{} on {} ({})",
            e.source.file,
            e.source.line,
            e.volume.device,
            e.kind.as_str()
        );
        crate::outln!("    kernel:  {}", or_none(&e.kernel, "(none)"));
        for i in &e.initrds {
            crate::outln!("    initrd:  {i}");
        }
        crate::outln!("    cmdline: {}", or_none(&e.cmdline, "(empty)"));
        if let Some(p) = &e.problem {
            crate::outln!("    problem: {p}");
        }
    }
}

/// `check`: every diagnostic and unbootable entry, then a summary; exit 1 when a
/// config has errors or a partition table was read around damage.
fn check(scans: &[VolumeScan], menu: &Menu, not_read: usize, damaged: usize) -> u8 {
    let mut errors = 0;
    for s in scans {
        for d in &s.diagnostics {
            crate::outln!("{}: {}: {d}", s.volume.device, d.severity.as_str());
            if d.severity == Severity::Error {
                errors += 1;
            }
        }
    }
    for e in &menu.entries {
        if let Some(p) = &e.problem {
            crate::outln!(
                "{}: warning: {}:{}: entry '{}' not bootable: {p}",
                e.volume.device,
                e.source.file,
                e.source.line,
                e.id
            );
        }
    }
    crate::outln!(
        "{} entries, {} bootable, {errors} error(s){}{}",
        menu.entries.len(),
        menu.entries.iter().filter(|e| e.bootable()).count(),
        match damaged {
            0 => String::new(),
            n => format!(", {n} damaged partition table(s) read around (see above)"),
        },
        match not_read {
            0 => String::new(),
            n => format!("; {n} path(s) given could not be read (see above)"),
        }
    );
    if errors > 0 || damaged > 0 {
        EXIT_PROBLEMS
    } else {
        0
    }
}

/// The version of the `list --json` shape: raised when a field changes meaning or
/// goes away (new fields do not raise it).
pub const LIST_SCHEMA_VERSION: u32 = 1;

/// The `list --json` document, described in `docs/json.md` and `docs/list.schema.json`:
/// [`LIST_SCHEMA_VERSION`] and every entry in boot order.
pub fn to_json(menu: &Menu) -> serde_json::Value {
    let entries: Vec<_> = menu
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut v = json!({
                "id": e.id,
                "title": e.title,
                "version": e.version,
                "default": Some(i) == menu.default,
                "bootable": e.bootable(),
                "problem": e.problem,
                "kernel": e.kernel,
                "initrds": e.initrds,
                "cmdline": e.cmdline,
                "devicetree": e.devicetree,
                "volume": { "uuid": e.volume.uuid, "label": e.volume.label, "device": e.volume.device },
                "source": { "file": e.source.file, "line": e.source.line },
            });
            if let (Some(p), Some(obj)) = (&e.path, v.as_object_mut()) {
                obj.insert("path".into(), json!(p));
            }
            v
        })
        .collect();
    json!({ "schema_version": LIST_SCHEMA_VERSION, "entries": entries })
}

/// The host command line as clap defines it: `leapboot-gen` (run by
/// `scripts/package`) writes the shell completions and man pages from it.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
