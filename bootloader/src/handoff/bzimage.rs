//! What a kernel file is: the x86 boot protocol's setup header of a bzImage, read
//! field by field, and a short description of anything else (ELF vmlinux, a PE
//! application without a setup header, an arm64 `Image`, compressed data, text).
//!
//! Offsets and meanings follow the Linux boot protocol, `Documentation/arch/x86/boot.rst`
//! ("The Real-Mode Kernel Header" and "Details of Header Fields"). All fields are
//! little-endian; offsets are from the start of the file:
//!
//! | offset | size | field | protocol | used for |
//! | --- | --- | --- | --- | --- |
//! | 0x1F1 | 1 | `setup_sects` | all | setup size: `(setup_sects or 4 when 0) + 1` sectors of 512 bytes |
//! | 0x1F4 | 4 | `syssize` | 2.04+ | protected-mode payload size in 16-byte paragraphs (truncation check) |
//! | 0x1FE | 2 | `boot_flag` | all | must be 0xAA55 |
//! | 0x201 | 1 | jump offset | 2.00+ | the header ends at 0x202 plus this byte |
//! | 0x202 | 4 | `header` | 2.00+ | magic `HdrS` |
//! | 0x206 | 2 | `version` | 2.00+ | boot protocol, major in the high byte |
//! | 0x20E | 2 | `kernel_version` | 2.00+ | pointer minus 0x200 to the NUL-terminated version string |
//! | 0x211 | 1 | `loadflags` | 2.00+ | bit 0 `LOADED_HIGH` (a bzImage, not a zImage) |
//! | 0x22C | 4 | `initrd_addr_max` | 2.03+ | highest initrd address |
//! | 0x230 | 4 | `kernel_alignment` | 2.05+ | |
//! | 0x234 | 1 | `relocatable_kernel` | 2.05+ | |
//! | 0x236 | 2 | `xloadflags` | 2.12+ | bit 0 `XLF_KERNEL_64`, 1 `XLF_CAN_BE_LOADED_ABOVE_4G`, 2/3 EFI handover 32/64, 4 `XLF_EFI_KEXEC` |
//! | 0x238 | 4 | `cmdline_size` | 2.06+ | longest command line, without the NUL (255 before 2.06) |
//! | 0x248 | 4 | `payload_offset` | 2.08+ | compressed payload, from the end of the setup |
//! | 0x24C | 4 | `payload_length` | 2.08+ | |
//! | 0x260 | 4 | `init_size` | 2.10+ | memory the kernel needs from its load address while it boots |
//! | 0x264 | 4 | `handover_offset` | 2.11+ | EFI handover entry |
//!
//! xloadflags bits 5 (`XLF_5LEVEL`) and 6 (`XLF_5LEVEL_ENABLED`) are defined in
//! `arch/x86/include/uapi/asm/bootparam.h`. An EFI-stub kernel is also a PE/COFF file:
//! `MZ` at 0, and at the offset stored at 0x3C the signature `PE\0\0` and the machine.
//!
//! `kexec_file_load` on x86-64 (`bzImage64_probe` in `arch/x86/kernel/kexec-bzimage64.c`)
//! accepts a file of at least two sectors with `HdrS`, boot flag 0xAA55, protocol 2.12
//! or later, `LOADED_HIGH`, `XLF_KERNEL_64` and `XLF_CAN_BE_LOADED_ABOVE_4G`;
//! [`BzImage::kexec_problems`] checks the same and the file's length. Nothing here
//! panics on any input: every read is bounds-checked.

// Parses bytes from disks and consoles: no indexing that can panic, no silent casts.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

/// Sector size of the real-mode setup.
const SECTOR: u64 = 512;
/// `LOADED_HIGH` in `loadflags`.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `XLF_KERNEL_64`: has the 64-bit entry point at 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `XLF_CAN_BE_LOADED_ABOVE_4G`.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// `XLF_EFI_HANDOVER_32`.
pub const XLF_EFI_HANDOVER_32: u16 = 1 << 2;
/// `XLF_EFI_HANDOVER_64`.
pub const XLF_EFI_HANDOVER_64: u16 = 1 << 3;
/// `XLF_EFI_KEXEC`: can be kexec'd with EFI runtime services kept.
pub const XLF_EFI_KEXEC: u16 = 1 << 4;
/// `XLF_5LEVEL`: can boot with 5-level paging enabled.
pub const XLF_5LEVEL: u16 = 1 << 5;
/// Oldest boot protocol `kexec_file_load` loads (2.12, the first with `xloadflags`).
pub const KEXEC_MIN_PROTOCOL: u16 = 0x020C;
/// Bytes `bzImage64_load` keeps free on the command line for `elfcorehdr=0x...`
/// (`MAX_ELFCOREHDR_STR_LEN`), even for a normal (non-crash) load.
pub const KEXEC_CMDLINE_RESERVE: u32 = 30;

