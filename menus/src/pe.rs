//! A bounded PE/COFF header reader: DOS header, PE signature, COFF file header,
//! optional header (PE32 or PE32+) with its data directories, and the section table.
//!
//! The layout is the one in Microsoft's "PE Format" specification (learn.microsoft.com,
//! `windows/win32/debug/pe-format`): "MS-DOS Stub" (`MZ` at 0 and the offset of the PE
//! signature at 0x3c, `e_lfanew`), "Signature" (`PE\0\0`), "COFF File Header (Object
//! and Image)", "Optional Header (Image Only)" with its "Optional Header Data
//! Directories", and "Section Table (Section Headers)". The checks that decide whether
//! a file is a usable image follow systemd-boot's `verify_dos` and `verify_pe`
//! (`src/boot/pe.c`): the PE header may not overlap the 64-byte DOS header, the optional
//! header magic must be PE32 (0x10b) or PE32+ (0x20b), and there must be at least one
//! section. Two users: unified kernel images (`bls::uki`), whose sections
//! carry the kernel, initrd and command line; and the `leapboot` crate's bzImage
//! pre-flight, which reads the machine of an EFI-stub kernel and the size of its
//! Authenticode signature (the certificate table, data directory
//! [`DIRECTORY_SECURITY`]).
//!
//! Every offset and size read from the file is checked against the file length
//! before it is used, every read goes through [`crate::bytes`], and nothing is
//! allocated from an unchecked size: the section table is at most 65535 × 40 bytes, the
//! optional header at most 65535 bytes. A wrong file gives a [`PeError`] that names the
//! offset of what is wrong; parsing never panics.
//!
//! What is lenient, as in systemd-boot: `SizeOfOptionalHeader` is not checked against
//! the magic. A header too short for the magic's fixed fields has no
//! [`PeHeaders::optional`] and no data directories; the section table still starts
//! right after `SizeOfOptionalHeader` bytes. Not read: the COFF symbol and string
//! tables (so section names longer than 8 bytes, `/4` style, are not resolved; images
//! do not use them), relocations, imports and the certificates themselves.

#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::bytes::{self, LeCursor};
use std::ops::Range;

/// Length of the DOS (`MZ`) header; the PE header may not start inside it.
pub const DOS_HEADER_LEN: u64 = 64;
/// Offset of `e_lfanew`, the file offset of the PE signature, in the DOS header.
pub const E_LFANEW_OFFSET: usize = 0x3c;
/// `PE\0\0` (4 bytes) and the COFF file header (20 bytes): the optional header
/// starts this far after `e_lfanew`.
pub const PE_HEADER_LEN: u64 = 4 + 20;
/// Length of one section header.
pub const SECTION_HEADER_LEN: usize = 40;
/// Length of one data directory entry (virtual address, size).
pub const DATA_DIRECTORY_LEN: usize = 8;
/// PE32 optional header magic.
pub const PE32_MAGIC: u16 = 0x10b;
/// PE32+ optional header magic.
pub const PE32_PLUS_MAGIC: u16 = 0x20b;
/// Index of the certificate table ("Attribute Certificate Table", the Authenticode
/// signature) among the data directories; its address is a file offset, not an RVA.
pub const DIRECTORY_SECURITY: usize = 4;
/// Most header bytes read in one go from the start of the file: the DOS header, the
/// PE headers and the section table of every real image fit.
pub const MAX_HEADER_READ: u64 = 64 * 1024;

/// `IMAGE_FILE_MACHINE_I386`.
pub const MACHINE_I386: u16 = 0x014c;
/// `IMAGE_FILE_MACHINE_AMD64`.
pub const MACHINE_AMD64: u16 = 0x8664;
/// `IMAGE_FILE_MACHINE_ARM`.
pub const MACHINE_ARM: u16 = 0x01c0;
/// `IMAGE_FILE_MACHINE_THUMB`: what systemd-boot expects of 32-bit ARM images.
pub const MACHINE_THUMB: u16 = 0x01c2;
/// `IMAGE_FILE_MACHINE_ARMNT` (ARM Thumb-2).
pub const MACHINE_ARMNT: u16 = 0x01c4;
/// `IMAGE_FILE_MACHINE_ARM64`.
pub const MACHINE_ARM64: u16 = 0xaa64;
/// `IMAGE_FILE_MACHINE_RISCV64`.
pub const MACHINE_RISCV64: u16 = 0x5064;
/// `IMAGE_FILE_MACHINE_LOONGARCH64`.
pub const MACHINE_LOONGARCH64: u16 = 0x6264;

