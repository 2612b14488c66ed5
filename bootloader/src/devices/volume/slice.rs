//! A partition as a byte stream: `Read + Seek` over a range of a [`Disk`]. The
//! `Write` impl always refuses (the filesystem crates want `Write` in their bounds but
//! must never write); the one write leapboot makes, boot counting's rename, goes
//! through [`Slice::write_all_at`] on a slice of a disk opened with
//! [`Disk::open_rw`](crate::devices::disk::Disk::open_rw).

use crate::devices::disk::Disk;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A byte range of a disk.
#[derive(Debug, Clone)]
pub struct Slice {
    disk: Disk,
    offset: u64,
    len: u64,
    pos: u64,
    cache: BlockCache,
    ahead: ReadAhead,
    /// When set, every read's (offset, length) within the slice is recorded: how the
    /// grubenv writer learns where a file's bytes lie without parsing the filesystem.
    log: Option<ReadLog>,
}

/// Shared record of the reads made through a [`Slice`].
pub type ReadLog = std::sync::Arc<std::sync::Mutex<Vec<(u64, u64)>>>;

/// Size of a cached block.
const BLOCK: u64 = 4096;
/// Blocks kept.
const CACHED_BLOCKS: usize = 16;

/// A few recently read 4 KiB blocks. `fatfs` reads directory entries field by
/// field (a dozen reads of 1 to 11 bytes per 32-byte entry); without this every one
/// would be a system call, and a directory walk of 65,536 entries a million of them.
#[derive(Debug, Clone, Default)]
struct BlockCache {
    blocks: Vec<(u64, Vec<u8>)>,
    next: usize,
}

impl BlockCache {
    fn get(&self, block: u64) -> Option<&[u8]> {
        self.blocks
            .iter()
            .find(|(b, _)| *b == block)
            .map(|(_, d)| d.as_slice())
    }

    fn put(&mut self, block: u64, data: Vec<u8>) {
        if self.blocks.len() < CACHED_BLOCKS {
            self.blocks.push((block, data));
        } else {
            self.blocks[self.next] = (block, data);
            self.next = (self.next + 1) % CACHED_BLOCKS;
        }
    }
}

/// The smallest and largest read-ahead: the window starts at [`AHEAD_MIN`] on the
/// second read in a row that starts where the last one ended, and doubles with each
/// further one up to [`AHEAD_MAX`].
const AHEAD_MIN: usize = 128 * 1024;
const AHEAD_MAX: usize = 2 * 1024 * 1024;

/// Bytes read ahead of a sequential reader. `fatfs` reads a file one 4 KiB cluster
/// per call and `ext4-view` one extent piece at a time: 67,767 and 8,711 system calls
/// for a 256 MiB initrd, against 256 for `dd bs=1M`, and under TCG each one costs.
/// Kept only on read-only disks: a slice that writes (boot counting) reads what is
/// on the disk, not a copy from before its write.
#[derive(Debug, Default)]
struct ReadAhead {
    /// Slice offset of `data[0]`.
    start: u64,
    data: Vec<u8>,
    /// Where the last read ended: the next one is sequential if it starts here.
    last_end: u64,
    /// The next window's size.
    next: usize,
}

/// A copy of a slice starts without a window (no megabytes copied per clone).
impl Clone for ReadAhead {
    fn clone(&self) -> ReadAhead {
        ReadAhead::default()
    }
}

impl ReadAhead {
    /// The bytes at `at..at + len`, if the window holds all of them.
    fn get(&self, at: u64, len: usize) -> Option<&[u8]> {
        let from = usize::try_from(at.checked_sub(self.start)?).ok()?;
        self.data.get(from..from.checked_add(len)?)
    }
}

impl Slice {
    /// The range `offset..offset + len` of `disk`, clipped to the disk.
    pub fn new(disk: Disk, offset: u64, len: u64) -> Slice {
        let len = len.min(disk.size.saturating_sub(offset));
        Slice {
            disk,
            offset,
            len,
            pos: 0,
            cache: BlockCache::default(),
            ahead: ReadAhead::default(),
            log: None,
        }
    }

    /// Records every read made through this slice (and its clones) in `log`.
    pub fn with_read_log(mut self, log: ReadLog) -> Slice {
        self.log = Some(log);
        self
    }

    fn record(&self, at: u64, len: u64) {
        if let Some(l) = &self.log
            && let Ok(mut v) = l.lock()
            && v.len() < 1_000_000
        {
            v.push((at, len));
        }
    }

