//! Type #2 entries: unified kernel images (Boot Loader Specification, "Type #2 EFI
//! Unified Kernel Images"; the UAPI "Unified Kernel Image" specification) in
//! `/EFI/Linux/*.efi`, and the programs of Type #1 `uki`/`efi` entries.
//!
//! A UKI is a PE file whose sections carry the kernel (`.linux`), initrd (`.initrd`),
//! command line (`.cmdline`), the OS's `os-release` (`.osrel`) and `uname -r` (`.uname`).
//! A kexec loader does not run the EFI stub: it reads the `.linux` and `.initrd` byte
//! ranges this module finds ([`UkiSections`]) and hands them to kexec with `.cmdline`.
//!
//! The headers are read by [`crate::pe`]; on top of it this module mirrors systemd-boot's
//! `pe_locate_sections` (`src/boot/pe.c`): the machine type must be this machine's, the
//! first section of each name wins, and a section's bytes in the file are
//! `min(SizeOfRawData, VirtualSize)` from `PointerToRawData`. Menu data mirrors
//! `boot_entry_add_type2` (`src/boot/boot.c`): the title, version and sort key come from
//! `.osrel` by `bootspec_pick_name_version_sort_key`, an image without `.osrel` or without
//! any name field is not listed, and `.cmdline` is cleaned up by `mangle_stub_cmdline`.
//!
//! Every section range is checked against the file length and a named cap
//! ([`MAX_TEXT_SECTION_BYTES`], [`MAX_PAYLOAD_SECTION_BYTES`]) before it is read;
//! parsing never panics and never allocates from an unchecked size.
//!
//! Not supported: multi-profile UKIs list only their first profile (profile 0, the base
//! sections plus those of the first `.profile` group); `.dtb`, `.ucode`, `.pcrsig` and
//! add-ons are ignored.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::counter;
use super::entry::{lines, split_line};
use crate::diag::{Diagnostic, Severity};
use crate::entry::{BlsMeta, Entry, EntryKind, SectionRange, Source, UkiSections, VolumeInfo};
use crate::fs::{FileSystem, FsError, join};
use crate::pe::{self, PeError, PeHeaders};

pub use crate::pe::HOST_MACHINE;

/// Largest text section (`.osrel`, `.cmdline`, `.uname`, `.profile`) read for the menu,
/// systemd's `PE_SECTION_SIZE_MAX`.
pub const MAX_TEXT_SECTION_BYTES: u64 = 4 * 1024 * 1024;
/// Largest `.linux` or `.initrd` section leapboot will hand to kexec.
pub const MAX_PAYLOAD_SECTION_BYTES: u64 = 256 * 1024 * 1024;

