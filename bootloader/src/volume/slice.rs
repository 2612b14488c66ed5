//! A partition as a byte stream: `Read + Seek` over a range of a [`Disk`], with
//! writes refused unless a write was explicitly asked for (the one write path of
//! boot counting); the filesystem crates want `Write` in their bounds.

use crate::disk::Disk;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A byte range of a disk.
#[derive(Debug, Clone)]
pub struct Slice {
    disk: Disk,
    offset: u64,
    len: u64,
    pos: u64,
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
