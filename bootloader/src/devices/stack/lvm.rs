//! LVM2 physical volumes and the logical volumes their metadata describes.
//!
//! On-disk layout from lvm2's `lib/label/label.h` (`struct label_header`),
//! `lib/format_text/layout.h` (`struct pv_header`, `struct mda_header`,
//! `struct raw_locn`) and `lib/format_text/format-text.c` (the circular buffer); the
//! checksum is lvm2's `calc_crc` (`lib/misc/crc.c`): CRC-32 (reflected polynomial
//! 0xEDB88320) seeded with 0xf597a6cf and not inverted at the end. All integers are
//! little-endian.
//!
//! - **Label**: `LABELONE` in one of the first four 512-byte sectors, its own sector
//!   number, a CRC of the rest of the sector, the offset of the PV header (32) and
//!   the type `LVM2 001`.
//! - **PV header**: the PV UUID (32 characters), the device size, then two lists of
//!   (offset, size) byte ranges ended by a zero pair: data areas, metadata areas.
//! - **Metadata area**: a 512-byte header (CRC, magic ` LVM2 x[5A%r0N*>`, version 1,
//!   its own start and size, then `raw_locn`s: offset from the area's start, size,
//!   CRC and flags of the current metadata text), then a circular buffer: text that
//!   runs past the end of the area continues right after the header.
//! - **Text**: the `vg { ... }` format ([`super::lvm_text`]): `extent_size` in
//!   512-byte sectors; each PV's `pe_start` (sectors) and `pe_count`; each LV's
//!   segments with `start_extent`, `extent_count`, `type`, and for `striped`
//!   `stripe_count`, `stripe_size` (sectors) and `stripes = ["pv0", first_pe, ...]`.
//!
//! Linear and striped LVs are mapped to byte ranges of their PVs ([`plan`]). Thin
//! pools and thin LVs, snapshots, RAID and mirror LVs, cache, VDO, writecache and
//! integrity LVs are reported as not supported; hidden LVs (their components) are
//! skipped. An LV that maps past the end of its PV is an error naming both.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use super::lvm_text::{self, Section, Value};
use leapboot_menus::bytes;

/// `LABEL_ID`.
pub const LABEL_ID: &[u8; 8] = b"LABELONE";
/// `LVM2_LABEL`: the label type of an LVM2 PV.
pub const LABEL_TYPE: &[u8; 8] = b"LVM2 001";
/// `FMTT_MAGIC`: the metadata area header's magic.
pub const MDA_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
/// `INITIAL_CRC`.
const INITIAL_CRC: u32 = 0xf597_a6cf;
/// The label is in one of the first `LABEL_SCAN_SECTORS` 512-byte sectors.
pub const LABEL_SCAN_BYTES: usize = 4 * 512;
/// `MDA_HEADER_SIZE`.
pub const MDA_HEADER_SIZE: u64 = 512;
/// Most entries read from one `disk_locn` list (LVM writes at most two metadata areas).
const MAX_AREAS: usize = 16;
/// Most logical volumes, segments per LV and stripes per segment accepted.
const MAX_LVS: usize = 65_536;
const MAX_SEGMENTS: usize = 65_536;
const MAX_STRIPES: usize = 128;
/// `RAW_LOCN_IGNORED`: this metadata area holds no copy.
const RAW_LOCN_IGNORED: u32 = 1;

/// Why a PV or its metadata could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct LvmError {
    /// Which structure (`LVM label`, `metadata area at byte N`, `VG debian-vg`).
    pub what: String,
    /// What is wrong, with the value.
    pub reason: String,
}

fn err(what: impl Into<String>, reason: impl Into<String>) -> LvmError {
    LvmError {
        what: what.into(),
        reason: reason.into(),
    }
}

/// lvm2's `calc_crc(INITIAL_CRC, data)`.
pub fn crc(data: &[u8]) -> u32 {
    // crc32fast keeps the inverted state: seeding it with !INITIAL_CRC starts the
    // register at INITIAL_CRC, and its final inversion is undone here.
    let mut h = crc32fast::Hasher::new_with_initial(!INITIAL_CRC);
    h.update(data);
    !h.finalize()
}