/// A parsed image: its machine, section ranges and the text sections' contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uki {
    /// PE machine type (`0x8664` x86-64, `0xaa64` arm64, …).
    pub machine: u16,
    /// Section ranges.
    pub sections: UkiSections,
    /// `.osrel` text, up to its first NUL.
    pub os_release: Option<String>,
    /// `.cmdline` after `mangle_stub_cmdline`.
    pub cmdline: Option<String>,
    /// `.uname` text, trimmed.
    pub uname: Option<String>,
}

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UkiError {
    /// The PE headers are not those of a usable image.
    #[error(transparent)]
    Pe(#[from] PeError),
    /// A section needed runs past the end of the file.
    #[error(
        "section {name} at {offset:#x} ({size} bytes) runs past the end of the file ({file_len} bytes)"
    )]
    SectionOutOfBounds {
        /// Section name.
        name: &'static str,
        /// Its offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// File length.
        file_len: u64,
    },
    /// A section needed is larger than leapboot reads.
    #[error("section {name} of {size} bytes is larger than the limit of {max} bytes")]
    SectionTooLarge {
        /// Section name.
        name: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Reading the file failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Finds `name` for profile 0: the first match among the base sections (before the first
/// `.profile`), overridden by the first match in the first `.profile` group.
fn locate(sections: &[pe::Section], name: &str) -> Option<SectionRange> {
    let mut groups = sections.split(|s| s.name_is(".profile"));
    let base = groups.next().unwrap_or_default();
    let profile0 = groups.next().unwrap_or_default();
    let find = |g: &[pe::Section]| {
        g.iter().find(|s| s.name_is(name)).map(|s| {
            let r = s.data_in_file();
            SectionRange {
                offset: r.start,
                size: r.end - r.start,
            }
        })
    };
    find(profile0).or_else(|| find(base)).filter(|r| r.size > 0)
}

/// Checks a range against the file length and a cap.
fn checked(
    name: &'static str,
    r: Option<SectionRange>,
    file_len: u64,
    max: u64,
) -> Result<Option<SectionRange>, UkiError> {
    let Some(r) = r else { return Ok(None) };
    if r.offset
        .checked_add(r.size)
        .is_none_or(|end| end > file_len)
    {
        return Err(UkiError::SectionOutOfBounds {
            name,
            offset: r.offset,
            size: r.size,
            file_len,
        });
    }
    if r.size > max {
        return Err(UkiError::SectionTooLarge {
            name,
            size: r.size,
            max,
        });
    }
    Ok(Some(r))
}

/// Text of a section up to its first NUL, as systemd-boot reads it into a C string.
fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// systemd's `mangle_stub_cmdline`: drop leading whitespace and control characters, turn
/// the inner ones into spaces, drop trailing spaces.
pub fn mangle_cmdline(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| if u32::from(c) <= 0x20 { ' ' } else { c })
        .collect();
    mapped.trim_matches(' ').to_string()
}

/// Parses an image through a positioned reader: `read(offset, len)` returns up to `len`
/// bytes at `offset` of a file of `file_len` bytes. Only the headers, the section table
/// and the text sections are read; `.linux` and `.initrd` are only located.
fn parse_with(
    file_len: u64,
    read: &mut dyn FnMut(u64, usize) -> Result<Vec<u8>, UkiError>,
) -> Result<Uki, UkiError> {
    let headers: PeHeaders = pe::read_headers(file_len, read)?;
    let table = &headers.sections;
    let payload = |name: &'static str| {
        checked(
            name,
            locate(table, name),
            file_len,
            MAX_PAYLOAD_SECTION_BYTES,
        )
    };
    let text_section =
        |name: &'static str| checked(name, locate(table, name), file_len, MAX_TEXT_SECTION_BYTES);
    let sections = UkiSections {
        linux: payload(".linux")?,
        initrd: payload(".initrd")?,
        cmdline: text_section(".cmdline")?,
        osrel: text_section(".osrel")?,
        uname: text_section(".uname")?,
    };
    let mut read_text = |r: Option<SectionRange>| -> Result<Option<String>, UkiError> {
        match r {
            // The size is at most MAX_TEXT_SECTION_BYTES, so it fits a usize.
            Some(r) => Ok(Some(text(&read(
                r.offset,
                usize::try_from(r.size).unwrap_or(0),
            )?))),
            None => Ok(None),
        }
    };
    let os_release = read_text(sections.osrel)?;
    let cmdline = read_text(sections.cmdline)?.map(|c| mangle_cmdline(&c));
    let uname = read_text(sections.uname)?.map(|u| u.trim().to_string());
    Ok(Uki {
        machine: headers.machine(),
        sections,
        os_release,
        cmdline,
        uname,
    })
}

/// Parses an image held in memory. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8]) -> Result<Uki, UkiError> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    parse_with(len, &mut |offset, n| {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        Ok(crate::bytes::slice(bytes, start, n)
            .or_else(|| bytes.get(start..))
            .unwrap_or_default()
            .to_vec())
    })
}

/// Parses the image at `path` on `fs`, reading only the parts it needs.
pub fn load(fs: &dyn FileSystem, path: &str) -> Result<Uki, UkiError> {
    let len = fs.metadata(path)?.len;
    parse_with(len, &mut |offset, n| {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        Ok(fs.read_range(path, offset, n)?)
    })
}

/// What the menu shows for an image, from its os-release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsReleaseInfo {
    /// Title: `PRETTY_NAME`, else `IMAGE_ID`, else `NAME`, else `ID`.
    pub name: String,
    /// Version: `IMAGE_VERSION`, else `VERSION`, else `VERSION_ID`, else `BUILD_ID`.
    pub version: Option<String>,
    /// Sort key: `IMAGE_ID`, else `ID`.
    pub sort_key: Option<String>,
}

