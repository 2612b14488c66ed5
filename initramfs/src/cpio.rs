//! newc ("SVR4 without CRC") cpio writer and reader.
//!
//! Each record is a 110-byte ASCII header (magic `070701` and thirteen
//! 8-digit hex fields), the NUL-terminated name padded so that header plus
//! name is a multiple of 4 bytes, then the file data padded to a multiple of
//! 4 bytes. The archive ends with a record named `TRAILER!!!`. This is the
//! format the kernel's `init/initramfs.c` unpacks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::modules::ModulesDep;
use crate::{Error, Result};

/// File type mask of `st_mode`.
pub const S_IFMT: u32 = 0o170_000;
/// Directory file type.
pub const S_IFDIR: u32 = 0o040_000;
/// Regular file type.
pub const S_IFREG: u32 = 0o100_000;
/// Symbolic link file type.
pub const S_IFLNK: u32 = 0o120_000;
/// Character device file type.
pub const S_IFCHR: u32 = 0o020_000;
/// Block device file type.
pub const S_IFBLK: u32 = 0o060_000;

/// Magic of newc records without checksum.
const MAGIC: &[u8; 6] = b"070701";
/// Magic of newc records with checksum (accepted by the reader only).
const MAGIC_CRC: &[u8; 6] = b"070702";
/// Size of a newc header.
const HEADER_LEN: usize = 110;
/// Name of the final record.
const TRAILER: &str = "TRAILER!!!";
/// Longest name (including its NUL) the kernel accepts.
const PATH_MAX: usize = 4096;
/// The uncompressed archive is padded to a multiple of this, like GNU cpio.
const BLOCK: usize = 512;

/// Where [`Archive::add_modules`] lists the requested module names.
pub const MODULE_LIST_PATH: &str = "etc/leapboot/modules";

/// One node of the file tree.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// Directory; `explicit` is false for parents created implicitly.
    Dir {
        mode: u32,
        explicit: bool,
    },
    File {
        mode: u32,
        data: Vec<u8>,
    },
    CharDevice {
        mode: u32,
        major: u32,
        minor: u32,
    },
    BlockDevice {
        mode: u32,
        major: u32,
        minor: u32,
    },
    Symlink {
        target: String,
    },
}

impl Node {
    fn st_mode(&self) -> u32 {
        match self {
            Node::Dir { mode, .. } => S_IFDIR | mode,
            Node::File { mode, .. } => S_IFREG | mode,
            Node::CharDevice { mode, .. } => S_IFCHR | mode,
            Node::BlockDevice { mode, .. } => S_IFBLK | mode,
            Node::Symlink { .. } => S_IFLNK | 0o777,
        }
    }

    fn data(&self) -> &[u8] {
        match self {
            Node::File { data, .. } => data,
            Node::Symlink { target } => target.as_bytes(),
            _ => &[],
        }
    }

    fn rdev(&self) -> (u32, u32) {
        match self {
            Node::CharDevice { major, minor, .. } | Node::BlockDevice { major, minor, .. } => {
                (*major, *minor)
            }
            _ => (0, 0),
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }
}

/// An in-memory file tree that serialises reproducibly to a newc cpio.
///
/// Paths may be given with or without a leading `/`; they are stored
/// relative to the archive root (`/etc/x` and `etc//./x` are both `etc/x`).
/// Missing parent directories are created implicitly with mode 0755.
/// Adding an entry where one already exists is an error, except that
/// [`Archive::add_dir`] on an existing directory just updates its mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archive {
    /// Entries keyed by normalised path. Byte order puts every directory
    /// before its contents (a prefix sorts first).
    entries: BTreeMap<String, Node>,
}

/// One record read back from a newc archive by [`read_cpio`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    /// Name as stored (no leading `/` for archives written by [`Archive`]).
    pub path: String,
    /// Full `st_mode`, including the file type bits.
    pub mode: u32,
    /// File contents, or the target of a symlink.
    pub data: Vec<u8>,
    /// Major number of a device node (0 otherwise).
    pub rdev_major: u32,
    /// Minor number of a device node (0 otherwise).
    pub rdev_minor: u32,
}

impl CpioEntry {
    /// File type bits of [`CpioEntry::mode`].
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// Permission bits of [`CpioEntry::mode`].
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == S_IFREG
    }

    /// Whether this is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }

    /// Whether this is a character device.
    pub fn is_char_device(&self) -> bool {
        self.file_type() == S_IFCHR
    }
}

