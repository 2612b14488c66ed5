//! The filesystems and volume stacks of [`DiskImage`](crate::DiskImage) that need
//! the real tools, and for some of them root: XFS, Btrfs, LVM2 and LUKS.
//!
//! - XFS: as root, `mkfs.xfs`, then the image is loop-mounted and the files copied
//!   in with `cp -a`, so the kernel writes them as on an installed system. Without
//!   root, `mkfs.xfs -p <protofile>` fills it without a mount, for small trees only:
//!   xfsprogs 6.1 writes a file whose data crosses an allocation group boundary
//!   wrongly (bytes from the boundary on differ, and the kernel then reports
//!   metadata errors), so the files may fill at most an eighth of the filesystem,
//!   half of one of the four allocation groups a small XFS has. xfsprogs refuses
//!   filesystems below 300 MiB.
//! - Btrfs: `mkfs.btrfs --rootdir` (no root) when the top level is the whole story;
//!   with subvolumes, a default subvolume or compression, the image is loop-mounted
//!   (root), the subvolumes made with `btrfs subvolume create`, the files copied with
//!   `cp -a`, and the default set with `btrfs subvolume set-default`.
//! - LVM2: the PV is a loop device (root) over the partition's image file; `pvcreate`,
//!   `vgcreate`, `lvcreate -an` lay it out (no device-mapper needed: nothing is
//!   activated), then the VG and LV UUIDs are set by editing a `vgcfgbackup` and
//!   writing it back with `vgcfgrestore`, so that configs naming them (GRUB's
//!   `lvmid/<vg-uuid>/<lv-uuid>`) can be written before the disk exists. Every LVM
//!   command sees only that loop device (a `devices/filter` in `--config`), writes no
//!   backup or archive under `/etc/lvm` and talks to no udev, so the host's LVM never
//!   learns about the VG and parallel builds of equally named VGs do not meet. Each
//!   LV's filesystem is then built like a partition's and copied to the LV's extents.
//! - LUKS: `cryptsetup luksFormat` on an image file (no root), passphrase
//!   [`LUKS_PASSPHRASE`], a cheap PBKDF2 so formatting takes milliseconds.
//!
//! Loop devices and mounts are guards ([`LoopDevice`], [`Mount`]) released on drop,
//! so a failed build leaves neither behind. Images built here are not byte-for-byte
//! reproducible (XFS and Btrfs stamp the build time and random internal UUIDs, LVM
//! its metadata's creation time), but every UUID and label a test names is fixed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::disk::VolumeGroup;
use crate::util::{display_command, io_err, run, run_unchecked, source_date_epoch};
use crate::{Error, Result};

const MIB: u64 = 1024 * 1024;
/// LVM counts metadata offsets and sizes in 512-byte sectors.
const LVM_SECTOR: u64 = 512;

/// The passphrase of every LUKS volume built here.
pub const LUKS_PASSPHRASE: &str = "leapboot";

/// The path of `program` in `PATH` or the sbin directories a non-root `PATH` lacks.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// True when running as root (the owner of `/proc/self` is the effective uid).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A command for `program`, found by [`find_program`].
fn tool(program: &str) -> Command {
    let mut cmd = Command::new(find_program(program).unwrap_or_else(|| program.into()));
    // lvm warns on stderr about every inherited descriptor (cargo's jobserver).
    cmd.env("LVM_SUPPRESS_FD_WARNINGS", "1");
    cmd
}

/// A loop device over an image file, detached when dropped.
#[derive(Debug)]
pub struct LoopDevice {
    path: PathBuf,
    attached: bool,
}

impl LoopDevice {
    /// `losetup -f --show [--sector-size N] file`: needs root.
    pub fn attach(file: &Path, sector_size: Option<u64>) -> Result<LoopDevice> {
        let mut cmd = tool("losetup");
        if let Some(size) = sector_size {
            cmd.arg("--sector-size").arg(size.to_string());
        }
        cmd.args(["-f", "--show"]).arg(file);
        let out = run(&mut cmd).map_err(|e| {
            Error::Invalid(format!(
                "{} needs a loop device (root): {e}",
                file.display()
            ))
        })?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if path.is_empty() {
            return Err(Error::Invalid(format!(
                "`{}` printed no device",
                display_command(&cmd)
            )));
        }
        Ok(LoopDevice {
            path: PathBuf::from(path),
            attached: true,
        })
    }

