//! What the XFS and Btrfs volumes share: reads under a budget, fallible buffers, and
//! symbolic links followed over crates that resolve paths without following them.
//!
//! `lamxfs` and `lambutter` bound most of their own work, but not all of it: a B-tree
//! node that points at itself makes `lamxfs` queue its children again on every visit
//! (65,536 visits, each queueing up to a block's worth of pointers: gigabytes with 64 KiB
//! blocks), and a dirty XFS log may be read up to 128 MiB. So every read either crate
//! makes goes through a [`BoundedReader`] that refuses to read more than the operation
//! was given: [`OPEN_BUDGET`] for opening, and for each `FileSystem` call
//! [`METADATA_BUDGET`] for the whole path walk (every symlink followed included) plus
//! the bytes it returns. A hostile image then ends in an error after a bounded amount
//! of I/O and memory, and no real layout comes near the limits.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::slice::Slice;
use leapboot_menus::{FileKind, FsError, Metadata};
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Bytes a filesystem may read while opening (superblocks, the Btrfs chunk and root
/// trees, an XFS log that needs replaying: `lamxfs` holds at most 128 MiB of it).
pub const OPEN_BUDGET: u64 = 160 << 20;
/// Bytes of metadata one call may read besides the file data it returns: directory
/// blocks, B-tree nodes, inodes, for the whole walk. A directory of 100,000 entries
/// is a few MiB; so is the block map of a 256 MiB file in 4 KiB extents.
pub const METADATA_BUDGET: u64 = 32 << 20;
/// Symbolic links followed while resolving one path (Linux's `MAXSYMLINKS`).
pub const MAX_LINKS: usize = 40;
/// Path components walked while resolving one path, symlink targets included.
pub const MAX_COMPONENTS: usize = 256;
/// Longest symlink target read (Linux's `PATH_MAX`; XFS allows 1024 bytes).
pub const MAX_LINK_TARGET: u64 = 4096;
/// Most entries returned by one directory listing (as the ext4 volume).
pub const MAX_DIR_ENTRIES: usize = 100_000;
/// Largest [`read_range`](leapboot_menus::FileSystem::read_range) served in one call.
pub const MAX_RANGE: u64 = 1 << 30;

/// Bytes an operation may still read, shared by a volume and its reader.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    left: Rc<Cell<u64>>,
    exhausted: Rc<Cell<bool>>,
    given: Rc<Cell<u64>>,
}

impl Budget {
    /// Starts an operation that may read `bytes`.
    pub fn start(&self, bytes: u64) {
        self.left.set(bytes);
        self.given.set(bytes);
        self.exhausted.set(false);
    }

    /// Lets the current operation read `bytes` more (the file data it returns).
    pub fn grant(&self, bytes: u64) {
        self.left.set(self.left.get().saturating_add(bytes));
        self.given.set(self.given.get().saturating_add(bytes));
    }

    /// True when a read was refused since the last [`Budget::start`].
    pub fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// What the last operation was given, for messages.
    pub fn given(&self) -> u64 {
        self.given.get()
    }

    fn take(&self, bytes: u64) -> bool {
        match self.left.get().checked_sub(bytes) {
            Some(rest) => {
                self.left.set(rest);
                true
            }
            None => {
                self.left.set(0);
                self.exhausted.set(true);
                false
            }
        }
    }
}

/// Why a [`BoundedReader`] read failed (the crates keep only that it failed).
#[derive(Debug)]
pub enum ReadError {
    /// The operation's budget is spent.
    Exhausted,
    /// The device failed, or the read passes the end of the partition.
    Io(std::io::Error),
}

/// Positioned reads of a partition, within the current operation's [`Budget`].
pub struct BoundedReader {
    slice: Slice,
    budget: Budget,
}