/// Normalises an archive path: strips leading `/`, empty and `.`
/// components; rejects `..`, NUL and the root itself.
fn normalize(path: &str) -> Result<String> {
    let invalid = |reason| Error::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid("contains a '..' component")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(invalid("names the archive root"));
    }
    let joined = parts.join("/");
    if joined == TRAILER {
        return Err(invalid("is the cpio end-of-archive marker"));
    }
    if joined.len() >= PATH_MAX {
        return Err(invalid("is longer than PATH_MAX"));
    }
    Ok(joined)
}

fn check_mode(path: &str, mode: u32) -> Result<()> {
    if mode & !0o7777 != 0 {
        return Err(Error::InvalidMode {
            path: path.to_string(),
            mode,
        });
    }
    Ok(())
}

/// Parent directories of a normalised path, outermost first.
fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

impl Archive {
    /// Creates an empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries (including implicitly created directories).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the archive has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an entry exists at `path` (any spelling accepted by the
    /// `add_*` methods).
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|p| self.entries.contains_key(&p))
    }

    /// Normalised paths of all entries, in archive order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Adds a directory with permission bits `mode` (e.g. `0o755`). If a
    /// directory already exists at `path`, its mode is updated.
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<()> {
        let path = normalize(path)?;
        check_mode(&path, mode)?;
        self.insert(
            path,
            Node::Dir {
                mode,
                explicit: true,
            },
        )
    }

    /// Adds a regular file with permission bits `mode` and contents `data`.
    pub fn add_file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<()> {
        let path = normalize(path)?;
        check_mode(&path, mode)?;
        if u32::try_from(data.len()).is_err() {
            return Err(Error::FileTooLarge {
                path,
                size: data.len() as u64,
            });
        }
        self.insert(path, Node::File { mode, data })
    }

    /// Adds a character device node (e.g. `/dev/console`, 5:1, `0o600`).
    pub fn add_char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        let path = normalize(path)?;
        check_mode(&path, mode)?;
        self.insert(path, Node::CharDevice { mode, major, minor })
    }

    /// Adds a block device node.
    pub fn add_block_device(
        &mut self,
        path: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<()> {
        let path = normalize(path)?;
        check_mode(&path, mode)?;
        self.insert(path, Node::BlockDevice { mode, major, minor })
    }

    /// Adds a symbolic link at `path` pointing to `target` (stored verbatim).
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let path = normalize(path)?;
        let bad = |reason| Error::InvalidSymlinkTarget {
            path: path.clone(),
            target: target.to_string(),
            reason,
        };
        if target.is_empty() {
            return Err(bad("is empty"));
        }
        if target.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        if target.len() >= PATH_MAX {
            return Err(bad("is longer than PATH_MAX"));
        }
        let target = target.to_string();
        self.insert(path, Node::Symlink { target })
    }

    /// Inserts a node at a normalised path, creating parents. Checks
    /// everything before changing anything.
    fn insert(&mut self, path: String, node: Node) -> Result<()> {
        for parent in parents(&path) {
            if self.entries.get(parent).is_some_and(|e| !e.is_dir()) {
                return Err(Error::NotADirectory {
                    path: path.clone(),
                    parent: parent.to_string(),
                });
            }
        }
        match (self.entries.get(&path), &node) {
            (None, _) => {}
            (
                Some(Node::Dir { .. }),
                Node::Dir {
                    explicit: false, ..
                },
            ) => return Ok(()),
            (Some(Node::Dir { .. }), Node::Dir { .. }) => {}
            (Some(_), _) => return Err(Error::Duplicate { path }),
        }
        let new_parents: Vec<String> = parents(&path)
            .filter(|p| !self.entries.contains_key(*p))
            .map(str::to_string)
            .collect();
        for parent in new_parents {
            self.entries.insert(
                parent,
                Node::Dir {
                    mode: 0o755,
                    explicit: false,
                },
            );
        }
        self.entries.insert(path, node);
        Ok(())
    }

    /// Moves every entry of `other` into this archive. Fails without
    /// changing anything if any entry conflicts (same rules as the `add_*`
    /// methods; directories present in both are merged).
    pub fn merge(&mut self, other: Archive) -> Result<()> {
        for (path, node) in &other.entries {
            match (self.entries.get(path), node) {
                (None, _) | (Some(Node::Dir { .. }), Node::Dir { .. }) => {}
                (Some(existing), _) if existing.is_dir() => {
                    return Err(Error::Duplicate { path: path.clone() });
                }
                (Some(_), Node::Dir { .. }) => {
                    // `other` has children under `path`, or wants a directory
                    // where this archive has something else.
                    return Err(Error::NotADirectory {
                        path: path.clone(),
                        parent: path.clone(),
                    });
                }
                (Some(_), _) => return Err(Error::Duplicate { path: path.clone() }),
            }
        }
        for (path, node) in other.entries {
            let keep_existing = matches!(
                (self.entries.get(&path), &node),
                (
                    Some(Node::Dir { .. }),
                    Node::Dir {
                        explicit: false,
                        ..
                    }
                )
            );
            if !keep_existing {
                self.entries.insert(path, node);
            }
        }
        Ok(())
    }

    /// Adds the named modules (names as for `modprobe`: `-` and `_` are
    /// equivalent) and all their dependencies from `modules_dir`, an
    /// extracted `lib/modules/<version>` holding `modules.dep`.
    ///
    /// Each module is stored unchanged (`.ko`, `.ko.xz`, `.ko.zst`,
    /// `.ko.gz`) at `/lib/modules/<version>/<relative path>`, mode 0644.
    /// Also writes `/lib/modules/<version>/modules.dep` restricted to the
    /// included modules, a copy of `modules.builtin` if the source has one,
    /// and `/etc/leapboot/modules` listing `names` one per line in the given
    /// order. Names of modules built into the kernel are skipped.
    ///
    /// Returns the load order (relative paths, dependencies first). On
    /// error the archive is left unchanged.
    pub fn add_modules(&mut self, modules_dir: &Path, names: &[String]) -> Result<Vec<String>> {
        let dep = ModulesDep::load(modules_dir)?;
        let version = kernel_version(modules_dir)?;
        let order = dep.load_order(names)?;
        let origin = || modules_dir.join("modules.dep").display().to_string();

        let base = format!("lib/modules/{version}");
        let mut staged = Archive::new();
        for rel in &order {
            check_relative(rel).map_err(|reason| Error::UnsafeModulePath {
                path: rel.clone(),
                origin: origin(),
                reason,
            })?;
            let src = modules_dir.join(rel);
            let data = std::fs::read(&src).map_err(|source| Error::Io { path: src, source })?;
            staged.add_file(&format!("{base}/{rel}"), 0o644, data)?;
        }
        staged.add_file(
            &format!("{base}/modules.dep"),
            0o644,
            dep.subset_text(&order).into_bytes(),
        )?;
        if let Some(builtin) = dep.builtin_text() {
            staged.add_file(
                &format!("{base}/modules.builtin"),
                0o644,
                builtin.as_bytes().to_vec(),
            )?;
        }
        let mut list = String::new();
        for name in names {
            list.push_str(name);
            list.push('\n');
        }
        staged.add_file(MODULE_LIST_PATH, 0o644, list.into_bytes())?;
        self.merge(staged)?;
        Ok(order)
    }

    /// Serialises to an uncompressed newc cpio, ending with `TRAILER!!!`
    /// and zero-padded to a multiple of 512 bytes.
    ///
    /// Entries are written in path order with inode numbers 1, 2, ...,
    /// mtime, uid, gid and device numbers 0, nlink 2 for directories and 1
    /// otherwise, so the output depends only on the contents.
    pub fn to_cpio(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, (path, node)) in self.entries.iter().enumerate() {
            let ino = u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1));
            let nlink = if node.is_dir() { 2 } else { 1 };
            let (major, minor) = node.rdev();
            write_record(
                &mut out,
                path,
                ino,
                node.st_mode(),
                nlink,
                node.data(),
                major,
                minor,
            );
        }
        write_record(&mut out, TRAILER, 0, 0, 1, &[], 0, 0);
        let padded = out.len().div_ceil(BLOCK).saturating_mul(BLOCK);
        out.resize(padded, 0);
        out
    }

    /// Serialises to a gzip-compressed newc cpio (best compression, mtime 0,
    /// no file name), byte-identical for identical contents.
    pub fn to_gzip(&self) -> Result<Vec<u8>> {
        let cpio = self.to_cpio();
        let mut encoder = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::best());
        encoder.write_all(&cpio).map_err(Error::Compress)?;
        encoder.finish().map_err(Error::Compress)
    }
}