/// Reads os-release text as systemd-boot does (`line_get_key_value` with `=`: the value
/// loses one pair of surrounding double quotes, nothing else is unescaped; the last
/// assignment wins) and picks name, version and sort key as
/// `bootspec_pick_name_version_sort_key` does. `None` when no name field is set.
pub fn os_release_info(text: &str) -> Option<OsReleaseInfo> {
    let mut f: [Option<String>; 8] = Default::default();
    const KEYS: [&str; 8] = [
        "PRETTY_NAME",
        "IMAGE_ID",
        "NAME",
        "ID",
        "IMAGE_VERSION",
        "VERSION",
        "VERSION_ID",
        "BUILD_ID",
    ];
    for (_, raw) in lines(text) {
        let hit = split_line(raw, &['='])
            .and_then(|(k, v)| KEYS.iter().position(|&key| key == k).map(|i| (i, v)));
        if let Some(slot) = hit.and_then(|(i, _)| f.get_mut(i)) {
            *slot = hit.map(|(_, v)| v.to_string());
        }
    }
    let [
        pretty,
        image_id,
        name,
        id,
        image_version,
        version,
        version_id,
        build_id,
    ] = f;
    let title = pretty
        .or_else(|| image_id.clone())
        .or(name)
        .or_else(|| id.clone())?;
    Some(OsReleaseInfo {
        name: title,
        version: image_version.or(version).or(version_id).or(build_id),
        sort_key: image_id.or(id),
    })
}

/// The file-name rules of `config_load_type2_entries`: not hidden, `.efi` in any case,
/// not `auto-*`.
pub fn is_candidate_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.') && lower.ends_with(".efi") && !lower.starts_with("auto-")
}

/// Directories searched for images: `/EFI/Linux` on an ESP or XBOOTLDR partition, and
/// `/boot/EFI/Linux` where `/boot` is a directory of a root filesystem.
const UKI_DIRS: [&str; 2] = ["/EFI/Linux", "/boot/EFI/Linux"];

/// Builds the entry for one image file that parsed; `None` (with a diagnostic) when
/// systemd-boot would not list it.
fn entry_for(
    vol: &VolumeInfo,
    path: &str,
    name: &str,
    uki: Uki,
    diags: &mut Vec<Diagnostic>,
) -> Option<Entry> {
    if uki.machine != HOST_MACHINE {
        diags.push(Diagnostic::new(
            Severity::Info,
            path,
            0,
            format!(
                "image for PE machine {:#06x} hidden on this machine ({HOST_MACHINE:#06x})",
                uki.machine
            ),
        ));
        return None;
    }
    let Some(osrel) = uki.os_release.as_deref() else {
        diags.push(Diagnostic::new(
            Severity::Warning,
            path,
            0,
            "image has no .osrel section, skipped",
        ));
        return None;
    };
    let Some(info) = os_release_info(osrel) else {
        diags.push(Diagnostic::new(
            Severity::Warning,
            path,
            0,
            "image's .osrel has none of PRETTY_NAME, IMAGE_ID, NAME, ID; skipped",
        ));
        return None;
    };
    let counted = counter::extract_tries(name);
    let stem = counted
        .stripped
        .get(..counted.stripped.len().saturating_sub(4))
        .unwrap_or_default();
    let problem = uki
        .sections
        .linux
        .is_none()
        .then(|| format!("{path} has no .linux section"));
    Some(Entry {
        id: stem.to_string(),
        title: info.name,
        version: info.version,
        kind: EntryKind::Uki,
        volume: vol.to_ref(),
        kernel: path.to_string(),
        initrds: Vec::new(),
        cmdline: uki.cmdline.clone().unwrap_or_default(),
        devicetree: None,
        // Line 0: the definition is the whole file, not a line of a text config.
        source: Source {
            file: path.to_string(),
            line: 0,
        },
        path: None,
        problem,
        bls: Some(BlsMeta {
            sort_key: info.sort_key,
            machine_id: None,
            tries_left: counted.tries_left(),
            tries_done: counted.tries_done(),
            file_name: name.to_string(),
            sd_id: counted.stripped.to_ascii_lowercase(),
        }),
        uki: Some(uki.sections),
    })
}

