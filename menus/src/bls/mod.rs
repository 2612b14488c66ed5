//! Boot Loader Specification sources: Type #1 entry files and `loader.conf` (this
//! module, [`entry`], [`loader_conf`]) and Type #2 unified kernel images ([`uki`]), read
//! so that leapboot lists, orders and chooses entries as systemd-boot does; both kinds
//! are ordered together by [`order::compare`] ([`version`], [`counter`]).
//!
//! Where entries are looked for on a volume: `/loader/entries/*.conf` (the ESP or
//! XBOOTLDR layout; the menu merges every volume's entries) and
//! `/boot/loader/entries/*.conf` (a root or /boot filesystem, the Fedora layout). Paths in
//! an entry are relative to the root of the volume that holds it; for
//! `/boot/loader/entries` on a root filesystem, where the kernel sits in the `/boot`
//! directory, a path not found at the root is looked up under `/boot`.
//!
//! Which files count (`valid_type1_filename` in systemd's `src/boot/boot.c`): names ending
//! in `.conf` in any case, except those starting with `.` or with `auto-` (any case).
//!
//! Entries systemd-boot does not show are left out here too, each with a diagnostic that
//! says why: another `architecture`; none of `linux`, `efi`, `uki`; two different ones of
//! them. Where leapboot differs on purpose: an entry whose kernel or initrd file is
//! missing is listed as unbootable with the reason (systemd-boot hides it), so the user
//! sees why it is not there; each entry file is its own entry even if another describes
//! the same boot (boot counting renames files one by one), except the two names an
//! interrupted boot-counting rename leaves ([`merge_interrupted_renames`]).
//!
//! What a kexec loader can boot: `linux` entries; `uki` entries and `efi` entries whose
//! program is a unified kernel image (booted from its sections). Other `efi` programs and
//! `uki-url` entries are listed as unbootable. `devicetree-overlay` is parsed, not applied.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

pub mod counter;
pub mod entry;
pub mod loader_conf;
pub mod order;
pub mod uki;
pub mod version;

use crate::diag::{Diagnostic, Severity};
use crate::entry::{BlsMeta, Entry, EntryKind, Source, VolumeInfo};
use crate::fs::{FileKind, FileSystem, join};
use entry::LoaderKey;
use loader_conf::LoaderConf;

/// The EFI architecture name of the machine leapboot runs on, as `architecture` keys use
/// it (systemd's `EFI_MACHINE_TYPE_NAME`).
pub const HOST_ARCH: &str = if cfg!(target_arch = "x86_64") {
    "x64"
} else if cfg!(target_arch = "x86") {
    "ia32"
} else if cfg!(target_arch = "aarch64") {
    "aa64"
} else if cfg!(target_arch = "arm") {
    "arm"
} else if cfg!(target_arch = "riscv64") {
    "riscv64"
} else if cfg!(target_arch = "loongarch64") {
    "loongarch64"
} else {
    "unknown"
};

/// Directories holding entry files, with the prefix under which their paths may live.
const ENTRY_DIRS: [(&str, &str); 2] = [("/loader/entries", ""), ("/boot/loader/entries", "/boot")];

/// `loader.conf` locations, first found wins.
const LOADER_CONFS: [&str; 2] = ["/loader/loader.conf", "/boot/loader/loader.conf"];

/// What BLS found on one volume.
#[derive(Debug, Default)]
pub struct BlsScan {
    /// Entries, in file-name order (not yet sorted).
    pub entries: Vec<Entry>,
    /// `loader.conf`, when the volume has one.
    pub loader_conf: Option<LoaderConf>,
}

/// The file-name rule of systemd-boot's `valid_type1_filename`.
pub fn is_entry_file_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && !name.starts_with('.')
        && lower.ends_with(".conf")
        && !lower.starts_with("auto-")
}