/// A byte range on the PV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    /// Offset from the start of the PV.
    pub offset: u64,
    /// Length (0 for a data area: to the end).
    pub size: u64,
}

/// An LVM2 label and PV header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLabel {
    /// Sector (0 to 3) holding the label.
    pub sector: u64,
    /// PV UUID, 32 characters without dashes.
    pub uuid: String,
    /// Device size the PV was made on, in bytes.
    pub device_size: u64,
    /// Data areas.
    pub data_areas: Vec<Area>,
    /// Metadata areas.
    pub metadata_areas: Vec<Area>,
}

/// Looks for the label in the first [`LABEL_SCAN_BYTES`] of a device: `Ok(None)`
/// without one, an error when the label is there but damaged.
pub fn parse_label(first: &[u8]) -> Result<Option<PvLabel>, LvmError> {
    for (sector, s) in first.chunks_exact(512).enumerate().take(4) {
        if s.get(..8) != Some(LABEL_ID.as_slice()) {
            continue;
        }
        let sector = u64::try_from(sector).unwrap_or(0);
        let what = || format!("LVM label in sector {sector}");
        let own = bytes::u64_le(s, 8).unwrap_or(u64::MAX);
        if own != sector {
            return Err(err(what(), format!("says it is in sector {own}")));
        }
        let stored = bytes::u32_le(s, 16).unwrap_or(0);
        let computed = crc(s.get(20..).unwrap_or_default());
        if stored != computed {
            return Err(err(
                what(),
                format!("CRC is {stored:#010x}, computed {computed:#010x}"),
            ));
        }
        if s.get(24..32) != Some(LABEL_TYPE.as_slice()) {
            let t = String::from_utf8_lossy(s.get(24..32).unwrap_or_default()).into_owned();
            return Err(err(what(), format!("type {t:?} is not LVM2 001")));
        }
        let header = bytes::u32_le(s, 20).and_then(|o| usize::try_from(o).ok());
        let header = header
            .filter(|&o| o >= 32 && o.checked_add(40).is_some_and(|e| e <= 512))
            .ok_or_else(|| err(what(), "PV header offset is outside the sector"))?;
        let mut r = bytes::LeCursor::at(s, header);
        let uuid = r.bytes(32).unwrap_or_default();
        let uuid = String::from_utf8_lossy(uuid).into_owned();
        if !uuid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(err(
                what(),
                format!("PV UUID {uuid:?} is not 32 letters and digits"),
            ));
        }
        let device_size = r.u64().unwrap_or(0);
        let mut list = |name: &str| -> Result<Vec<Area>, LvmError> {
            let mut out = Vec::new();
            loop {
                let (Some(offset), Some(size)) = (r.u64(), r.u64()) else {
                    return Err(err(what(), format!("the {name} list runs off the sector")));
                };
                if offset == 0 && size == 0 {
                    return Ok(out);
                }
                if out.len() >= MAX_AREAS {
                    return Err(err(what(), format!("more than {MAX_AREAS} {name}s")));
                }
                out.push(Area { offset, size });
            }
        };
        let data_areas = list("data area")?;
        let metadata_areas = list("metadata area")?;
        return Ok(Some(PvLabel {
            sector,
            uuid,
            device_size,
            data_areas,
            metadata_areas,
        }));
    }
    Ok(None)
}

/// One `raw_locn`: where the current metadata text is in its area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLocn {
    /// Offset from the start of the area.
    pub offset: u64,
    /// Bytes of text.
    pub size: u64,
    /// lvm2 CRC of the text.
    pub checksum: u32,
    /// `RAW_LOCN_IGNORED` and others.
    pub flags: u32,
}

/// A metadata area's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdaHeader {
    /// Start of the area on the PV (bytes).
    pub start: u64,
    /// Size of the area (bytes).
    pub size: u64,
    /// The first `raw_locn` that is not empty, if any.
    pub locn: Option<RawLocn>,
}