/// Lists the unified kernel images on one volume, in directory order (not yet sorted).
/// Images that cannot be read are skipped with a diagnostic naming the file.
pub fn scan(vol: &VolumeInfo, fs: &dyn FileSystem, diags: &mut Vec<Diagnostic>) -> Vec<Entry> {
    let mut out = Vec::new();
    for dir in UKI_DIRS {
        let Some(names) = super::entry_names(fs, dir, ".efi", is_candidate_name, diags) else {
            continue;
        };
        for name in names {
            if out.len() >= crate::MAX_ENTRIES_PER_SOURCE {
                diags.push(Diagnostic::new(
                    Severity::Error,
                    dir,
                    0,
                    format!(
                        "more than {} images, the rest are skipped",
                        crate::MAX_ENTRIES_PER_SOURCE
                    ),
                ));
                return out;
            }
            let path = join(dir, &name);
            match load(fs, &path) {
                Ok(uki) => out.extend(entry_for(vol, &path, &name, uki, diags)),
                Err(e) => diags.push(Diagnostic::new(
                    Severity::Warning,
                    &path,
                    0,
                    format!("not a usable unified kernel image: {e}"),
                )),
            }
        }
    }
    out
}

/// Writes a minimal unified kernel image holding the given sections ([`pe::build`]):
/// enough for [`parse`], systemd's `bootctl` and leapboot, not an EFI program (there is
/// no code and no stub). For tests and for building test disks without `ukify`.
pub fn build(machine: u16, sections: &[(&str, &[u8])]) -> Vec<u8> {
    pe::build(machine, sections)
}

#[cfg(test)]
// Tests convert small known sizes and xorshift values with `as`.
#[allow(clippy::as_conversions)]
mod tests {
    use super::*;
    use crate::entry::VolumeRole;
    use crate::fs::MemFs;
    use crate::pe::E_LFANEW_OFFSET as E_LFANEW;

    const OSREL: &[u8] = b"NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Workstation Edition)\"\n";

    fn sample() -> Vec<u8> {
        build(
            HOST_MACHINE,
            &[
                (".osrel", OSREL),
                (".cmdline", b"  root=UUID=1 ro\nquiet \0\0"),
                (".uname", b"6.8.5-301.fc40.x86_64\n"),
                (".linux", b"KERNEL"),
                (".initrd", b"INITRD!"),
            ],
        )
    }

    fn vol() -> VolumeInfo {
        VolumeInfo {
            uuid: Some("1234-ABCD".into()),
            label: None,
            device: "vda1".into(),
            fs_type: "vfat".into(),
            role: VolumeRole::Esp,
        }
    }

    #[test]
    fn sections_located_exactly() {
        let bytes = sample();
        let u = parse(&bytes).unwrap();
        let get = |r: Option<SectionRange>| {
            let r = r.unwrap();
            &bytes[r.offset as usize..(r.offset + r.size) as usize]
        };
        assert_eq!(get(u.sections.linux), b"KERNEL");
        assert_eq!(get(u.sections.initrd), b"INITRD!");
        assert_eq!(u.machine, HOST_MACHINE);
        assert_eq!(u.cmdline.as_deref(), Some("root=UUID=1 ro quiet"));
        assert_eq!(u.uname.as_deref(), Some("6.8.5-301.fc40.x86_64"));
    }

