//! The entry model shared by every source, the menu, the handoff and `list --json`
//! (CONVENTIONS.md, "Entries").

use serde::Serialize;

/// What a volume is to the boot process, from its partition type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeRole {
    /// EFI System Partition (GPT c12a7328-f81f-11d2-ba4b-00a0c93ec93b, MBR 0xEF).
    Esp,
    /// Extended Boot Loader Partition (GPT bc13c2ff-59e6-4262-a352-b275fd6f7172, MBR 0xEA).
    Xbootldr,
    /// Any other partition, or a whole disk holding a filesystem, or a host directory.
    Other,
}

/// A volume as the sources see it: identity and role, no device handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeInfo {
    /// Filesystem UUID as GRUB and blkid print it (ext4: `8-4-4-4-12` lowercase;
    /// FAT: `XXXX-XXXX` uppercase).
    pub uuid: Option<String>,
    /// Filesystem label.
    pub label: Option<String>,
    /// Device name for display (`vda2`) or the host path for `--root`.
    pub device: String,
    /// Filesystem type name (`ext4`, `vfat`, `dir`).
    pub fs_type: String,
    /// Role from the partition type.
    pub role: VolumeRole,
}

impl VolumeInfo {
    /// The reference an entry keeps to the volume its kernel lives on.
    pub fn to_ref(&self) -> VolumeRef {
        VolumeRef {
            uuid: self.uuid.clone(),
            label: self.label.clone(),
            device: self.device.clone(),
        }
    }
}

/// Which volume an entry's files live on: by filesystem UUID, with device name for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeRef {
    /// Filesystem UUID.
    pub uuid: Option<String>,
    /// Filesystem label.
    pub label: Option<String>,
    /// Device name for display.
    pub device: String,
}

/// Where an entry was defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// Config file path within the volume it was read from.
    pub file: String,
    /// 1-based line of the definition (the first line for a BLS entry file).
    pub line: u32,
}

/// Which kind of source produced an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Boot Loader Specification Type #1 entry file.
    Bls,
    /// GRUB `menuentry`.
    Grub,
    /// Boot Loader Specification Type #2 unified kernel image.
    Uki,
}

impl EntryKind {
    /// Lowercase name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Bls => "bls",
            EntryKind::Grub => "grub",
            EntryKind::Uki => "uki",
        }
    }
}

/// Data the Boot Loader Specification orders entries by (spec, "Sorting").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlsMeta {
    /// `sort-key`.
    pub sort_key: Option<String>,
    /// `machine-id`.
    pub machine_id: Option<String>,
    /// Boot counter: tries left, from the `+LEFT[-DONE]` file-name suffix.
    pub tries_left: Option<u32>,
    /// Boot counter: tries done.
    pub tries_done: Option<u32>,
    /// File name of the entry as found (with counter), for the rename.
    pub file_name: String,
    /// The id systemd-boot matches `default` patterns against and sorts by: the file
    /// name without the boot counter, with its `.conf`/`.efi` suffix, lowercased
    /// (`boot_entry_add_type1`/`boot_entry_add_type2` in systemd's `src/boot/boot.c`).
    pub sd_id: String,
}

/// One section's bytes within a unified kernel image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionRange {
    /// Offset from the start of the file.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// Where the sections a kexec boot needs lie in a unified kernel image file (a Type #2
/// image, or the program of a Type #1 `uki`/`efi` entry); the boot path reads them as
/// byte ranges of [`Entry::kernel`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UkiSections {
    /// `.linux`: the kernel image.
    pub linux: Option<SectionRange>,
    /// `.initrd`: the initrd.
    pub initrd: Option<SectionRange>,
    /// `.cmdline`: the kernel command line (already in [`Entry::cmdline`], cleaned up).
    pub cmdline: Option<SectionRange>,
    /// `.osrel`: the OS's os-release.
    pub osrel: Option<SectionRange>,
    /// `.uname`: the kernel's `uname -r`.
    pub uname: Option<SectionRange>,
}

/// One bootable (or listed-but-unbootable) kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Stable id: BLS file name without `.conf` and counter; GRUB `--id` or the
    /// title path joined with `>`.
    pub id: String,
    /// Title shown in the menu.
    pub title: String,
    /// Version, when the source gives one.
    pub version: Option<String>,
    /// Which source produced the entry.
    pub kind: EntryKind,
    /// Volume the kernel, initrds and devicetree live on.
    pub volume: VolumeRef,
    /// Kernel path, absolute within `volume`.
    pub kernel: String,
    /// Initrd paths in load order, absolute within `volume`.
    pub initrds: Vec<String>,
    /// Kernel command line.
    pub cmdline: String,
    /// Devicetree path, absolute within `volume` (not used on x86, kept for display).
    pub devicetree: Option<String>,
    /// Where the entry was defined.
    pub source: Source,
    /// GRUB only: titles from the top menu joined with `>`.
    pub path: Option<String>,
    /// Why the entry cannot be booted (missing kernel, other architecture), or `None`.
    pub problem: Option<String>,
    /// BLS ordering data, for BLS entries.
    #[serde(skip)]
    pub bls: Option<BlsMeta>,
    /// For a unified kernel image (Type #2, or a Type #1 `uki`/`efi` key naming one): where
    /// its `.linux`, `.initrd` and `.cmdline` sections lie inside the file `kernel`, so the
    /// boot path can read those byte ranges and hand them to kexec.
    #[serde(skip)]
    pub uki: Option<UkiSections>,
}

impl Entry {
    /// True when nothing is known to stop this entry from booting.
    pub fn bootable(&self) -> bool {
        self.problem.is_none()
    }

    /// True when two entries describe the same boot (CONVENTIONS.md: "Two configs that
    /// describe the same kernel, initrds and command line on the same volume are one entry").
    pub fn same_boot(&self, other: &Entry) -> bool {
        self.volume.uuid == other.volume.uuid
            && self.volume.device == other.volume.device
            && self.kernel == other.kernel
            && self.initrds == other.initrds
            && self.cmdline == other.cmdline
    }
}