impl BoundedReader {
    /// Reads of `slice`, charged to `budget`.
    pub fn new(slice: Slice, budget: Budget) -> BoundedReader {
        BoundedReader { slice, budget }
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        if !self.budget.take(len) {
            return Err(ReadError::Exhausted);
        }
        self.slice.read_exact_at(offset, buf).map_err(ReadError::Io)
    }
}

impl lamxfs::BlockRead for BoundedReader {
    type Error = ReadError;
    fn read_at(&mut self, offset_bytes: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.read(offset_bytes, buf)
    }
}

impl lambutter::BlockRead for BoundedReader {
    type Error = ReadError;
    fn read_at(&mut self, offset_bytes: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.read(offset_bytes, buf)
    }
}

/// What a reader crate's error means, before the budget is considered: each volume
/// classifies its crate's errors into these, and [`run`] makes the [`FsError`].
pub enum Meaning {
    /// No such file or directory.
    NotFound,
    /// Not a regular file.
    NotAFile,
    /// Larger than the caller's limit.
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A feature the crate does not read (`what` names it for the user).
    Unsupported(&'static str),
    /// Damaged, with the crate's reason in words.
    Corrupt(String),
}

/// Runs `f` on the filesystem in `cell` for the file `path`, within the current
/// operation's `budget`: an error becomes an [`FsError`] through `classify`, except
/// that an exhausted budget is always reported as such (whatever error the crate made
/// of the refused read), and a filesystem already in use answers "volume busy".
pub fn run<F, T, E>(
    cell: &std::cell::RefCell<F>,
    budget: &Budget,
    path: &str,
    f: impl FnOnce(&mut F) -> Result<T, E>,
    classify: impl FnOnce(E) -> Meaning,
) -> Result<T, FsError> {
    let mut fs = cell.try_borrow_mut().map_err(|_| FsError::Io {
        path: path.to_string(),
        source: std::io::Error::other("volume busy"),
    })?;
    f(&mut fs).map_err(|e| {
        let path = path.to_string();
        if budget.exhausted() {
            return FsError::Corrupt {
                path,
                reason: exhausted_reason(budget),
            };
        }
        match classify(e) {
            Meaning::NotFound => FsError::NotFound { path },
            Meaning::NotAFile => FsError::NotAFile { path },
            Meaning::TooLarge { size, limit } => FsError::TooLarge { path, size, limit },
            Meaning::Unsupported(what) => FsError::Unsupported { path, what },
            Meaning::Corrupt(reason) => FsError::Corrupt { path, reason },
        }
    })
}

/// The reason given when a budget ran out.
pub fn exhausted_reason(budget: &Budget) -> String {
    format!(
        "gave up after reading {} MiB (a loop in the filesystem's B-trees or directories?)",
        budget.given() >> 20
    )
}

/// Bytes handed to the crate per read call. Neither crate keeps a file's extent map
/// between calls (each call reads it again), so chunks are large; they spare zeroing
/// the whole buffer before reading into it.
const CHUNK: usize = 16 << 20;

/// The budget for reading `want` bytes of file data: the data, and a quarter more for
/// the extent map read again on every chunk (a 256 MiB file in 4 KiB extents has a
/// 1 MiB map, read 16 times).
pub fn data_budget(want: u64) -> u64 {
    want.saturating_add(want / 4)
}

/// Reads `want` bytes of a file from `start` with `read(offset, buf)` (which must fill
/// `buf`), in chunks, into a buffer allocated fallibly: an out-of-memory error instead
/// of an abort. After each chunk the thread's progress watcher, if any, is told the
/// bytes done of `want` ([`progress::tell`](super::progress::tell)), as ext4 and FAT
/// reads tell it, so a long XFS or Btrfs read shows how far it is too.
pub fn read_chunked(
    path: &str,
    start: u64,
    want: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<usize, FsError>,
) -> Result<Vec<u8>, FsError> {
    let oom = || FsError::Io {
        path: path.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::OutOfMemory,
            format!("cannot allocate {want} bytes"),
        ),
    };
    let total = usize::try_from(want).map_err(|_| oom())?;
    let mut out = Vec::new();
    out.try_reserve_exact(total).map_err(|_| oom())?;
    while out.len() < total {
        let at = out.len();
        let take = (total - at).min(CHUNK);
        out.resize(at + take, 0);
        let offset = start.saturating_add(u64::try_from(at).unwrap_or(u64::MAX));
        let buf = out.get_mut(at..).unwrap_or_default();
        let got = read(offset, buf)?;
        if got != take {
            return Err(FsError::Corrupt {
                path: path.to_string(),
                reason: format!("read {got} of {take} bytes at offset {offset}"),
            });
        }
        super::progress::tell(u64::try_from(out.len()).unwrap_or(u64::MAX), want);
    }
    Ok(out)
}

