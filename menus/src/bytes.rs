//! Bounded little-endian reads from byte slices: the one place where integers are
//! taken out of on-disk structures (PE/COFF headers here; GPT, MBR, the bzImage
//! setup header and FAT in the `leapboot` crate).
//!
//! Every on-disk format leapboot reads stores its integers little-endian: the PE/COFF
//! specification ("all fields are little-endian"), the UEFI specification's GPT header
//! and partition entries, the MBR partition table, the x86 boot protocol
//! (`Documentation/arch/x86/boot.rst`) and FAT's BPB. Each read names its offset and
//! returns `None` when the bytes are not there (an offset past the end, or an
//! `offset + size` that overflows), so a parser built on these functions never
//! panics and never indexes out of bounds; it turns `None` into its own error with
//! the offset that was wrong.
//!
//! Two styles: free functions for fixed offsets ([`u32_le`]`(bytes, 0x3c)`), and
//! [`LeCursor`] for fields read one after the other (a header laid out field by
//! field), which remembers where it is and never moves past the end.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// The `N` bytes at `offset`, or `None` when they are not all inside `bytes`.
pub fn array<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    bytes.get(offset..end)?.try_into().ok()
}

/// The `len` bytes at `offset`, or `None` when they are not all inside `bytes`.
pub fn slice(bytes: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    bytes.get(offset..offset.checked_add(len)?)
}

/// The byte at `offset`.
pub fn u8_at(bytes: &[u8], offset: usize) -> Option<u8> {
    bytes.get(offset).copied()
}

/// The little-endian `u16` at `offset`.
pub fn u16_le(bytes: &[u8], offset: usize) -> Option<u16> {
    array(bytes, offset).map(u16::from_le_bytes)
}

/// The little-endian `u32` at `offset`.
pub fn u32_le(bytes: &[u8], offset: usize) -> Option<u32> {
    array(bytes, offset).map(u32::from_le_bytes)
}

/// The little-endian `u64` at `offset`.
pub fn u64_le(bytes: &[u8], offset: usize) -> Option<u64> {
    array(bytes, offset).map(u64::from_le_bytes)
}

/// Reads fields one after the other from a byte slice, little-endian.
///
/// Every read returns `None` when the field is not wholly inside the slice, and then
/// leaves the position where it was, so a caller can report [`LeCursor::position`]
/// as the offset of the field that was missing.
#[derive(Debug, Clone)]
pub struct LeCursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> LeCursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        LeCursor { bytes, pos: 0 }
    }

    /// A cursor at `offset` in `bytes` (which may be past the end: every read then
    /// returns `None`).
    pub fn at(bytes: &'a [u8], offset: usize) -> Self {
        LeCursor { bytes, pos: offset }
    }

    /// Offset of the next read from the start of the slice.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left after the position (0 when it is past the end).
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The next `len` bytes, moving past them.
    pub fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let s = slice(self.bytes, self.pos, len)?;
        self.pos = self.pos.checked_add(len)?;
        Some(s)
    }

    /// The next `N` bytes as an array, moving past them.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let a = array(self.bytes, self.pos)?;
        self.pos = self.pos.checked_add(N)?;
        Some(a)
    }

    /// Moves past `len` bytes, which must be inside the slice.
    pub fn skip(&mut self, len: usize) -> Option<()> {
        self.bytes(len).map(|_| ())
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.array().map(u8::from_le_bytes)
    }

    /// The next little-endian `u16`.
    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: [u8; 10] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a];

    /// Values are little-endian, at the offset given.
    #[test]
    fn little_endian_at_offsets() {
        assert_eq!(u8_at(&B, 9), Some(0x0a));
        assert_eq!(u16_le(&B, 0), Some(0x0201));
        assert_eq!(u16_le(&B, 1), Some(0x0302));
        assert_eq!(u32_le(&B, 2), Some(0x0605_0403));
        assert_eq!(u64_le(&B, 2), Some(0x0a09_0807_0605_0403));
        assert_eq!(array::<3>(&B, 7), Some([8, 9, 10]));
        assert_eq!(slice(&B, 8, 2), Some(&B[8..]));
        assert_eq!(slice(&B, 10, 0), Some(&[][..]));
    }

    /// A field that ends exactly at the end is there; one byte more is not.
    #[test]
    fn bounds_are_exact() {
        assert_eq!(u16_le(&B, 8), Some(0x0a09));
        assert_eq!(u16_le(&B, 9), None);
        assert_eq!(u32_le(&B, 6), Some(0x0a09_0807));
        assert_eq!(u32_le(&B, 7), None);
        assert_eq!(u64_le(&B, 3), None);
        assert_eq!(u8_at(&B, 10), None);
        assert_eq!(slice(&B, 9, 2), None);
        assert_eq!(slice(&B, 11, 0), None);
        assert_eq!(u16_le(&[], 0), None);
    }

    /// Offsets near `usize::MAX` do not overflow into a short read.
    #[test]
    fn overflowing_offsets_are_none() {
        for off in [usize::MAX, usize::MAX - 1, usize::MAX - 3, usize::MAX - 7] {
            assert_eq!(u16_le(&B, off), None);
            assert_eq!(u32_le(&B, off), None);
            assert_eq!(u64_le(&B, off), None);
            assert_eq!(slice(&B, off, 8), None);
            assert_eq!(slice(&B, 1, usize::MAX), None);
        }
    }

    /// The cursor reads fields in order and stays put on a failed read.
    #[test]
    fn cursor_reads_in_order() {
        let mut c = LeCursor::new(&B);
        assert_eq!(c.u8(), Some(1));
        assert_eq!(c.u16(), Some(0x0302));
        assert_eq!(c.u32(), Some(0x0706_0504));
        assert_eq!(c.position(), 7);
        assert_eq!(c.remaining(), 3);
        assert_eq!(c.u32(), None);
        assert_eq!(c.position(), 7);
        assert_eq!(c.bytes(2), Some(&[8, 9][..]));
        assert_eq!(c.skip(2), None);
        assert_eq!(c.skip(1), Some(()));
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.u8(), None);

        let mut c = LeCursor::at(&B, 2);
        assert_eq!(c.u64(), Some(0x0a09_0807_0605_0403));
        assert_eq!(c.array::<1>(), None);

        let mut c = LeCursor::at(&B, usize::MAX);
        assert_eq!((c.remaining(), c.u8(), c.bytes(0)), (0, None, None));
    }
}