    /// The device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Detaches, reporting a failure (dropping detaches too, silently).
    pub fn detach(mut self) -> Result<()> {
        self.attached = false;
        run(tool("losetup").arg("-d").arg(&self.path))?;
        Ok(())
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if self.attached {
            let _ = tool("losetup").arg("-d").arg(&self.path).output();
        }
    }
}

/// A mounted filesystem, unmounted when dropped.
#[derive(Debug)]
pub struct Mount {
    dir: PathBuf,
    mounted: bool,
}

impl Mount {
    /// `mount [-o options] source dir` (creating `dir`); a regular file as `source`
    /// needs `loop` among the options. Needs root.
    pub fn new(source: &Path, dir: &Path, options: &str) -> Result<Mount> {
        std::fs::create_dir_all(dir).map_err(io_err("cannot create directory", dir))?;
        let mut cmd = tool("mount");
        if !options.is_empty() {
            cmd.arg("-o").arg(options);
        }
        run(cmd.arg(source).arg(dir))?;
        Ok(Mount {
            dir: dir.to_path_buf(),
            mounted: true,
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Unmounts, reporting a failure (dropping unmounts too, silently).
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        run(tool("umount").arg(&self.dir))?;
        Ok(())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = tool("umount").arg(&self.dir).output();
        }
    }
}

fn create_sized(path: &Path, size_mib: u64) -> Result<()> {
    let file = std::fs::File::create(path).map_err(io_err("cannot create", path))?;
    file.set_len(size_mib * MIB)
        .map_err(io_err("cannot resize", path))?;
    Ok(())
}

fn require_root(what: &str) -> Result<()> {
    if is_root() {
        Ok(())
    } else {
        Err(Error::Missing(format!(
            "{what} needs root (loop devices and mounts)"
        )))
    }
}

// ------------------------------------------------------------------------- XFS

/// An `mkfs.xfs -p` protofile (xfsprogs' `proto.c` format) for the tree under
/// `root`: a boot-image line, the root inode's owner, then one line per entry
/// (`name type-mode uid gid [source]`), directories closed by `$`.
fn xfs_protofile(root: &Path) -> Result<String> {
    fn walk(dir: &Path, depth: usize, out: &mut String) -> Result<()> {
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io_err("cannot read directory", dir))? {
            let e = e.map_err(io_err("cannot read directory", dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.chars().any(char::is_whitespace) {
                return Err(Error::Invalid(format!(
                    "XFS protofiles cannot hold names with spaces: {name:?}"
                )));
            }
            entries.push((name, e.path()));
        }
        entries.sort();
        let indent = " ".repeat(depth);
        for (name, path) in entries {
            if path.is_dir() {
                out.push_str(&format!("{indent}{name} d--755 0 0\n"));
                walk(&path, depth + 1, out)?;
                out.push_str(&format!("{indent}$\n"));
            } else {
                out.push_str(&format!("{indent}{name} ---644 0 0 {}\n", path.display()));
            }
        }
        Ok(())
    }
    let mut out = String::from("/dev/null\n0 0\nd--755 0 0\n");
    walk(root, 1, &mut out)?;
    out.push_str("$\n");
    Ok(out)
}

/// XFS with `label` and `uuid` in `out` (`size_mib` MiB) holding the tree under
/// `staged`: copied in through a loop mount as root, else written by `mkfs.xfs -p`
/// (module docs).
pub(crate) fn build_xfs(
    label: &str,
    uuid: &str,
    size_mib: u64,
    out: &Path,
    staged: &Path,
    tmp: &Path,
) -> Result<()> {
    create_sized(out, size_mib)?;
    let mut mkfs = tool("mkfs.xfs");
    mkfs.args(["-q", "-f", "-m"]).arg(format!("uuid={uuid}"));
    if !label.is_empty() {
        mkfs.arg("-L").arg(label);
    }
    if is_root() {
        run(mkfs.arg(out))?;
        let mnt = Mount::new(out, &tmp.join("xfs-mnt"), "loop")?;
        copy_tree(staged, mnt.path())?;
        return mnt.unmount();
    }
    let bytes = tree_bytes(staged)?;
    if bytes > size_mib * MIB / 8 {
        return Err(Error::Missing(format!(
            "XFS of {size_mib} MiB holding {bytes} bytes of files needs root: without a \
             mount, mkfs.xfs -p would have to write files that cross an allocation group \
             boundary, which xfsprogs 6.1 gets wrong (at most an eighth of the size)"
        )));
    }
    let proto = tmp.join(format!(
        "{}.proto",
        out.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&proto, xfs_protofile(staged)?).map_err(io_err("cannot write", &proto))?;
    run(mkfs.arg("-p").arg(&proto).arg(out))?;
    std::fs::remove_file(&proto).map_err(io_err("cannot remove", &proto))?;
    Ok(())
}

/// Copies the tree under `staged` into the mounted filesystem at `top` (`cp -a`,
/// keeping modes and times) and flushes it.
fn copy_tree(staged: &Path, top: &Path) -> Result<()> {
    let mut source = staged.as_os_str().to_owned();
    source.push("/.");
    run(tool("cp").arg("-a").arg(source).arg(top))?;
    run(tool("sync").arg("-f").arg(top))?;
    Ok(())
}

/// The total size of the regular files under `dir`.
fn tree_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir).map_err(io_err("cannot read directory", dir))? {
        let e = e.map_err(io_err("cannot read directory", dir))?;
        let meta = e.metadata().map_err(io_err("cannot stat", e.path()))?;
        total += if meta.is_dir() {
            tree_bytes(&e.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

// ----------------------------------------------------------------------- Btrfs

/// What a Btrfs filesystem holds beyond its files (see
/// [`Filesystem::Btrfs`](crate::Filesystem::Btrfs)).
pub(crate) struct BtrfsLayout<'a> {
    pub label: &'a str,
    pub uuid: &'a str,
    pub subvolumes: &'a [String],
    pub default_subvolume: Option<&'a str>,
    pub compress: Option<&'a str>,
}

impl BtrfsLayout<'_> {
    /// Whether building needs a mount (and so root): anything `--rootdir` cannot do.
    pub(crate) fn needs_mount(&self) -> bool {
        !self.subvolumes.is_empty() || self.default_subvolume.is_some() || self.compress.is_some()
    }
}

/// Btrfs in `out` (`size_mib` MiB) holding the tree under `staged` as seen from the
/// top level (module docs for how).
pub(crate) fn build_btrfs(
    layout: &BtrfsLayout<'_>,
    size_mib: u64,
    out: &Path,
    staged: &Path,
    tmp: &Path,
) -> Result<()> {
    create_sized(out, size_mib)?;
    let mut mkfs = tool("mkfs.btrfs");
    mkfs.args(["-q", "-f", "-U", layout.uuid]);
    if !layout.label.is_empty() {
        mkfs.arg("-L").arg(layout.label);
    }
    if !layout.needs_mount() {
        mkfs.arg("--rootdir").arg(staged);
        run(mkfs.arg(out))?;
        return Ok(());
    }
    require_root("Btrfs with subvolumes, a default subvolume or compression")?;
    run(mkfs.arg(out))?;
    let options = match layout.compress {
        Some(alg) => format!("loop,compress={alg}"),
        None => "loop".to_string(),
    };
    let mnt = Mount::new(out, &tmp.join("btrfs-mnt"), &options)?;
    fill_btrfs(layout, mnt.path(), staged)?;
    mnt.unmount()
}

fn fill_btrfs(layout: &BtrfsLayout<'_>, top: &Path, staged: &Path) -> Result<()> {
    let mut subvolumes: Vec<&String> = layout.subvolumes.iter().collect();
    // Parents before children.
    subvolumes.sort_by_key(|s| s.matches('/').count());
    for sv in subvolumes {
        let path = top.join(sv.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("cannot create directory", parent))?;
        }
        run(tool("btrfs").args(["-q", "subvolume", "create"]).arg(&path))?;
    }
    copy_tree(staged, top)?;
    if let Some(default) = layout.default_subvolume {
        run(tool("btrfs")
            .args(["subvolume", "set-default"])
            .arg(top.join(default.trim_start_matches('/'))))?;
    }
    Ok(())
}

// ------------------------------------------------------------------------ LUKS

/// A LUKS header of `version` (1 or 2) with `uuid` and `label` (LUKS2 only) in `out`
/// (`size_mib` MiB), by `cryptsetup luksFormat` on the file.
pub(crate) fn build_luks(
    version: u8,
    uuid: &str,
    label: &str,
    size_mib: u64,
    out: &Path,
    tmp: &Path,
) -> Result<()> {
    if version != 1 && version != 2 {
        return Err(Error::Invalid(format!(
            "LUKS version {version}: only 1 and 2 exist"
        )));
    }
    create_sized(out, size_mib)?;
    let key = tmp.join("luks.key");
    std::fs::write(&key, LUKS_PASSPHRASE).map_err(io_err("cannot write", &key))?;
    let mut cmd = tool("cryptsetup");
    cmd.arg("luksFormat")
        .arg("--type")
        .arg(format!("luks{version}"))
        .args([
            "--batch-mode",
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
        ])
        .arg("1000")
        .arg("--uuid")
        .arg(uuid)
        .arg("--key-file")
        .arg(&key);
    if !label.is_empty() {
        cmd.arg("--label").arg(label);
    }
    let result = run(cmd.arg(out));
    let _ = std::fs::remove_file(&key);
    result.map(drop)
}

// ------------------------------------------------------------------------- LVM

/// Where an LV's data lies inside the PV: byte offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LvExtent {
    pub offset: u64,
    pub len: u64,
}

/// Makes `out` (`size_mib` MiB) an LVM2 PV holding `vg` with its (linear,
/// inactive) LVs, their contents not yet written. Returns where each LV's data lies
/// in `out`, in the order of `vg.volumes`.
pub(crate) fn build_lvm(
    vg: &VolumeGroup,
    size_mib: u64,
    out: &Path,
    tmp: &Path,
) -> Result<Vec<LvExtent>> {
    require_root("an LVM2 physical volume")?;
    create_sized(out, size_mib)?;
    let dev = LoopDevice::attach(out, None)?;
    let lvm = Lvm::new(dev.path());
    let layout = lay_out_vg(&lvm, vg, tmp);
    // Should the host auto-activate the VG (udev and device-mapper), let it go again
    // before the loop device is detached; without device-mapper this only complains.
    let _ = run_unchecked(&mut lvm.command("vgchange", &["-an", &vg.name]));
    let extents = layout?;
    dev.detach()?;
    Ok(extents)
}

fn lay_out_vg(lvm: &Lvm, vg: &VolumeGroup, tmp: &Path) -> Result<Vec<LvExtent>> {
    let pv = lvm.device.to_string_lossy().into_owned();
    let name = vg.name.as_str();
    lvm.run(
        "pvcreate",
        &["--uuid", &vg.pv_uuid, "--norestorefile", "-ff", "-y", &pv],
    )?;
    lvm.run(
        "vgcreate",
        &["-s", &format!("{}m", vg.extent_mib), name, &pv],
    )?;
    for lv in &vg.volumes {
        let size = format!("{}m", lv.size_mib);
        lvm.run(
            "lvcreate",
            &[
                "--driverloaded",
                "n",
                "-an",
                "-Zn",
                "-Wn",
                "-L",
                &size,
                "-n",
                &lv.name,
                name,
                &pv,
            ],
        )?;
    }
    let backup = tmp.join(format!("{name}.vgcfg"));
    let backup_arg = backup.to_string_lossy().into_owned();
    lvm.run("vgcfgbackup", &["-f", &backup_arg, name])?;
    let text = std::fs::read_to_string(&backup).map_err(io_err("cannot read", &backup))?;
    let ids: Vec<(&str, &str)> = vg
        .volumes
        .iter()
        .map(|l| (l.name.as_str(), l.uuid.as_str()))
        .collect();
    let (edited, layout) = rewrite_vg_metadata(&text, name, &vg.uuid, &ids)?;
    std::fs::write(&backup, edited).map_err(io_err("cannot write", &backup))?;
    lvm.run("vgcfgrestore", &["-f", &backup_arg, name])?;
    check_uuids(lvm, name, &vg.uuid, &ids)?;
    vg.volumes
        .iter()
        .map(|lv| layout.extent_of(&lv.name))
        .collect::<Result<Vec<_>>>()
}

/// LVM commands confined to one device.
struct Lvm {
    device: PathBuf,
    config: String,
}

impl Lvm {
    fn new(device: &Path) -> Lvm {
        let dev = device.to_string_lossy();
        let only = format!(r#"["a|^{dev}$|", "r|.*|"]"#);
        let config = format!(
            "devices {{ filter={only} global_filter={only} use_devicesfile=0 \
             obtain_device_list_from_udev=0 }} \
             backup {{ backup=0 archive=0 }} \
             activation {{ udev_sync=0 udev_rules=0 monitoring=0 }}"
        );
        Lvm {
            device: device.to_path_buf(),
            config,
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = tool("lvm");
        cmd.arg(program)
            .arg("--config")
            .arg(&self.config)
            .args(args);
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = run(&mut self.command(program, args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The VG's geometry as its metadata states it.
#[derive(Debug, Default)]
struct VgLayout {
    /// Extent size in bytes.
    extent: u64,
    /// Where the first extent starts on the PV, in bytes.
    pe_start: u64,
    /// Each LV's first extent and extent count (one linear segment each).
    lvs: Vec<(String, u64, u64)>,
}

impl VgLayout {
    fn extent_of(&self, name: &str) -> Result<LvExtent> {
        let (_, first, count) = self
            .lvs
            .iter()
            .find(|(n, ..)| n == name)
            .ok_or_else(|| Error::Invalid(format!("LV {name} is not in the VG metadata")))?;
        Ok(LvExtent {
            offset: self.pe_start + first * self.extent,
            len: count * self.extent,
        })
    }
}

/// Rewrites a `vgcfgbackup` text: the VG's `id` becomes `vg_uuid`, each named LV's
/// `id` its UUID, and LV creation times and hosts fixed values
/// (`SOURCE_DATE_EPOCH`, `leapboot`). Returns the text and the geometry it states.
/// The text format is LVM's config syntax: `name {` opens a section, `}` closes it,
/// `key = value` lines in between; LV data lies in `segmentN` sections whose
/// `stripes = [ "pv0", <first extent> ]` list says where.
fn rewrite_vg_metadata(
    text: &str,
    vg: &str,
    vg_uuid: &str,
    lv_uuids: &[(&str, &str)],
) -> Result<(String, VgLayout)> {
    let mut out = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut layout = VgLayout::default();
    let mut segment: Option<(u64, Option<u64>)> = None; // (extent_count, first extent)
    let mut in_stripes = false;
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("").trim();
        let mut replaced = None;
        if let Some(name) = code.strip_suffix('{') {
            stack.push(name.trim().to_string());
            if stack.len() == 4 && stack[1] == "logical_volumes" {
                segment = Some((0, None));
            }
        } else if code == "}" {
            if stack.len() == 4 && stack[1] == "logical_volumes" {
                record_segment(&mut layout, &stack[2], segment.take())?;
            }
            stack.pop();
        } else if let Some((key, value)) = code.split_once('=') {
            let (key, value) = (key.trim(), value.trim());
            let path: Vec<&str> = stack.iter().map(String::as_str).collect();
            replaced = match (path.as_slice(), key) {
                ([v], "id") if *v == vg => Some(format!("\tid = \"{vg_uuid}\"")),
                ([v], "extent_size") if *v == vg => {
                    layout.extent = parse_number(value)? * LVM_SECTOR;
                    None
                }
                ([_, "physical_volumes", _], "pe_start") => {
                    layout.pe_start = parse_number(value)? * LVM_SECTOR;
                    None
                }
                ([_, "logical_volumes", lv], "id") => lv_uuids
                    .iter()
                    .find(|(n, _)| n == lv)
                    .map(|(_, uuid)| format!("\t\t\tid = \"{uuid}\"")),
                ([_, "logical_volumes", _], "creation_time") => {
                    Some(format!("\t\t\tcreation_time = {}", source_date_epoch()))
                }
                ([_, "logical_volumes", _], "creation_host") => {
                    Some("\t\t\tcreation_host = \"leapboot\"".to_string())
                }
                ([_, "logical_volumes", _], "segment_count") if value != "1" => {
                    return Err(Error::Invalid(format!(
                        "LV {} has {value} segments; only linear single-segment LVs are built",
                        stack[2]
                    )));
                }
                ([_, "logical_volumes", _, _], "extent_count") => {
                    if let Some(seg) = segment.as_mut() {
                        seg.0 = parse_number(value)?;
                    }
                    None
                }
                ([_, "logical_volumes", _, _], "stripes") => {
                    in_stripes = true;
                    None
                }
                _ => None,
            };
        } else if in_stripes {
            if code.starts_with(']') {
                in_stripes = false;
            } else if let Some((_, first)) = code.split_once(',')
                && let Some(seg) = segment.as_mut()
            {
                seg.1 = Some(parse_number(first)?);
            }
        }
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
    }
    if layout.extent == 0 || layout.pe_start == 0 {
        return Err(Error::Invalid(
            "vgcfgbackup output names no extent_size or pe_start".into(),
        ));
    }
    Ok((out, layout))
}

fn record_segment(layout: &mut VgLayout, lv: &str, seg: Option<(u64, Option<u64>)>) -> Result<()> {
    match seg {
        Some((count, Some(first))) if count > 0 => {
            layout.lvs.push((lv.to_string(), first, count));
            Ok(())
        }
        _ => Err(Error::Invalid(format!(
            "LV {lv}: no linear segment in the VG metadata"
        ))),
    }
}

fn parse_number(value: &str) -> Result<u64> {
    value
        .trim()
        .trim_end_matches(',')
        .trim()
        .parse()
        .map_err(|_| Error::Invalid(format!("LVM metadata: {value:?} is not a number")))
}

/// Checks that LVM now reports the VG and LV UUIDs that were asked for.
fn check_uuids(lvm: &Lvm, vg: &str, vg_uuid: &str, lv_uuids: &[(&str, &str)]) -> Result<()> {
    let got = lvm.run("vgs", &["--noheadings", "-o", "vg_uuid", vg])?;
    if got.trim() != vg_uuid {
        return Err(Error::Invalid(format!(
            "VG {vg}: UUID {} after vgcfgrestore, wanted {vg_uuid}",
            got.trim()
        )));
    }
    let report = lvm.run("lvs", &["--noheadings", "-o", "lv_name,lv_uuid", vg])?;
    for (name, uuid) in lv_uuids {
        let found = report.lines().any(|l| {
            let mut f = l.split_whitespace();
            f.next() == Some(name) && f.next() == Some(uuid)
        });
        if !found {
            return Err(Error::Invalid(format!(
                "LV {vg}/{name}: UUID {uuid} not reported after vgcfgrestore:\n{report}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKUP: &str = r#"contents = "Text Format Volume Group"
rhel {
	id = "5WHzES-cYFI-g67n-rkTZ-P0kR-JRyz-UIURhq"
	extent_size = 8192		# 4 Megabytes
	physical_volumes {
		pv0 {
			id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"
			pe_start = 2048
		}
	}
	logical_volumes {
		root {
			id = "LySjMs-3fFB-XV2L-OB92-G23f-jRwJ-UiMG3r"
			creation_time = 1796615867	# 2026-12-07 03:57:47 +0000
			creation_host = "vm"
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 25	# 100 Megabytes
				stripes = [
					"pv0", 0
				]
			}
		}
		swap {
			id = "kSi91m-0V3n-kRV6-OtE3-EWBC-pfc2-PBpIRZ"
			segment_count = 1
			segment1 {
				extent_count = 5
				stripes = [
					"pv0", 25
				]
			}
		}
	}
}
"#;

    #[test]
    fn vg_metadata_ids_are_rewritten_and_geometry_read() {
        let (text, layout) = rewrite_vg_metadata(
            BACKUP,
            "rhel",
            "VGVGVG-1111-2222-3333-4444-5555-666666",
            &[("root", "LVLVLV-1111-2222-3333-4444-5555-666666")],
        )
        .unwrap();
        assert!(text.contains("\tid = \"VGVGVG-1111-2222-3333-4444-5555-666666\"\n"));
        assert!(text.contains("id = \"LVLVLV-1111-2222-3333-4444-5555-666666\""));
        assert!(text.contains("id = \"aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg\""));
        assert!(text.contains("id = \"kSi91m-0V3n-kRV6-OtE3-EWBC-pfc2-PBpIRZ\""));
        assert!(text.contains("creation_host = \"leapboot\""));
        assert!(!text.contains("5WHzES"));
        assert_eq!(
            layout.extent_of("root").unwrap(),
            LvExtent {
                offset: MIB,
                len: 100 * MIB
            }
        );
        assert_eq!(
            layout.extent_of("swap").unwrap(),
            LvExtent {
                offset: MIB + 100 * MIB,
                len: 20 * MIB
            }
        );
        assert!(layout.extent_of("home").is_err());
        let two = BACKUP.replacen("segment_count = 1", "segment_count = 2", 1);
        assert!(rewrite_vg_metadata(&two, "rhel", "x", &[]).is_err());
    }

    #[test]
    fn protofile_lists_the_tree() {
        let dir = crate::util::TempDir::new_in(&std::env::temp_dir(), "proto").unwrap();
        std::fs::create_dir_all(dir.path().join("grub2")).unwrap();
        std::fs::write(dir.path().join("grub2/grub.cfg"), "x").unwrap();
        std::fs::write(dir.path().join("vmlinuz"), "k").unwrap();
        let p = xfs_protofile(dir.path()).unwrap();
        let want = format!(
            "/dev/null\n0 0\nd--755 0 0\n grub2 d--755 0 0\n  grub.cfg ---644 0 0 {0}/grub2/grub.cfg\n $\n vmlinuz ---644 0 0 {0}/vmlinuz\n$\n",
            dir.path().display()
        );
        assert_eq!(p, want);
    }
}

#[cfg(test)]
mod build_tests {
    use crate::util::TempDir;
    use crate::{DiskImage, Filesystem, LogicalVolume, PartType, Partition, VolumeGroup};
    use std::process::Command;

    const XFS_UUID: &str = "7c1c2f6e-0000-4000-8000-000000000001";
    const LV_XFS_UUID: &str = "7c1c2f6e-0000-4000-8000-000000000002";
    const BTRFS_UUID: &str = "7c1c2f6e-0000-4000-8000-000000000003";
    const LUKS_UUID: &str = "7c1c2f6e-0000-4000-8000-000000000004";

    /// True (and says so) when `missing` is not empty; fails the test instead under
    /// `LEAPBOOT_REQUIRE_QEMU=1`, as the end-to-end tests do.
    fn skipped(test: &str, missing: &[String]) -> bool {
        if missing.is_empty() {
            return false;
        }
        let why = format!("{test}: needs {}", missing.join(", "));
        assert!(
            std::env::var_os("LEAPBOOT_REQUIRE_QEMU").is_none_or(|v| v != "1"),
            "{why}"
        );
        eprintln!("SKIPPED {why}");
        true
    }

    /// `blkid -p -o export` of `len` bytes at `offset` of `image`.
    fn probe(image: &std::path::Path, offset: u64, len: u64) -> String {
        let out = Command::new(super::find_program("blkid").unwrap())
            .args(["-p", "-o", "export", "-O"])
            .arg(offset.to_string())
            .arg("-S")
            .arg(len.to_string())
            .arg(image)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A file larger than an XFS allocation group (75 MiB in 300 MiB) reads back
    /// whole through the kernel: the copy that `mkfs.xfs -p` of xfsprogs 6.1 gets
    /// wrong. Root only (the mount).
    #[test]
    fn xfs_file_across_allocation_groups_reads_back() {
        let mut data = vec![0u8; 96 << 20];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for chunk in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let image = DiskImage::superfloppy(Filesystem::xfs("big", XFS_UUID))
            .size_mib(300)
            .file("data/big.bin", data.clone());
        let mut missing = image.missing_requirements();
        if !super::is_root() {
            missing.push("root (for the mount)".into());
        }
        if skipped("xfs_file_across_allocation_groups_reads_back", &missing) {
            return;
        }
        let dir = TempDir::new_in(&std::env::temp_dir(), "hostfs-xfs-big").unwrap();
        let path = dir.path().join("xfs.img");
        image.write(&path).unwrap();
        let mnt = super::Mount::new(&path, &dir.path().join("mnt"), "loop,ro").unwrap();
        let back = std::fs::read(mnt.path().join("data/big.bin")).unwrap();
        mnt.unmount().unwrap();
        assert!(back == data, "the 96 MiB file differs after the round trip");
    }

    /// Builds that fail half-way (an LV larger than its PV; a file where a Btrfs
    /// subvolume is) report the tool's error and leave no loop device or mount
    /// behind.
    #[test]
    fn failed_builds_leave_no_loop_device_or_mount() {
        let too_big = DiskImage::gpt(0).partition(Partition::lvm(
            16,
            VolumeGroup::new("hostfs-fail-vg").lv(LogicalVolume::new("big", 64, Filesystem::Empty)),
        ));
        let clash = DiskImage::gpt(0).partition(
            Partition::new(
                PartType::Linux,
                128,
                Filesystem::btrfs_with("", BTRFS_UUID, &["@"], None, None),
            )
            .file("@", "not a directory"),
        );
        let mut missing = too_big.missing_requirements();
        missing.extend(clash.missing_requirements());
        if skipped("failed_builds_leave_no_loop_device_or_mount", &missing) {
            return;
        }
        let dir = TempDir::new_in(&std::env::temp_dir(), "hostfs-fail").unwrap();
        let lvm_err = too_big.write(&dir.path().join("lvm.img")).unwrap_err();
        assert!(lvm_err.to_string().contains("lvcreate"), "{lvm_err}");
        let btrfs_err = clash.write(&dir.path().join("btrfs.img")).unwrap_err();
        assert!(btrfs_err.to_string().contains("cp"), "{btrfs_err}");
        let ours = dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        assert!(!mounts.contains(&ours), "{mounts}");
        let loops = Command::new(super::find_program("losetup").unwrap())
            .arg("-a")
            .output()
            .unwrap();
        let loops = String::from_utf8_lossy(&loops.stdout);
        assert!(!loops.contains(&ours), "{loops}");
    }

    /// One image of each kind the real tools make, probed by `blkid` at the
    /// places the builder put them. Skips without the tools or root.
    #[test]
    fn xfs_btrfs_lvm_luks_partitions_are_what_blkid_sees() {
        let vg = VolumeGroup::new("hostfs-test-vg")
            .lv(
                LogicalVolume::new("root", 300, Filesystem::xfs("lvroot", LV_XFS_UUID))
                    .file("etc/hostname", "lv\n"),
            )
            .lv(LogicalVolume::new("swap", 8, Filesystem::Empty));
        let image = DiskImage::gpt(0)
            .partition(
                Partition::new(PartType::Linux, 300, Filesystem::xfs("boot", XFS_UUID))
                    .file("grub2/grub.cfg", "set default=0\n"),
            )
            .partition(Partition::lvm(312, vg.clone()))
            .partition(
                Partition::new(
                    PartType::Linux,
                    128,
                    Filesystem::btrfs_with(
                        "suse",
                        BTRFS_UUID,
                        &["@", "@/home"],
                        Some("@"),
                        Some("zstd"),
                    ),
                )
                .file("@/boot/grub2/grub.cfg", "set default=0\n"),
            )
            .partition(Partition::new(
                PartType::Linux,
                20,
                Filesystem::luks2(LUKS_UUID, "crypt"),
            ));
        let mut missing = image.missing_requirements();
        if super::find_program("blkid").is_none() {
            missing.push("blkid (package util-linux)".into());
        }
        if skipped(
            "xfs_btrfs_lvm_luks_partitions_are_what_blkid_sees",
            &missing,
        ) {
            return;
        }
        let dir = TempDir::new_in(&std::env::temp_dir(), "hostfs-build").unwrap();
        let path = dir.path().join("server.img");
        image.write(&path).unwrap();
        let mib = 1024 * 1024;
        let at = |n: usize| image.partition_offset(n).unwrap();
        let boot = probe(&path, at(1), 300 * mib);
        assert!(
            boot.contains("TYPE=xfs") && boot.contains(&format!("UUID={XFS_UUID}")),
            "{boot}"
        );
        let pv = probe(&path, at(2), 312 * mib);
        assert!(
            pv.contains("TYPE=LVM2_member") && pv.contains(&vg.pv_uuid),
            "{pv}"
        );
        // LVM's default: the first extent 1 MiB into the PV.
        let lv = probe(&path, at(2) + mib, 300 * mib);
        assert!(lv.contains(&format!("UUID={LV_XFS_UUID}")), "{lv}");
        let btrfs = probe(&path, at(3), 128 * mib);
        assert!(btrfs.contains(&format!("UUID={BTRFS_UUID}")), "{btrfs}");
        let luks = probe(&path, at(4), 20 * mib);
        assert!(
            luks.contains("TYPE=crypto_LUKS") && luks.contains(&format!("UUID={LUKS_UUID}")),
            "{luks}"
        );
    }
}