/// The byte range `offset..offset + len` of a `size`-byte file, clipped to its end
/// (the [`FileSystem::read_range`](leapboot_menus::FileSystem::read_range) contract),
/// refused past [`MAX_RANGE`].
pub fn clip_range(path: &str, size: u64, offset: u64, len: u64) -> Result<(u64, u64), FsError> {
    let start = offset.min(size);
    let want = len.min(size - start);
    if want > MAX_RANGE {
        return Err(FsError::TooLarge {
            path: path.to_string(),
            size: want,
            limit: MAX_RANGE,
        });
    }
    Ok((start, want))
}

/// A filesystem tree whose lookups do not follow symbolic links.
pub trait Lookup {
    /// What a lookup returns: enough to read the object again without a walk.
    type Node: Copy;
    /// The object at `path` (every earlier component a real directory), not following
    /// a symlink at its end.
    fn lstat(&self, path: &str) -> Result<(Self::Node, Metadata), FsError>;
    /// The target of the symlink at `path`, at most [`MAX_LINK_TARGET`] bytes.
    fn read_link(&self, path: &str) -> Result<Vec<u8>, FsError>;
}

/// What [`follow`] found.
#[derive(Debug, Clone)]
pub struct Found<N> {
    /// The crate's handle.
    pub node: N,
    /// Kind and size (of the link's target, never of a link).
    pub meta: Metadata,
    /// The path without links, `.` or `..`, for calls that take a path.
    pub real: String,
}

impl<N> Found<N> {
    /// Its metadata as `FileSystem::metadata` gives it: a size for files only.
    pub fn shown_metadata(&self) -> Metadata {
        Metadata {
            kind: self.meta.kind,
            len: if self.meta.kind == FileKind::File {
                self.meta.len
            } else {
                0
            },
        }
    }

    /// An error unless it is a directory.
    pub fn require_dir(&self, path: &str) -> Result<(), FsError> {
        if self.meta.kind == FileKind::Dir {
            Ok(())
        } else {
            Err(FsError::NotADirectory {
                path: path.to_string(),
            })
        }
    }
}

/// An error when a file of `size` bytes is over the caller's `limit`.
pub fn within_limit(path: &str, size: u64, limit: u64) -> Result<(), FsError> {
    if size > limit {
        return Err(FsError::TooLarge {
            path: path.to_string(),
            size,
            limit,
        });
    }
    Ok(())
}

/// An error when a directory listing has more than [`MAX_DIR_ENTRIES`] entries.
pub fn within_dir_limit(path: &str, entries: usize) -> Result<(), FsError> {
    if entries > MAX_DIR_ENTRIES {
        return Err(FsError::Corrupt {
            path: path.to_string(),
            reason: format!("more than {MAX_DIR_ENTRIES} entries"),
        });
    }
    Ok(())
}

