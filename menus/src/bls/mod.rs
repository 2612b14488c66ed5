//! Boot Loader Specification sources: Type #1 entry files and `loader.conf`.
//!
//! Where entries are looked for on a volume: `/loader/entries/*.conf` (the ESP or
//! XBOOTLDR layout) and `/boot/loader/entries/*.conf` (a root or /boot filesystem,
//! the Fedora layout). Paths in an entry are relative to the root of the volume that
//! holds it; for `/boot/loader/entries` on a root filesystem, where the kernel sits
//! in the `/boot` directory, a path not found at the root is looked up under `/boot`.
//!
//! Not supported: `efi` entries (a kexec loader cannot run EFI programs; they are
//! listed as unbootable), `devicetree-overlay` (parsed, not applied).

pub mod counter;
pub mod entry;
pub mod loader_conf;
pub mod order;
pub mod version;

use crate::diag::{Diagnostic, Severity};
use crate::entry::{BlsMeta, Entry, EntryKind, Source, VolumeInfo};
use crate::fs::{FileKind, FileSystem, join};
use loader_conf::LoaderConf;

/// The EFI architecture name of the machine leapboot runs on, as `architecture` keys use.
pub const HOST_ARCH: &str = if cfg!(target_arch = "x86_64") {
    "x64"
} else if cfg!(target_arch = "x86") {
    "ia32"
} else if cfg!(target_arch = "aarch64") {
    "aa64"
} else {
    "unknown"
};

/// Directories holding entry files, with the prefix under which their paths may live.
const ENTRY_DIRS: [(&str, &str); 2] = [("/loader/entries", ""), ("/boot/loader/entries", "/boot")];

/// What BLS found on one volume.
#[derive(Debug, Default)]
pub struct BlsScan {
    /// Entries, in directory order (not yet sorted).
    pub entries: Vec<Entry>,
    /// `loader.conf`, when the volume has one.
    pub loader_conf: Option<LoaderConf>,
}

/// Reads every entry file and `loader.conf` on one volume.
pub fn scan(vol: &VolumeInfo, fs: &dyn FileSystem, diags: &mut Vec<Diagnostic>) -> BlsScan {
    let mut out = BlsScan::default();
    for conf in ["/loader/loader.conf", "/boot/loader/loader.conf"] {
        if fs.is_file(conf) {
            match fs.read(conf, crate::MAX_CONFIG_BYTES) {
                Ok(bytes) => {
                    out.loader_conf =
                        Some(loader_conf::parse(conf, &String::from_utf8_lossy(&bytes), diags));
                    break;
                }
                Err(e) => diags.push(Diagnostic::new(Severity::Error, conf, 0, e.to_string())),
            }
        }
    }
    for (dir, prefix) in ENTRY_DIRS {
        let names = match fs.read_dir(dir) {
            Ok(list) => list,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                diags.push(Diagnostic::new(Severity::Error, dir, 0, e.to_string()));
                continue;
            }
        };
        let mut names: Vec<String> = names
            .into_iter()
            .filter(|d| d.kind != FileKind::Dir && d.name.ends_with(".conf") && !d.name.starts_with('.'))
            .map(|d| d.name)
            .collect();
        names.sort();
        for name in names {
            if out.entries.len() >= crate::MAX_ENTRIES_PER_SOURCE {
                diags.push(Diagnostic::new(
                    Severity::Error,
                    dir,
                    0,
                    format!("more than {} entries, the rest are skipped", crate::MAX_ENTRIES_PER_SOURCE),
                ));
                break;
            }
            let path = join(dir, &name);
            if let Some(e) = load_entry(vol, fs, &path, &name, prefix, diags) {
                if !out.entries.iter().any(|o| o.same_boot(&e)) {
                    out.entries.push(e);
                }
            }
        }
    }
    out
}

/// Resolves a path from an entry: as written, else under `prefix` (see the module docs).
fn resolve(fs: &dyn FileSystem, path: &str, prefix: &str) -> (String, bool) {
    if fs.is_file(path) {
        return (path.to_string(), true);
    }
    if !prefix.is_empty() {
        let alt = format!("{prefix}{path}");
        if fs.is_file(&alt) {
            return (alt, true);
        }
    }
    (path.to_string(), false)
}

fn load_entry(
    vol: &VolumeInfo,
    fs: &dyn FileSystem,
    path: &str,
    name: &str,
    prefix: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Entry> {
    let bytes = match fs.read(path, crate::MAX_CONFIG_BYTES) {
        Ok(b) => b,
        Err(e) => {
            diags.push(Diagnostic::new(Severity::Error, path, 0, e.to_string()));
            return None;
        }
    };
    let file = entry::parse(path, &String::from_utf8_lossy(&bytes), diags);
    let counted = counter::split(name, ".conf");
    if let Some(arch) = &file.architecture {
        if arch != HOST_ARCH {
            diags.push(Diagnostic::new(
                Severity::Info,
                path,
                0,
                format!("entry for architecture '{arch}' hidden on {HOST_ARCH}"),
            ));
            return None;
        }
    }
    let mut problem = None;
    let kernel = match (&file.linux, &file.efi) {
        (Some(linux), _) => linux.clone(),
        (None, Some(efi)) => {
            problem = Some(format!("'efi {efi}' entries need UEFI firmware; leapboot boots only 'linux' entries"));
            efi.clone()
        }
        (None, None) => {
            diags.push(Diagnostic::new(Severity::Warning, path, 0, "entry has no 'linux' key, skipped"));
            return None;
        }
    };
    let (kernel, found) = resolve(fs, &kernel, prefix);
    if !found && problem.is_none() {
        problem = Some(format!("kernel {kernel} not found on {}", vol.device));
    }
    let mut initrds = Vec::with_capacity(file.initrds.len());
    for i in &file.initrds {
        let (p, found) = resolve(fs, i, prefix);
        if !found && problem.is_none() {
            problem = Some(format!("initrd {p} not found on {}", vol.device));
        }
        initrds.push(p);
    }
    let devicetree = file.devicetree.as_deref().map(|d| resolve(fs, d, prefix).0);
    let title = file
        .title
        .clone()
        .or_else(|| file.version.clone())
        .unwrap_or_else(|| counted.stem.clone());
    Some(Entry {
        id: counted.stem.clone(),
        title,
        version: file.version.clone(),
        kind: EntryKind::Bls,
        volume: vol.to_ref(),
        kernel,
        initrds,
        cmdline: file.cmdline(),
        devicetree,
        source: Source { file: path.to_string(), line: 1 },
        path: None,
        problem,
        bls: Some(BlsMeta {
            sort_key: file.sort_key.clone(),
            machine_id: file.machine_id.clone(),
            tries_left: counted.tries_left,
            tries_done: counted.tries_done,
            file_name: name.to_string(),
        }),
    })
}
