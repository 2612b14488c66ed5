//! LUKS1 and LUKS2 headers: recognised and listed ("encrypted, not unlocked by
//! leapboot"), never unlocked.
//!
//! Fields from the LUKS1 On-Disk Format Specification (version 1.2.3: `phdr` with
//! `magic`, big-endian `version`, `uuid` at byte 168) and the LUKS2 On-Disk Format
//! Specification (the binary header: `magic`, `version` 2, big-endian `hdr_size`, the
//! `label` at byte 24, `uuid` at byte 168, `subsystem` at byte 208); cryptsetup's
//! `lib/luks1/luks.h` and `lib/luks2/luks2.h` hold the same layouts. The JSON area
//! after the LUKS2 binary header is not read: everything listed comes from the fixed
//! fields.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use leapboot_menus::bytes;

/// `LUKS_MAGIC`: the first six bytes of a LUKS1 or LUKS2 (primary) header.
pub const MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
/// Bytes read to recognise a header.
pub const HEADER_BYTES: usize = 512;

/// A recognised LUKS header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luks {
    /// 1 or 2.
    pub version: u16,
    /// The UUID (`cryptsetup luksUUID`, `UUID=` in `crypttab`).
    pub uuid: Option<String>,
    /// LUKS2 label, if set.
    pub label: Option<String>,
    /// LUKS2 subsystem, if set.
    pub subsystem: Option<String>,
}

impl Luks {
    /// `LUKS1` or `LUKS2`.
    pub fn kind(&self) -> String {
        format!("LUKS{}", self.version)
    }
}

/// A header with the LUKS magic that cannot be a valid one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("LUKS header: {0}")]
pub struct LuksError(pub String);

fn text(b: &[u8], at: usize, len: usize) -> Option<String> {
    let field = bytes::slice(b, at, len)?;
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    let s = String::from_utf8_lossy(field.get(..end)?)
        .trim()
        .to_string();
    Some(s).filter(|s| !s.is_empty())
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    bytes::array::<2>(b, at).map(u16::from_be_bytes)
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    bytes::array::<8>(b, at).map(u64::from_be_bytes)
}

/// Recognises a LUKS header in the first [`HEADER_BYTES`] of a device: `Ok(None)`
/// without the magic.
pub fn parse(h: &[u8]) -> Result<Option<Luks>, LuksError> {
    if h.get(..6) != Some(MAGIC.as_slice()) {
        return Ok(None);
    }
    let version = be16(h, 6).unwrap_or(0);
    match version {
        1 => Ok(Some(Luks {
            version,
            uuid: text(h, 168, 40),
            label: None,
            subsystem: None,
        })),
        2 => {
            // The binary header plus JSON area: 16 KiB to 4 MiB, a power of two.
            let size = be64(h, 8).unwrap_or(0);
            if !(size.is_power_of_two() && (16 << 10..=4 << 20).contains(&size)) {
                return Err(LuksError(format!("LUKS2 header size {size} is not valid")));
            }
            Ok(Some(Luks {
                version,
                uuid: text(h, 168, 40),
                label: text(h, 24, 48),
                subsystem: text(h, 208, 48),
            }))
        }
        v => Err(LuksError(format!("version {v} is not LUKS1 or LUKS2"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u16) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_BYTES];
        h[..6].copy_from_slice(MAGIC);
        h[6..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&16384u64.to_be_bytes());
        h[24..33].copy_from_slice(b"cryptroot");
        h[168..172].copy_from_slice(b"abcd");
        h
    }

    #[test]
    fn both_versions() {
        let l2 = parse(&header(2)).unwrap().unwrap();
        assert_eq!(l2.kind(), "LUKS2");
        assert_eq!(l2.label.as_deref(), Some("cryptroot"));
        assert_eq!(l2.uuid.as_deref(), Some("abcd"));
        let l1 = parse(&header(1)).unwrap().unwrap();
        assert_eq!((l1.version, l1.label), (1, None));
        assert!(parse(&header(3)).is_err());
        assert_eq!(parse(&[0u8; 512]), Ok(None));
        let mut bad = header(2);
        bad[8..16].copy_from_slice(&12345u64.to_be_bytes());
        assert!(parse(&bad).is_err());
    }
}