/// Reads a metadata area header (the [`MDA_HEADER_SIZE`] bytes at `area.offset`).
pub fn parse_mda_header(h: &[u8], area: Area) -> Result<MdaHeader, LvmError> {
    let what = || format!("metadata area at byte {}", area.offset);
    let len = usize::try_from(MDA_HEADER_SIZE).unwrap_or(512);
    let body = h
        .get(4..len)
        .ok_or_else(|| err(what(), "header is shorter than 512 bytes"))?;
    if h.get(4..20) != Some(MDA_MAGIC.as_slice()) {
        return Err(err(what(), "no metadata area magic"));
    }
    let stored = bytes::u32_le(h, 0).unwrap_or(0);
    let computed = crc(body);
    if stored != computed {
        return Err(err(
            what(),
            format!("header CRC is {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    let version = bytes::u32_le(h, 20).unwrap_or(0);
    if version != 1 {
        return Err(err(what(), format!("version {version} is not supported")));
    }
    let start = bytes::u64_le(h, 24).unwrap_or(0);
    let size = bytes::u64_le(h, 32).unwrap_or(0);
    if start != area.offset {
        return Err(err(
            what(),
            format!("header says the area starts at byte {start}"),
        ));
    }
    if size <= MDA_HEADER_SIZE || (area.size != 0 && size != area.size) {
        return Err(err(
            what(),
            format!(
                "area size {size} does not match the PV header's {}",
                area.size
            ),
        ));
    }
    let mut r = bytes::LeCursor::at(h, 40);
    let mut locn = None;
    while let (Some(offset), Some(size), Some(checksum), Some(flags)) =
        (r.u64(), r.u64(), r.u32(), r.u32())
    {
        if offset == 0 {
            break;
        }
        if flags & RAW_LOCN_IGNORED == 0 {
            locn = Some(RawLocn {
                offset,
                size,
                checksum,
                flags,
            });
            break;
        }
    }
    Ok(MdaHeader { start, size, locn })
}

/// The two byte ranges (on the PV) holding the text `locn` points at in the area
/// `mda`: the second is non-empty when the text wraps around the circular buffer's
/// end to just after the header.
pub fn text_ranges(mda: &MdaHeader, locn: &RawLocn) -> Result<[(u64, u64); 2], LvmError> {
    let what = || format!("metadata area at byte {}", mda.start);
    if locn.size == 0 {
        return Err(err(what(), "the metadata text is empty"));
    }
    if u64::try_from(lvm_text::MAX_TEXT).is_ok_and(|max| locn.size > max) {
        return Err(err(
            what(),
            format!(
                "metadata text of {} bytes is more than the {} read",
                locn.size,
                lvm_text::MAX_TEXT
            ),
        ));
    }
    let buffer = mda.size - MDA_HEADER_SIZE;
    if locn.offset < MDA_HEADER_SIZE || locn.offset >= mda.size || locn.size > buffer {
        return Err(err(
            what(),
            format!(
                "text at offset {} ({} bytes) is outside the {}-byte area",
                locn.offset, locn.size, mda.size
            ),
        ));
    }
    let first = locn.size.min(mda.size - locn.offset);
    let abs = |o: u64| {
        mda.start
            .checked_add(o)
            .ok_or_else(|| err(what(), format!("offset {o} is out of range")))
    };
    Ok([
        (abs(locn.offset)?, first),
        (abs(MDA_HEADER_SIZE)?, locn.size - first),
    ])
}

/// Checks the text read from [`text_ranges`] against its CRC and parses it.
pub fn parse_text(text: &[u8], locn: &RawLocn) -> Result<VolumeGroup, LvmError> {
    let computed = crc(text);
    if computed != locn.checksum {
        return Err(err(
            "metadata text",
            format!("CRC is {:#010x}, computed {computed:#010x}", locn.checksum),
        ));
    }
    let top = lvm_text::parse(text).map_err(|e| err("metadata text", e.to_string()))?;
    volume_group(&top)
}

/// A physical volume as the VG metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvMeta {
    /// Its name in the metadata (`pv0`).
    pub name: String,
    /// UUID without dashes, as in the label.
    pub uuid: String,
    /// Where the first extent starts, in bytes.
    pub pe_start: u64,
    /// Extents.
    pub pe_count: u64,
}

/// What a segment maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentKind {
    /// `striped` (linear is one stripe): chunks of `stripe_size` bytes in turn on
    /// each (PV name, first extent).
    Striped {
        /// Bytes per chunk (0 with one stripe).
        stripe_size: u64,
        /// (PV name, first physical extent) per stripe.
        stripes: Vec<(String, u64)>,
    },
    /// Any other type, by name; for `snapshot`, the COW store's LV name.
    Other {
        /// The `type`.
        kind: String,
        /// `cow_store` of a snapshot.
        cow_store: Option<String>,
        /// `origin` of a snapshot.
        origin: Option<String>,
    },
}

/// A segment of a logical volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// First logical extent.
    pub start_extent: u64,
    /// Extents.
    pub extent_count: u64,
    /// What it maps to.
    pub kind: SegmentKind,
}

/// A logical volume as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvMeta {
    /// Name (`root`).
    pub name: String,
    /// UUID (with dashes, as written; empty when the metadata has none).
    pub id: String,
    /// `VISIBLE` in its status: not a hidden component of another LV.
    pub visible: bool,
    /// Segments, sorted by first extent.
    pub segments: Vec<Segment>,
}

