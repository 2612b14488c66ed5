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

    /// Reads exactly `buf.len()` bytes at `at` within the range.
    pub fn read_exact_at(&self, at: u64, buf: &mut [u8]) -> io::Result<()> {
        self.record(at, buf.len() as u64);
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
        self.read_exact_at(self.pos, &mut buf[..n])?;
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
        self.read_exact_at(start_byte, dst).map_err(Into::into)
    }
}
