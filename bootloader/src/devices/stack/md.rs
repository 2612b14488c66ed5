//! Linux md (mdadm) RAID superblocks, and RAID1 arrays read through one member.
//!
//! Layouts from the kernel's `include/uapi/linux/raid/md_p.h` (`mdp_super_t` for
//! 0.90, `struct mdp_superblock_1` for 1.x; every 1.x field little-endian, 0.90 in the
//! writer's byte order, little-endian on every machine leapboot runs on), checksums as
//! the kernel's `calc_sb_csum` and `calc_sb_1_csum` (`drivers/md/md.c`) compute them:
//!
//! | metadata | superblock at | array data on the member |
//! | --- | --- | --- |
//! | 0.90 | `(size & !(64 KiB - 1)) - 64 KiB`, 4 KiB | from byte 0, `size` KiB (word 8) |
//! | 1.0 | `((sectors - 16) & !7)` sectors: 8 to 12 KiB from the end | `data_offset`, `size` sectors |
//! | 1.1 | byte 0 | as 1.0 |
//! | 1.2 | byte 4096 | as 1.0 |
//!
//! A RAID1 member holds the whole array at its data offset, so reading one member is
//! reading the array: [`assemble`] groups members by array UUID, keeps those with the
//! newest event count that are active and in sync, and reads from the first. Other
//! levels (RAID0, 4, 5, 6, 10, linear) are recognised and reported, never read as if
//! they were a mirror. Not supported: arrays in the middle of a reshape, and 0.90
//! superblocks written by a big-endian machine.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use leapboot_menus::bytes;

/// `MD_SB_MAGIC`, the first 32-bit word of every superblock.
pub const MAGIC: u32 = 0xa92b_4efc;
/// Size of a superblock read: a 0.90 superblock is exactly this long, a 1.x one
/// at most this long (256 bytes plus two per device).
pub const SUPERBLOCK_BYTES: usize = 4096;
/// `MD_RESERVED_BYTES`: 0.90 keeps its superblock in the last 64 KiB-aligned 64 KiB.
const RESERVED_090: u64 = 64 * 1024;
/// 1.x: fixed part of the superblock, before `dev_roles[]`.
const V1_FIXED: usize = 256;
/// `MD_DISK_ROLE_MAX`: roles above are spare (0xffff), faulty (0xfffe), journal.
const ROLE_MAX: u16 = 0xff00;
/// `MD_FEATURE_RECOVERY_OFFSET`: the member is being rebuilt.
const FEATURE_RECOVERY_OFFSET: u32 = 2;
/// `MD_FEATURE_RESHAPE_ACTIVE`.
const FEATURE_RESHAPE_ACTIVE: u32 = 4;
/// 0.90 disk state bits (`MD_DISK_FAULTY`, `MD_DISK_ACTIVE`, `MD_DISK_SYNC`).
const DISK_FAULTY: u32 = 1 << 0;
const DISK_ACTIVE: u32 = 1 << 1;
const DISK_SYNC: u32 = 1 << 2;

/// Which superblock format, and so where it sits on the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// 0.90: at the end, 64 KiB aligned.
    V0_90,
    /// 1.0: at the end, 8 KiB from it.
    V1_0,
    /// 1.1: at the start.
    V1_1,
    /// 1.2: 4 KiB from the start.
    V1_2,
}

impl Metadata {
    /// As `mdadm --metadata` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Metadata::V0_90 => "0.90",
            Metadata::V1_0 => "1.0",
            Metadata::V1_1 => "1.1",
            Metadata::V1_2 => "1.2",
        }
    }

    /// Byte offset of this format's superblock on a member of `len` bytes, if the
    /// member is large enough to hold one.
    pub fn offset(self, len: u64) -> Option<u64> {
        let at = match self {
            // With no room for data before it there is no array.
            Metadata::V0_90 => (len & !(RESERVED_090 - 1))
                .checked_sub(RESERVED_090)
                .filter(|&at| at > 0)?,
            Metadata::V1_0 => ((len / 512).checked_sub(16)? & !7) * 512,
            Metadata::V1_1 => 0,
            Metadata::V1_2 => 4096,
        };
        at.checked_add(4096).filter(|&end| end <= len).map(|_| at)
    }

    /// The order [`probe`] looks in: the formats at the start first.
    pub const ALL: [Metadata; 4] = [
        Metadata::V1_2,
        Metadata::V1_1,
        Metadata::V1_0,
        Metadata::V0_90,
    ];
}