/// The kernel version is the last component of the modules directory.
fn kernel_version(modules_dir: &Path) -> Result<String> {
    let err = || Error::ModulesDirVersion {
        path: modules_dir.to_path_buf(),
    };
    let name = match modules_dir.file_name() {
        Some(name) => name.to_os_string(),
        None => std::fs::canonicalize(modules_dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_os_string()))
            .ok_or_else(err)?,
    };
    let name = name.into_string().map_err(|_| err())?;
    if name.is_empty() || name == "." || name == ".." {
        return Err(err());
    }
    Ok(name)
}

/// Checks that a path from `modules.dep` stays inside the modules directory.
fn check_relative(path: &str) -> std::result::Result<(), &'static str> {
    if path.starts_with('/') {
        return Err("absolute paths are not supported");
    }
    if path.split('/').any(|c| c == "..") {
        return Err("contains a '..' component");
    }
    if path.contains('\0') {
        return Err("contains a NUL byte");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_record(
    out: &mut Vec<u8>,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    data: &[u8],
    rdev_major: u32,
    rdev_minor: u32,
) {
    // Sizes were checked when the entry was added; saturate rather than
    // panic if that invariant were ever broken.
    let filesize = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let namesize = u32::try_from(name.len().saturating_add(1)).unwrap_or(u32::MAX);
    let fields: [u32; 13] = [
        ino, mode, 0, // uid
        0, // gid
        nlink, 0, // mtime
        filesize, 0, // devmajor
        0, // devminor
        rdev_major, rdev_minor, namesize, 0, // check
    ];
    out.extend_from_slice(MAGIC);
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    let len = out.len().div_ceil(4).saturating_mul(4);
    out.resize(len, 0);
}

/// Parses a newc cpio archive (magic `070701` or `070702`; checksums are
/// not verified) into its entries, excluding the trailer.
///
/// Several archives concatenated with zero padding between them (as the
/// kernel accepts) are read in sequence. Every size is checked against the
/// input, so malformed input yields [`Error::Cpio`] and never panics.
/// Compressed data, or anything else that follows a trailer, is an error.
/// Hard-linked files are returned as stored (data on the last link only).
pub fn read_cpio(data: &[u8]) -> Result<Vec<CpioEntry>> {
    let err = |offset: usize, reason: String| Error::Cpio { offset, reason };
    let mut entries = Vec::new();
    let mut offset = 0usize;
    loop {
        let header = data
            .get(offset..)
            .and_then(|rest| rest.get(..HEADER_LEN))
            .ok_or_else(|| {
                err(
                    offset,
                    format!(
                        "truncated header ({} bytes left, need {HEADER_LEN}) before TRAILER!!!",
                        data.len().saturating_sub(offset)
                    ),
                )
            })?;
        let magic = header.get(..6).unwrap_or_default();
        if magic != MAGIC && magic != MAGIC_CRC {
            return Err(err(
                offset,
                format!(
                    "bad magic {:?} (only newc 070701/070702 is supported)",
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
        let mut fields = [0u32; 13];
        for (i, field) in fields.iter_mut().enumerate() {
            let start = 6 + i * 8;
            let raw = header.get(start..start + 8).unwrap_or_default();
            *field = parse_hex(raw).ok_or_else(|| {
                err(
                    offset.saturating_add(start),
                    format!(
                        "header field {i} is not 8 hex digits: {:?}",
                        String::from_utf8_lossy(raw)
                    ),
                )
            })?;
        }
        let [
            _ino,
            mode,
            _uid,
            _gid,
            _nlink,
            _mtime,
            filesize,
            _maj,
            _min,
            rdev_major,
            rdev_minor,
            namesize,
            _check,
        ] = fields;
        let namesize = namesize as usize;
        let filesize = filesize as usize;
        if namesize == 0 || namesize > PATH_MAX {
            return Err(err(
                offset,
                format!("name size {namesize} out of range 1..={PATH_MAX}"),
            ));
        }
        let name_start = offset.saturating_add(HEADER_LEN);
        let name_end = name_start
            .checked_add(namesize)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| err(offset, format!("name size {namesize} exceeds the input")))?;
        let name_bytes = data.get(name_start..name_end).unwrap_or_default();
        let Some((&0, name)) = name_bytes.split_last() else {
            return Err(err(name_start, "name is not NUL-terminated".into()));
        };
        if name.contains(&0) {
            return Err(err(name_start, "name contains a NUL byte".into()));
        }
        let name = std::str::from_utf8(name)
            .map_err(|_| err(name_start, "name is not valid UTF-8".into()))?;
        // Tolerate missing padding at the very end of the input.
        let data_start = align4(name_end).map_or(data.len(), |v| v.min(data.len()));
        let data_end = data_start
            .checked_add(filesize)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                err(
                    offset,
                    format!("file size {filesize} of {name:?} exceeds the input"),
                )
            })?;
        offset = align4(data_end).map_or(data.len(), |v| v.min(data.len()));
        if name == TRAILER {
            // Skip zero padding; another archive may follow.
            while data.get(offset) == Some(&0) {
                offset += 1;
            }
            if offset >= data.len() {
                break;
            }
            if !offset.is_multiple_of(4)
                || data.get(offset..).is_some_and(|r| !r.starts_with(b"07070"))
            {
                return Err(err(
                    offset,
                    "unexpected data after TRAILER!!! (compressed segment?)".into(),
                ));
            }
            continue;
        }
        entries.push(CpioEntry {
            path: name.to_string(),
            mode,
            data: data.get(data_start..data_end).unwrap_or_default().to_vec(),
            rdev_major,
            rdev_minor,
        });
    }
    Ok(entries)
}

fn parse_hex(raw: &[u8]) -> Option<u32> {
    if raw.len() != 8 || !raw.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(raw).ok()?, 16).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Minimal self-deleting temporary directory (no extra dependency).
    pub(crate) struct TempDir(PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "leapboot-initramfs-test-{}-{tag}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.add_file("/init", 0o755, b"#!/bin/sh\necho hi\n".to_vec())
            .unwrap();
        a.add_dir("/dev", 0o755).unwrap();
        a.add_char_device("/dev/console", 0o600, 5, 1).unwrap();
        a.add_dir("proc", 0o555).unwrap();
        a.add_symlink("/bin/sh", "busybox").unwrap();
        a.add_file("/etc/leapboot.toml", 0o644, b"timeout = 3\n".to_vec())
            .unwrap();
        a.add_file("/empty", 0o600, Vec::new()).unwrap();
        a.add_file("/a/b/c/deep", 0o640, vec![7u8; 1001]).unwrap();
        a
    }

    fn find<'a>(entries: &'a [CpioEntry], path: &str) -> &'a CpioEntry {
        entries
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("{path} not in archive"))
    }

    #[test]
    fn round_trip() {
        let bytes = sample().to_cpio();
        let entries = read_cpio(&bytes).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "a",
                "a/b",
                "a/b/c",
                "a/b/c/deep",
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "empty",
                "etc",
                "etc/leapboot.toml",
                "init",
                "proc"
            ]
        );
        let init = find(&entries, "init");
        assert_eq!(init.mode, S_IFREG | 0o755);
        assert_eq!(init.data, b"#!/bin/sh\necho hi\n");
        let console = find(&entries, "dev/console");
        assert_eq!(console.mode, S_IFCHR | 0o600);
        assert!(console.is_char_device());
        assert_eq!((console.rdev_major, console.rdev_minor), (5, 1));
        let sh = find(&entries, "bin/sh");
        assert!(sh.is_symlink());
        assert_eq!(sh.mode, S_IFLNK | 0o777);
        assert_eq!(sh.data, b"busybox");
        assert_eq!(find(&entries, "proc").mode, S_IFDIR | 0o555);
        assert!(find(&entries, "a/b").is_dir());
        assert_eq!(find(&entries, "a/b").permissions(), 0o755);
        assert_eq!(find(&entries, "a/b/c/deep").data, vec![7u8; 1001]);
        assert!(find(&entries, "empty").data.is_empty());
    }

    #[test]
    fn layout_alignment_and_trailer() {
        let bytes = sample().to_cpio();
        assert_eq!(bytes.len() % 512, 0);
        // Walk the records by hand, checking fields and alignment.
        let mut off = 0;
        let mut inos = Vec::new();
        loop {
            assert_eq!(off % 4, 0, "record not 4-aligned at {off}");
            let h = &bytes[off..off + HEADER_LEN];
            assert_eq!(&h[..6], MAGIC);
            let f = |i: usize| parse_hex(&h[6 + i * 8..14 + i * 8]).unwrap();
            let (ino, mode, nlink, filesize, namesize) = (f(0), f(1), f(4), f(6), f(11));
            assert_eq!((f(2), f(3), f(5)), (0, 0, 0), "uid/gid/mtime");
            assert_eq!((f(7), f(8), f(12)), (0, 0, 0), "devmajor/devminor/check");
            let name_end = off + HEADER_LEN + namesize as usize;
            let name = std::str::from_utf8(&bytes[off + HEADER_LEN..name_end - 1]).unwrap();
            assert_eq!(bytes[name_end - 1], 0);
            let data_start = name_end.div_ceil(4) * 4;
            assert_eq!(data_start % 4, 0);
            assert!(bytes[name_end..data_start].iter().all(|&b| b == 0));
            let data_end = data_start + filesize as usize;
            off = data_end.div_ceil(4) * 4;
            assert!(bytes[data_end..off].iter().all(|&b| b == 0));
            if name == TRAILER {
                assert_eq!((ino, mode, nlink, filesize), (0, 0, 1, 0));
                break;
            }
            assert!(!name.starts_with('/'));
            assert_eq!(nlink, if mode & S_IFMT == S_IFDIR { 2 } else { 1 });
            inos.push(ino);
        }
        assert_eq!(inos, (1..=inos.len() as u32).collect::<Vec<_>>());
        assert!(bytes[off..].iter().all(|&b| b == 0), "junk after trailer");
        // the empty archive is just a trailer
        let empty = Archive::new().to_cpio();
        assert_eq!(empty.len(), 512);
        assert!(read_cpio(&empty).unwrap().is_empty());
    }

    #[test]
    fn reproducible_regardless_of_insertion_order() {
        let a = sample();
        let mut b = Archive::new();
        b.add_file("/a/b/c/deep", 0o640, vec![7u8; 1001]).unwrap();
        b.add_file("/empty", 0o600, Vec::new()).unwrap();
        b.add_file("/etc/leapboot.toml", 0o644, b"timeout = 3\n".to_vec())
            .unwrap();
        b.add_symlink("bin/sh", "busybox").unwrap();
        b.add_dir("/proc/", 0o555).unwrap();
        b.add_char_device("/dev/console", 0o600, 5, 1).unwrap();
        b.add_dir("/dev", 0o755).unwrap();
        b.add_file("//init", 0o755, b"#!/bin/sh\necho hi\n".to_vec())
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_cpio(), b.to_cpio());
        assert_eq!(a.to_cpio(), sample().to_cpio());
        let gz = a.to_gzip().unwrap();
        assert_eq!(gz, b.to_gzip().unwrap());
        assert_eq!(gz, sample().to_gzip().unwrap());
        // gzip header: magic, deflate, no flags (no name), mtime 0
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        assert_eq!(plain, a.to_cpio());
    }

    #[test]
    fn path_rules() {
        let mut a = Archive::new();
        for bad in ["", "/", "//", ".", "a/../b", "..", "x\0y", "TRAILER!!!"] {
            assert!(
                matches!(a.add_dir(bad, 0o755), Err(Error::InvalidPath { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(a.add_file(&"x".repeat(PATH_MAX), 0o644, vec![]).is_err());
        assert!(matches!(
            a.add_file("f", 0o100644, vec![]),
            Err(Error::InvalidMode { .. })
        ));
        assert!(a.add_symlink("l", "").is_err());
        assert!(a.is_empty());

        a.add_file("/etc/x", 0o644, b"1".to_vec()).unwrap();
        assert!(a.contains("etc") && a.contains("/etc/x") && a.contains("./etc//x"));
        let err = a.add_file("etc/x", 0o644, b"2".to_vec()).unwrap_err();
        assert!(matches!(err, Error::Duplicate { .. }));
        assert!(err.to_string().contains("etc/x"), "{err}");
        assert!(matches!(
            a.add_file("/etc/x/y", 0o644, vec![]),
            Err(Error::NotADirectory { .. })
        ));
        assert!(matches!(
            a.add_symlink("/etc", "/x"),
            Err(Error::Duplicate { .. })
        ));
        // re-adding a directory updates its mode, implicit parents don't
        a.add_dir("/etc", 0o700).unwrap();
        a.add_file("/etc/z", 0o644, vec![]).unwrap();
        let entries = read_cpio(&a.to_cpio()).unwrap();
        assert_eq!(find(&entries, "etc").mode, S_IFDIR | 0o700);
        assert_eq!(a.len(), 3);
        assert_eq!(a.paths().collect::<Vec<_>>(), vec!["etc", "etc/x", "etc/z"]);
    }

    #[test]
    fn merge_is_all_or_nothing() {
        let mut a = Archive::new();
        a.add_file("/etc/x", 0o644, vec![1]).unwrap();
        let mut b = Archive::new();
        b.add_file("/etc/y", 0o644, vec![2]).unwrap();
        b.add_file("/etc/x", 0o644, vec![3]).unwrap();
        let before = a.clone();
        assert!(a.merge(b).is_err());
        assert_eq!(a, before);
        let mut c = Archive::new();
        c.add_file("/etc/x/sub", 0o644, vec![]).unwrap();
        assert!(a.merge(c).is_err());
        assert_eq!(a, before);
        let mut d = Archive::new();
        d.add_file("/etc/y", 0o644, vec![2]).unwrap();
        a.merge(d).unwrap();
        assert!(a.contains("etc/y"));
    }

    #[test]
    fn garbage_never_panics() {
        let good = sample().to_cpio();
        // truncations
        for len in 0..good.len() {
            let _ = read_cpio(&good[..len]);
        }
        assert!(read_cpio(&good[..good.len() / 2]).is_err());
        // single-byte corruptions over the first records
        for i in 0..good.len().min(1200) {
            for v in [0u8, b'0', b'F', b'g', 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                let _ = read_cpio(&bad);
            }
        }
        // pseudo-random input, and random bytes after a valid magic
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let len = (round * 7) % 700;
            let mut buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let _ = read_cpio(&buf);
            if buf.len() >= 6 {
                buf[..6].copy_from_slice(MAGIC);
                let _ = read_cpio(&buf);
            }
        }
        // huge sizes in otherwise valid headers
        let mut huge = Vec::new();
        write_record(&mut huge, "f", 1, S_IFREG | 0o644, 1, &[], 0, 0);
        huge[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"FFFFFFFF");
        assert!(matches!(read_cpio(&huge), Err(Error::Cpio { .. })));
        let mut huge_name = Vec::new();
        write_record(&mut huge_name, "f", 1, S_IFREG | 0o644, 1, &[], 0, 0);
        huge_name[6 + 11 * 8..6 + 12 * 8].copy_from_slice(b"FFFFFFFF");
        assert!(matches!(read_cpio(&huge_name), Err(Error::Cpio { .. })));
        assert!(read_cpio(b"not a cpio archive at all, definitely not").is_err());
        assert!(read_cpio(&[]).is_err());
    }

    #[test]
    fn reads_concatenated_archives_and_rejects_junk() {
        let mut one = Archive::new();
        one.add_file(
            "kernel/x86/microcode/GenuineIntel.bin",
            0o644,
            vec![1, 2, 3],
        )
        .unwrap();
        let mut bytes = one.to_cpio();
        bytes.extend(sample().to_cpio());
        let entries = read_cpio(&bytes).unwrap();
        assert_eq!(entries.len(), 4 + 13);
        let mut junk = sample().to_cpio();
        junk.extend_from_slice(&[0x1f, 0x8b, 8, 0]);
        assert!(read_cpio(&junk).is_err());
        // missing trailer
        let full = sample().to_cpio();
        let trailer_at = full
            .windows(TRAILER.len())
            .position(|w| w == TRAILER.as_bytes())
            .unwrap()
            - HEADER_LEN;
        assert!(read_cpio(&full[..trailer_at]).is_err());
    }

    #[test]
    fn reads_gnu_style_crc_magic() {
        let mut bytes = sample().to_cpio();
        bytes[..6].copy_from_slice(MAGIC_CRC);
        assert_eq!(read_cpio(&bytes).unwrap().len(), 13);
    }

    const DEP: &str = "\
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio.ko.xz:
kernel/drivers/virtio/virtio_ring.ko:
kernel/fs/ext4/ext4.ko:
kernel/drivers/unused.ko:
";

    fn fake_modules_dir(root: &Path) -> PathBuf {
        let dir = root.join("6.1.0-test-amd64");
        for (rel, body) in [
            ("kernel/drivers/block/virtio_blk.ko", "blk"),
            ("kernel/drivers/virtio/virtio.ko.xz", "virtio-xz"),
            ("kernel/drivers/virtio/virtio_ring.ko", "ring"),
            ("kernel/fs/ext4/ext4.ko", "ext4"),
            ("kernel/drivers/unused.ko", "unused"),
        ] {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        std::fs::write(dir.join("modules.dep"), DEP).unwrap();
        std::fs::write(
            dir.join("modules.builtin"),
            "kernel/drivers/ata/ata_piix.ko\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn add_modules_with_synthetic_tree() {
        let tmp = TempDir::new("addmod");
        let dir = fake_modules_dir(tmp.path());
        let names: Vec<String> = ["virtio-blk", "ata_piix", "virtio_ring"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut a = Archive::new();
        let order = a.add_modules(&dir, &names).unwrap();
        assert_eq!(
            order,
            vec![
                "kernel/drivers/virtio/virtio.ko.xz",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/block/virtio_blk.ko",
            ]
        );
        let entries = read_cpio(&a.to_cpio()).unwrap();
        let base = "lib/modules/6.1.0-test-amd64";
        let virtio = find(
            &entries,
            &format!("{base}/kernel/drivers/virtio/virtio.ko.xz"),
        );
        assert_eq!(virtio.data, b"virtio-xz");
        assert_eq!(virtio.mode, S_IFREG | 0o644);
        assert!(
            !entries
                .iter()
                .any(|e| e.path.contains("ext4") || e.path.contains("unused"))
        );
        let dep_text = &find(&entries, &format!("{base}/modules.dep")).data;
        let dep = ModulesDep::parse(std::str::from_utf8(dep_text).unwrap()).unwrap();
        assert_eq!(dep.len(), 3);
        assert_eq!(dep.load_order(&names[..1]).unwrap(), order);
        assert_eq!(
            find(&entries, &format!("{base}/modules.builtin")).data,
            b"kernel/drivers/ata/ata_piix.ko\n"
        );
        assert_eq!(
            find(&entries, "etc/leapboot/modules").data,
            b"virtio-blk\nata_piix\nvirtio_ring\n"
        );

        // same inputs, same bytes
        let mut again = Archive::new();
        again.add_modules(&dir, &names).unwrap();
        assert_eq!(a.to_gzip().unwrap(), again.to_gzip().unwrap());

        // a second call conflicts and leaves the archive unchanged
        let before = a.clone();
        assert!(a.add_modules(&dir, &names).is_err());
        assert_eq!(a, before);
    }

    #[test]
    fn add_modules_errors() {
        let tmp = TempDir::new("addmod-err");
        let dir = fake_modules_dir(tmp.path());
        let mut a = Archive::new();
        let err = a
            .add_modules(&dir, &["virtio_blk".into(), "does-not-exist".into()])
            .unwrap_err();
        assert!(err.to_string().contains("does-not-exist"), "{err}");
        assert!(a.is_empty());

        std::fs::remove_file(dir.join("kernel/drivers/virtio/virtio_ring.ko")).unwrap();
        let err = a.add_modules(&dir, &["virtio_blk".into()]).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(err.to_string().contains("virtio_ring.ko"), "{err}");
        assert!(a.is_empty());

        std::fs::write(dir.join("modules.dep"), "../../etc/shadow.ko:\n").unwrap();
        let err = a.add_modules(&dir, &["shadow".into()]).unwrap_err();
        assert!(matches!(err, Error::UnsafeModulePath { .. }), "{err}");

        let err = a
            .add_modules(&tmp.path().join("nope"), &["x".into()])
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    /// Manual check against the real Debian kernel tree, if present. It ships
    /// no modules.dep, so this only runs when one was generated there (or in
    /// the copy named by LEAPBOOT_TEST_MODULES_DIR).
    #[test]
    fn real_kernel_tree_if_available() {
        let dir = std::env::var_os("LEAPBOOT_TEST_MODULES_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from("/var/cache/leapboot-kernels/x/lib/modules/6.1.0-50-amd64")
            });
        if !dir.join("modules.dep").is_file() {
            eprintln!("skipping: no modules.dep in {}", dir.display());
            return;
        }
        let mut a = Archive::new();
        let order = a
            .add_modules(
                &dir,
                &["virtio_blk".into(), "virtio-net".into(), "ext4".into()],
            )
            .unwrap();
        eprintln!("load order: {order:?}");
        assert!(order.iter().any(|p| p.contains("virtio_blk")));
        assert!(read_cpio(&a.to_cpio()).is_ok());
    }
}