/// PE machine type of the machine leapboot runs on: systemd-boot's
/// `TARGET_MACHINE_TYPE` (0 on an architecture without one).
pub const HOST_MACHINE: u16 = if cfg!(target_arch = "x86_64") {
    MACHINE_AMD64
} else if cfg!(target_arch = "x86") {
    MACHINE_I386
} else if cfg!(target_arch = "aarch64") {
    MACHINE_ARM64
} else if cfg!(target_arch = "arm") {
    MACHINE_THUMB
} else if cfg!(target_arch = "riscv64") {
    MACHINE_RISCV64
} else if cfg!(target_arch = "loongarch64") {
    MACHINE_LOONGARCH64
} else {
    0
};

/// A short name of a PE machine type for messages (`x86-64`, `arm64`, …).
pub fn machine_name(machine: u16) -> &'static str {
    match machine {
        MACHINE_AMD64 => "x86-64",
        MACHINE_I386 => "i386",
        MACHINE_ARM64 => "arm64",
        MACHINE_ARM | MACHINE_THUMB | MACHINE_ARMNT => "arm",
        MACHINE_RISCV64 => "riscv64",
        MACHINE_LOONGARCH64 => "loongarch64",
        _ => "unknown machine",
    }
}

/// Why a file is not a PE image this reader accepts. Every variant names the offset in
/// the file of what is wrong ([`PeError::offset`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeError {
    /// Shorter than a DOS header.
    #[error("file of {len} bytes is too short for a PE image")]
    TooShort {
        /// File length: where the missing bytes start.
        len: u64,
    },
    /// No `MZ` at offset 0.
    #[error("no DOS header (MZ) at the start of the file")]
    NoDosMagic,
    /// `e_lfanew` points into the DOS header, or too near the end of the file for the
    /// PE signature and COFF header.
    #[error("PE header offset {offset:#x} is outside the file")]
    BadPeOffset {
        /// The offset read from 0x3c.
        offset: u64,
    },
    /// No `PE\0\0` at `e_lfanew`.
    #[error("no PE signature at offset {offset:#x}")]
    NoPeSignature {
        /// Where it was expected.
        offset: u64,
    },
    /// The optional header magic is neither PE32 nor PE32+.
    #[error(
        "optional header magic {magic:#x} at offset {offset:#x} is neither PE32 (0x10b) nor PE32+ (0x20b)"
    )]
    BadOptionalMagic {
        /// Offset of the magic.
        offset: u64,
        /// The magic read.
        magic: u16,
    },
    /// `NumberOfSections` is 0.
    #[error("image has no sections (NumberOfSections at offset {offset:#x} is 0)")]
    NoSections {
        /// Offset of `NumberOfSections`.
        offset: u64,
    },
    /// The section table runs past the end of the file.
    #[error(
        "section table at {offset:#x} ({len} bytes) runs past the end of the file ({file_len} bytes)"
    )]
    SectionTableOutOfBounds {
        /// Table offset.
        offset: u64,
        /// Table length.
        len: u64,
        /// File length.
        file_len: u64,
    },
    /// The reader gave fewer bytes than the file length promised (the file changed,
    /// or the reader is wrong).
    #[error("read of {len} bytes at offset {offset:#x} returned only {got}")]
    ShortRead {
        /// Offset read.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// Bytes returned.
        got: u64,
    },
}

impl PeError {
    /// Offset in the file of what is wrong: the field or structure that is bad or
    /// missing (for [`PeError::BadPeOffset`], `e_lfanew` itself at 0x3c; for
    /// [`PeError::TooShort`], the end of the file).
    pub fn offset(&self) -> u64 {
        match self {
            PeError::TooShort { len } => *len,
            PeError::NoDosMagic => 0,
            PeError::BadPeOffset { .. } => to_u64(E_LFANEW_OFFSET),
            PeError::NoPeSignature { offset }
            | PeError::BadOptionalMagic { offset, .. }
            | PeError::NoSections { offset }
            | PeError::SectionTableOutOfBounds { offset, .. }
            | PeError::ShortRead { offset, .. } => *offset,
        }
    }
}

/// PE32 or PE32+, from the optional header magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeFormat {
    /// 0x10b: 32-bit fields.
    Pe32,
    /// 0x20b: 64-bit image base and stack/heap sizes.
    Pe32Plus,
}

impl PeFormat {
    /// Offset of the data directories in the optional header, which is also the length
    /// of its fixed fields.
    pub fn data_directories_offset(self) -> usize {
        match self {
            PeFormat::Pe32 => 96,
            PeFormat::Pe32Plus => 112,
        }
    }
}