/// A RAID level, as the superblock's signed `level` field gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level(pub i32);

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            -4 => f.write_str("multipath"),
            -1 => f.write_str("linear"),
            n => write!(f, "RAID{n}"),
        }
    }
}

/// This member's place in the array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An active member in slot `n`.
    Active(u32),
    /// A spare: holds no array data yet.
    Spare,
    /// Marked faulty.
    Faulty,
}

/// One member's superblock, as far as leapboot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// The format.
    pub metadata: Metadata,
    /// RAID level.
    pub level: Level,
    /// Members of the complete array.
    pub raid_disks: u32,
    /// Array UUID (`set_uuid`; 0.90: the words `set_uuid0..3`, each most significant
    /// byte first), in the order `mdadm --detail` prints it.
    pub uuid: [u8; 16],
    /// 1.x: the array name (`set_name`, `homehost:name`), if set.
    pub name: Option<String>,
    /// 0.90: the preferred minor, the `N` of `/dev/mdN`.
    pub minor: Option<u32>,
    /// Update count: the member with the highest is the current one.
    pub events: u64,
    /// Byte offset of the array data on the member.
    pub data_offset: u64,
    /// Bytes of array data on each member (RAID1: the array's size).
    pub data_size: u64,
    /// This member's role.
    pub role: Role,
    /// Being rebuilt (`MD_FEATURE_RECOVERY_OFFSET`): not all its data is current.
    pub recovering: bool,
    /// In the middle of a reshape: not read.
    pub reshaping: bool,
}

impl Superblock {
    /// The array UUID as `mdadm --detail` prints it (four 8-digit groups).
    pub fn uuid_string(&self) -> String {
        uuid_string(&self.uuid)
    }

    /// The device name leapboot gives the array: `md/NAME` for a 1.x array with a
    /// name (the part after `homehost:`, as mdadm's `/dev/md/NAME` and GRUB's
    /// `(md/NAME)`), `mdN` for 0.90 (its preferred minor), else `md/` and the UUID.
    pub fn device_name(&self) -> String {
        if let Some(name) = &self.name {
            let short = name.rsplit(':').next().unwrap_or(name);
            if !short.is_empty() {
                return format!("md/{short}");
            }
        }
        if let Some(m) = self.minor {
            return format!("md{m}");
        }
        format!("md/{}", self.uuid_string())
    }

    /// GRUB's names for the array (`diskfilter.c`, `mdraid_linux.c`,
    /// `mdraid1x_linux.c`): `md/` and the name after the first colon for a 1.x array
    /// with a name, `md/mdN` for 0.90 (its preferred minor), then always
    /// `mduuid/` and the UUID as 32 lowercase hex digits.
    pub fn grub_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.name, self.minor) {
            (Some(name), _) => {
                let short = name.split_once(':').map_or(name.as_str(), |(_, s)| s);
                out.push(format!("md/{short}"));
            }
            (None, Some(m)) => out.push(format!("md/md{m}")),
            (None, None) => {}
        }
        out.push(format!(
            "mduuid/{}",
            self.uuid
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ));
        out
    }

    /// Whether this member holds the array's current data (RAID1: may be read).
    pub fn in_sync(&self) -> bool {
        matches!(self.role, Role::Active(_)) && !self.recovering
    }
}

/// The array UUID as `mdadm --detail` prints it: the 16 bytes in hex, a `:` after
/// every four.
pub fn uuid_string(uuid: &[u8; 16]) -> String {
    uuid.chunks(4)
        .map(|w| w.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

/// A superblock that is present but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdError {
    /// The checksum does not match: a damaged or half-written superblock.
    #[error(
        "md superblock {metadata} at byte {at}: checksum is {stored:#010x}, computed {computed:#010x}"
    )]
    Checksum {
        /// Format.
        metadata: &'static str,
        /// Offset on the member.
        at: u64,
        /// Stored.
        stored: u32,
        /// Computed.
        computed: u32,
    },
    /// A field out of range.
    #[error("md superblock {metadata} at byte {at}: {reason}")]
    Corrupt {
        /// Format.
        metadata: &'static str,
        /// Offset on the member.
        at: u64,
        /// What, with the value.
        reason: String,
    },
}