/// The object `path` names, following symlinks in every component as Linux does
/// (relative targets from the link's directory, `..` in targets, at most
/// [`MAX_LINKS`] links). Errors name `path`.
pub fn follow<L: Lookup>(tree: &L, path: &str) -> Result<Found<L::Node>, FsError> {
    // Most paths hold no link: one walk by the crate settles them.
    match tree.lstat(path) {
        Ok((node, meta)) if meta.kind != FileKind::Symlink => {
            let real = format!("/{}", components(path).collect::<Vec<_>>().join("/"));
            return Ok(Found { node, meta, real });
        }
        Ok(_) => {}
        Err(e) if e.is_not_found() || matches!(e, FsError::NotADirectory { .. }) => {}
        Err(e) => return Err(e),
    }
    let not_found = || FsError::NotFound {
        path: path.to_string(),
    };
    let mut todo: VecDeque<String> = components(path).collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0usize;
    let mut steps = 0usize;
    let mut last: Option<(L::Node, Metadata)> = None;
    while let Some(part) = todo.pop_front() {
        steps += 1;
        if steps > MAX_COMPONENTS {
            return Err(not_found());
        }
        if part == ".." {
            done.pop();
            last = None;
            continue;
        }
        let here = format!("/{}", {
            let mut v = done.clone();
            v.push(part.clone());
            v.join("/")
        });
        let (node, meta) = tree.lstat(&here).map_err(|e| rename(e, path))?;
        if meta.kind == FileKind::Symlink {
            links += 1;
            if links > MAX_LINKS {
                return Err(FsError::Corrupt {
                    path: path.to_string(),
                    reason: format!("more than {MAX_LINKS} symbolic links (a loop?)"),
                });
            }
            let target = tree.read_link(&here).map_err(|e| rename(e, path))?;
            let target = String::from_utf8(target).map_err(|_| not_found())?;
            if target.is_empty() {
                return Err(not_found());
            }
            if target.starts_with('/') {
                done.clear();
            }
            for (i, p) in components(&target).enumerate() {
                todo.insert(i, p);
            }
            last = None;
            continue;
        }
        if !todo.is_empty() && meta.kind != FileKind::Dir {
            return Err(FsError::NotADirectory {
                path: path.to_string(),
            });
        }
        done.push(part);
        last = Some((node, meta));
    }
    let real = format!("/{}", done.join("/"));
    let (node, meta) = match last {
        Some(found) => found,
        // The walk ended on the root or after a `..`: look the directory up as it is.
        None => tree.lstat(&real).map_err(|e| rename(e, path))?,
    };
    Ok(Found { node, meta, real })
}

/// A UUID as blkid prints it: 8-4-4-4-12 lowercase hex.
pub fn uuid_string(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_string();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

/// Components of a path without empty ones and `.`.
fn components(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_string)
}