/// The setup header fields leapboot reads (see the module table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupHeader {
    /// 0x1F1 `setup_sects`, as stored (0 means 4).
    pub setup_sects: u8,
    /// 0x1F4 `syssize`, 16-byte paragraphs (2.04+; 0 before).
    pub syssize: u32,
    /// 0x206 `version`.
    pub version: u16,
    /// 0x20E `kernel_version`.
    pub kernel_version: u16,
    /// 0x211 `loadflags`.
    pub loadflags: u8,
    /// 0x22C `initrd_addr_max` (2.03+).
    pub initrd_addr_max: Option<u32>,
    /// 0x230 `kernel_alignment` (2.05+).
    pub kernel_alignment: Option<u32>,
    /// 0x234 `relocatable_kernel` (2.05+).
    pub relocatable_kernel: Option<bool>,
    /// 0x236 `xloadflags` (2.12+).
    pub xloadflags: Option<u16>,
    /// 0x238 `cmdline_size` (2.06+).
    pub cmdline_size: Option<u32>,
    /// 0x248 `payload_offset` (2.08+).
    pub payload_offset: Option<u32>,
    /// 0x24C `payload_length` (2.08+).
    pub payload_length: Option<u32>,
    /// 0x260 `init_size` (2.10+).
    pub init_size: Option<u32>,
    /// 0x264 `handover_offset` (2.11+).
    pub handover_offset: Option<u32>,
}

/// Why a file is not a bzImage (or not one leapboot can read the header of).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Shorter than the two sectors a bzImage has at least.
    #[error("{len} bytes, shorter than the 1024 bytes of a bzImage's boot sector and setup header")]
    TooShort {
        /// File length.
        len: u64,
    },
    /// No `HdrS` at 0x202.
    #[error("no boot protocol header: 'HdrS' is missing at offset 0x202")]
    NoMagic,
    /// `HdrS` present but the boot flag at 0x1FE is not 0xAA55.
    #[error("boot flag at 0x1FE is {found:#06x}, not 0xaa55")]
    BootFlag {
        /// The value found.
        found: u16,
    },
}

/// A file with a valid setup header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BzImage {
    /// The header.
    pub header: SetupHeader,
    /// File length in bytes.
    pub len: u64,
    /// The kernel's own version string (`kernel_version` + 0x200), when readable.
    pub version_string: Option<String>,
    /// The file is also a PE/COFF image (EFI stub), with this machine type.
    pub pe_machine: Option<u16>,
    /// Compression of the payload (2.08+), from its first bytes.
    pub payload_compression: Option<Compression>,
    /// Size of the Authenticode signature, for a signed EFI-stub kernel.
    pub signature_size: Option<u32>,
}

use leapboot_menus::bytes::{u8_at, u16_le as u16_at, u32_le as u32_at};
use leapboot_menus::pe;

/// The PE/COFF machine type when `data` is a PE image (`MZ`, `PE\0\0`, a section
/// table), read by the PE reader UKIs use too ([`leapboot_menus::pe`]).
pub fn pe_machine(data: &[u8]) -> Option<u16> {
    pe::parse(data).ok().map(|h| h.machine())
}

/// Size of the Authenticode signature of a PE/COFF file: the certificate table, data
/// directory entry 4 of the optional header (PE format, "Optional Header Data
/// Directories"). `None` when the file is not PE or has no signature.
pub fn pe_signature_size(data: &[u8]) -> Option<u32> {
    pe::parse(data)
        .ok()?
        .signature_size()
        .filter(|&size| size > 0)
}

/// Name of a PE/COFF machine type.
pub fn pe_machine_name(m: u16) -> &'static str {
    pe::machine_name(m)
}