/// Reads the superblock of `metadata` from `sb` (the [`SUPERBLOCK_BYTES`] at
/// `metadata.offset(member_len)` of a member `member_len` bytes long): `Ok(None)` when
/// there is no md magic there, an error when there is one but the superblock is
/// damaged or describes data outside the member.
pub fn parse(
    sb: &[u8],
    metadata: Metadata,
    member_len: u64,
) -> Result<Option<Superblock>, MdError> {
    if bytes::u32_le(sb, 0) != Some(MAGIC) {
        return Ok(None);
    }
    let Some(at) = metadata.offset(member_len) else {
        return Ok(None);
    };
    match metadata {
        Metadata::V0_90 => parse_090(sb, at),
        _ => parse_v1(sb, metadata, at, member_len),
    }
}

fn word(sb: &[u8], index: usize) -> u32 {
    index
        .checked_mul(4)
        .and_then(|o| bytes::u32_le(sb, o))
        .unwrap_or(0)
}

/// `calc_sb_csum`: the 1024 words summed in 64 bits (the checksum word as 0), folded.
fn checksum_090(sb: &[u8]) -> u32 {
    let sum: u64 = (0..1024)
        .filter(|&i| i != 38)
        .map(|i| u64::from(word(sb, i)))
        .sum();
    fold(sum)
}

fn fold(sum: u64) -> u32 {
    let low = sum & 0xffff_ffff;
    let folded = low.wrapping_add(sum >> 32);
    u32::try_from(folded & 0xffff_ffff).unwrap_or(0)
}

fn parse_090(sb: &[u8], at: u64) -> Result<Option<Superblock>, MdError> {
    let metadata = Metadata::V0_90;
    let corrupt = |reason: String| MdError::Corrupt {
        metadata: metadata.as_str(),
        at,
        reason,
    };
    if sb.len() < SUPERBLOCK_BYTES {
        return Err(corrupt(format!("only {} bytes", sb.len())));
    }
    let (major, minor) = (word(sb, 1), word(sb, 2));
    if major != 0 || minor != 90 {
        // Another format's magic at this place (a 1.x superblock seen here, or
        // 0.91-style versions leapboot does not read).
        if major == 0 {
            return Err(corrupt(format!("version 0.{minor} is not supported")));
        }
        return Ok(None);
    }
    let stored = word(sb, 38);
    let computed = checksum_090(sb);
    if stored != computed {
        return Err(MdError::Checksum {
            metadata: metadata.as_str(),
            at,
            stored,
            computed,
        });
    }
    // Held in the order mdadm prints it: each word's digits, most significant first.
    let mut uuid = [0u8; 16];
    for (chunk, w) in uuid.chunks_mut(4).zip([5, 13, 14, 15]) {
        chunk.copy_from_slice(&word(sb, w).to_be_bytes());
    }
    let size = u64::from(word(sb, 8)) * 1024;
    if size > at {
        return Err(corrupt(format!(
            "array data of {size} bytes runs into the superblock at byte {at}"
        )));
    }
    // `this_disk`: the descriptor at word 992 (number, major, minor, raid_disk, state).
    let (raid_disk, state) = (word(sb, 992 + 3), word(sb, 992 + 4));
    let raid_disks = word(sb, 10);
    let role = if state & DISK_FAULTY != 0 {
        Role::Faulty
    } else if state & DISK_ACTIVE != 0 && state & DISK_SYNC != 0 && raid_disk < raid_disks {
        Role::Active(raid_disk)
    } else {
        Role::Spare
    };
    Ok(Some(Superblock {
        metadata,
        level: Level(i32::from_le_bytes(word(sb, 7).to_le_bytes())),
        raid_disks,
        uuid,
        name: None,
        minor: Some(word(sb, 11)),
        events: (u64::from(word(sb, 40)) << 32) | u64::from(word(sb, 39)),
        data_offset: 0,
        data_size: size,
        role,
        recovering: false,
        reshaping: false,
    }))
}

/// `calc_sb_1_csum`: the little-endian words of the first `256 + 2 * max_dev` bytes
/// summed in 64 bits (the checksum as 0, a trailing half word added), folded.
fn checksum_v1(sb: &[u8], len: usize) -> u32 {
    let body = sb.get(..len).unwrap_or(sb);
    let mut sum: u64 = 0;
    let mut chunks = body.chunks_exact(4);
    for (i, c) in chunks.by_ref().enumerate() {
        if i != 216 / 4 {
            sum = sum.wrapping_add(u64::from(bytes::u32_le(c, 0).unwrap_or(0)));
        }
    }
    let rest = chunks.remainder();
    if rest.len() >= 2 {
        sum = sum.wrapping_add(u64::from(bytes::u16_le(rest, 0).unwrap_or(0)));
    }
    fold(sum)
}