/// A volume group: the parts of the metadata text leapboot reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeGroup {
    /// Name.
    pub name: String,
    /// UUID (with dashes, as written).
    pub id: String,
    /// Metadata sequence number: the highest copy is current.
    pub seqno: u64,
    /// Extent size in bytes.
    pub extent_size: u64,
    /// Physical volumes.
    pub pvs: Vec<PvMeta>,
    /// Logical volumes.
    pub lvs: Vec<LvMeta>,
}

fn uint(s: &Section, key: &str, what: &dyn Fn() -> String) -> Result<u64, LvmError> {
    let v = s
        .int(key)
        .ok_or_else(|| err(what(), format!("no integer {key}")))?;
    u64::try_from(v).map_err(|_| err(what(), format!("{key} = {v} is negative")))
}

fn sectors(s: &Section, key: &str, what: &dyn Fn() -> String) -> Result<u64, LvmError> {
    let v = uint(s, key, what)?;
    v.checked_mul(512)
        .ok_or_else(|| err(what(), format!("{key} = {v} sectors is out of range")))
}

/// The volume group in a parsed metadata text: the one top-level section.
pub fn volume_group(top: &Section) -> Result<VolumeGroup, LvmError> {
    let (name, vg) = top
        .sections()
        .next()
        .ok_or_else(|| err("metadata text", "no volume group section"))?;
    let what = || format!("VG {name}");
    let extent_size = sectors(vg, "extent_size", &what)?;
    if extent_size == 0 {
        return Err(err(what(), "extent_size is 0"));
    }
    let mut pvs = Vec::new();
    if let Some(list) = vg.section("physical_volumes") {
        for (pv_name, pv) in list.sections() {
            let what = || format!("VG {name}, PV {pv_name}");
            pvs.push(PvMeta {
                name: pv_name.to_string(),
                uuid: pv.str("id").unwrap_or_default().replace('-', ""),
                pe_start: sectors(pv, "pe_start", &what)?,
                pe_count: uint(pv, "pe_count", &what)?,
            });
        }
    }
    let mut lvs = Vec::new();
    if let Some(list) = vg.section("logical_volumes") {
        for (lv_name, lv) in list.sections() {
            if lvs.len() >= MAX_LVS {
                return Err(err(what(), format!("more than {MAX_LVS} logical volumes")));
            }
            lvs.push(logical_volume(name, lv_name, lv)?);
        }
    }
    Ok(VolumeGroup {
        name: name.to_string(),
        id: vg.str("id").unwrap_or_default().to_string(),
        seqno: uint(vg, "seqno", &what)?,
        extent_size,
        pvs,
        lvs,
    })
}