impl SetupHeader {
    /// Reads the setup header (see the module table). Fields newer than the file's
    /// protocol version are `None`.
    pub fn read(data: &[u8]) -> Result<SetupHeader, HeaderError> {
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        if len < 2 * SECTOR {
            return Err(HeaderError::TooShort { len });
        }
        // The file has at least 1024 bytes and every offset below is < 0x270: no read
        // below comes back `None`.
        if data.get(0x202..0x206) != Some(b"HdrS".as_slice()) {
            return Err(HeaderError::NoMagic);
        }
        let boot_flag = u16_at(data, 0x1FE).unwrap_or(0);
        if boot_flag != 0xAA55 {
            return Err(HeaderError::BootFlag { found: boot_flag });
        }
        let version = u16_at(data, 0x206).unwrap_or(0);
        let since = |v: u16| version >= v;
        let f32 = |v: u16, off: usize| if since(v) { u32_at(data, off) } else { None };
        Ok(SetupHeader {
            setup_sects: u8_at(data, 0x1F1).unwrap_or(0),
            syssize: f32(0x0204, 0x1F4).unwrap_or(0),
            version,
            kernel_version: u16_at(data, 0x20E).unwrap_or(0),
            loadflags: u8_at(data, 0x211).unwrap_or(0),
            initrd_addr_max: f32(0x0203, 0x22C),
            kernel_alignment: f32(0x0205, 0x230),
            relocatable_kernel: if since(0x0205) {
                u8_at(data, 0x234).map(|b| b != 0)
            } else {
                None
            },
            xloadflags: if since(0x020C) {
                u16_at(data, 0x236)
            } else {
                None
            },
            cmdline_size: f32(0x0206, 0x238),
            payload_offset: f32(0x0208, 0x248),
            payload_length: f32(0x0208, 0x24C),
            init_size: f32(0x020A, 0x260),
            handover_offset: f32(0x020B, 0x264),
        })
    }

    /// Bytes of real-mode setup before the protected-mode payload:
    /// `(setup_sects, or 4 when 0) + 1` sectors.
    pub fn setup_len(&self) -> u64 {
        let sects = if self.setup_sects == 0 {
            4
        } else {
            u64::from(self.setup_sects)
        };
        (sects + 1) * SECTOR
    }

    /// Length the header promises: setup plus `syssize` paragraphs (2.04+).
    pub fn expected_len(&self) -> Option<u64> {
        (self.version >= 0x0204 && self.syssize > 0)
            .then(|| self.setup_len() + u64::from(self.syssize) * 16)
    }

    /// The protocol as `major.minor`.
    pub fn protocol(&self) -> String {
        format!("{}.{:02}", self.version >> 8, self.version & 0xff)
    }

    /// Longest command line the kernel takes, without the NUL: `cmdline_size`, or
    /// 255 before protocol 2.06.
    pub fn max_cmdline(&self) -> u32 {
        self.cmdline_size.unwrap_or(255)
    }

    /// Longest command line `kexec_file_load` passes to this kernel, without the NUL:
    /// `bzImage64_load` refuses `len + 1 + 30 > cmdline_size` (see [`KEXEC_CMDLINE_RESERVE`]).
    pub fn kexec_max_cmdline(&self) -> u32 {
        self.max_cmdline().saturating_sub(1 + KEXEC_CMDLINE_RESERVE)
    }

    fn xlf(&self, bit: u16) -> bool {
        self.xloadflags.is_some_and(|x| x & bit != 0)
    }
}

impl BzImage {
    /// Reads the setup header and what it points at.
    pub fn read(data: &[u8]) -> Result<BzImage, HeaderError> {
        let header = SetupHeader::read(data)?;
        // The version string lies at kernel_version + 0x200 (boot.rst, "kernel_version").
        let version_string = (header.kernel_version != 0)
            .then(|| usize::from(header.kernel_version) + 0x200)
            .and_then(|start| data.get(start..))
            .map(|rest| {
                let end = rest.iter().take(256).position(|&b| b == 0).unwrap_or(0);
                String::from_utf8_lossy(rest.get(..end).unwrap_or_default())
                    .trim()
                    .to_string()
            })
            .filter(|s| !s.is_empty());
        let payload_compression = header
            .payload_offset
            .and_then(|o| usize::try_from(header.setup_len() + u64::from(o)).ok())
            .and_then(|start| data.get(start..))
            .and_then(Compression::sniff);
        Ok(BzImage {
            len: u64::try_from(data.len()).unwrap_or(u64::MAX),
            pe_machine: pe_machine(data),
            signature_size: pe_signature_size(data),
            header,
            version_string,
            payload_compression,
        })
    }