fn parse_v1(
    sb: &[u8],
    metadata: Metadata,
    at: u64,
    member_len: u64,
) -> Result<Option<Superblock>, MdError> {
    let corrupt = |reason: String| MdError::Corrupt {
        metadata: metadata.as_str(),
        at,
        reason,
    };
    let u32f = |o: usize| bytes::u32_le(sb, o).unwrap_or(0);
    let u64f = |o: usize| bytes::u64_le(sb, o).unwrap_or(0);
    if sb.len() < V1_FIXED {
        return Err(corrupt(format!("only {} bytes", sb.len())));
    }
    if u32f(4) != 1 {
        // A 0.90 superblock seen at a 1.x place, or another major version.
        return Ok(None);
    }
    // `super_offset`: where the writer put it. A superblock that is not where it
    // says belongs to another device (the whole disk's view of a partition's).
    let super_offset = u64f(144);
    if super_offset.checked_mul(512) != Some(at) {
        return Ok(None);
    }
    let max_dev = u32f(220);
    let len = usize::try_from(max_dev)
        .ok()
        .and_then(|m| m.checked_mul(2))
        .and_then(|m| m.checked_add(V1_FIXED))
        .filter(|&l| l <= SUPERBLOCK_BYTES && l <= sb.len())
        .ok_or_else(|| corrupt(format!("max_dev {max_dev} does not fit in 4 KiB")))?;
    let stored = u32f(216);
    let computed = checksum_v1(sb, len);
    if stored != computed {
        return Err(MdError::Checksum {
            metadata: metadata.as_str(),
            at,
            stored,
            computed,
        });
    }
    let features = u32f(8);
    let sectors = |name: &str, v: u64| {
        v.checked_mul(512)
            .ok_or_else(|| corrupt(format!("{name} {v} sectors is out of range")))
    };
    let data_offset = sectors("data_offset", u64f(128))?;
    let data_size = sectors("data_size", u64f(136))?;
    let size = sectors("size", u64f(80))?;
    // `size` is what each member gives the array; `data_size` what it could give.
    let used = if size == 0 || size > data_size {
        data_size
    } else {
        size
    };
    let end = data_offset.checked_add(used);
    if end.is_none_or(|e| e > member_len) {
        return Err(corrupt(format!(
            "array data at byte {data_offset}, {used} bytes, passes the end of the {member_len}-byte member"
        )));
    }
    // The data must not overlap the superblock (1.0 keeps it after the data, 1.1 and
    // 1.2 before).
    let overlaps = data_offset < at.saturating_add(512) && end.is_some_and(|e| e > at);
    if overlaps {
        return Err(corrupt(format!(
            "array data at byte {data_offset}, {used} bytes, overlaps the superblock"
        )));
    }
    let mut uuid = [0u8; 16];
    if let Some(u) = bytes::slice(sb, 16, 16) {
        uuid.copy_from_slice(u);
    }
    let name = bytes::slice(sb, 32, 32)
        .map(|n| {
            let end = n.iter().position(|&b| b == 0).unwrap_or(n.len());
            String::from_utf8_lossy(n.get(..end).unwrap_or(n)).into_owned()
        })
        .filter(|n| !n.is_empty());
    let dev_number = u32f(160);
    let role = usize::try_from(dev_number)
        .ok()
        .filter(|_| dev_number < max_dev)
        .and_then(|d| d.checked_mul(2)?.checked_add(V1_FIXED))
        .and_then(|o| bytes::u16_le(sb, o));
    let role = match role {
        Some(r) if r < ROLE_MAX => Role::Active(u32::from(r)),
        Some(0xfffe) => Role::Faulty,
        _ => Role::Spare,
    };
    Ok(Some(Superblock {
        metadata,
        level: Level(i32::from_le_bytes(u32f(72).to_le_bytes())),
        raid_disks: u32f(92),
        uuid,
        name,
        minor: None,
        events: u64f(200),
        data_offset,
        data_size: used,
        role,
        recovering: features & FEATURE_RECOVERY_OFFSET != 0,
        reshaping: features & FEATURE_RESHAPE_ACTIVE != 0,
    }))
}