/// The same error, naming the path the caller asked for.
fn rename(e: FsError, path: &str) -> FsError {
    let path = path.to_string();
    match e {
        FsError::NotFound { .. } => FsError::NotFound { path },
        FsError::NotADirectory { .. } => FsError::NotADirectory { path },
        FsError::NotAFile { .. } => FsError::NotAFile { path },
        FsError::TooLarge { size, limit, .. } => FsError::TooLarge { path, size, limit },
        FsError::Corrupt { reason, .. } => FsError::Corrupt { path, reason },
        FsError::Io { source, .. } => FsError::Io { path, source },
        FsError::ReadOnly { .. } => FsError::ReadOnly { path },
        FsError::Unsupported { what, .. } => FsError::Unsupported { path, what },
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::as_conversions)] // fixed test data
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A tree of files, directories and links given as (path, kind, link target).
    struct Fake(BTreeMap<String, (FileKind, String)>);

    impl Lookup for Fake {
        type Node = u64;
        fn lstat(&self, path: &str) -> Result<(u64, Metadata), FsError> {
            let key = leapboot_menus::fs::normalize(path).unwrap_or_else(|| "/".into());
            // Like the crates: every earlier component must be a real directory.
            let mut prefix = String::new();
            let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
            for p in parts.iter().take(parts.len().saturating_sub(1)) {
                prefix = format!("{prefix}/{p}");
                match self.0.get(&prefix) {
                    Some((FileKind::Dir, _)) => {}
                    _ => return Err(FsError::NotFound { path: path.into() }),
                }
            }
            if key == "/" {
                return Ok((
                    0,
                    Metadata {
                        kind: FileKind::Dir,
                        len: 0,
                    },
                ));
            }
            let (kind, _) = self
                .0
                .get(&key)
                .ok_or(FsError::NotFound { path: path.into() })?;
            Ok((
                key.len() as u64,
                Metadata {
                    kind: *kind,
                    len: 1,
                },
            ))
        }
        fn read_link(&self, path: &str) -> Result<Vec<u8>, FsError> {
            Ok(self.0[path].1.clone().into_bytes())
        }
    }

    fn fake(items: &[(&str, FileKind, &str)]) -> Fake {
        Fake(
            items
                .iter()
                .map(|(p, k, t)| (p.to_string(), (*k, t.to_string())))
                .collect(),
        )
    }

    #[test]
    fn links_in_every_component_are_followed() {
        use FileKind::*;
        let t = fake(&[
            ("/boot", Dir, ""),
            ("/boot/vmlinuz-6", File, ""),
            ("/boot/vmlinuz", Symlink, "vmlinuz-6"),
            ("/b", Symlink, "/boot"),
            ("/up", Symlink, "boot/../boot/vmlinuz"),
            ("/loop", Symlink, "loop"),
        ]);
        assert_eq!(follow(&t, "/boot/vmlinuz").unwrap().meta.kind, File);
        assert_eq!(follow(&t, "/b/vmlinuz").unwrap().real, "/boot/vmlinuz-6");
        assert_eq!(follow(&t, "/up").unwrap().meta.kind, File);
        assert_eq!(follow(&t, "/b").unwrap().real, "/boot");
        assert!(matches!(follow(&t, "/loop"), Err(FsError::Corrupt { .. })));
        assert!(follow(&t, "/b/nope").unwrap_err().is_not_found());
        assert!(matches!(
            follow(&t, "/boot/vmlinuz-6/x"),
            Err(FsError::NotADirectory { .. } | FsError::NotFound { .. })
        ));
    }

    #[test]
    fn uuids_print_as_blkid() {
        let b = [
            0x0b, 0x7c, 0x1c, 0x6e, 0x11, 0x11, 0x42, 0x22, 0x83, 0x33, 0x44, 0x44, 0x55, 0x55,
            0x66, 0x66,
        ];
        assert_eq!(uuid_string(&b), "0b7c1c6e-1111-4222-8333-444455556666");
    }

    #[test]
    fn budget_refuses_past_its_bytes() {
        let b = Budget::default();
        b.start(10);
        assert!(b.take(6));
        assert!(!b.take(6));
        assert!(b.exhausted());
        b.start(10);
        assert!(!b.exhausted());
    }

    #[test]
    fn ranges_clip_to_the_file() {
        assert_eq!(clip_range("/f", 100, 90, 50).unwrap(), (90, 10));
        assert_eq!(clip_range("/f", 100, 200, 5).unwrap(), (100, 0));
        assert!(clip_range("/f", u64::MAX, 0, u64::MAX).is_err());
    }

    #[test]
    fn chunked_reads_tell_the_progress_watcher_each_chunk() {
        let want = u64::try_from(CHUNK * 2 + 3).unwrap();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let s = seen.clone();
        let out = super::super::progress::watch(
            move |done, total| s.borrow_mut().push((done, total)),
            || {
                read_chunked("/f", 0, want, |offset, buf| {
                    buf.fill(u8::try_from(offset >> 24).unwrap());
                    Ok(buf.len())
                })
            },
        )
        .unwrap();
        assert_eq!(out.len(), CHUNK * 2 + 3);
        let chunk = u64::try_from(CHUNK).unwrap();
        assert_eq!(
            *seen.borrow(),
            [(chunk, want), (2 * chunk, want), (want, want)]
        );
    }
}
