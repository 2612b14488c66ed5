//! EFI variables through efivarfs (`/sys/firmware/efi/efivars/NAME-GUID`), as the
//! kernel presents them (`Documentation/filesystems/efivarfs.rst`): a 4-byte
//! little-endian attribute word, then the variable's data. The Boot Loader Interface
//! variables systemd-boot reads and writes (UAPI "Boot Loader Interface") hold
//! UTF-16LE strings, NUL-terminated as systemd writes them.
//!
//! Decoding ([`decode`], [`utf16_string`]) is pure; reading and removing go through
//! `std::fs`, with the immutable flag efivarfs sets on variables cleared first
//! ([`remove`], through `sys::fsflags`).

use super::SystemRoot;
use std::path::PathBuf;

/// The vendor GUID of the Boot Loader Interface variables (`LoaderInfo`,
/// `LoaderEntryOneShot`, ...).
pub const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
/// `EFI_GLOBAL_VARIABLE` (`SecureBoot`, `OsIndications`).
pub const GLOBAL_GUID: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Where efivarfs is mounted.
pub const EFIVARS_DIR: &str = "/sys/firmware/efi/efivars";

/// `EFI_OS_INDICATIONS_BOOT_TO_FW_UI`: the next boot should stop in the firmware's
/// setup (`systemctl reboot --firmware-setup` sets it).
pub const BOOT_TO_FW_UI: u64 = 0x1;

/// Longest variable read (Boot Loader Interface strings are short).
const MAX_VAR_BYTES: u64 = 64 * 1024;

/// Why a variable's contents cannot be read as what it should hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EfiVarError {
    /// Shorter than the 4-byte attribute word.
    #[error("{len} bytes is too short for an EFI variable (4-byte attributes, then the data)")]
    TooShort {
        /// Bytes found.
        len: usize,
    },
    /// A UTF-16 string with an odd number of bytes.
    #[error("{len} bytes of data is not a whole number of UTF-16 units")]
    OddLength {
        /// Data bytes.
        len: usize,
    },
    /// Not valid UTF-16 (an unpaired surrogate).
    #[error("not valid UTF-16 text")]
    BadUtf16,
    /// A number variable of the wrong size.
    #[error("{len} bytes of data where a {want}-byte number was expected")]
    BadSize {
        /// Data bytes.
        len: usize,
        /// Bytes expected.
        want: usize,
    },
}

/// A variable as efivarfs returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfiVar {
    /// `EFI_VARIABLE_NON_VOLATILE` (1), `BOOTSERVICE_ACCESS` (2), `RUNTIME_ACCESS` (4), ...
    pub attributes: u32,
    /// The variable's data.
    pub data: Vec<u8>,
}

/// Splits efivarfs file contents into the attribute word and the data.
pub fn decode(bytes: &[u8]) -> Result<EfiVar, EfiVarError> {
    let (attr, data) = match (bytes.get(..4), bytes.get(4..)) {
        (Some(a), Some(d)) => (a, d),
        _ => return Err(EfiVarError::TooShort { len: bytes.len() }),
    };
    let mut word = [0u8; 4];
    word.copy_from_slice(attr);
    Ok(EfiVar {
        attributes: u32::from_le_bytes(word),
        data: data.to_vec(),
    })
}