fn logical_volume(vg: &str, name: &str, lv: &Section) -> Result<LvMeta, LvmError> {
    let what = || format!("VG {vg}, LV {name}");
    let mut segments = Vec::new();
    for (seg_name, seg) in lv.sections() {
        if segments.len() >= MAX_SEGMENTS {
            return Err(err(what(), format!("more than {MAX_SEGMENTS} segments")));
        }
        let what = || format!("VG {vg}, LV {name}, {seg_name}");
        let kind = seg.str("type").unwrap_or("striped").to_string();
        let kind = if kind == "striped" {
            let list = seg.list("stripes").unwrap_or_default();
            if list.len() > MAX_STRIPES.saturating_mul(2) {
                return Err(err(what(), format!("more than {MAX_STRIPES} stripes")));
            }
            let mut stripes = Vec::new();
            for pair in list.chunks(2) {
                match pair {
                    [Value::Str(pv), Value::Int(pe)] => {
                        let pe = u64::try_from(*pe)
                            .map_err(|_| err(what(), format!("stripe on {pv} at extent {pe}")))?;
                        stripes.push((pv.clone(), pe));
                    }
                    _ => return Err(err(what(), "stripes is not a list of \"pv\", extent pairs")),
                }
            }
            let count = uint(seg, "stripe_count", &what)?;
            if stripes.is_empty() || u64::try_from(stripes.len()).ok() != Some(count) {
                return Err(err(
                    what(),
                    format!("stripe_count {count} but {} stripes listed", stripes.len()),
                ));
            }
            let stripe_size = if stripes.len() > 1 {
                let s = sectors(seg, "stripe_size", &what)?;
                if !s.is_power_of_two() {
                    return Err(err(
                        what(),
                        format!("stripe_size {s} bytes is not a power of two"),
                    ));
                }
                s
            } else {
                0
            };
            SegmentKind::Striped {
                stripe_size,
                stripes,
            }
        } else {
            SegmentKind::Other {
                cow_store: seg.str("cow_store").map(str::to_string),
                origin: seg.str("origin").map(str::to_string),
                kind,
            }
        };
        segments.push(Segment {
            start_extent: uint(seg, "start_extent", &what)?,
            extent_count: uint(seg, "extent_count", &what)?,
            kind,
        });
    }
    segments.sort_by_key(|s| s.start_extent);
    Ok(LvMeta {
        name: name.to_string(),
        id: lv.str("id").unwrap_or_default().to_string(),
        visible: lv.has_flag("status", "VISIBLE"),
        segments,
    })
}

/// The device-mapper name of an LV, as `/dev/mapper/` and GRUB's `(lvm/...)` show it:
/// `VG-LV` with every `-` inside either name doubled (`debian--vg-root`).
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// A PV or VG UUID as LVM's tools print it: the 32 characters in groups of
/// 6-4-4-4-4-4-6, joined by dashes (`id_write_format` in lvm2's `uuid.c`); anything
/// else as it is.
pub fn uuid_display(uuid: &str) -> String {
    if uuid.len() != 32 || !uuid.is_ascii() {
        return uuid.to_string();
    }
    let mut out = String::with_capacity(38);
    let mut at = 0;
    for (i, n) in [6, 4, 4, 4, 4, 4, 6].into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.push_str(uuid.get(at..at + n).unwrap_or_default());
        at += n;
    }
    out
}

/// GRUB's names for an LV (`lvm.c`): `lvm/` and the device-mapper name, then
/// `lvmid/VGUUID/LVUUID` when the metadata gives both UUIDs.
pub fn grub_names(vg: &VolumeGroup, lv_name: &str, lv_id: &str) -> Vec<String> {
    let mut out = vec![format!("lvm/{}", dm_name(&vg.name, lv_name))];
    if !vg.id.is_empty() && !lv_id.is_empty() {
        out.push(format!("lvmid/{}/{lv_id}", vg.id));
    }
    out
}

/// A stretch of an LV mapped to its PVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedSegment {
    /// First byte in the LV.
    pub start: u64,
    /// Bytes.
    pub len: u64,
    /// Bytes per chunk before moving to the next stripe (the whole segment for one
    /// stripe).
    pub stripe_size: u64,
    /// Per stripe: index into the `pvs` given to [`plan`], and the byte offset on it.
    pub stripes: Vec<(usize, u64)>,
}