    /// `bootspec_pick_name_version_sort_key`: each field's fallbacks, in order.
    #[test]
    fn os_release_picks() {
        type Row<'a> = (&'a str, Option<(&'a str, Option<&'a str>, Option<&'a str>)>);
        let rows: &[Row<'_>] = &[
            (
                "PRETTY_NAME=P\nIMAGE_ID=img\nNAME=N\nID=id\nIMAGE_VERSION=iv\nVERSION=v\nVERSION_ID=vi\nBUILD_ID=b\n",
                Some(("P", Some("iv"), Some("img"))),
            ),
            (
                "IMAGE_ID=img\nNAME=N\nID=id\nVERSION=v\nVERSION_ID=vi\n",
                Some(("img", Some("v"), Some("img"))),
            ),
            (
                "NAME=N\nID=id\nVERSION_ID=vi\nBUILD_ID=b\n",
                Some(("N", Some("vi"), Some("id"))),
            ),
            ("ID=id\nBUILD_ID=b\n", Some(("id", Some("b"), Some("id")))),
            ("VERSION=1\n", None),
        ];
        for &(text, want) in rows {
            let got = os_release_info(text);
            let got = got
                .as_ref()
                .map(|i| (i.name.as_str(), i.version.as_deref(), i.sort_key.as_deref()));
            assert_eq!(got, want, "{text:?}");
        }
    }

    /// Quotes: one pair of double quotes goes; single quotes and escapes stay, as in
    /// systemd-boot's reader.
    #[test]
    fn os_release_quoting() {
        let i = os_release_info("PRETTY_NAME=\"Debian \\\"x\\\"\"\nID='debian'\n").unwrap();
        assert_eq!(i.name, "Debian \\\"x\\\"");
        assert_eq!(i.sort_key.as_deref(), Some("'debian'"));
    }

    #[test]
    fn cmdline_mangling() {
        assert_eq!(mangle_cmdline("\n\t a\tb\r\nc  \0"), "a b  c");
        assert_eq!(mangle_cmdline(""), "");
    }

    #[test]
    fn scan_makes_entries() {
        let fs = MemFs::new()
            .with("/EFI/Linux/fedora-6.8.5+3-1.efi", sample())
            .with("/EFI/Linux/auto-x.efi", sample())
            .with("/EFI/Linux/.hidden.efi", sample())
            .with("/EFI/Linux/notes.txt", "x")
            .with("/EFI/Linux/broken.efi", "MZ not really");
        let mut d = Vec::new();
        let v = scan(&vol(), &fs, &mut d);
        assert_eq!(v.len(), 1, "{v:?}");
        let e = &v[0];
        assert_eq!(e.id, "fedora-6.8.5");
        assert_eq!(e.kind, EntryKind::Uki);
        assert_eq!(e.title, "Fedora Linux 40 (Workstation Edition)");
        assert_eq!(e.version.as_deref(), Some("40"));
        assert_eq!(e.kernel, "/EFI/Linux/fedora-6.8.5+3-1.efi");
        assert_eq!(e.cmdline, "root=UUID=1 ro quiet");
        let m = e.bls.as_ref().unwrap();
        assert_eq!(
            (
                m.sd_id.as_str(),
                m.sort_key.as_deref(),
                m.tries_left,
                m.tries_done
            ),
            ("fedora-6.8.5.efi", Some("fedora"), Some(3), Some(1))
        );
        assert!(e.uki.as_ref().unwrap().linux.is_some());
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.iter().any(|d| d.file.ends_with("broken.efi")));
        assert!(d.iter().any(|d| d.file.ends_with("auto-x.efi")));
        let (old, new) = crate::bls::counter::rename_for_boot(e).unwrap();
        assert_eq!(
            (old.as_str(), new.as_str()),
            (
                "/EFI/Linux/fedora-6.8.5+3-1.efi",
                "/EFI/Linux/fedora-6.8.5+2-2.efi"
            )
        );
    }

    #[test]
    fn other_machine_hidden() {
        let fs = MemFs::new().with(
            "/EFI/Linux/a.efi",
            build(0x1234, &[(".osrel", OSREL), (".linux", b"K")]),
        );
        let mut d = Vec::new();
        assert!(scan(&vol(), &fs, &mut d).is_empty());
        assert!(d[0].message.contains("0x1234"));
    }