/// The entry files in `dir` (Type #1 `.conf` or Type #2 `.efi`), sorted: names
/// `accept` takes; `auto-*` names, which systemd-boot reserves for its own entries,
/// are skipped with a note. `None` when the directory does not exist or cannot be read
/// (the latter with a diagnostic).
pub(crate) fn entry_names(
    fs: &dyn FileSystem,
    dir: &str,
    suffix: &str,
    accept: fn(&str) -> bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let listing = match fs.read_dir(dir) {
        Ok(list) => list,
        Err(e) if e.is_not_found() => return None,
        Err(e) => {
            diags.push(Diagnostic::new(Severity::Error, dir, 0, e.to_string()));
            return None;
        }
    };
    let mut names: Vec<String> = Vec::new();
    for d in listing.into_iter().filter(|d| d.kind != FileKind::Dir) {
        let lower = d.name.to_ascii_lowercase();
        if accept(&d.name) {
            names.push(d.name);
        } else if lower.starts_with("auto-") && lower.ends_with(suffix) {
            diags.push(Diagnostic::new(
                Severity::Info,
                &join(dir, &d.name),
                0,
                "names starting with 'auto-' are reserved for systemd-boot's own entries; skipped",
            ));
        }
    }
    names.sort();
    Some(names)
}

/// Reads every entry file and `loader.conf` on one volume.
pub fn scan(vol: &VolumeInfo, fs: &dyn FileSystem, diags: &mut Vec<Diagnostic>) -> BlsScan {
    let mut out = BlsScan::default();
    for conf in LOADER_CONFS {
        if fs.is_file(conf) {
            match fs.read(conf, crate::MAX_CONFIG_BYTES) {
                Ok(bytes) => {
                    out.loader_conf = Some(loader_conf::parse(
                        conf,
                        &String::from_utf8_lossy(&bytes),
                        diags,
                    ));
                    break;
                }
                Err(e) => diags.push(Diagnostic::new(Severity::Error, conf, 0, e.to_string())),
            }
        }
    }
    for (dir, prefix) in ENTRY_DIRS {
        let Some(names) = entry_names(fs, dir, ".conf", is_entry_file_name, diags) else {
            continue;
        };
        let first_of_dir = out.entries.len();
        for name in names {
            if out.entries.len() >= crate::MAX_ENTRIES_PER_SOURCE {
                diags.push(Diagnostic::new(
                    Severity::Error,
                    dir,
                    0,
                    format!(
                        "more than {} entries, the rest are skipped",
                        crate::MAX_ENTRIES_PER_SOURCE
                    ),
                ));
                break;
            }
            let path = join(dir, &name);
            out.entries
                .extend(load_entry(vol, fs, &path, &name, prefix, diags));
        }
        merge_interrupted_renames(&mut out.entries, first_of_dir, diags);
    }
    out
}

/// Two names of one counted file in one directory, `x+1.conf` and `x+0-1.conf`, are
/// what a power cut leaves when it interrupts leapboot's copy-then-delete boot-counting
/// rename (`leapboot::volume::counting`): the new name was written, the old one not yet
/// removed. They are one entry: when the file [`counter::next_name`] would rename an
/// entry to is also in the directory, the entry (the old name, one more try left) is
/// dropped, so the interrupted rename still counts the try. Only that exact pair is
/// merged: `x+3.conf` beside `x+1.conf`, or `x.conf` beside `x+1.conf`, stay separate
/// entries as in systemd-boot. `entries[from..]` are the entries of one directory.
pub fn merge_interrupted_renames(
    entries: &mut Vec<Entry>,
    from: usize,
    diags: &mut Vec<Diagnostic>,
) {
    let file = |e: &Entry| e.bls.as_ref().map(|m| m.file_name.to_ascii_lowercase());
    let names: Vec<Option<String>> = entries.iter().skip(from).map(file).collect();
    let mut superseded = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let Some(next) = name.as_deref().and_then(counter::next_name) else {
            continue;
        };
        if let Some(n) = names
            .iter()
            .position(|o| o.as_deref() == Some(next.as_str()))
        {
            superseded.push((from + k, from + n));
        }
    }
    for &(old, new) in superseded.iter().rev() {
        let (Some(old), Some(new)) = (entries.get(old), entries.get(new)) else {
            continue;
        };
        diags.push(Diagnostic::new(
            Severity::Warning,
            &old.source.file,
            0,
            format!(
                "the same file as {} under its name before a boot-counting rename that was \
                 interrupted; listing only {}",
                new.source.file, new.source.file
            ),
        ));
    }
    for &(old, _) in superseded.iter().rev() {
        entries.remove(old);
    }
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