/// The COFF file header, after `PE\0\0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoffHeader {
    /// `Machine` ([`MACHINE_AMD64`], …).
    pub machine: u16,
    /// `NumberOfSections`.
    pub number_of_sections: u16,
    /// `TimeDateStamp`.
    pub time_date_stamp: u32,
    /// `PointerToSymbolTable` (0 in images).
    pub pointer_to_symbol_table: u32,
    /// `NumberOfSymbols` (0 in images).
    pub number_of_symbols: u32,
    /// `SizeOfOptionalHeader`: the section table starts this far after the COFF header.
    pub size_of_optional_header: u16,
    /// `Characteristics`.
    pub characteristics: u16,
}

/// The fixed fields of the optional header that boot loaders look at (the others,
/// linker and OS versions, stack and heap sizes, are skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalHeader {
    /// `AddressOfEntryPoint` (an RVA).
    pub address_of_entry_point: u32,
    /// `ImageBase` (32 bits in PE32).
    pub image_base: u64,
    /// `SectionAlignment`.
    pub section_alignment: u32,
    /// `FileAlignment`.
    pub file_alignment: u32,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// `SizeOfHeaders`.
    pub size_of_headers: u32,
    /// `CheckSum`.
    pub check_sum: u32,
    /// `Subsystem` (10: EFI application).
    pub subsystem: u16,
    /// `DllCharacteristics`.
    pub dll_characteristics: u16,
    /// `NumberOfRvaAndSizes`: data directories the header claims (see
    /// [`PeHeaders::data_directories`] for those actually read).
    pub number_of_rva_and_sizes: u32,
}

/// One data directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataDirectory {
    /// `VirtualAddress`: an RVA, except for [`DIRECTORY_SECURITY`], where it is a file
    /// offset.
    pub virtual_address: u32,
    /// `Size` in bytes.
    pub size: u32,
}

/// One section header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// `Name`: 8 bytes, NUL-padded (not NUL-terminated when 8 long).
    pub name: [u8; 8],
    /// `VirtualSize`: size in memory.
    pub virtual_size: u32,
    /// `VirtualAddress`: RVA in memory.
    pub virtual_address: u32,
    /// `SizeOfRawData`: size in the file, a multiple of `FileAlignment`.
    pub size_of_raw_data: u32,
    /// `PointerToRawData`: file offset.
    pub pointer_to_raw_data: u32,
    /// `Characteristics`.
    pub characteristics: u32,
}

impl Section {
    /// The name up to its first NUL.
    pub fn name_bytes(&self) -> &[u8] {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(8);
        self.name.get(..end).unwrap_or_default()
    }

    /// True when the name is `name`: systemd's `pe_section_name_equal`, up to 8 bytes
    /// compared with NUL padding, so a name longer than 8 bytes never matches.
    pub fn name_is(&self, name: &str) -> bool {
        let n = name.as_bytes();
        n.len() <= 8
            && self
                .name
                .iter()
                .enumerate()
                .all(|(i, &c)| c == n.get(i).copied().unwrap_or(0))
    }

    /// The section's contents in the file, as systemd-boot reads them: from
    /// `PointerToRawData`, `min(SizeOfRawData, VirtualSize)` bytes. `SizeOfRawData` past
    /// `VirtualSize` is file-alignment padding; `VirtualSize` past `SizeOfRawData` is
    /// zero-filled in memory and not in the file. The range is not checked against the
    /// file length.
    pub fn data_in_file(&self) -> Range<u64> {
        let start = u64::from(self.pointer_to_raw_data);
        let len = u64::from(self.size_of_raw_data.min(self.virtual_size));
        start..start.saturating_add(len)
    }
}

/// Everything read from a PE image's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeHeaders {
    /// `e_lfanew`: file offset of `PE\0\0`.
    pub pe_offset: u64,
    /// The COFF file header.
    pub coff: CoffHeader,
    /// PE32 or PE32+.
    pub format: PeFormat,
    /// The optional header's fixed fields; `None` when `SizeOfOptionalHeader` is too
    /// short to hold them.
    pub optional: Option<OptionalHeader>,
    /// The data directories both `NumberOfRvaAndSizes` and `SizeOfOptionalHeader` cover.
    pub data_directories: Vec<DataDirectory>,
    /// File offset of the section table.
    pub section_table_offset: u64,
    /// The section headers, in table order.
    pub sections: Vec<Section>,
}

impl PeHeaders {
    /// `Machine` from the COFF header.
    pub fn machine(&self) -> u16 {
        self.coff.machine
    }