    #[test]
    fn no_osrel_or_no_name_hidden() {
        let fs = MemFs::new()
            .with("/EFI/Linux/a.efi", build(HOST_MACHINE, &[(".linux", b"K")]))
            .with(
                "/EFI/Linux/b.efi",
                build(
                    HOST_MACHINE,
                    &[(".osrel", b"VERSION_ID=1\n"), (".linux", b"K")],
                ),
            );
        let mut d = Vec::new();
        assert!(scan(&vol(), &fs, &mut d).is_empty());
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn no_linux_is_unbootable() {
        let fs = MemFs::new().with(
            "/EFI/Linux/a.efi",
            build(HOST_MACHINE, &[(".osrel", OSREL)]),
        );
        let v = scan(&vol(), &fs, &mut Vec::new());
        assert!(v[0].problem.as_deref().unwrap().contains(".linux"));
    }

    /// The first section of a name wins (`pe_locate_sections`).
    #[test]
    fn first_section_wins() {
        let u = parse(&build(
            HOST_MACHINE,
            &[(".cmdline", b"one"), (".cmdline", b"two")],
        ))
        .unwrap();
        assert_eq!(u.cmdline.as_deref(), Some("one"));
    }

    /// Profile 0 takes the first `.profile` group's sections over the base ones.
    #[test]
    fn profile_zero_overrides_base() {
        let u = parse(&build(
            HOST_MACHINE,
            &[
                (".cmdline", b"base"),
                (".profile", b"ID=a"),
                (".cmdline", b"p0"),
                (".profile", b"ID=b"),
                (".cmdline", b"p1"),
            ],
        ))
        .unwrap();
        assert_eq!(u.cmdline.as_deref(), Some("p0"));
    }

    /// Each corruption gives its own error.
    #[test]
    fn corrupt_images() {
        let good = sample();
        let set = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            parse(&b)
        };
        assert!(matches!(
            parse(b"MZ"),
            Err(UkiError::Pe(PeError::TooShort { len: 2 }))
        ));
        assert!(matches!(
            set(&|b| b[0] = b'X'),
            Err(UkiError::Pe(PeError::NoDosMagic))
        ));
        assert!(matches!(
            set(&|b| b[E_LFANEW..E_LFANEW + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes())),
            Err(UkiError::Pe(PeError::BadPeOffset { .. }))
        ));
        assert!(matches!(
            set(&|b| b[E_LFANEW..E_LFANEW + 4].copy_from_slice(&8u32.to_le_bytes())),
            Err(UkiError::Pe(PeError::BadPeOffset { offset: 8 }))
        ));
        assert!(matches!(
            set(&|b| b[64] = b'X'),
            Err(UkiError::Pe(PeError::NoPeSignature { offset: 64 }))
        ));
        assert!(matches!(
            set(&|b| b[88] = 0),
            Err(UkiError::Pe(PeError::BadOptionalMagic { .. }))
        ));
        assert!(matches!(
            set(&|b| b[70..72].copy_from_slice(&0u16.to_le_bytes())),
            Err(UkiError::Pe(PeError::NoSections { .. }))
        ));
        assert!(matches!(
            set(&|b| b[70..72].copy_from_slice(&60000u16.to_le_bytes())),
            Err(UkiError::Pe(PeError::SectionTableOutOfBounds { .. }))
        ));
        assert!(matches!(
            set(&|b| b[84..86].copy_from_slice(&0xfff0u16.to_le_bytes())),
            Err(UkiError::Pe(PeError::SectionTableOutOfBounds { .. }))
        ));
        // First section header (.osrel): point its data past the end.
        let h = 64 + 24 + 240;
        assert!(matches!(
            set(&|b| b[h + 20..h + 24].copy_from_slice(&0xffff_0000u32.to_le_bytes())),
            Err(UkiError::SectionOutOfBounds { name: ".osrel", .. })
        ));
    }

    /// Text sections above `PE_SECTION_SIZE_MAX` are refused before reading.
    #[test]
    fn text_section_cap() {
        let big = vec![b'a'; (MAX_TEXT_SECTION_BYTES + 1) as usize];
        assert!(matches!(
            parse(&build(HOST_MACHINE, &[(".cmdline", &big)])),
            Err(UkiError::SectionTooLarge {
                name: ".cmdline",
                ..
            })
        ));
    }

    /// Truncations and bit flips of a good image never panic.
    #[test]
    fn garbage_never_panics() {
        let good = sample();
        for len in 0..good.len().min(2048) {
            let _ = parse(&good[..len]);
        }
        let mut x: u32 = 1;
        for _ in 0..3000 {
            let mut b = good.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = (x as usize) % 1024.min(b.len());
                b[i] = (x >> 8) as u8;
            }
            let _ = parse(&b);
        }
        let _ = parse(&[]);
        let _ = parse(&[0xff; 4096]);
    }
}
