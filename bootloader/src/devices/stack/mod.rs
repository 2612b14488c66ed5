//! Stacked storage read in user space: Linux md RAID1 arrays and LVM2 logical
//! volumes, assembled from their members without device-mapper or the md driver, and
//! LUKS volumes, recognised and listed but not unlocked.
//!
//! ```text
//! partition (or whole disk) ──probe──> md member ──assemble_md──> RAID1 array ─┐
//!                                      LVM PV ────assemble_lvm─> LV ───────────┤
//!                                      LUKS (listed only)                       v
//!                                           a Disk::mapped, probed like any disk
//! ```
//!
//! - [`md`]: superblocks 0.90, 1.0, 1.1 and 1.2; a RAID1 member read as the array.
//! - [`lvm`]: the label, PV header, metadata area and the LV mapping; [`lvm_text`]:
//!   the metadata text.
//! - [`luks`]: LUKS1 and LUKS2 headers.
//!
//! [`probe`] says what a byte range holds; [`assemble_md`] and [`assemble_lvm`] turn
//! members found on any disks into [`Disk::mapped`] devices, which `devices::scan`
//! then reads like disks (a partition table or a filesystem, or members again: LVM
//! on RAID). Every device assembled is read-only: nothing here ever writes.

pub mod luks;
pub mod lvm;
pub mod lvm_text;
pub mod md;

use crate::devices::disk::{Disk, Mapping};
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// What a member is.
#[derive(Debug, Clone)]
pub enum MemberKind {
    /// A member of an md array.
    Md(md::Superblock),
    /// An LVM physical volume, with the volume group its metadata area holds (none
    /// when it has no metadata area; an error when the metadata cannot be read).
    Pv {
        /// The label and PV header.
        label: lvm::PvLabel,
        /// The VG metadata on this PV.
        vg: Option<Result<lvm::VolumeGroup, lvm::LvmError>>,
    },
}

/// A member of a stacked device: a byte range of a disk and what it holds.
#[derive(Debug, Clone)]
pub struct Member {
    /// Name for messages (`vdc1`).
    pub device: String,
    /// The disk it is on (itself perhaps assembled: LVM on RAID).
    pub disk: Disk,
    /// Byte offset on the disk.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What it is.
    pub kind: MemberKind,
}

/// What [`probe`] found in a byte range that is not a filesystem.
#[derive(Debug, Clone)]
pub enum Found {
    /// A member of an md array or an LVM PV.
    Member(Box<Member>),
    /// A LUKS volume: listed, not unlocked.
    Luks(luks::Luks),
}

impl Found {
    /// One line for the log: what it is, for `device`.
    pub fn describe(&self) -> String {
        match self {
            Found::Member(m) => m.describe(),
            Found::Luks(l) => format!(
                "encrypted ({}) UUID={} LABEL={}, not unlocked by leapboot",
                l.kind(),
                l.uuid.as_deref().unwrap_or("-"),
                l.label.as_deref().unwrap_or("-")
            ),
        }
    }
}

impl Member {
    /// One line for the log: what this member belongs to.
    pub fn describe(&self) -> String {
        match &self.kind {
            MemberKind::Md(sb) => {
                let role = match sb.role {
                    md::Role::Active(n) => format!("slot {n} of {}", sb.raid_disks),
                    md::Role::Spare => "spare".into(),
                    md::Role::Faulty => "faulty".into(),
                };
                let support = if sb.level == md::Level(1) {
                    String::new()
                } else {
                    format!(": {} is not supported", sb.level)
                };
                format!(
                    "{} member of {} (UUID {}, metadata {}, {role}){support}",
                    sb.level,
                    sb.device_name(),
                    sb.uuid_string(),
                    sb.metadata.as_str()
                )
            }
            MemberKind::Pv { label, vg } => {
                let vg = match vg {
                    Some(Ok(vg)) => format!("of VG {} (metadata seqno {})", vg.name, vg.seqno),
                    Some(Err(e)) => format!("whose metadata cannot be read: {e}"),
                    None => "without a metadata area".into(),
                };
                format!(
                    "LVM2 physical volume {vg}, PV UUID {}",
                    lvm::uuid_display(&label.uuid)
                )
            }
        }
    }
}

