//! `blscfg`, the Fedora/RHEL GRUB command that turns Boot Loader Specification
//! entry files into menu entries (rhboot's `grub-core/commands/blscfg.c`).
//!
//! It is not the systemd-boot reading of the same files (that is `crate::bls`),
//! and the differences decide what GRUB boots, so they are kept here:
//! - files are read by `read_entry`: leading blanks skipped, `#` lines skipped, the
//!   key ends at the first space (else tab), and a line with no value ends the file;
//!   a key's *first* value counts, so only the first `options` line is used;
//! - entries are ordered newest first by their file names, compared as
//!   name-version-release with RPM's version comparison (`bls_cmp`, `split_cmp`,
//!   `vercmp`); two names that compare equal keep the first read;
//! - `options` (or `$default_kernelopts` when there is none) has its `$variables`
//!   substituted when `blscfg` runs (`expand_val`, including its habit of adding a
//!   space after each variable), and the result is then read as GRUB script when the
//!   entry boots, so it is expanded a second time;
//! - the entry runs `linux ($root)LINUX OPTIONS` and `initrd ($root)I1 ($root)I2...`,
//!   with `$early_initrd` files first, from the directory of the first initrd;
//! - the files come from `$blsdir` on `$root`, else `/loader/entries`, and if that
//!   directory cannot be read, `/boot/loader/entries`;
//! - `blscfg default`, `blscfg non-default` and `blscfg ID` create only some entries;
//!   an entry is created once per scan.
//!
//! Not reproduced: the newest rhboot also scans the ESP it was started from and
//! `/EFI/Linux` unified kernel images (leapboot finds those itself).

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::interp::{
    BlsOrigin, Body, ERR_BAD_ARGUMENT, ERR_FILE_NOT_FOUND, ERR_NONE, FileRef, Interp, Loc, MenuItem,
};
use crate::diag::Severity;
use crate::fs::{FileKind, join};
use std::cmp::Ordering;
use std::rc::Rc;

/// One entry file as `read_entry` keeps it: key/value pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlsFile {
    /// File name without `.conf`.
    pub stem: String,
    /// Pairs in file order.
    pub keyvals: Vec<(String, String)>,
}