    /// Why `kexec_file_load` on x86-64 would refuse this image (empty when it loads):
    /// the checks of `bzImage64_probe`, then the length the header promises.
    pub fn kexec_problems(&self) -> Vec<String> {
        let h = &self.header;
        let mut p = Vec::new();
        if h.version < KEXEC_MIN_PROTOCOL {
            p.push(format!(
                "boot protocol {} is older than 2.12, the oldest kexec_file_load loads",
                h.protocol()
            ));
        }
        if h.loadflags & LOADED_HIGH == 0 {
            p.push("a zImage (LOADED_HIGH is not set in loadflags at 0x211), not a bzImage".into());
        }
        if h.version >= KEXEC_MIN_PROTOCOL && !h.xlf(XLF_KERNEL_64) {
            p.push("not a 64-bit kernel (XLF_KERNEL_64 is not set in xloadflags at 0x236)".into());
        }
        if h.version >= KEXEC_MIN_PROTOCOL && !h.xlf(XLF_CAN_BE_LOADED_ABOVE_4G) {
            p.push("cannot be loaded above 4 GiB (XLF_CAN_BE_LOADED_ABOVE_4G is not set in xloadflags at 0x236)".into());
        }
        if let Some(want) = h.expected_len() {
            if self.len < want {
                p.push(format!(
                    "truncated: the header promises {want} bytes ({} bytes of setup + syssize {} x 16), the file has {}",
                    h.setup_len(),
                    h.syssize,
                    self.len
                ));
            }
        } else if self.len < h.setup_len() {
            p.push(format!(
                "truncated: {} bytes, shorter than its own {}-byte setup",
                self.len,
                h.setup_len()
            ));
        }
        p
    }

    /// One line: protocol and capabilities.
    pub fn describe(&self) -> String {
        let h = &self.header;
        let mut parts = vec![format!("bzImage, boot protocol {}", h.protocol())];
        if let Some(m) = self.pe_machine {
            parts.push(format!("EFI stub (PE {})", pe_machine_name(m)));
        }
        match self.signature_size {
            Some(n) => parts.push(format!("signed ({n}-byte Authenticode signature)")),
            None => parts.push("unsigned".into()),
        }
        if h.xlf(XLF_KERNEL_64) {
            parts.push("64-bit entry".into());
        }
        if h.xlf(XLF_CAN_BE_LOADED_ABOVE_4G) {
            parts.push("loads above 4 GiB".into());
        }
        if h.xlf(XLF_EFI_HANDOVER_64) {
            parts.push("EFI handover".into());
        }
        if h.xlf(XLF_EFI_KEXEC) {
            parts.push("EFI kexec".into());
        }
        if h.xlf(XLF_5LEVEL) {
            parts.push("5-level paging".into());
        }
        if h.relocatable_kernel == Some(true) {
            parts.push("relocatable".into());
        }
        if let Some(c) = self.payload_compression {
            parts.push(format!("{} payload", c.as_str()));
        }
        if let Some(i) = h.init_size {
            parts.push(format!(
                "init_size {}",
                crate::handoff::report::size(u64::from(i))
            ));
        }
        parts.push(format!("cmdline_size {}", h.max_cmdline()));
        parts.join(", ")
    }
}

/// Compression formats the kernel's initramfs unpacker (and the bzImage payload) use,
/// by their leading magic bytes (`lib/decompress.c` `compressed_formats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `1f 8b` (or `1f 9e`).
    Gzip,
    /// `BZh`.
    Bzip2,
    /// `5d 00 00`.
    Lzma,
    /// `fd 37 7a 58 5a 00`.
    Xz,
    /// `89 4c 5a 4f`.
    Lzo,
    /// Legacy lz4 (`02 21 4c 18`), the only lz4 format the kernel unpacks.
    Lz4Legacy,
    /// lz4 frame format (`04 22 4d 18`), which the kernel does not unpack.
    Lz4Frame,
    /// `28 b5 2f fd`.
    Zstd,
}

impl Compression {
    /// Recognises compressed data by its first bytes.
    pub fn sniff(d: &[u8]) -> Option<Compression> {
        let starts = |m: &[u8]| d.starts_with(m);
        Some(if starts(&[0x1f, 0x8b]) || starts(&[0x1f, 0x9e]) {
            Compression::Gzip
        } else if starts(b"BZh") {
            Compression::Bzip2
        } else if starts(&[0x5d, 0, 0]) {
            Compression::Lzma
        } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if starts(&[0x89, b'L', b'Z', b'O']) {
            Compression::Lzo
        } else if starts(&[0x02, 0x21, 0x4c, 0x18]) {
            Compression::Lz4Legacy
        } else if starts(&[0x04, 0x22, 0x4d, 0x18]) {
            Compression::Lz4Frame
        } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            return None;
        })
    }

    /// Name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Lzma => "lzma",
            Compression::Xz => "xz",
            Compression::Lzo => "lzo",
            Compression::Lz4Legacy => "lz4 (legacy)",
            Compression::Lz4Frame => "lz4 (frame format)",
            Compression::Zstd => "zstd",
        }
    }
}