/// Why a byte range could not be probed.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A read failed.
    #[error("{device}: {source}")]
    Read {
        /// Device name.
        device: String,
        /// The error.
        source: io::Error,
    },
    /// An md superblock is there but damaged.
    #[error("{device}: {source}")]
    Md {
        /// Device name.
        device: String,
        /// The error.
        source: md::MdError,
    },
    /// An LVM label is there but damaged.
    #[error("{device}: {source}")]
    Lvm {
        /// Device name.
        device: String,
        /// The error.
        source: lvm::LvmError,
    },
    /// A LUKS magic with an invalid header.
    #[error("{device}: {source}")]
    Luks {
        /// Device name.
        device: String,
        /// The error.
        source: luks::LuksError,
    },
}

/// Reads within `offset..offset + len` of `disk`, refusing anything outside.
fn read_in(disk: &Disk, offset: u64, len: u64, at: u64, buf: &mut [u8]) -> io::Result<()> {
    let n = u64::try_from(buf.len()).unwrap_or(u64::MAX);
    let end = at.checked_add(n).filter(|&e| e <= len);
    let abs = offset.checked_add(at);
    match (end, abs) {
        (Some(_), Some(abs)) => disk.read_at(abs, buf).map_err(io::Error::other),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read of {n} bytes at {at} passes the end of the {len}-byte device"),
        )),
    }
}

/// What `offset..offset + len` of `disk` (named `device`) holds, if it is an md
/// member, an LVM PV or a LUKS volume. md comes first: a 1.0 or 0.90 member keeps
/// its superblock at the end and the array's filesystem at byte 0, so it must not be
/// read as a plain filesystem.
pub fn probe(
    disk: &Disk,
    device: &str,
    offset: u64,
    len: u64,
) -> Result<Option<Found>, StackError> {
    let read_err = |source| StackError::Read {
        device: device.to_string(),
        source,
    };
    let member = |kind| {
        Found::Member(Box::new(Member {
            device: device.to_string(),
            disk: disk.clone(),
            offset,
            len,
            kind,
        }))
    };
    let sb = md::probe(len, |at, buf| read_in(disk, offset, len, at, buf)).map_err(read_err)?;
    match sb {
        Ok(Some(sb)) => return Ok(Some(member(MemberKind::Md(sb)))),
        Ok(None) => {}
        Err(source) => {
            return Err(StackError::Md {
                device: device.to_string(),
                source,
            });
        }
    }
    let mut head = vec![0u8; lvm::LABEL_SCAN_BYTES];
    if len < 4096 {
        return Ok(None);
    }
    read_in(disk, offset, len, 0, &mut head).map_err(read_err)?;
    if let Some(l) = luks::parse(&head).map_err(|source| StackError::Luks {
        device: device.to_string(),
        source,
    })? {
        return Ok(Some(Found::Luks(l)));
    }
    let label = lvm::parse_label(&head).map_err(|source| StackError::Lvm {
        device: device.to_string(),
        source,
    })?;
    let Some(label) = label else {
        return Ok(None);
    };
    let vg = pv_metadata(&label, |at, buf| read_in(disk, offset, len, at, buf));
    Ok(Some(member(MemberKind::Pv { label, vg })))
}

/// The newest VG metadata among the PV's metadata areas, read through `read`.
pub fn pv_metadata(
    label: &lvm::PvLabel,
    mut read: impl FnMut(u64, &mut [u8]) -> io::Result<()>,
) -> Option<Result<lvm::VolumeGroup, lvm::LvmError>> {
    let mut best: Option<Result<lvm::VolumeGroup, lvm::LvmError>> = None;
    for area in &label.metadata_areas {
        let got = read_metadata(*area, &mut read);
        best = match (best, got) {
            (None, g) => Some(g),
            (Some(Ok(a)), Ok(b)) => Some(Ok(if b.seqno > a.seqno { b } else { a })),
            (Some(Ok(a)), Err(_)) => Some(Ok(a)),
            (Some(Err(_)), g) => Some(g),
        };
    }
    best
}

