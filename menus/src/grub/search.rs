//! `search` and `probe` over the volumes leapboot reads, after
//! `grub-core/commands/search.c`, `search_wrap.c` and `probe.c`.
//!
//! `search --fs-uuid` compares without regard to case (GRUB prints FAT UUIDs in
//! lowercase, blkid in uppercase); `--label` compares exactly; `--file` looks for a
//! regular file. Hint devices are tried first, then every volume in order; the first
//! match wins and its GRUB device name goes into the variable (`root` by default).
//! Nothing found leaves the variable as it was. Volumes leapboot cannot read (XFS,
//! LVM, LUKS...) are not searched, so a search for them fails here where GRUB might
//! succeed; that shows up as a missing kernel on the entry.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::interp::{
    ERR_BAD_ARGUMENT, ERR_FILE_NOT_FOUND, ERR_INVALID_COMMAND, ERR_NONE, FileRef, Interp,
};
use super::options::{self, OptSpec, Takes};
use crate::diag::Severity;
use crate::fs::{FileKind, normalize};

/// What a search compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// Filesystem UUID.
    Uuid,
    /// Filesystem label.
    Label,
    /// A file that exists on the volume.
    File,
}

const SEARCH_OPTS: [OptSpec; 14] = [
    OptSpec {
        long: "file",
        short: Some('f'),
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "label",
        short: Some('l'),
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "fs-uuid",
        short: Some('u'),
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "set",
        short: Some('s'),
        takes: Takes::OptionalValue,
    },
    OptSpec {
        long: "no-floppy",
        short: Some('n'),
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "efidisk-only",
        short: None,
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "cryptodisk-only",
        short: None,
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "hint",
        short: Some('h'),
        takes: Takes::Value,
    },
    OptSpec {
        long: "hint-ieee1275",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "hint-bios",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "hint-baremetal",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "hint-efi",
        short: None,
        takes: Takes::Value,
    },
    OptSpec {
        long: "hint-arc",
        short: None,
        takes: Takes::Value,
    },
    // rhboot (Fedora 35+ ESP stubs): search only the disk GRUB was loaded from.
    // leapboot does not know that disk and searches every volume.
    OptSpec {
        long: "root-dev-only",
        short: Some('r'),
        takes: Takes::Nothing,
    },
];

/// The volume a search finds, hints first.
pub(super) fn find(
    it: &mut Interp<'_>,
    kind: SearchKind,
    key: &str,
    hints: &[String],
) -> Option<usize> {
    let mut order: Vec<usize> = hints
        .iter()
        .filter_map(|h| {
            it.devices.resolve(
                h.trim_end_matches(',')
                    .trim_start_matches('(')
                    .trim_end_matches(')'),
            )
        })
        .collect();
    order.extend(0..it.volumes.len());
    let path = if kind == SearchKind::File {
        normalize(key)
    } else {
        None
    };
    order.into_iter().find(|&i| {
        let Some(v) = it.volumes.get(i) else { return false };
        match kind {
            SearchKind::Uuid => v.info.uuid.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(key)),
            SearchKind::Label => v.info.label.as_deref() == Some(key),
            SearchKind::File => path.as_ref().is_some_and(|p| {
                key.starts_with('/')
                    && matches!(it.metadata(&FileRef { volume: i, path: p.clone() }), Some(m) if m.kind == FileKind::File)
            }),
        }
    })
}

