//! Host mode: the same binary run on an installed system or a developer machine.
//! `list` and `check` read volumes exactly as PID 1 does; `boot` loads an entry with
//! kexec and jumps to it (`--dry-run` stops after the handoff summary).

use crate::devices::scan;
use crate::devices::volume::{Volume, dir::DirVolume};
use crate::handoff;
use crate::settings::Settings;
use clap::{Args, Parser, Subcommand};
use leapboot_menus::{Menu, Severity, VolumeInfo, VolumeRole, VolumeScan};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// leapboot: a kexec-based Linux boot loader.
#[derive(Debug, Parser)]
#[command(name = "leapboot", version, about, long_about = None)]
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

impl Source {
    fn volumes(&self) -> Vec<Volume> {
        let mut out = Vec::new();
        for root in &self.root {
            let info = VolumeInfo {
                uuid: None,
                label: None,
                device: root.display().to_string(),
                fs_type: "dir".into(),
                role: VolumeRole::Other,
            };
            out.push(Volume {
                location: None,
                info,
                fs: Box::new(DirVolume::new(root)),
            });
        }
        for disk in &self.disk {
            let name = disk
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.extend(scan::disk_volumes(disk, &name));
        }
        if self.root.is_empty() && self.disk.is_empty() {
            for d in
                crate::devices::disk::sysfs::whole_disks(std::path::Path::new("/sys/class/block"))
            {
                out.extend(scan::disk_volumes(&d.node, &d.name));
            }
        }
        out
    }
}

/// Runs the host command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let src = match &cli.command {
        Command::List { src, .. } | Command::Check { src } | Command::Boot { src, .. } => src,
    };
    crate::log::set_stderr(src.verbose || matches!(cli.command, Command::Boot { .. }));
    let volumes = src.volumes();
    let (scans, menu) = scan::entries(&volumes, src.default.as_deref());
    match cli.command {
        Command::List { json, .. } => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&to_json(&menu)).unwrap_or_default()
                );
            } else {
                print_list(&menu, &volumes);
            }
            ExitCode::SUCCESS
        }
        Command::Check { .. } => check(&scans, &menu),
        Command::Boot {
            entry,
            append,
            dry_run,
            ..
        } => {
            let index = match &entry {
                Some(p) => menu
                    .entries
                    .iter()
                    .position(|e| leapboot_menus::menu::pattern_matches(p, e)),
                None => menu.default,
            };
            let Some(e) = index.and_then(|i| menu.entries.get(i)) else {
                eprintln!(
                    "leapboot: no entry matches {}",
                    entry.as_deref().unwrap_or("(default)")
                );
                return ExitCode::FAILURE;
            };
            let settings = Settings {
                append,
                ..Settings::default()
            };
            let h = match handoff::prepare(e, &volumes, &settings, &handoff::BootOptions::default())
            {
                Ok(h) => h,
                Err(err) => {
                    eprintln!("leapboot: {err}");
                    return ExitCode::FAILURE;
                }
            };
            if dry_run {
                for l in &h.summary {
                    println!("{l}");
                }
                return ExitCode::SUCCESS;
            }
            eprintln!("leapboot: {}", handoff::execute(&h));
            ExitCode::FAILURE
        }
    }
}

fn print_list(menu: &Menu, volumes: &[Volume]) {
    if menu.entries.is_empty() {
        let looked: Vec<&str> = volumes.iter().map(|v| v.info.device.as_str()).collect();
        println!(
            "no boot entries (volumes looked at: {})",
            if looked.is_empty() {
                "none".into()
            } else {
                looked.join(", ")
            }
        );
    }
    for (i, e) in menu.entries.iter().enumerate() {
        let mark = if Some(i) == menu.default { '*' } else { ' ' };
        println!("{mark} {} [{}]", e.title, e.id);
        println!(
            "    source:  {}:{} on {} ({})",
            e.source.file,
            e.source.line,
            e.volume.device,
            e.kind.as_str()
        );
        println!("    kernel:  {}", e.kernel);
        for i in &e.initrds {
            println!("    initrd:  {i}");
        }
        println!("    cmdline: {}", e.cmdline);
        if let Some(p) = &e.problem {
            println!("    problem: {p}");
        }
    }
}

fn check(scans: &[VolumeScan], menu: &Menu) -> ExitCode {
    let mut errors = 0;
    for s in scans {
        for d in &s.diagnostics {
            println!("{}: {}: {d}", s.volume.device, d.severity.as_str());
            if d.severity == Severity::Error {
                errors += 1;
            }
        }
    }
    for e in &menu.entries {
        if let Some(p) = &e.problem {
            println!(
                "{}: warning: {}:{}: entry '{}' not bootable: {p}",
                e.volume.device, e.source.file, e.source.line, e.id
            );
        }
    }
    println!(
        "{} entries, {} bootable, {errors} error(s)",
        menu.entries.len(),
        menu.entries.iter().filter(|e| e.bootable()).count()
    );
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
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