fn read_metadata(
    area: lvm::Area,
    read: &mut impl FnMut(u64, &mut [u8]) -> io::Result<()>,
) -> Result<lvm::VolumeGroup, lvm::LvmError> {
    let io_err = |e: io::Error| lvm::LvmError {
        what: format!("metadata area at byte {}", area.offset),
        reason: e.to_string(),
    };
    let mut h = vec![0u8; 512];
    read(area.offset, &mut h).map_err(io_err)?;
    let mda = lvm::parse_mda_header(&h, area)?;
    let Some(locn) = mda.locn else {
        return Err(lvm::LvmError {
            what: format!("metadata area at byte {}", area.offset),
            reason: "holds no metadata".into(),
        });
    };
    let mut text = Vec::new();
    for (at, n) in lvm::text_ranges(&mda, &locn)? {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let mut part = vec![0u8; n];
        read(at, &mut part).map_err(io_err)?;
        text.extend_from_slice(&part);
    }
    lvm::parse_text(&text, &locn)
}

/// A device assembled from members.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The device, read through its members.
    pub disk: Disk,
    /// What it is, for the log (`RAID1 array (metadata 1.2), 2 of 2 members: vdc1 vdd1`).
    pub what: String,
    /// The members it reads from.
    pub members: Vec<Member>,
}

/// What an assembly pass made: devices, and lines for the log (problems flagged).
#[derive(Debug, Default)]
pub struct Assembly {
    /// Devices to read like disks.
    pub devices: Vec<Assembled>,
    /// `(problem, line)`: a problem is something the user should hear about even
    /// without `-v` (a missing PV, an LV past the end of its PV, a refused array).
    pub notes: Vec<(bool, String)>,
}

impl Assembly {
    fn note(&mut self, problem: bool, line: String) {
        self.notes.push((problem, line));
    }
}

/// One contiguous stretch of a mapped device.
#[derive(Debug)]
struct Segment {
    start: u64,
    len: u64,
    /// Bytes per chunk before the next stripe (the segment's length for one stripe).
    stripe_size: u64,
    /// Per stripe: the disk and the byte offset on it of the stripe's first chunk.
    stripes: Vec<(Disk, u64)>,
}

/// A device as segments over other disks.
#[derive(Debug)]
struct Map {
    name: String,
    /// GRUB's names for the device.
    grub_names: Vec<String>,
    segments: Vec<Segment>,
}

impl Mapping for Map {
    fn grub_names(&self) -> Vec<String> {
        self.grub_names.clone()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = u64::try_from(done)
                .ok()
                .and_then(|d| offset.checked_add(d))
                .ok_or_else(|| io::Error::other("offset out of range"))?;
            // Segments are in order and back to back: the last one starting at or
            // before `pos`.
            let i = self.segments.partition_point(|s| s.start <= pos);
            let seg = i
                .checked_sub(1)
                .and_then(|i| self.segments.get(i))
                .filter(|s| pos - s.start < s.len)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{}: byte {pos} is past the end of the device", self.name),
                    )
                })?;
            let within = pos - seg.start;
            let size = seg.stripe_size.max(1);
            let (chunk, in_chunk) = (within / size, within % size);
            let n = u64::try_from(seg.stripes.len()).unwrap_or(1).max(1);
            let (stripe, row) = (chunk % n, chunk / n);
            let (disk, base) = usize::try_from(stripe)
                .ok()
                .and_then(|s| seg.stripes.get(s))
                .ok_or_else(|| io::Error::other("stripe out of range"))?;
            let phys = row
                .checked_mul(size)
                .and_then(|r| r.checked_add(*base))
                .and_then(|r| r.checked_add(in_chunk))
                .ok_or_else(|| io::Error::other("offset out of range"))?;
            let left = buf.len() - done;
            let room = (size - in_chunk).min(seg.len - within);
            let take = usize::try_from(room).map_or(left, |r| r.min(left));
            let part = buf
                .get_mut(done..done + take)
                .ok_or_else(|| io::Error::other("buffer out of range"))?;
            disk.read_at(phys, part).map_err(io::Error::other)?;
            done += take;
        }
        Ok(())
    }
}