/// The attribute word in words: `NV+BS+RT`.
pub fn attribute_names(attributes: u32) -> String {
    let names = [
        (0x1, "NV"),
        (0x2, "BS"),
        (0x4, "RT"),
        (0x8, "HW_ERROR_RECORD"),
        (0x10, "AUTH_WRITE"),
        (0x20, "TIME_AUTH_WRITE"),
        (0x40, "APPEND_WRITE"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| attributes & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join("+")
    }
}

/// A UTF-16LE string: up to the first NUL unit, or all of it when there is none (some
/// tools write the string without its terminator).
pub fn utf16_string(data: &[u8]) -> Result<String, EfiVarError> {
    if !data.len().is_multiple_of(2) {
        return Err(EfiVarError::OddLength { len: data.len() });
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16(&units).map_err(|_| EfiVarError::BadUtf16)
}

/// A little-endian unsigned number of `data.len()` bytes: 1 (`SecureBoot`) or 8
/// (`OsIndications`).
pub fn number(data: &[u8], want: usize) -> Result<u64, EfiVarError> {
    if data.len() != want || want > 8 {
        return Err(EfiVarError::BadSize {
            len: data.len(),
            want,
        });
    }
    Ok(data
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// The bytes efivarfs takes to write `s` as a Boot Loader Interface string (used by
/// the tests to make fixtures as `bootctl` writes them).
pub fn encode_string(attributes: u32, s: &str) -> Vec<u8> {
    let mut out = attributes.to_le_bytes().to_vec();
    for u in s.encode_utf16().chain(std::iter::once(0)) {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

/// The efivarfs file of a variable.
pub fn path(sys: &SystemRoot, name: &str, guid: &str) -> PathBuf {
    sys.path(&format!("{EFIVARS_DIR}/{name}-{guid}"))
}

/// True when the variable exists.
pub fn exists(sys: &SystemRoot, name: &str, guid: &str) -> bool {
    path(sys, name, guid).exists()
}

/// Reads a variable: `Ok(None)` when it does not exist.
pub fn read(sys: &SystemRoot, name: &str, guid: &str) -> Result<Option<EfiVar>, String> {
    use std::io::Read;
    let p = path(sys, name, guid);
    let f = match std::fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", p.display())),
    };
    let mut bytes = Vec::new();
    f.take(MAX_VAR_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    decode(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: {e}", p.display()))
}

/// Reads a Boot Loader Interface string variable: `Ok(None)` when it does not exist.
pub fn read_string(sys: &SystemRoot, name: &str, guid: &str) -> Result<Option<String>, String> {
    match read(sys, name, guid)? {
        None => Ok(None),
        Some(v) => utf16_string(&v.data)
            .map(Some)
            .map_err(|e| format!("{name}: {e}")),
    }
}

/// Removes a variable (systemd-boot removes `LoaderEntryOneShot` when it reads it):
/// clears efivarfs's immutable flag, then unlinks the file. A variable that is already
/// gone is not an error.
pub fn remove(sys: &SystemRoot, name: &str, guid: &str) -> Result<(), String> {
    let p = path(sys, name, guid);
    let f = match std::fs::File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", p.display())),
    };
    // A filesystem without inode flags (a test fixture on tmpfs) has nothing to clear.
    if let Ok(flags) = crate::sys::fsflags::get_flags(&f)
        && flags & crate::sys::fsflags::FS_IMMUTABLE_FL != 0
    {
        crate::sys::fsflags::set_flags(&f, flags & !crate::sys::fsflags::FS_IMMUTABLE_FL)
            .map_err(|e| format!("{}: cannot clear the immutable flag: {e}", p.display()))?;
    }
    drop(f);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_header_then_data() {
        // NV+BS+RT, as bootctl set-oneshot writes LoaderEntryOneShot.
        let bytes = encode_string(0x7, "debian.conf");
        let v = decode(&bytes).unwrap();
        assert_eq!(v.attributes, 7);
        assert_eq!(attribute_names(v.attributes), "NV+BS+RT");
        assert_eq!(utf16_string(&v.data).unwrap(), "debian.conf");
        assert_eq!(v.data.len(), ("debian.conf".len() + 1) * 2);
        assert_eq!(attribute_names(0), "none");
    }

    #[test]
    fn short_and_empty_variables() {
        assert_eq!(
            decode(b"\x07\x00\x00"),
            Err(EfiVarError::TooShort { len: 3 })
        );
        let v = decode(b"\x06\x00\x00\x00").unwrap();
        assert!(v.data.is_empty());
        assert_eq!(utf16_string(&v.data).unwrap(), "");
    }

    #[test]
    fn utf16_odd_lengths_missing_nul_and_surrogates() {
        // Without the terminating NUL: the whole string.
        assert_eq!(utf16_string(b"a\x00b\x00").unwrap(), "ab");
        // Stops at the first NUL; what follows is ignored.
        assert_eq!(utf16_string(b"a\x00\x00\x00b\x00").unwrap(), "a");
        // An odd byte count is not UTF-16.
        assert_eq!(
            utf16_string(b"a\x00b"),
            Err(EfiVarError::OddLength { len: 3 })
        );
        // Non-ASCII, and an unpaired surrogate.
        assert_eq!(
            utf16_string(&[0xe9, 0x00, 0x3d, 0xd8, 0x00, 0xde]).unwrap(),
            "é😀"
        );
        assert_eq!(
            utf16_string(&[0x3d, 0xd8, 0x41, 0x00]),
            Err(EfiVarError::BadUtf16)
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(number(&[1], 1), Ok(1));
        assert_eq!(number(&[1, 0, 0, 0, 0, 0, 0, 0], 8), Ok(1));
        assert_eq!(number(&[0, 1, 0, 0, 0, 0, 0, 0], 8), Ok(256));
        assert_eq!(
            number(&[1, 0], 1),
            Err(EfiVarError::BadSize { len: 2, want: 1 })
        );
    }
}