/// `search [--file|--label|--fs-uuid] [--set[=VAR]] [--hint...] KEY` and the
/// `search.fs_uuid KEY [VAR] [HINT...]` family.
pub(super) fn cmd_search(it: &mut Interp<'_>, name: &str, args: &[String]) -> i32 {
    let (kind, key, var, hints) = match name {
        "search" => {
            let p = match options::parse(&SEARCH_OPTS, args, false, false) {
                Ok(p) => p,
                Err(e) => {
                    it.diag(Severity::Warning, format!("search: {e}"));
                    return ERR_BAD_ARGUMENT;
                }
            };
            let [key] = p.args.as_slice() else {
                it.diag(Severity::Warning, "search: one argument expected");
                return ERR_BAD_ARGUMENT;
            };
            let kind = if p.has(1) {
                SearchKind::Label
            } else if p.has(2) {
                SearchKind::Uuid
            } else if p.has(0) {
                SearchKind::File
            } else {
                it.diag(Severity::Warning, "search: unspecified search type");
                return ERR_INVALID_COMMAND;
            };
            let var = if p.has(3) {
                Some(p.value(3).unwrap_or("root").to_string())
            } else {
                None
            };
            let platform_hint = match it.options.platform.as_str() {
                "efi" => 11,
                "pc" => 9,
                "ieee1275" => 8,
                _ => 10,
            };
            let hints: Vec<String> = p
                .values(platform_hint)
                .into_iter()
                .chain(p.values(7))
                .map(str::to_string)
                .collect();
            (kind, key.clone(), var, hints)
        }
        _ => {
            let kind = match name {
                "search.fs_uuid" => SearchKind::Uuid,
                "search.fs_label" => SearchKind::Label,
                _ => SearchKind::File,
            };
            let Some(key) = args.first() else {
                it.diag(Severity::Warning, format!("{name}: one argument expected"));
                return ERR_BAD_ARGUMENT;
            };
            (
                kind,
                key.clone(),
                args.get(1).cloned(),
                args.get(2..).unwrap_or(&[]).to_vec(),
            )
        }
    };
    match find(it, kind, &key, &hints) {
        Some(v) => {
            if let Some(var) = var {
                let name = it.devices.name(v).to_string();
                it.set(&var, &name);
            }
            ERR_NONE
        }
        None => {
            let what = match kind {
                SearchKind::Uuid => "filesystem UUID",
                SearchKind::Label => "label",
                SearchKind::File => "file",
            };
            it.diag_once(
                format!("search {what} {key}"),
                Severity::Info,
                format!(
                    "search: no volume leapboot reads has {what} `{key}` (GRUB: no such device)"
                ),
            );
            ERR_FILE_NOT_FOUND
        }
    }
}

const PROBE_OPTS: [OptSpec; 5] = [
    OptSpec {
        long: "set",
        short: Some('s'),
        takes: Takes::Value,
    },
    OptSpec {
        long: "fs",
        short: Some('f'),
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "fs-uuid",
        short: Some('u'),
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "label",
        short: Some('l'),
        takes: Takes::Nothing,
    },
    OptSpec {
        long: "driver",
        short: Some('d'),
        takes: Takes::Nothing,
    },
];

/// `probe [--set VAR] --fs|--fs-uuid|--label DEVICE`.
pub(super) fn cmd_probe(it: &mut Interp<'_>, args: &[String]) -> i32 {
    let p = match options::parse(&PROBE_OPTS, args, false, false) {
        Ok(p) => p,
        Err(e) => {
            it.diag(Severity::Info, format!("probe: {e}"));
            return ERR_BAD_ARGUMENT;
        }
    };
    let [dev] = p.args.as_slice() else {
        return ERR_BAD_ARGUMENT;
    };
    let dev = dev
        .strip_prefix('(')
        .and_then(|d| d.strip_suffix(')'))
        .unwrap_or(dev);
    let Some(v) = it.devices.resolve(dev) else {
        return ERR_FILE_NOT_FOUND;
    };
    let Some(info) = it.volumes.get(v).map(|v| v.info) else {
        return ERR_FILE_NOT_FOUND;
    };
    let value = if p.has(1) {
        // GRUB's driver names: ext2 for ext2/3/4, fat for FAT.
        Some(match info.fs_type.as_str() {
            "ext4" | "ext3" | "ext2" => "ext2".to_string(),
            "vfat" => "fat".to_string(),
            other => other.to_string(),
        })
    } else if p.has(2) {
        info.uuid.clone()
    } else if p.has(3) {
        info.label.clone()
    } else {
        None
    };
    let Some(value) = value else {
        return ERR_BAD_ARGUMENT;
    };
    if let Some(var) = p.value(0) {
        it.set(var, &value);
    }
    ERR_NONE
}