/// Assembles the md arrays whose members are among `members` (others are ignored):
/// RAID1 arrays become devices read through one in-sync member; other levels, and
/// arrays whose members disagree, are reported.
pub fn assemble_md(members: &[Member]) -> Assembly {
    let mut out = Assembly::default();
    let mut groups: BTreeMap<[u8; 16], Vec<(&Member, &md::Superblock)>> = BTreeMap::new();
    for m in members {
        if let MemberKind::Md(sb) = &m.kind {
            groups.entry(sb.uuid).or_default().push((m, sb));
        }
    }
    for group in groups.values() {
        let Some(&(_, first)) = group.first() else {
            continue;
        };
        let name = first.device_name();
        let names = group
            .iter()
            .map(|(m, _)| m.device.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let sbs: Vec<&md::Superblock> = group.iter().map(|(_, s)| *s).collect();
        match md::resolve(&sbs) {
            md::Resolved::Refused(why) => out.note(
                true,
                format!(
                    "{name}: {} array UUID {} (members {names}) is not read: {why}",
                    first.level,
                    first.uuid_string()
                ),
            ),
            md::Resolved::Mirror {
                read_from,
                present,
                left_out,
            } => {
                let Some(&(member, sb)) = group.get(read_from) else {
                    continue;
                };
                for (i, why) in left_out {
                    if let Some((m, _)) = group.get(i) {
                        out.note(true, format!("{name}: member {} left out: {why}", m.device));
                    }
                }
                let Some(start) = member.offset.checked_add(sb.data_offset) else {
                    continue;
                };
                let map = Map {
                    name: name.clone(),
                    grub_names: sb.grub_names(),
                    segments: vec![Segment {
                        start: 0,
                        len: sb.data_size,
                        stripe_size: sb.data_size,
                        stripes: vec![(member.disk.clone(), start)],
                    }],
                };
                let disk = Disk::mapped(
                    &name,
                    PathBuf::from("/dev").join(&name),
                    sb.data_size,
                    member.disk.sector_size(),
                    Arc::new(map),
                );
                let total = usize::try_from(sb.raid_disks).unwrap_or(usize::MAX);
                let degraded = if present < total { ", degraded" } else { "" };
                if present < total {
                    out.note(
                        true,
                        format!(
                            "{name}: RAID1 array is degraded: {present} of {} members present",
                            sb.raid_disks
                        ),
                    );
                }
                out.devices.push(Assembled {
                    disk,
                    what: format!(
                        "RAID1 array UUID {} (metadata {}), {present} of {} members{degraded}: {names}; read from {}",
                        sb.uuid_string(),
                        sb.metadata.as_str(),
                        sb.raid_disks,
                        member.device
                    ),
                    members: group.iter().map(|(m, _)| (*m).clone()).collect(),
                });
            }
        }
    }
    out
}

/// Assembles the LVM volume groups whose PVs are among `members` (others are
/// ignored): each linear or striped LV whose PVs are present becomes a device named
/// as device-mapper names it; the rest are reported.
pub fn assemble_lvm(members: &[Member]) -> Assembly {
    let mut out = Assembly::default();
    let pvs: Vec<(&Member, &lvm::PvLabel)> = members
        .iter()
        .filter_map(|m| match &m.kind {
            MemberKind::Pv { label, .. } => Some((m, label)),
            MemberKind::Md(_) => None,
        })
        .collect();
    // The newest metadata of each VG, by VG UUID.
    let mut vgs: BTreeMap<String, &lvm::VolumeGroup> = BTreeMap::new();
    for m in members {
        match &m.kind {
            MemberKind::Pv {
                vg: Some(Ok(vg)), ..
            } => {
                let e = vgs.entry(vg.id.clone()).or_insert(vg);
                if vg.seqno > e.seqno {
                    *e = vg;
                }
            }
            MemberKind::Pv {
                vg: Some(Err(e)), ..
            } => out.note(true, format!("{}: LVM metadata: {e}", m.device)),
            _ => {}
        }
    }
    let devices: Vec<lvm::PvDevice> = pvs
        .iter()
        .map(|(m, l)| lvm::PvDevice {
            uuid: l.uuid.clone(),
            len: m.len,
        })
        .collect();
    for vg in vgs.values() {
        let on: Vec<&str> = pvs
            .iter()
            .filter(|(_, l)| vg.pvs.iter().any(|p| p.uuid == l.uuid))
            .map(|(m, _)| m.device.as_str())
            .collect();
        let missing: Vec<&str> = vg
            .pvs
            .iter()
            .filter(|p| !pvs.iter().any(|(_, l)| l.uuid == p.uuid))
            .map(|p| p.name.as_str())
            .collect();
        out.note(
            !missing.is_empty(),
            format!(
                "VG {}: {} PV(s) found ({}), {} LV(s){}",
                vg.name,
                on.len(),
                on.join(" "),
                vg.lvs.iter().filter(|l| l.visible).count(),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!("; missing: {}", missing.join(" "))
                }
            ),
        );
        for p in lvm::plan(vg, &devices) {
            match p {
                lvm::LvPlan::Unsupported { name, what } => out.note(
                    false,
                    format!(
                        "{}: {what}: not supported, not read",
                        lvm::dm_name(&vg.name, &name)
                    ),
                ),
                lvm::LvPlan::Broken { name, why } => out.note(
                    true,
                    format!(
                        "{}: LV {name} of VG {}: {why}",
                        lvm::dm_name(&vg.name, &name),
                        vg.name
                    ),
                ),
                lvm::LvPlan::Mapped {
                    name,
                    id,
                    size,
                    stripes,
                    segments,
                } => {
                    let dm = lvm::dm_name(&vg.name, &name);
                    let mut used = Vec::new();
                    let segments = segments
                        .into_iter()
                        .map(|s| Segment {
                            start: s.start,
                            len: s.len,
                            stripe_size: s.stripe_size,
                            stripes: s
                                .stripes
                                .iter()
                                .filter_map(|&(i, off)| {
                                    let (m, _) = pvs.get(i)?;
                                    if !used.iter().any(|u: &Member| u.device == m.device) {
                                        used.push((*m).clone());
                                    }
                                    Some((m.disk.clone(), m.offset.checked_add(off)?))
                                })
                                .collect(),
                        })
                        .collect();
                    let sector = used
                        .iter()
                        .map(|m| m.disk.sector_size())
                        .max()
                        .unwrap_or(512);
                    let layout = if stripes > 1 {
                        format!("striped over {stripes} PVs")
                    } else {
                        "linear".to_string()
                    };
                    out.devices.push(Assembled {
                        disk: Disk::mapped(
                            &dm,
                            PathBuf::from("/dev/mapper").join(&dm),
                            size,
                            sector,
                            Arc::new(Map {
                                name: dm.clone(),
                                grub_names: lvm::grub_names(vg, &name, &id),
                                segments,
                            }),
                        ),
                        what: format!(
                            "LV {name} of VG {}, {layout}, {size} bytes on {}",
                            vg.name,
                            used.iter()
                                .map(|m| m.device.as_str())
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                        members: used,
                    });
                }
            }
        }
    }
    // PVs whose VG metadata is nowhere to be found (none of the VG's PVs with a
    // metadata area is present).
    for (m, l) in &pvs {
        let known = vgs
            .values()
            .any(|vg| vg.pvs.iter().any(|p| p.uuid == l.uuid));
        if !known
            && !matches!(
                &m.kind,
                MemberKind::Pv {
                    vg: Some(Err(_)),
                    ..
                }
            )
        {
            out.note(
                true,
                format!(
                    "{}: LVM2 physical volume {} belongs to no volume group whose metadata was found",
                    m.device, l.uuid
                ),
            );
        }
    }
    out
}