impl BlsFile {
    /// The first value of `key` (`bls_get_val`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.keyvals
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order (`bls_make_list`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.keyvals
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads an entry file as rhboot's `read_entry` does.
pub fn read_entry(stem: &str, text: &str) -> BlsFile {
    let mut out = BlsFile {
        stem: stem.to_string(),
        keyvals: Vec::new(),
    };
    for raw in text.split('\n') {
        let line: String = raw.chars().filter(|&c| c != '\r').collect();
        let line = line.trim_start_matches([' ', '\t']);
        if line.starts_with('#') {
            continue;
        }
        let sep = line.find(' ').or_else(|| line.find('\t'));
        let Some(sep) = sep else { break };
        let (key, rest) = line.split_at(sep);
        let value = rest.get(1..).unwrap_or("");
        if value.is_empty() {
            break;
        }
        let value = value.trim_start_matches([' ', '\t']);
        out.keyvals.push((key.to_string(), value.to_string()));
    }
    out
}

/// RPM's `rpmvercmp` as rhboot copies it (`vercmp`): `~` sorts before anything,
/// `+` after the end, digit runs compare by value and beat letter runs.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let sep = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && c != b'+';
    let (mut i, mut j) = (0usize, 0usize);
    while at(a, i) != 0 || at(b, j) != 0 {
        while sep(at(a, i)) {
            i = i.saturating_add(1);
        }
        while sep(at(b, j)) {
            j = j.saturating_add(1);
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == b'~' || cb == b'~' {
            if ca != b'~' {
                return Ordering::Greater;
            }
            if cb != b'~' {
                return Ordering::Less;
            }
            i = i.saturating_add(1);
            j = j.saturating_add(1);
            continue;
        }
        if ca == b'+' || cb == b'+' {
            if ca == 0 {
                return Ordering::Less;
            }
            if cb == 0 {
                return Ordering::Greater;
            }
            if ca != b'+' {
                return Ordering::Greater;
            }
            if cb != b'+' {
                return Ordering::Less;
            }
            i = i.saturating_add(1);
            j = j.saturating_add(1);
            continue;
        }
        if ca == 0 || cb == 0 {
            break;
        }
        let isnum = ca.is_ascii_digit();
        let class = |c: u8| {
            if isnum {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (s1, s2) = (i, j);
        while class(at(a, i)) {
            i = i.saturating_add(1);
        }
        while class(at(b, j)) {
            j = j.saturating_add(1);
        }
        let mut seg1 = a.get(s1..i).unwrap_or(&[]);
        let mut seg2 = b.get(s2..j).unwrap_or(&[]);
        if seg1.is_empty() {
            return Ordering::Less;
        }
        if seg2.is_empty() {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if isnum {
            while seg1.first() == Some(&b'0') {
                seg1 = seg1.get(1..).unwrap_or(&[]);
            }
            while seg2.first() == Some(&b'0') {
                seg2 = seg2.get(1..).unwrap_or(&[]);
            }
            match seg1.len().cmp(&seg2.len()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match seg1.cmp(seg2) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (at(a, i) == 0, at(b, j) == 0) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Splits `name-version-release` from the right (`split_package_string`).
fn split_nvr(s: &str) -> (&str, &str, Option<&str>) {
    let (rest, release) = match s.rsplit_once('-') {
        Some((r, rel)) => (r, Some(rel)),
        None => (s, None),
    };
    let (name, version) = match rest.rsplit_once('-') {
        Some((n, v)) => (n, Some(v)),
        None => (rest, None),
    };
    match version {
        Some(v) => (name, v, release),
        None => (name, release.unwrap_or(""), None),
    }
}

/// `bls_cmp`: compares two entry file names (without `.conf`); `Greater` when `a` is
/// newer.
pub fn bls_cmp(a: &str, b: &str) -> Ordering {
    let (n0, v0, r0) = split_nvr(a);
    let (n1, v1, r1) = split_nvr(b);
    vercmp(n0, n1)
        .then_with(|| vercmp(v0, v1))
        .then_with(|| vercmp(r0.unwrap_or(""), r1.unwrap_or("")))
}

/// `expand_val`: substitutes `$name` with the variable's value followed by one space;
/// unset variables vanish. Reproduces rhboot's handling of the last character.
pub(super) fn expand_val(it: &Interp<'_>, value: &str) -> Option<String> {
    let b = value.as_bytes();
    let mut buffer: Option<String> = None;
    let (mut start, mut end) = (0usize, 0usize);
    let mut is_var = false;
    let append = |buffer: &mut Option<String>, is_var: bool, start: usize, end: usize| {
        let field = String::from_utf8_lossy(
            b.get(start..end.saturating_add(1).max(start))
                .unwrap_or(&[]),
        )
        .into_owned();
        if is_var {
            let Some(v) = it.get(&field) else { return };
            let buf = buffer.get_or_insert_with(String::new);
            buf.push_str(v);
            buf.push(' ');
        } else {
            buffer.get_or_insert_with(String::new).push_str(&field);
        }
    };
    for (i, &c) in b.iter().enumerate() {
        if c == b'$' {
            if start != end {
                append(&mut buffer, is_var, start, end);
            }
            is_var = true;
            start = i.saturating_add(1);
        } else if is_var && !(c.is_ascii_alphanumeric() || c == b'_') {
            append(&mut buffer, is_var, start, end);
            is_var = false;
            start = if c == b' ' { i.saturating_add(1) } else { i };
        }
        end = i;
    }
    if start != end {
        append(&mut buffer, is_var, start, end);
    }
    buffer
}

/// Reads the entry files of one directory; `None` when it cannot be listed.
fn read_dir(it: &mut Interp<'_>, volume: usize, dir: &str) -> Option<Vec<(FileRef, BlsFile)>> {
    let fs = it.fs(volume)?;
    let list = fs.read_dir(dir).ok()?;
    let mut out = Vec::new();
    for d in list {
        let n = d.name.len();
        if d.name.starts_with('.')
            || n <= 5
            || !d.name.ends_with(".conf")
            || d.kind == FileKind::Dir
        {
            continue;
        }
        let path = join(dir, &d.name);
        let file = FileRef { volume, path };
        let data = match it.read_file(&file) {
            Ok(d) => d,
            Err(e) => {
                let shown = it.display_file(file.volume, &file.path);
                it.diag(Severity::Warning, format!("blscfg: {shown}: {e}"));
                continue;
            }
        };
        let stem = d.name.get(..n.saturating_sub(5)).unwrap_or("").to_string();
        out.push((file, read_entry(&stem, &String::from_utf8_lossy(&data))));
        if out.len() >= it.limits.max_entries {
            break;
        }
    }
    Some(out)
}

/// `is_default_entry`: `$default` names the entry by file name, title or index.
fn is_default(def: Option<&str>, f: &BlsFile, idx: usize) -> bool {
    let Some(def) = def else { return false };
    if def == f.stem || f.get("title") == Some(def) {
        return true;
    }
    let (neg, digits) = match def.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, def),
    };
    match super::default::strtoul(digits) {
        Ok((n, _)) => !neg && usize::try_from(n).ok() == Some(idx),
        Err(_) => false,
    }
}

/// The script an entry runs (`create_entry`).
fn entry_source(it: &Interp<'_>, f: &BlsFile, linux: &str) -> String {
    let options = f
        .get("options")
        .and_then(|o| expand_val(it, o))
        .or_else(|| it.get("default_kernelopts").and_then(|o| expand_val(it, o)));
    let initrds = f.all("initrd");
    let dir_of = |p: &str| {
        p.rfind('/')
            .map(|i| p.get(..=i).unwrap_or("").to_string())
            .unwrap_or_default()
    };
    let mut src = String::new();
    if it.get("save_default") == Some("true") {
        src.push_str("savedefault\n");
    }
    src.push_str("load_video\nset gfxpayload=keep\ninsmod gzio\n");
    src.push_str("linux ($root)");
    src.push_str(linux);
    if let Some(o) = &options {
        src.push(' ');
        src.push_str(o);
    }
    src.push('\n');
    let early: Vec<String> = it
        .get("early_initrd")
        .map(|e| e.split(' ').map(str::to_string).collect())
        .unwrap_or_default();
    if !early.is_empty() || !initrds.is_empty() {
        let prefix = dir_of(initrds.first().copied().unwrap_or(linux));
        src.push_str("initrd");
        for e in &early {
            src.push_str(" ($root)");
            src.push_str(&prefix);
            src.push_str(e);
        }
        for i in &initrds {
            src.push_str(" ($root)");
            src.push_str(i);
        }
        src.push('\n');
    }
    let (dt, add_prefix) = match f.get("devicetree").and_then(|d| expand_val(it, d)) {
        Some(d) => (Some(d), false),
        None => (it.get("devicetree").and_then(|d| expand_val(it, d)), true),
    };
    if let Some(dt) = dt {
        src.push_str("devicetree ($root)");
        if add_prefix {
            src.push_str(&dir_of(linux));
        }
        src.push_str(&dt);
        src.push('\n');
    }
    src
}

/// Runs `blscfg [default|non-default|ID]`.
pub(super) fn cmd_blscfg(it: &mut Interp<'_>, args: &[String]) -> i32 {
    let (show_default, show_other, only) = match args {
        [a] if a == "default" => (true, false, None),
        [a] if a == "non-default" => (false, true, None),
        [a] => (false, false, Some(a.clone())),
        _ => (true, true, None),
    };
    let Some(root) = it.get("root").map(str::to_string) else {
        it.diag(Severity::Warning, "blscfg: variable `root` isn't set");
        return ERR_FILE_NOT_FOUND;
    };
    let Some(volume) = it.devices.resolve(&root) else {
        it.diag(
            Severity::Warning,
            format!("blscfg: `$root` is `{root}`, which is none of the volumes leapboot reads"),
        );
        return ERR_FILE_NOT_FOUND;
    };
    let files = match it.get("blsdir").map(str::to_string) {
        Some(dir) => read_dir(it, volume, &dir).unwrap_or_default(),
        None => match read_dir(it, volume, "/loader/entries") {
            Some(f) => f,
            None => read_dir(it, volume, "/boot/loader/entries").unwrap_or_default(),
        },
    };
    // `bls_add_entry`: insert before the first older entry; drop equal names.
    let mut sorted: Vec<(FileRef, BlsFile)> = Vec::with_capacity(files.len());
    for (file, f) in files {
        let mut at = sorted.len();
        let mut dup = false;
        for (k, (_, e)) in sorted.iter().enumerate() {
            match bls_cmp(&f.stem, &e.stem) {
                Ordering::Equal => {
                    dup = true;
                    break;
                }
                Ordering::Greater => {
                    at = k;
                    break;
                }
                Ordering::Less => {}
            }
        }
        if !dup {
            sorted.insert(at, (file, f));
        }
    }
    let def = it.get("default").map(str::to_string);
    for (idx, (file, f)) in sorted.iter().enumerate() {
        let Some(linux) = f.get("linux") else {
            let shown = it.display_file(file.volume, &file.path);
            it.diag_at(
                Severity::Info,
                &shown,
                0,
                "blscfg: no `linux` key, skipped (as GRUB does)",
            );
            continue;
        };
        let is_def = is_default(def.as_deref(), f, idx);
        let wanted = (show_default && is_def)
            || (show_other && !is_def)
            || only.as_deref() == Some(f.stem.as_str());
        if !wanted
            || it
                .bls_files
                .iter()
                .any(|b| b.path.rsplit('/').next() == file.path.rsplit('/').next())
        {
            continue;
        }
        let id = f.stem.strip_suffix(".conf").unwrap_or(&f.stem).to_string();
        let title = f.get("title").unwrap_or(linux).to_string();
        let mut argv = vec![title.clone()];
        argv.extend(f.all("grub_arg").into_iter().map(str::to_string));
        let text = entry_source(it, f, linux);
        let item = MenuItem {
            title,
            id: Some(id),
            args: argv,
            classes: f
                .all("grub_class")
                .into_iter()
                .map(str::to_string)
                .collect(),
            users: f.get("grub_users").and_then(|u| expand_val(it, u)),
            hotkey: f.get("grub_hotkey").map(str::to_string),
            submenu: false,
            body: Body::Text(Rc::from(text.as_str())),
            loc: Loc {
                volume: file.volume,
                path: Rc::from(file.path.as_str()),
                generated: true,
            },
            line: 0,
            bls: Some(BlsOrigin {
                file: file.clone(),
                version: f.get("version").map(str::to_string),
            }),
        };
        if !it.add_menu_item(item) {
            return ERR_BAD_ARGUMENT;
        }
        it.bls_files.push(file.clone());
    }
    ERR_NONE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_vercmp() {
        assert_eq!(vercmp("5.18.0", "0"), Ordering::Greater);
        assert_eq!(vercmp("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(vercmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(vercmp("1.0+git", "1.0"), Ordering::Greater);
        assert_eq!(vercmp("2.10", "2.9"), Ordering::Greater);
        assert_eq!(vercmp("a", "1"), Ordering::Less);
        assert_eq!(vercmp("001", "1"), Ordering::Equal);
        assert_eq!(vercmp("1.a", "1_a"), Ordering::Equal);
    }

    #[test]
    fn name_version_release_order() {
        let mid = "9af7b02ac08149d985841c07c8ff366e";
        assert_eq!(
            bls_cmp(&format!("{mid}-5.18.0"), &format!("{mid}-0-rescue")),
            Ordering::Greater
        );
        assert_eq!(
            bls_cmp(
                &format!("{mid}-5.14.10-300.fc35.x86_64"),
                &format!("{mid}-5.14.9-300.fc35.x86_64")
            ),
            Ordering::Greater
        );
    }

    #[test]
    fn reads_first_values_and_stops_at_empty_key() {
        let f = read_entry(
            "x",
            "title A\ntitle B\n  options one\noptions two\n# c\nlinux\t/vmlinuz\nbogus\ninitrd /late\n",
        );
        assert_eq!(f.get("title"), Some("A"));
        assert_eq!(f.get("options"), Some("one"));
        assert_eq!(f.get("linux"), Some("/vmlinuz"));
        assert!(f.get("initrd").is_none(), "reading stops at `bogus`");
    }
}