    /// The first section named `name` (see [`Section::name_is`]).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name_is(name))
    }

    /// Data directory `index`, when the header has that many.
    pub fn data_directory(&self, index: usize) -> Option<DataDirectory> {
        self.data_directories.get(index).copied()
    }

    /// The certificate table (data directory [`DIRECTORY_SECURITY`]) when it is not
    /// empty: file offset and size of the Authenticode signatures.
    pub fn security_directory(&self) -> Option<DataDirectory> {
        self.data_directory(DIRECTORY_SECURITY)
            .filter(|d| d.size > 0)
    }

    /// Size of the Authenticode signature (the certificate table), for a signed image.
    pub fn signature_size(&self) -> Option<u32> {
        self.security_directory().map(|d| d.size)
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Reads the headers of an image held in memory (the whole file, or at least its
/// headers and section table: `bytes.len()` is taken as the file length).
pub fn parse(bytes: &[u8]) -> Result<PeHeaders, PeError> {
    read_headers(to_u64(bytes.len()), &mut |offset, len| {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        Ok(bytes::slice(bytes, start, len)
            .or_else(|| bytes.get(start..))
            .unwrap_or_default()
            .to_vec())
    })
}

/// Reads the headers of an image of `file_len` bytes through `read(offset, len)`,
/// which returns `len` bytes at `offset` (fewer only at the end of the file). Reads
/// at most [`MAX_HEADER_READ`] bytes from the start, then the PE header and section
/// table if they lie further in; every range asked for is inside `file_len`.
pub fn read_headers<E: From<PeError>>(
    file_len: u64,
    read: &mut dyn FnMut(u64, usize) -> Result<Vec<u8>, E>,
) -> Result<PeHeaders, E> {
    if file_len < DOS_HEADER_LEN {
        return Err(PeError::TooShort { len: file_len }.into());
    }
    let head_len = usize::try_from(file_len.min(MAX_HEADER_READ)).unwrap_or(0);
    let head = read(0, head_len)?;
    if head.get(..2) != Some(b"MZ".as_slice()) {
        return Err(PeError::NoDosMagic.into());
    }
    let pe = u64::from(
        bytes::u32_le(&head, E_LFANEW_OFFSET).ok_or(PeError::TooShort { len: file_len })?,
    );
    // verify_dos: the PE header may not overlap the DOS header; the signature, the COFF
    // header and the optional header magic must be in the file.
    if pe < DOS_HEADER_LEN
        || pe
            .checked_add(PE_HEADER_LEN + 2)
            .is_none_or(|end| end > file_len)
    {
        return Err(PeError::BadPeOffset { offset: pe }.into());
    }
    // Bytes [offset, offset + len) of the file, from `head` when it holds them.
    let mut fetch = |offset: u64, len: usize| -> Result<Vec<u8>, E> {
        let from_head = usize::try_from(offset)
            .ok()
            .and_then(|at| bytes::slice(&head, at, len));
        if let Some(b) = from_head {
            return Ok(b.to_vec());
        }
        let b = read(offset, len)?;
        if b.len() != len {
            return Err(PeError::ShortRead {
                offset,
                len: to_u64(len),
                got: to_u64(b.len()),
            }
            .into());
        }
        Ok(b)
    };

    let fixed = fetch(pe, 26)?;
    if fixed.get(..4) != Some(b"PE\0\0".as_slice()) {
        return Err(PeError::NoPeSignature { offset: pe }.into());
    }
    // OK: `fixed` is 26 bytes long, so every read below is inside it.
    let mut c = LeCursor::at(&fixed, 4);
    let coff = CoffHeader {
        machine: c.u16().unwrap_or(0),
        number_of_sections: c.u16().unwrap_or(0),
        time_date_stamp: c.u32().unwrap_or(0),
        pointer_to_symbol_table: c.u32().unwrap_or(0),
        number_of_symbols: c.u32().unwrap_or(0),
        size_of_optional_header: c.u16().unwrap_or(0),
        characteristics: c.u16().unwrap_or(0),
    };
    let opt_off = pe + PE_HEADER_LEN;
    let format = match c.u16().unwrap_or(0) {
        PE32_MAGIC => PeFormat::Pe32,
        PE32_PLUS_MAGIC => PeFormat::Pe32Plus,
        magic => {
            return Err(PeError::BadOptionalMagic {
                offset: opt_off,
                magic,
            }
            .into());
        }
    };
    if coff.number_of_sections == 0 {
        return Err(PeError::NoSections { offset: pe + 6 }.into());
    }
    let opt_len = usize::from(coff.size_of_optional_header);
    let table_off = opt_off + to_u64(opt_len);
    let table_len = usize::from(coff.number_of_sections) * SECTION_HEADER_LEN;
    if table_off
        .checked_add(to_u64(table_len))
        .is_none_or(|end| end > file_len)
    {
        return Err(PeError::SectionTableOutOfBounds {
            offset: table_off,
            len: to_u64(table_len),
            file_len,
        }
        .into());
    }
    // Inside the file: it ends where the section table starts.
    let opt = fetch(opt_off, opt_len)?;
    let optional = optional_header(&opt, format);
    let data_directories = optional
        .map(|o| data_directories(&opt, format, o.number_of_rva_and_sizes))
        .unwrap_or_default();
    let table = fetch(table_off, table_len)?;
    let sections = table
        .chunks_exact(SECTION_HEADER_LEN)
        .map(section_header)
        .collect();
    Ok(PeHeaders {
        pe_offset: pe,
        coff,
        format,
        optional,
        data_directories,
        section_table_offset: table_off,
        sections,
    })
}

/// The fixed fields, when `opt` (the `SizeOfOptionalHeader` bytes) holds them all.
fn optional_header(opt: &[u8], format: PeFormat) -> Option<OptionalHeader> {
    if opt.len() < format.data_directories_offset() {
        return None;
    }
    let image_base = match format {
        PeFormat::Pe32 => u64::from(bytes::u32_le(opt, 28)?),
        PeFormat::Pe32Plus => bytes::u64_le(opt, 24)?,
    };
    let rva_count_at = format.data_directories_offset() - 4;
    Some(OptionalHeader {
        address_of_entry_point: bytes::u32_le(opt, 16)?,
        image_base,
        section_alignment: bytes::u32_le(opt, 32)?,
        file_alignment: bytes::u32_le(opt, 36)?,
        size_of_image: bytes::u32_le(opt, 56)?,
        size_of_headers: bytes::u32_le(opt, 60)?,
        check_sum: bytes::u32_le(opt, 64)?,
        subsystem: bytes::u16_le(opt, 68)?,
        dll_characteristics: bytes::u16_le(opt, 70)?,
        number_of_rva_and_sizes: bytes::u32_le(opt, rva_count_at)?,
    })
}

/// The first `count` data directories, as far as the optional header holds them.
fn data_directories(opt: &[u8], format: PeFormat, count: u32) -> Vec<DataDirectory> {
    let mut c = LeCursor::at(opt, format.data_directories_offset());
    let mut out = Vec::new();
    // At most (65535 - 96) / 8 entries fit in an optional header, whatever `count` says.
    for _ in 0..count {
        let (Some(virtual_address), Some(size)) = (c.u32(), c.u32()) else {
            break;
        };
        out.push(DataDirectory {
            virtual_address,
            size,
        });
    }
    out
}

/// One 40-byte section header.
fn section_header(h: &[u8]) -> Section {
    let mut c = LeCursor::new(h);
    let name = c.array().unwrap_or_default();
    let virtual_size = c.u32().unwrap_or(0);
    let virtual_address = c.u32().unwrap_or(0);
    let size_of_raw_data = c.u32().unwrap_or(0);
    let pointer_to_raw_data = c.u32().unwrap_or(0);
    Section {
        name,
        virtual_size,
        virtual_address,
        size_of_raw_data,
        pointer_to_raw_data,
        characteristics: bytes::u32_le(h, 36).unwrap_or(0),
    }
}

/// Writes a minimal PE32+ image holding `sections` (name, contents): headers, a
/// section table and the section data at 512-byte file alignment, 4 KiB section
/// alignment, subsystem EFI application, 16 empty data directories. Enough for
/// [`parse`], systemd's `bootctl` and leapboot; not an EFI program (there is no code).
/// For tests and test disks. Names longer than 8 bytes are cut to 8.
pub fn build(machine: u16, sections: &[(&str, &[u8])]) -> Vec<u8> {
    const FILE_ALIGN: usize = 512;
    const SECT_ALIGN: u32 = 4096;
    const OPT_LEN: u16 = 240;
    const PE_AT: usize = 64;
    let u32_of = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let align = |n: usize| n.div_ceil(FILE_ALIGN).saturating_mul(FILE_ALIGN);
    let opt = PE_AT + 24;
    let table = opt + usize::from(OPT_LEN);
    let headers = align(table + SECTION_HEADER_LEN * sections.len());
    let mut out = vec![0u8; headers];
    fn put(out: &mut [u8], at: usize, b: &[u8]) {
        if let Some(dst) = out.get_mut(at..at.saturating_add(b.len())) {
            dst.copy_from_slice(b);
        }
    }
    put(&mut out, 0, b"MZ");
    put(&mut out, E_LFANEW_OFFSET, &u32_of(PE_AT).to_le_bytes());
    put(&mut out, PE_AT, b"PE\0\0");
    put(&mut out, PE_AT + 4, &machine.to_le_bytes());
    let count = u16::try_from(sections.len()).unwrap_or(u16::MAX);
    put(&mut out, PE_AT + 6, &count.to_le_bytes());
    put(&mut out, PE_AT + 20, &OPT_LEN.to_le_bytes());
    // Executable image, large address aware, no line numbers, no local symbols, debug
    // stripped (0x0206), as EFI images carry.
    put(&mut out, PE_AT + 22, &0x0206u16.to_le_bytes());
    put(&mut out, opt, &PE32_PLUS_MAGIC.to_le_bytes());
    put(&mut out, opt + 32, &SECT_ALIGN.to_le_bytes());
    put(&mut out, opt + 36, &u32_of(FILE_ALIGN).to_le_bytes());
    put(&mut out, opt + 60, &u32_of(headers).to_le_bytes());
    put(&mut out, opt + 68, &10u16.to_le_bytes()); // EFI application
    put(&mut out, opt + 108, &16u32.to_le_bytes());
    let mut vaddr = SECT_ALIGN;
    for (i, (name, data)) in sections.iter().enumerate() {
        let h = table + i * SECTION_HEADER_LEN;
        let raw_off = out.len();
        let raw_len = align(data.len());
        let n = name.as_bytes();
        put(&mut out, h, n.get(..n.len().min(8)).unwrap_or_default());
        put(&mut out, h + 8, &u32_of(data.len()).to_le_bytes());
        put(&mut out, h + 12, &vaddr.to_le_bytes());
        put(&mut out, h + 16, &u32_of(raw_len).to_le_bytes());
        put(&mut out, h + 20, &u32_of(raw_off).to_le_bytes());
        // Initialised data, readable.
        put(&mut out, h + 36, &0x4000_0040u32.to_le_bytes());
        out.extend_from_slice(data);
        out.resize(raw_off + raw_len, 0);
        let pages = u32_of(data.len()).div_ceil(SECT_ALIGN).max(1);
        vaddr = vaddr.saturating_add(pages.saturating_mul(SECT_ALIGN));
    }
    put(&mut out, opt + 56, &vaddr.to_le_bytes()); // SizeOfImage
    out
}

#[cfg(test)]
// Tests convert small known sizes and xorshift values with `as`.
#[allow(clippy::as_conversions)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        build(
            MACHINE_AMD64,
            &[
                (".text", b"code"),
                (".osrel", b"ID=x\n"),
                (".longname", b"L"),
            ],
        )
    }

    /// Offsets in [`sample`]: PE header at 64, optional header at 88, table at 328.
    const PE: usize = 64;
    const OPT: usize = 88;
    const TABLE: usize = 328;

    fn corrupt(f: impl Fn(&mut Vec<u8>)) -> Result<PeHeaders, PeError> {
        let mut b = sample();
        f(&mut b);
        parse(&b)
    }

    fn put(b: &mut [u8], at: usize, v: &[u8]) {
        b[at..at + v.len()].copy_from_slice(v);
    }

    #[test]
    fn built_image_reads_back() {
        let b = sample();
        let h = parse(&b).unwrap();
        assert_eq!(h.pe_offset, 64);
        assert_eq!(h.machine(), MACHINE_AMD64);
        assert_eq!(h.format, PeFormat::Pe32Plus);
        assert_eq!(h.coff.number_of_sections, 3);
        assert_eq!(h.coff.size_of_optional_header, 240);
        assert_eq!(h.section_table_offset, TABLE as u64);
        let o = h.optional.unwrap();
        assert_eq!((o.subsystem, o.file_alignment), (10, 512));
        assert_eq!((o.section_alignment, o.size_of_headers), (4096, 512));
        assert_eq!(o.number_of_rva_and_sizes, 16);
        assert_eq!(h.data_directories.len(), 16);
        assert_eq!(h.security_directory(), None);
        let names: Vec<_> = h.sections.iter().map(Section::name_bytes).collect();
        assert_eq!(names, [&b".text"[..], b".osrel", b".longnam"]);
        let s = h.section(".osrel").unwrap();
        let r = s.data_in_file();
        assert_eq!(&b[r.start as usize..r.end as usize], b"ID=x\n");
        assert_eq!(s.virtual_address, 8192);
        assert!(h.section(".longname").is_none());
        assert!(h.section(".longnam").is_some());
    }

    /// PE32 keeps its data directories at 96, its image base in 32 bits at 28.
    #[test]
    fn pe32_layout() {
        let h = corrupt(|b| {
            put(b, OPT, &PE32_MAGIC.to_le_bytes());
            put(b, OPT + 28, &0x0040_0000u32.to_le_bytes());
            put(b, OPT + 92, &5u32.to_le_bytes());
            // Directory 4 at 96 + 32.
            put(b, OPT + 128, &0x1234u32.to_le_bytes());
            put(b, OPT + 132, &0x80u32.to_le_bytes());
        })
        .unwrap();
        assert_eq!(h.format, PeFormat::Pe32);
        assert_eq!(h.optional.unwrap().image_base, 0x40_0000);
        assert_eq!(h.data_directories.len(), 5);
        assert_eq!(
            h.security_directory(),
            Some(DataDirectory {
                virtual_address: 0x1234,
                size: 0x80
            })
        );
        assert_eq!(h.signature_size(), Some(0x80));
    }

    /// The certificate table is directory 4 at 112 + 32 in PE32+, and only counts when
    /// `NumberOfRvaAndSizes` covers it.
    #[test]
    fn security_directory_pe32_plus() {
        let signed = |count: u32| {
            corrupt(|b| {
                put(b, OPT + 108, &count.to_le_bytes());
                put(b, OPT + 144, &0x2000u32.to_le_bytes());
                put(b, OPT + 148, &1472u32.to_le_bytes());
            })
            .unwrap()
        };
        assert_eq!(signed(6).signature_size(), Some(1472));
        assert_eq!(signed(5).signature_size(), Some(1472));
        assert_eq!(signed(4).signature_size(), None);
        assert_eq!(signed(4).data_directories.len(), 4);
        // More than the optional header holds: only those inside it.
        assert_eq!(signed(u32::MAX).data_directories.len(), (240 - 112) / 8);
    }

    /// An optional header shorter than its fixed fields is accepted, as systemd-boot
    /// accepts it, without fields or directories; the table follows it.
    #[test]
    fn short_optional_header_is_lenient() {
        let h = corrupt(|b| put(b, PE + 20, &2u16.to_le_bytes()));
        // The table now starts at 90, inside the old optional header, whose bytes there
        // are zeros: three nameless sections.
        let h = h.unwrap();
        assert_eq!(h.optional, None);
        assert!(h.data_directories.is_empty());
        assert_eq!(h.section_table_offset, 90);
        assert_eq!(h.sections.len(), 3);
    }

    /// Each corruption gives its own error, with the offset of what is wrong.
    #[test]
    fn corrupt_headers() {
        assert_eq!(parse(b"MZ"), Err(PeError::TooShort { len: 2 }));
        assert_eq!(parse(&[]), Err(PeError::TooShort { len: 0 }));
        assert_eq!(corrupt(|b| b[1] = b'X'), Err(PeError::NoDosMagic));
        assert_eq!(
            corrupt(|b| put(b, E_LFANEW_OFFSET, &0xffff_fff0u32.to_le_bytes())),
            Err(PeError::BadPeOffset {
                offset: 0xffff_fff0
            })
        );
        assert_eq!(
            corrupt(|b| put(b, E_LFANEW_OFFSET, &8u32.to_le_bytes())),
            Err(PeError::BadPeOffset { offset: 8 })
        );
        let e = corrupt(|b| b[PE + 1] = b'X').unwrap_err();
        assert_eq!(e, PeError::NoPeSignature { offset: 64 });
        assert_eq!(e.offset(), 64);
        let e = corrupt(|b| put(b, OPT, &0x107u16.to_le_bytes())).unwrap_err();
        assert_eq!(
            e,
            PeError::BadOptionalMagic {
                offset: 88,
                magic: 0x107
            }
        );
        assert_eq!(e.offset(), 88);
        assert_eq!(
            corrupt(|b| put(b, PE + 6, &0u16.to_le_bytes())),
            Err(PeError::NoSections { offset: 70 })
        );
        let len = sample().len() as u64;
        assert_eq!(
            corrupt(|b| put(b, PE + 6, &60000u16.to_le_bytes())),
            Err(PeError::SectionTableOutOfBounds {
                offset: 328,
                len: 60000 * 40,
                file_len: len
            })
        );
        assert_eq!(
            corrupt(|b| put(b, PE + 20, &0xfff0u16.to_le_bytes())),
            Err(PeError::SectionTableOutOfBounds {
                offset: 88 + 0xfff0,
                len: 120,
                file_len: len
            })
        );
    }

    /// The file is cut at every length through the headers: an error, never a panic,
    /// and the right one at each boundary.
    #[test]
    fn truncated_at_every_length() {
        let b = sample();
        for len in 0..=b.len() {
            let r = parse(&b[..len]);
            let want_ok = len >= TABLE + 3 * SECTION_HEADER_LEN;
            assert_eq!(r.is_ok(), want_ok, "length {len}: {r:?}");
            if len < 64 {
                assert_eq!(r, Err(PeError::TooShort { len: len as u64 }));
            } else if len < PE + 26 {
                assert_eq!(r, Err(PeError::BadPeOffset { offset: 64 }));
            } else if !want_ok {
                assert!(
                    matches!(r, Err(PeError::SectionTableOutOfBounds { offset: 328, .. })),
                    "{len}: {r:?}"
                );
            }
        }
    }

    /// Headers beyond the first read are fetched, at the exact ranges asked for, and a
    /// reader that returns less than asked is an error, not a panic.
    #[test]
    fn positioned_reads() {
        // Move the PE header to 70000, past the first 64 KiB read.
        let small = sample();
        let mut b = vec![0u8; 70000];
        b[..64].copy_from_slice(&small[..64]);
        put(&mut b, E_LFANEW_OFFSET, &70000u32.to_le_bytes());
        b.extend_from_slice(&small[64..]);
        let mut asked = Vec::new();
        let h = read_headers::<PeError>(b.len() as u64, &mut |off, len| {
            asked.push((off, len));
            let off = off as usize;
            Ok(b[off..(off + len).min(b.len())].to_vec())
        })
        .unwrap();
        assert_eq!(h.pe_offset, 70000);
        assert_eq!(h.sections.len(), 3);
        assert_eq!(
            asked,
            [
                (0, 65536),
                (70000, 26),
                (70000 + 24, 240),
                (70000 + 264, 120)
            ]
        );
        let short = read_headers::<PeError>(b.len() as u64, &mut |off, len| {
            let off = off as usize;
            let keep = if off == 0 { len } else { 40 };
            Ok(b[off..(off + len).min(b.len())]
                .iter()
                .take(keep)
                .copied()
                .collect())
        });
        assert_eq!(
            short,
            Err(PeError::ShortRead {
                offset: 70024,
                len: 240,
                got: 40
            })
        );
    }

    /// Random bit flips in the headers never panic.
    #[test]
    fn garbage_never_panics() {
        let good = sample();
        let mut x: u32 = 7;
        for _ in 0..5000 {
            let mut b = good.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = (x as usize) % 512;
                b[i] = (x >> 8) as u8;
            }
            if let Ok(h) = parse(&b) {
                for s in &h.sections {
                    let _ = s.data_in_file();
                    let _ = s.name_bytes();
                }
            }
        }
        let _ = parse(&[0xff; 4096]);
        let mut mz = vec![0u8; 4096];
        mz[..2].copy_from_slice(b"MZ");
        let _ = parse(&mz);
    }

    /// A section name longer than 8 bytes never matches (`pe_section_name_equal`).
    #[test]
    fn section_names_compare_eight_bytes() {
        let h = Section {
            name: *b".linuxxx",
            virtual_size: 1,
            virtual_address: 0,
            size_of_raw_data: 1,
            pointer_to_raw_data: 0,
            characteristics: 0,
        };
        assert!(!h.name_is(".linux"));
        assert!(h.name_is(".linuxxx"));
        assert!(!h.name_is(".linuxxxx"));
        assert_eq!(h.name_bytes(), b".linuxxx");
    }

    /// `min(SizeOfRawData, VirtualSize)` bytes are the section's.
    #[test]
    fn section_size_is_min_of_raw_and_virtual() {
        let h = Section {
            name: [0; 8],
            virtual_size: 10,
            virtual_address: 0x1000,
            size_of_raw_data: 512,
            pointer_to_raw_data: 7,
            characteristics: 0,
        };
        assert_eq!(h.data_in_file(), 7..17);
        let h = Section {
            virtual_size: 4096,
            ..h
        };
        assert_eq!(h.data_in_file(), 7..519);
        let h = Section {
            pointer_to_raw_data: u32::MAX,
            size_of_raw_data: u32::MAX,
            virtual_size: u32::MAX,
            ..h
        };
        assert_eq!(h.data_in_file().end, 2 * u64::from(u32::MAX));
    }

    #[test]
    fn machine_names() {
        assert_eq!(machine_name(MACHINE_AMD64), "x86-64");
        assert_eq!(machine_name(MACHINE_ARMNT), "arm");
        assert_eq!(machine_name(0x1234), "unknown machine");
        assert_ne!(machine_name(HOST_MACHINE), "");
    }
}