/// Looks for a superblock of every format on a member of `len` bytes, reading through
/// `read` (offset, buffer). The first valid one wins, in [`Metadata::ALL`] order; a
/// damaged one is returned as the error when no valid one is found.
pub fn probe(
    len: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> std::io::Result<Result<Option<Superblock>, MdError>> {
    let mut damaged = None;
    let mut buf = vec![0u8; SUPERBLOCK_BYTES];
    for metadata in Metadata::ALL {
        let Some(at) = metadata.offset(len) else {
            continue;
        };
        read(at, &mut buf)?;
        match parse(&buf, metadata, len) {
            Ok(Some(sb)) => return Ok(Ok(Some(sb))),
            Ok(None) => {}
            Err(e) => {
                damaged.get_or_insert(e);
            }
        }
    }
    Ok(damaged.map_or(Ok(None), Err))
}

/// How a group of members of one array was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A RAID1 array that can be read from member `read_from` (an index into the
    /// members given), with `present` of its `raid_disks` members in sync.
    Mirror {
        /// Index of the member to read.
        read_from: usize,
        /// In-sync members found.
        present: usize,
        /// Members left out, with why (index and reason).
        left_out: Vec<(usize, String)>,
    },
    /// Not read, with why.
    Refused(String),
}

/// Decides how to read one array from the superblocks of its members found (all with
/// the same UUID). Members whose event count is below the newest are stale (a member
/// that was out of the array while it was written); members that agree on the event
/// count but not on the level, member count or data size make the array ambiguous and
/// it is not read.
pub fn resolve(members: &[&Superblock]) -> Resolved {
    let Some(newest) = members.iter().map(|s| s.events).max() else {
        return Resolved::Refused("no members".into());
    };
    let mut left_out = Vec::new();
    let mut current: Vec<(usize, &Superblock)> = Vec::new();
    for (i, s) in members.iter().enumerate() {
        if s.events < newest {
            left_out.push((
                i,
                format!(
                    "stale (event count {} while another member has {newest})",
                    s.events
                ),
            ));
        } else if !s.in_sync() {
            let why = match s.role {
                Role::Spare => "a spare",
                Role::Faulty => "marked faulty",
                Role::Active(_) => "being rebuilt",
            };
            left_out.push((i, why.to_string()));
        } else {
            current.push((i, s));
        }
    }
    let Some(&(first, reference)) = current.first() else {
        return Resolved::Refused("no member is active and in sync".into());
    };
    for &(_, s) in current.iter().skip(1) {
        let disagree = if s.level != reference.level {
            Some(format!("level {} against {}", s.level, reference.level))
        } else if s.raid_disks != reference.raid_disks {
            Some(format!(
                "{} members against {}",
                s.raid_disks, reference.raid_disks
            ))
        } else if s.data_size != reference.data_size {
            Some(format!(
                "{} data bytes against {}",
                s.data_size, reference.data_size
            ))
        } else {
            None
        };
        if let Some(d) = disagree {
            return Resolved::Refused(format!(
                "members with the same event count {newest} disagree: {d}"
            ));
        }
    }
    if reference.reshaping {
        return Resolved::Refused("a reshape is in progress (not supported)".into());
    }
    if reference.level != Level(1) {
        return Resolved::Refused(format!("{} is not supported", reference.level));
    }
    Resolved::Mirror {
        read_from: first,
        present: current.len(),
        left_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(metadata: Metadata, member_len: u64) -> Vec<u8> {
        let at = metadata.offset(member_len).unwrap();
        let mut sb = vec![0u8; SUPERBLOCK_BYTES];
        let put32 =
            |sb: &mut Vec<u8>, o: usize, v: u32| sb[o..o + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |sb: &mut Vec<u8>, o: usize, v: u64| sb[o..o + 8].copy_from_slice(&v.to_le_bytes());
        put32(&mut sb, 0, MAGIC);
        put32(&mut sb, 4, 1);
        sb[16..32].copy_from_slice(&[7; 16]);
        sb[32..40].copy_from_slice(b"host:abc");
        put32(&mut sb, 72, 1);
        put64(&mut sb, 80, 2048);
        put32(&mut sb, 92, 2);
        let data_offset = if metadata == Metadata::V1_0 { 0 } else { 2048 };
        put64(&mut sb, 128, data_offset);
        put64(&mut sb, 136, 2048);
        put64(&mut sb, 144, at / 512);
        put32(&mut sb, 160, 1);
        put64(&mut sb, 200, 9);
        put32(&mut sb, 220, 2);
        sb[256..260].copy_from_slice(&[0, 0, 1, 0]);
        let csum = checksum_v1(&sb, 260);
        put32(&mut sb, 216, csum);
        sb
    }

    #[test]
    fn offsets_follow_md_p_h() {
        let len = 10 * 1024 * 1024 + 12345;
        assert_eq!(Metadata::V1_2.offset(len), Some(4096));
        assert_eq!(Metadata::V1_1.offset(len), Some(0));
        // 20504 sectors - 16 = 20488, & !7 = 20488.
        assert_eq!(Metadata::V1_0.offset(len), Some(20488 * 512));
        assert_eq!(Metadata::V0_90.offset(len), Some(10 * 1024 * 1024 - 65536));
        assert_eq!(Metadata::V0_90.offset(65536), None);
        assert_eq!(Metadata::V1_0.offset(4096), None);
    }

    #[test]
    fn a_v1_superblock_reads_back() {
        let len = 4 << 20;
        let sb = parse(&v1(Metadata::V1_2, len), Metadata::V1_2, len)
            .unwrap()
            .unwrap();
        assert_eq!(sb.level, Level(1));
        assert_eq!(sb.data_offset, 1 << 20);
        assert_eq!(sb.data_size, 1 << 20);
        assert_eq!(sb.role, Role::Active(1));
        assert_eq!(sb.device_name(), "md/abc");
        assert_eq!(sb.uuid_string(), "07070707:07070707:07070707:07070707");
        assert_eq!(
            sb.grub_names(),
            ["md/abc", "mduuid/07070707070707070707070707070707"]
        );
    }

    #[test]
    fn grub_names_cut_the_homehost_at_the_first_colon_and_name_0_90_by_minor() {
        let len = 4 << 20;
        let mut sb = parse(&v1(Metadata::V1_2, len), Metadata::V1_2, len)
            .unwrap()
            .unwrap();
        sb.name = Some("debian:0:x".into());
        assert_eq!(sb.grub_names()[0], "md/0:x");
        sb.name = None;
        sb.minor = Some(3);
        assert_eq!(sb.grub_names()[0], "md/md3");
        sb.minor = None;
        assert_eq!(sb.grub_names(), ["mduuid/07070707070707070707070707070707"]);
    }

    #[test]
    fn a_bad_checksum_is_an_error() {
        let len = 4 << 20;
        let mut sb = v1(Metadata::V1_2, len);
        sb[72] = 5;
        assert!(matches!(
            parse(&sb, Metadata::V1_2, len),
            Err(MdError::Checksum { .. })
        ));
    }

    #[test]
    fn data_past_the_member_is_an_error() {
        let len = 4 << 20;
        let mut sb = v1(Metadata::V1_2, len);
        sb[136..144].copy_from_slice(&u64::MAX.to_le_bytes());
        sb[80..88].copy_from_slice(&0u64.to_le_bytes());
        let csum = checksum_v1(&sb, 260);
        sb[216..220].copy_from_slice(&csum.to_le_bytes());
        let e = parse(&sb, Metadata::V1_2, len).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn a_superblock_not_where_it_says_is_not_this_members() {
        let len = 4 << 20;
        let sb = v1(Metadata::V1_2, len);
        assert_eq!(parse(&sb, Metadata::V1_1, len), Ok(None));
    }

    #[test]
    fn stale_and_disagreeing_members() {
        let len = 4 << 20;
        let a = parse(&v1(Metadata::V1_2, len), Metadata::V1_2, len)
            .unwrap()
            .unwrap();
        let mut b = a.clone();
        b.role = Role::Active(0);
        assert!(matches!(
            resolve(&[&a, &b]),
            Resolved::Mirror { present: 2, .. }
        ));
        b.events = 3;
        match resolve(&[&a, &b]) {
            Resolved::Mirror {
                read_from,
                present,
                left_out,
            } => {
                assert_eq!((read_from, present), (0, 1));
                assert!(left_out[0].1.contains("stale"));
            }
            r => panic!("{r:?}"),
        }
        b.events = a.events;
        b.data_size += 512;
        assert!(matches!(resolve(&[&a, &b]), Resolved::Refused(r) if r.contains("disagree")));
        let mut c = a.clone();
        c.level = Level(5);
        assert_eq!(
            resolve(&[&c]),
            Resolved::Refused("RAID5 is not supported".into())
        );
    }
}