/// What becomes of one visible LV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LvPlan {
    /// Readable: its size and where its bytes are.
    Mapped {
        /// LV name.
        name: String,
        /// LV UUID.
        id: String,
        /// Bytes.
        size: u64,
        /// How many stripes its (widest) segment has, for the log.
        stripes: usize,
        /// Segments in order.
        segments: Vec<MappedSegment>,
    },
    /// A kind of LV leapboot does not read.
    Unsupported {
        /// LV name.
        name: String,
        /// What it is.
        what: String,
    },
    /// Cannot be read: a PV is missing, or the metadata maps it outside its PV.
    Broken {
        /// LV name.
        name: String,
        /// Why.
        why: String,
    },
}

/// A PV found on a device: its UUID and the length of the device it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvDevice {
    /// UUID from the label (no dashes).
    pub uuid: String,
    /// Bytes of the device (partition) holding it.
    pub len: u64,
}

/// Maps every visible LV of `vg` onto `pvs` (the PVs found).
pub fn plan(vg: &VolumeGroup, pvs: &[PvDevice]) -> Vec<LvPlan> {
    let snapshots: Vec<(&str, &str, &str)> = vg
        .lvs
        .iter()
        .flat_map(|lv| lv.segments.iter().map(move |s| (lv, s)))
        .filter_map(|(lv, s)| match &s.kind {
            SegmentKind::Other {
                kind,
                cow_store: Some(cow),
                origin,
            } if kind == "snapshot" => Some((
                lv.name.as_str(),
                cow.as_str(),
                origin.as_deref().unwrap_or("?"),
            )),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for lv in &vg.lvs {
        if let Some((_, cow, origin)) = snapshots.iter().find(|(n, _, _)| *n == lv.name) {
            out.push(LvPlan::Unsupported {
                name: (*cow).to_string(),
                what: format!("a snapshot of {origin}"),
            });
            continue;
        }
        if !lv.visible {
            continue;
        }
        let other = lv.segments.iter().find_map(|s| match &s.kind {
            SegmentKind::Other { kind, .. } => Some(kind.as_str()),
            SegmentKind::Striped { .. } => None,
        });
        if let Some(kind) = other {
            out.push(LvPlan::Unsupported {
                name: lv.name.clone(),
                what: describe(kind),
            });
            continue;
        }
        out.push(match map_lv(vg, lv, pvs) {
            Ok((size, stripes, segments)) => LvPlan::Mapped {
                name: lv.name.clone(),
                id: lv.id.clone(),
                size,
                stripes,
                segments,
            },
            Err(why) => LvPlan::Broken {
                name: lv.name.clone(),
                why,
            },
        });
    }
    out
}

/// A segment type in words.
fn describe(kind: &str) -> String {
    let what = match kind {
        "thin-pool" => "a thin pool",
        "thin" => "a thin LV",
        "snapshot" => "a snapshot",
        "mirror" => "a mirror LV",
        "cache" | "cache-pool" => "a cache LV",
        "writecache" => "a writecache LV",
        "vdo" | "vdo-pool" => "a VDO LV",
        "integrity" => "an integrity LV",
        k if k.starts_with("raid") => return format!("a RAID LV ({k})"),
        k => return format!("an LV of segment type {k:?}"),
    };
    what.to_string()
}

type Mapped = (u64, usize, Vec<MappedSegment>);

fn map_lv(vg: &VolumeGroup, lv: &LvMeta, pvs: &[PvDevice]) -> Result<Mapped, String> {
    let mut next_extent = 0u64;
    let mut segments = Vec::new();
    let mut widest = 0;
    let overflow = || "extents out of range".to_string();
    for seg in &lv.segments {
        let SegmentKind::Striped {
            stripe_size,
            stripes,
        } = &seg.kind
        else {
            continue;
        };
        if seg.start_extent != next_extent {
            return Err(format!(
                "segments do not follow each other (extent {} after {next_extent})",
                seg.start_extent
            ));
        }
        let n = u64::try_from(stripes.len()).map_err(|_| overflow())?;
        if n == 0 || seg.extent_count == 0 || seg.extent_count % n != 0 {
            return Err(format!(
                "{} extents cannot be spread over {n} stripes",
                seg.extent_count
            ));
        }
        let per_stripe = seg.extent_count / n;
        let stripe_bytes = per_stripe
            .checked_mul(vg.extent_size)
            .ok_or_else(overflow)?;
        let mut mapped = Vec::new();
        for (pv_name, first_pe) in stripes {
            let meta = vg.pvs.iter().find(|p| &p.name == pv_name).ok_or_else(|| {
                format!("its segment names {pv_name}, which the VG does not list")
            })?;
            let (index, dev) = pvs
                .iter()
                .enumerate()
                .find(|(_, d)| d.uuid == meta.uuid)
                .ok_or_else(|| {
                    format!("needs PV {pv_name} (UUID {}), which is missing", meta.uuid)
                })?;
            let end_pe = first_pe.checked_add(per_stripe).ok_or_else(overflow)?;
            if end_pe > meta.pe_count {
                return Err(format!(
                    "maps extents {first_pe}..{end_pe} past the end of PV {pv_name} ({} extents)",
                    meta.pe_count
                ));
            }
            let offset = first_pe
                .checked_mul(vg.extent_size)
                .and_then(|o| o.checked_add(meta.pe_start))
                .ok_or_else(overflow)?;
            let end = offset.checked_add(stripe_bytes).ok_or_else(overflow)?;
            if end > dev.len {
                return Err(format!(
                    "maps bytes {offset}..{end} past the end of PV {pv_name} ({} bytes)",
                    dev.len
                ));
            }
            mapped.push((index, offset));
        }
        let len = seg
            .extent_count
            .checked_mul(vg.extent_size)
            .ok_or_else(overflow)?;
        let start = next_extent
            .checked_mul(vg.extent_size)
            .ok_or_else(overflow)?;
        widest = widest.max(mapped.len());
        segments.push(MappedSegment {
            start,
            len,
            stripe_size: if mapped.len() > 1 { *stripe_size } else { len },
            stripes: mapped,
        });
        next_extent = next_extent
            .checked_add(seg.extent_count)
            .ok_or_else(overflow)?;
    }
    if segments.is_empty() {
        return Err("it has no segments".into());
    }
    let size = next_extent
        .checked_mul(vg.extent_size)
        .ok_or_else(overflow)?;
    Ok((size, widest, segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_lvm2() {
        // The label sector of a PV made by pvcreate (lvm2 2.03.16): bytes 20..512 of
        // the sector, whose stored CRC is 0xe5726dfb.
        let mut s = vec![0u8; 492];
        s[0..4].copy_from_slice(&0x20u32.to_le_bytes());
        s[4..12].copy_from_slice(b"LVM2 001");
        s[12..44].copy_from_slice(b"SyeBGOf0iDnxnXWEmbs4lkAOsFGk1M87");
        s[44..52].copy_from_slice(&0x7d0_0000u64.to_le_bytes());
        s[52..60].copy_from_slice(&0x10_0000u64.to_le_bytes());
        s[84..92].copy_from_slice(&0x1000u64.to_le_bytes());
        s[92..100].copy_from_slice(&0xf_f000u64.to_le_bytes());
        s[116..120].copy_from_slice(&2u32.to_le_bytes());
        s[120..124].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(crc(&s), 0xe572_6dfb);
    }

    #[test]
    fn dm_names_double_dashes() {
        assert_eq!(dm_name("debian-vg", "root"), "debian--vg-root");
        assert_eq!(dm_name("vg", "root-snap"), "vg-root--snap");
    }

    #[test]
    fn uuids_print_as_lvm_prints_them() {
        assert_eq!(
            uuid_display("bZo3wCULgsAbCdEfGhIjKlMnOpQrStUv"),
            "bZo3wC-ULgs-AbCd-EfGh-IjKl-MnOp-QrStUv"
        );
        assert_eq!(uuid_display("short"), "short");
    }

    #[test]
    fn grub_names_are_lvm_and_lvmid() {
        let vg = vg(VG);
        assert_eq!(
            grub_names(&vg, "lin", "LVLVLV-0001"),
            ["lvm/vg-lin", "lvmid/x/LVLVLV-0001"]
        );
        // Without an LV UUID there is no id name.
        assert_eq!(grub_names(&vg, "my-lv", ""), ["lvm/vg-my--lv"]);
    }

    fn vg(text: &str) -> VolumeGroup {
        volume_group(&lvm_text::parse(text.as_bytes()).unwrap()).unwrap()
    }

    const VG: &str = r#"vg {
id = "x" seqno = 1 extent_size = 8
physical_volumes {
pv0 { id = "aaaa-bb" pe_start = 2048 pe_count = 10 }
pv1 { id = "cccc-dd" pe_start = 2048 pe_count = 10 }
}
logical_volumes {
lin { id = "LVLVLV-0001" status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 1] }
      segment2 { start_extent = 2 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv1", 0] } }
str { status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 2 stripe_size = 2 stripes = ["pv0", 5, "pv1", 5] } }
thin { status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 4 type = "thin" } }
hidden { status = ["READ"] segment1 { start_extent = 0 extent_count = 1 type = "striped" stripe_count = 1 stripes = ["pv0", 9] } }
snapshot0 { status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 1 type = "snapshot" origin = "lin" cow_store = "snap" } }
far { status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 1 stripes = ["pv0", 8] } }
}
}"#;

    #[test]
    fn linear_striped_and_unsupported() {
        let vg = vg(VG);
        assert_eq!(vg.extent_size, 4096);
        let pvs = [
            PvDevice {
                uuid: "aaaabb".into(),
                len: 2 << 20,
            },
            PvDevice {
                uuid: "ccccdd".into(),
                len: 2 << 20,
            },
        ];
        let plans = plan(&vg, &pvs);
        assert_eq!(
            plans[0],
            LvPlan::Mapped {
                name: "lin".into(),
                id: "LVLVLV-0001".into(),
                size: 3 * 4096,
                stripes: 1,
                segments: vec![
                    MappedSegment {
                        start: 0,
                        len: 8192,
                        stripe_size: 8192,
                        stripes: vec![(0, 1048576 + 4096)]
                    },
                    MappedSegment {
                        start: 8192,
                        len: 4096,
                        stripe_size: 4096,
                        stripes: vec![(1, 1048576)]
                    },
                ]
            }
        );
        assert!(
            matches!(&plans[1], LvPlan::Mapped { stripes: 2, segments, .. }
            if segments[0].stripe_size == 1024 && segments[0].stripes == vec![(0, 1048576 + 5 * 4096), (1, 1048576 + 5 * 4096)])
        );
        assert_eq!(
            plans[2],
            LvPlan::Unsupported {
                name: "thin".into(),
                what: "a thin LV".into()
            }
        );
        assert_eq!(
            plans[3],
            LvPlan::Unsupported {
                name: "snap".into(),
                what: "a snapshot of lin".into()
            }
        );
        assert!(
            matches!(&plans[4], LvPlan::Broken { name, why } if name == "far" && why.contains("past the end of PV pv0"))
        );
        assert_eq!(plans.len(), 5);
    }

    #[test]
    fn a_missing_pv_and_a_short_device_are_named() {
        let vg = vg(VG);
        let pvs = [PvDevice {
            uuid: "aaaabb".into(),
            len: 2 << 20,
        }];
        let plans = plan(&vg, &pvs);
        assert!(
            matches!(&plans[0], LvPlan::Broken { why, .. } if why.contains("needs PV pv1 (UUID ccccdd), which is missing"))
        );
        let pvs = [
            PvDevice {
                uuid: "aaaabb".into(),
                len: (1 << 20) + 100,
            },
            PvDevice {
                uuid: "ccccdd".into(),
                len: 2 << 20,
            },
        ];
        let plans = plan(&vg, &pvs);
        assert!(
            matches!(&plans[1], LvPlan::Broken { why, .. } if why.contains("past the end of PV pv0")),
            "{plans:?}"
        );
    }

    #[test]
    fn the_circular_buffer_wraps_after_the_header() {
        let mda = MdaHeader {
            start: 4096,
            size: 10_000,
            locn: None,
        };
        let locn = RawLocn {
            offset: 9_000,
            size: 3_000,
            checksum: 0,
            flags: 0,
        };
        assert_eq!(
            text_ranges(&mda, &locn).unwrap(),
            [(13_096, 1_000), (4_608, 2_000)]
        );
        let too_big = RawLocn {
            size: 9_600,
            ..locn
        };
        assert!(text_ranges(&mda, &too_big).is_err());
    }
}