/// Reads one entry file into an [`Entry`], or `None` (with a diagnostic) when
/// systemd-boot would not list it.
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

    // Entries systemd-boot drops (LOADER_IGNORE, LOADER_BAD, LOADER_UNDEFINED).
    let foreign = file
        .architecture
        .as_ref()
        .filter(|a| !a.eq_ignore_ascii_case(HOST_ARCH));
    if let Some(arch) = foreign {
        diags.push(Diagnostic::new(
            Severity::Info,
            path,
            0,
            format!("entry for architecture '{arch}' hidden on {HOST_ARCH}"),
        ));
        return None;
    }
    if let Some((a, b)) = file.conflict {
        diags.push(Diagnostic::new(
            Severity::Warning,
            path,
            0,
            format!(
                "entry has both '{}' and '{}'; systemd-boot ignores such entries, skipped",
                a.as_str(),
                b.as_str()
            ),
        ));
        return None;
    }
    let Some(loader) = file.loader else {
        diags.push(Diagnostic::new(
            Severity::Warning,
            path,
            0,
            "entry has no 'linux', 'efi' or 'uki' key, skipped",
        ));
        return None;
    };

    let counted = counter::extract_tries(name);
    let sd_id = counted.stripped.to_ascii_lowercase();
    let id = counted
        .stripped
        .get(..counted.stripped.len().saturating_sub(".conf".len()))
        .unwrap_or_default()
        .to_string();
    let mut problem = None;
    let mut uki = None;
    let mut cmdline = file.cmdline();
    let mut initrds = Vec::new();

    let program = match loader {
        LoaderKey::Linux => file.linux.clone(),
        LoaderKey::Efi => file.efi.clone(),
        LoaderKey::Uki => file.uki.clone(),
        LoaderKey::UkiUrl => None,
    };
    let kernel = match (loader, program) {
        (LoaderKey::UkiUrl, _) => {
            problem =
                Some("'uki-url' entries need network boot, which leapboot does not do".to_string());
            file.uki_url.clone().unwrap_or_default()
        }
        (k, None) => {
            problem = Some(format!("the '{}' path is not valid", k.as_str()));
            String::new()
        }
        (k, Some(p)) => {
            let (p, found) = resolve(fs, &p, prefix);
            if !found {
                problem = Some(format!(
                    "{} {p} not found on {}",
                    if k == LoaderKey::Linux {
                        "kernel"
                    } else {
                        "program"
                    },
                    vol.device
                ));
            } else if k != LoaderKey::Linux {
                match uki::load(fs, &p) {
                    Ok(u) if u.machine == uki::HOST_MACHINE && u.sections.linux.is_some() => {
                        if file.options.is_empty() {
                            cmdline = u.cmdline.clone().unwrap_or_default();
                        }
                        uki = Some(u.sections);
                    }
                    Ok(_) | Err(_) if k == LoaderKey::Efi => {
                        problem = Some(format!(
                            "'efi {p}' is not a unified kernel image for this machine; leapboot cannot run other EFI programs"
                        ));
                    }
                    Ok(_) => {
                        problem = Some(format!(
                            "{p} is not a unified kernel image for this machine"
                        ))
                    }
                    Err(e) => problem = Some(format!("{p}: {e}")),
                }
            }
            p
        }
    };
    if loader == LoaderKey::Linux {
        for i in &file.initrds {
            let (p, found) = resolve(fs, i, prefix);
            if !found && problem.is_none() {
                problem = Some(format!("initrd {p} not found on {}", vol.device));
            }
            initrds.push(p);
        }
    } else if !file.initrds.is_empty() {
        diags.push(Diagnostic::new(
            Severity::Info,
            path,
            0,
            format!(
                "'initrd' lines are ignored for '{}' entries, as systemd-boot ignores them",
                loader.as_str()
            ),
        ));
    }
    let devicetree = file.devicetree.as_deref().map(|d| resolve(fs, d, prefix).0);
    // systemd-boot shows `title`, else the id.
    let title = file.title.clone().unwrap_or_else(|| sd_id.clone());
    Some(Entry {
        id,
        title,
        version: file.version.clone(),
        kind: EntryKind::Bls,
        volume: vol.to_ref(),
        kernel,
        initrds,
        cmdline,
        devicetree,
        source: Source {
            file: path.to_string(),
            line: 1,
        },
        path: None,
        problem,
        bls: Some(BlsMeta {
            sort_key: file.sort_key.clone(),
            machine_id: file.machine_id.clone(),
            tries_left: counted.tries_left(),
            tries_done: counted.tries_done(),
            file_name: name.to_string(),
            sd_id,
        }),
        uki,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::VolumeRole;
    use crate::fs::MemFs;

    fn vol() -> VolumeInfo {
        VolumeInfo {
            uuid: Some("1234-ABCD".into()),
            label: None,
            device: "vda1".into(),
            fs_type: "vfat".into(),
            role: VolumeRole::Esp,
        }
    }

    fn run(fs: &MemFs) -> (Vec<Entry>, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let s = scan(&vol(), fs, &mut d);
        (s.entries, d)
    }

    /// `valid_type1_filename`.
    #[test]
    fn entry_file_names() {
        for (n, ok) in [
            ("a.conf", true),
            ("A.CONF", true),
            (".a.conf", false),
            ("auto-x.conf", false),
            ("AUTO-x.conf", false),
            ("a.conf~", false),
            ("a", false),
            ("", false),
        ] {
            assert_eq!(is_entry_file_name(n), ok, "{n}");
        }
    }

    #[test]
    fn ids_and_counters() {
        let fs = MemFs::new()
            .with("/loader/entries/Fedora-6.8+2-1.conf", "linux /k\n")
            .with("/k", "K");
        let (v, _) = run(&fs);
        let m = v[0].bls.as_ref().unwrap();
        assert_eq!(v[0].id, "Fedora-6.8");
        assert_eq!(m.sd_id, "fedora-6.8.conf");
        assert_eq!((m.tries_left, m.tries_done), (Some(2), Some(1)));
        assert_eq!(v[0].title, "fedora-6.8.conf");
        let (old, new) = counter::rename_for_boot(&v[0]).unwrap();
        assert_eq!(old, "/loader/entries/Fedora-6.8+2-1.conf");
        assert_eq!(new, "/loader/entries/Fedora-6.8+1-2.conf");
    }

    /// An interrupted copy-then-delete rename leaves `x+1.conf` and `x+0-1.conf`: one
    /// entry, the renamed one. Other counters of one id, and an uncounted file, stay.
    #[test]
    fn interrupted_rename_pair_is_one_entry() {
        let fs = MemFs::new()
            .with("/loader/entries/x+1.conf", "title X\nlinux /k\n")
            .with("/loader/entries/X+0-1.CONF", "title X\nlinux /k\n")
            .with("/loader/entries/y+3.conf", "title Y\nlinux /k\n")
            .with("/loader/entries/y+1-2.conf", "title Y\nlinux /k\n")
            .with("/loader/entries/z.conf", "title Z\nlinux /k\n")
            .with("/loader/entries/z+1.conf", "title Z\nlinux /k\n")
            .with("/k", "K");
        let (v, d) = run(&fs);
        let files: Vec<_> = v
            .iter()
            .map(|e| e.bls.as_ref().unwrap().file_name.as_str())
            .collect();
        assert_eq!(
            files,
            ["X+0-1.CONF", "y+1-2.conf", "y+3.conf", "z+1.conf", "z.conf"]
        );
        let merged: Vec<_> = d
            .iter()
            .filter(|d| {
                d.message
                    .contains("boot-counting rename that was interrupted")
            })
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            merged,
            [
                "/loader/entries/x+1.conf: the same file as /loader/entries/X+0-1.CONF under its name \
              before a boot-counting rename that was interrupted; listing only /loader/entries/X+0-1.CONF"
            ]
        );
    }

    #[test]
    fn hidden_entries_say_why() {
        let fs = MemFs::new()
            .with(
                "/loader/entries/arch.conf",
                "linux /k\narchitecture aa64-not-this\n",
            )
            .with("/loader/entries/none.conf", "title Nothing\n")
            .with("/loader/entries/both.conf", "linux /k\nefi /e.efi\n")
            .with("/loader/entries/ok.conf", "linux /k\narchitecture X64\n")
            .with("/k", "K");
        let (v, d) = run(&fs);
        let ids: Vec<_> = v.iter().map(|e| e.id.as_str()).collect();
        if HOST_ARCH == "x64" {
            assert_eq!(ids, ["ok"]);
        }
        assert!(
            d.iter()
                .any(|d| d.file.ends_with("arch.conf") && d.message.contains("architecture"))
        );
        assert!(
            d.iter()
                .any(|d| d.file.ends_with("none.conf") && d.message.contains("no 'linux'"))
        );
        assert!(
            d.iter()
                .any(|d| d.file.ends_with("both.conf") && d.message.contains("both"))
        );
    }

    #[test]
    fn missing_files_are_unbootable() {
        let fs = MemFs::new()
            .with("/loader/entries/a.conf", "linux /nope\n")
            .with(
                "/loader/entries/b.conf",
                "linux /k\ninitrd /i\ninitrd /gone\n",
            )
            .with("/k", "K")
            .with("/i", "I");
        let (v, _) = run(&fs);
        assert!(
            v[0].problem
                .as_deref()
                .unwrap()
                .contains("kernel /nope not found")
        );
        assert!(
            v[1].problem
                .as_deref()
                .unwrap()
                .contains("initrd /gone not found")
        );
        assert_eq!(v[1].initrds, ["/i", "/gone"]);
    }

    #[test]
    fn fedora_layout_resolves_under_boot() {
        let fs = MemFs::new()
            .with(
                "/boot/loader/entries/f.conf",
                "linux /vmlinuz-6\ninitrd /initramfs-6.img\n",
            )
            .with("/boot/vmlinuz-6", "K")
            .with("/boot/initramfs-6.img", "I");
        let (v, _) = run(&fs);
        assert_eq!(
            (v[0].kernel.as_str(), v[0].initrds[0].as_str()),
            ("/boot/vmlinuz-6", "/boot/initramfs-6.img")
        );
        assert!(v[0].bootable());
    }

    #[test]
    fn efi_and_uki_keys() {
        let img = uki::build(
            uki::HOST_MACHINE,
            &[
                (".osrel", b"ID=x\n"),
                (".cmdline", b"from-uki"),
                (".linux", b"K"),
            ],
        );
        let fs = MemFs::new()
            .with("/loader/entries/u.conf", "uki /EFI/x.efi\n")
            .with(
                "/loader/entries/o.conf",
                "uki /EFI/x.efi\noptions mine\ninitrd /i\n",
            )
            .with("/loader/entries/e.conf", "efi /EFI/x.efi\n")
            .with("/loader/entries/shell.conf", "efi /shell.efi\n")
            .with(
                "/loader/entries/url.conf",
                "uki-url http://example.invalid/x.efi\n",
            )
            .with("/EFI/x.efi", img)
            .with("/shell.efi", "MZ");
        let (v, d) = run(&fs);
        let by = |id: &str| v.iter().find(|e| e.id == id).unwrap();
        assert_eq!(
            (by("u").cmdline.as_str(), by("u").uki.is_some()),
            ("from-uki", true)
        );
        assert_eq!(
            (by("o").cmdline.as_str(), by("o").initrds.len()),
            ("mine", 0)
        );
        assert!(by("e").bootable());
        assert!(
            by("shell")
                .problem
                .as_deref()
                .unwrap()
                .contains("cannot run other EFI programs")
        );
        assert!(by("url").problem.is_some());
        assert!(
            d.iter()
                .any(|d| d.message.contains("'initrd' lines are ignored"))
        );
    }

    #[test]
    fn loader_conf_found() {
        let fs = MemFs::new().with("/loader/loader.conf", "default A*\n");
        let mut d = Vec::new();
        assert_eq!(
            scan(&vol(), &fs, &mut d)
                .loader_conf
                .unwrap()
                .default
                .as_deref(),
            Some("a*")
        );
    }
}