    /// Length of the range in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads exactly `buf.len()` bytes at `at` within the range, from the read-ahead
    /// window when it holds them; a read that starts where the last one ended fills
    /// the window first ([`ReadAhead`]).
    fn read_sequential(&mut self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        let len = buf.len();
        if let Some(data) = self.ahead.get(at, len) {
            self.record(at, len as u64);
            buf.copy_from_slice(data);
            self.ahead.last_end = at + len as u64;
            return Ok(());
        }
        let sequential = at == self.ahead.last_end && at > 0;
        if !sequential || self.disk.is_writable() || len >= AHEAD_MAX {
            self.ahead.next = AHEAD_MIN;
            self.read_exact_at(at, buf)?;
            self.ahead.last_end = at + len as u64;
            return Ok(());
        }
        let size = self
            .ahead
            .next
            .max(len)
            .min(usize::try_from(self.len.saturating_sub(at)).unwrap_or(usize::MAX));
        let mut data = std::mem::take(&mut self.ahead.data);
        data.resize(size, 0);
        self.read_unrecorded(at, &mut data)?;
        self.record(at, len as u64);
        buf.copy_from_slice(&data[..len]);
        self.ahead = ReadAhead {
            start: at,
            data,
            last_end: at + len as u64,
            next: (self.ahead.next.max(AHEAD_MIN) * 2).min(AHEAD_MAX),
        };
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes at `at` within the range.
    pub fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        self.record(at, buf.len() as u64);
        self.read_unrecorded(at, buf)
    }

    /// [`Slice::read_exact_at`] without adding to the read log.
    fn read_unrecorded(&self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = at.checked_add(buf.len() as u64).filter(|&e| e <= self.len);
        if end.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {at} passes the end of the {}-byte partition",
                    buf.len(),
                    self.len
                ),
            ));
        }
        self.disk
            .read_at(self.offset + at, buf)
            .map_err(io::Error::other)
    }

    /// Writes all of `buf` at `at` within the range. Refused unless the disk was
    /// opened read-write, and for any write that would pass the end of the range.
    pub fn write_all_at(&self, at: u64, buf: &[u8]) -> io::Result<()> {
        let end = at.checked_add(buf.len() as u64).filter(|&e| e <= self.len);
        if end.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "write of {} bytes at {at} passes the end of the {}-byte partition",
                    buf.len(),
                    self.len
                ),
            ));
        }
        self.disk.write_at(self.offset + at, buf).map_err(|e| {
            let kind = match &e {
                crate::devices::disk::DiskError::Write { source, .. } => source.kind(),
                _ => io::ErrorKind::Other,
            };
            io::Error::new(kind, e.to_string())
        })
    }

    /// Flushes what [`Slice::write_all_at`] wrote to the device (`fsync`).
    pub fn sync(&self) -> io::Result<()> {
        self.disk.sync().map_err(io::Error::other)
    }

    /// Offset of the range on its disk, in bytes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Name of the disk, for messages.
    pub fn disk_name(&self) -> &str {
        &self.disk.name
    }
}

impl Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let block = self.pos / BLOCK;
        let within = (self.pos % BLOCK) as usize;
        // Small reads that stay inside one block are served from the cache.
        if n < BLOCK as usize && within + n <= BLOCK as usize {
            if self.cache.get(block).is_none() {
                let start = block * BLOCK;
                let size = BLOCK.min(self.len - start) as usize;
                let mut data = vec![0u8; size];
                self.read_exact_at(start, &mut data)?;
                self.cache.put(block, data);
            }
            if let Some(data) = self
                .cache
                .get(block)
                .and_then(|d| d.get(within..within + n))
            {
                buf[..n].copy_from_slice(data);
                self.pos += n as u64;
                return Ok(n);
            }
        }
        self.read_sequential(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Slice {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

/// Always refused: the filesystem crates never write (see the module docs).
impl Write for Slice {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "volume is opened read-only",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ext4_view::Ext4Read for Slice {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.read_sequential(start_byte, dst).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk image whose byte `i` is a function of `i`.
    fn image(len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let bytes: Vec<u8> = (0..len)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let path =
            std::env::temp_dir().join(format!("leapboot-slice-{}-{len}.img", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    /// Sequential reads in cluster-sized pieces, seeks back and forth, reads across
    /// the window's end, small reads through the block cache and reads at the end of
    /// the range all return the disk's bytes.
    #[test]
    fn reads_through_the_read_ahead_window_are_the_disk_bytes() {
        let len = 5 * AHEAD_MAX + 12_345;
        let (path, bytes) = image(len);
        let disk = Disk::open(&path, "slice-test").unwrap();
        let offset = 4096;
        let mut s = Slice::new(disk, offset, (len - 4096) as u64);
        let want =
            |at: usize, n: usize| bytes[offset as usize + at..offset as usize + at + n].to_vec();
        let mut pos = 0usize;
        let mut buf = vec![0u8; 4096];
        while pos + 4096 <= 3 * AHEAD_MAX {
            s.read_exact(&mut buf).unwrap();
            assert_eq!(buf, want(pos, 4096), "at {pos}");
            pos += 4096;
        }
        for (at, n) in [
            (100usize, 7usize),
            (AHEAD_MAX - 10, 4096),
            (3, 60_000),
            (len - 4096 - 100, 100),
        ] {
            s.seek(SeekFrom::Start(at as u64)).unwrap();
            let mut b = vec![0u8; n];
            s.read_exact(&mut b).unwrap();
            assert_eq!(b, want(at, n), "at {at}");
        }
        // ext4-view's positioned reads, sequential and not.
        let mut b = vec![0u8; 8192];
        for at in [0usize, 8192, 16_384, 24_576, 7, 1_000_000, 1_008_192] {
            ext4_view::Ext4Read::read(&mut s, at as u64, &mut b).unwrap();
            assert_eq!(b, want(at, 8192), "ext4 read at {at}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