/// What a kernel file is, for messages and the pre-flight check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelImage {
    /// A bzImage (possibly also an EFI stub).
    BzImage(BzImage),
    /// A PE/COFF file without a setup header (an EFI application, an arm64 EFI stub).
    Pe {
        /// PE machine type.
        machine: u16,
    },
    /// An ELF file.
    Elf {
        /// `e_machine`.
        machine: u16,
    },
    /// An arm64 `Image` (magic `ARM\x64` at 0x38).
    Arm64Image,
    /// A RISC-V `Image` (magic `RSC\x05` at 0x38).
    RiscvImage,
    /// Compressed data (a compressed `Image.gz`, or an initrd given as a kernel).
    Compressed(Compression),
    /// An uncompressed cpio archive (an initrd given as a kernel).
    Cpio,
    /// No bytes at all.
    Empty,
    /// Something with `HdrS` but a broken header, or nothing recognisable.
    Unknown {
        /// What was seen.
        what: String,
    },
}

impl KernelImage {
    /// Identifies a kernel file.
    pub fn identify(data: &[u8]) -> KernelImage {
        match BzImage::read(data) {
            Ok(b) => return KernelImage::BzImage(b),
            Err(e @ HeaderError::BootFlag { .. }) => {
                return KernelImage::Unknown {
                    what: format!("a damaged bzImage ({e})"),
                };
            }
            Err(_) => {}
        }
        if data.is_empty() {
            return KernelImage::Empty;
        }
        if let Some(machine) = pe_machine(data) {
            return KernelImage::Pe { machine };
        }
        if data.starts_with(b"\x7fELF") {
            return KernelImage::Elf {
                machine: u16_at(data, 0x12).unwrap_or(0),
            };
        }
        match data.get(0x38..0x3C) {
            Some(b"ARM\x64") => return KernelImage::Arm64Image,
            Some(b"RSC\x05") => return KernelImage::RiscvImage,
            _ => {}
        }
        if let Some(c) = Compression::sniff(data) {
            return KernelImage::Compressed(c);
        }
        if data.starts_with(b"070701") || data.starts_with(b"070702") {
            return KernelImage::Cpio;
        }
        let head = data.get(..data.len().min(64)).unwrap_or_default();
        let text = head
            .iter()
            .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b));
        let what = if data.get(0x202..0x206) == Some(b"HdrS".as_slice()) {
            format!("{} bytes, too short for its bzImage header", data.len())
        } else if text {
            "text".to_string()
        } else {
            let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
            format!("unrecognised data starting {}", hex.join(" "))
        };
        KernelImage::Unknown { what }
    }

    /// What the file is, in words.
    pub fn describe(&self) -> String {
        match self {
            KernelImage::BzImage(b) => b.describe(),
            KernelImage::Pe { machine } => format!(
                "a PE/COFF (EFI) application for {} without a bzImage setup header",
                pe_machine_name(*machine)
            ),
            KernelImage::Elf { machine } => {
                let m = match machine {
                    0x3E => "x86-64",
                    0x03 => "i386",
                    0xB7 => "arm64",
                    0xF3 => "riscv",
                    _ => "another architecture",
                };
                format!("an ELF file for {m} (an uncompressed vmlinux?), not a bzImage")
            }
            KernelImage::Arm64Image => "an arm64 kernel Image".into(),
            KernelImage::RiscvImage => "a RISC-V kernel Image".into(),
            KernelImage::Compressed(c) => format!("{} compressed data, not a bzImage", c.as_str()),
            KernelImage::Cpio => "a cpio archive (an initramfs?), not a kernel".into(),
            KernelImage::Empty => "an empty file".into(),
            KernelImage::Unknown { what } => what.clone(),
        }
    }

    /// The bzImage, if it is one.
    pub fn bzimage(&self) -> Option<&BzImage> {
        match self {
            KernelImage::BzImage(b) => Some(b),
            _ => None,
        }
    }
}
