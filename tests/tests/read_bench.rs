//! How fast leapboot reads a big initrd, against the disk's own limit (issues 11 and
//! 12): a 64 MiB and a 256 MiB initrd on ext4, FAT, XFS, Btrfs (plain, and with
//! zstd-compressed extents) and ext4 on an LVM2 logical volume, read by leapboot's real
//! handoff code and by `dd` from the raw device in the same VM. Printed by
//! `scripts/bench`; nothing here passes or fails on a time (it fails only when the
//! guest or a read fails, or leapboot reads other bytes than the initrd's).
//!
//! How: one QEMU guest (TCG unless `LEAPBOOT_QEMU_ACCEL=kvm`) boots the Debian kernel
//! ([`leapboot_qemu::debian_kernel`]) with 2 GiB of memory and an initramfs holding
//! Debian's static `busybox`, this build's static `leapboot` and the virtio modules;
//! every filesystem is its own virtio disk, holding the real `vmlinuz`, both initrds
//! and one BLS entry per initrd. Its `/init` takes turns, run after run: for each
//! filesystem and size, first `dd bs=1M count=<size>` of the partition from its start
//! (for the LV: from its first extent, 1 MiB into the PV), then `leapboot boot
//! --dry-run --disk /dev/vdX --entry bench-<size> -v`, which reads the entry's kernel
//! and initrd the way a boot does. Both read cold: `sync` and `echo 3 >
//! /proc/sys/vm/drop_caches` before each read, and both read through the block
//! device's page cache (buffered, with the kernel's readahead; no `O_DIRECT` on
//! either side). QEMU's default `cache=writeback` serves the disks from the host's
//! page cache, the same for both.
//!
//! The times: `dd` between two lines written to `/dev/kmsg` before and after it (the
//! kernel stamps each); leapboot between its own log lines (stamped with
//! `CLOCK_BOOTTIME`, microseconds): the handoff's `kernel ... sha256` line, written
//! just before the initrd read starts, and the read's last progress line (`reading
//! initrd ...: N of N MiB (100%)`, logged for every read of 16 MiB or more), written
//! when the last chunk is in memory. That is exactly the read (file lookup, block map,
//! the data, copies into the initrd buffer) and nothing of the command around it
//! (disk scan, config parsing, hashing, checks). The `handoff: initrd ... sha256`
//! line of every run is compared with the file's hash on the host.
//!
//! Data: pseudo-random bytes (xorshift, incompressible) on every filesystem except the
//! zstd Btrfs, whose files are half-compressible (each 4 KiB block half random, half
//! zeros: zstd keeps about half of the bytes) so the decompression cost shows. That
//! Btrfs is filled through a mount with `compress=zstd` ([`Filesystem::btrfs_with`]);
//! the XFS image is made by `mkfs.xfs` and a loop mount ([`fill_xfs`] says why). Both
//! and the LV need root.
//!
//! Run: `cargo test -p leapboot-e2e --test read_bench -- --ignored --nocapture`
//! (`LEAPBOOT_BENCH_RUNS`, default 3). `LEAPBOOT_BENCH_COMPARE=<a static leapboot>`
//! adds that build's reads, run for run right after this build's in the same guest,
//! and a table of the two: an A/B of a reader change, interleaved so that host load
//! falls on both builds alike.
//! Work files and the serial log:
//! `target/e2e/read-bench/`.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, leapboot_bin};
use leapboot_initramfs::Archive;
use leapboot_qemu::disk::{LogicalVolume, VolumeGroup};
use leapboot_qemu::hostfs::{Mount, find_program, is_root};
use leapboot_qemu::{
    DiskImage, DiskSpec, Filesystem, PartType, Partition, Vm, VmConfig, default_timeout,
    qemu_or_skip,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The initrd sizes, MiB.
const SIZES_MIB: [u64; 2] = [64, 256];
/// Guest memory: the 256 MiB initrd in leapboot's buffer, its copy, and page cache.
const MEMORY_MIB: u32 = 2048;
/// Kernel modules the guest loads: the virtio disks, nothing else (leapboot reads
/// filesystems and LVM itself).
const MODULES: &[&str] = &["virtio_pci", "virtio_blk"];
/// Debian's `busybox-static`: the guest's shell, `dd` and `dmesg`.
const BUSYBOX: &str = "/usr/bin/busybox";
/// Bytes per block of half-compressible data: the first half random, the rest zeros.
const HALF_BLOCK: usize = 4096;

/// How the initrd bytes look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Data {
    /// Pseudo-random: no compressor shrinks it.
    Random,
    /// Each [`HALF_BLOCK`] half random, half zeros.
    HalfCompressible,
}

/// One filesystem under test: a disk image and where the guest reads it.
struct Case {
    /// Table name: `ext4`, `FAT`, ...
    name: &'static str,
    /// What its initrds hold.
    data: Data,
    /// The disk image on the host.
    image: PathBuf,
    /// Where `dd` starts reading the partition, MiB.
    skip_mib: u64,
}

impl Case {
    /// The case's name in the guest's lines: no blanks.
    fn tag(&self) -> String {
        self.name.replace(' ', "_")
    }
}

/// The guest's `/init`: `@MODULES@`, `@VERSION@`, `@RUNS@`, `@SIZES@` and `@CASES@`
/// (one `name:disk:skip` word per case: `dd` reads partition 1 of the disk from `skip`
/// MiB) are filled in. Every result is a serial line starting `LEAPBOOT-BENCH`.
const GUEST_SCRIPT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "LEAPBOOT-BENCH-FAILED: $*"; poweroff -f; sleep 60; }
for m in @MODULES@; do
  insmod /lib/modules/@VERSION@/$m || fail "insmod $m"
done
for c in @CASES@; do
  set -- $(echo "$c" | tr : ' ')
  i=0
  while [ ! -b /dev/${2}1 ]; do
    i=$((i + 1)); [ $i -gt 300 ] && fail "/dev/${2}1 did not appear"; sleep 0.1
  done
done
cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# lb BINARY PREFIX: one cold leapboot read of the current case ($disk, $mib, $tag).
lb() {
  cold
  /bin/$1 boot --dry-run --disk /dev/$disk --entry bench-$mib -v >/dev/null 2>/tmp/lb.log
  grep -E 'handoff: (kernel|initrd) /|handoff: kernel version|reading initrd .*\(100%\)' /tmp/lb.log | sed "s/^/LEAPBOOT-BENCH-$2 $tag /"
  grep -q "handoff: initrd /initrd-$mib " /tmp/lb.log || { tail -20 /tmp/lb.log; fail "$1 $tag"; }
}
run=1
while [ $run -le @RUNS@ ]; do
  for c in @CASES@; do
    set -- $(echo "$c" | tr : ' ')
    for mib in @SIZES@; do
      tag="$1 $mib $run"
      disk=$2
      cold
      echo "<7>LEAPBOOT-BENCH-DD-START $tag" > /dev/kmsg
      dd if=/dev/${2}1 of=/dev/null bs=1M skip=$3 count=$mib 2>/dev/null || fail "dd $tag"
      echo "<7>LEAPBOOT-BENCH-DD-END $tag" > /dev/kmsg
      lb leapboot LB
      [ -x /bin/leapboot-b ] && lb leapboot-b LBB
    done
  done
  # The marks, read and cleared each run so the kernel's ring buffer never drops one.
  dmesg -c | grep LEAPBOOT-BENCH-DD | sed 's/^/LEAPBOOT-BENCH-KMSG /'
  run=$((run + 1))
done
echo "LEAPBOOT-BENCH-DONE"
poweroff -f
sleep 60
"#;

/// Pseudo-random bytes from `seed` (xorshift64*), `len` long.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `len` bytes of `data`, from `seed`.
fn initrd_bytes(data: Data, seed: u64, len: usize) -> Vec<u8> {
    let mut out = random_bytes(seed, len);
    if data == Data::HalfCompressible {
        for block in out.chunks_mut(HALF_BLOCK) {
            let half = block.len() / 2;
            block[half..].fill(0);
        }
    }
    out
}

/// Writes the initrds of each size as `initrd-<data>-<mib>` in `dir`; their paths by size.
fn write_initrds(dir: &Path, data: Data) -> BTreeMap<u64, PathBuf> {
    SIZES_MIB
        .iter()
        .map(|&mib| {
            let path = dir.join(format!("initrd-{data:?}-{mib}"));
            let bytes = initrd_bytes(data, mib, usize::try_from(mib << 20).unwrap());
            std::fs::write(&path, bytes).unwrap();
            (mib, path)
        })
        .collect()
}

/// The BLS entry that boots `vmlinuz` with the initrd of `mib` MiB.
fn bls_entry(mib: u64) -> String {
    format!(
        "title Bench {mib} MiB\nversion 6.1.0\nlinux /vmlinuz\ninitrd /initrd-{mib}\noptions quiet\n"
    )
}

/// The files every filesystem holds, as (path inside it, host file): the kernel, each
/// initrd; the entries come from [`bls_entry`].
fn bench_files(vmlinuz: &Path, initrds: &BTreeMap<u64, PathBuf>) -> Vec<(String, PathBuf)> {
    let mut files = vec![("vmlinuz".to_string(), vmlinuz.to_path_buf())];
    files.extend(
        initrds
            .iter()
            .map(|(mib, path)| (format!("initrd-{mib}"), path.clone())),
    );
    files
}

/// `p` with [`bench_files`] and one entry per initrd.
fn with_files(mut p: Partition, files: &[(String, PathBuf)]) -> Partition {
    for (path, host) in files {
        p = p.file_from(path, host);
    }
    for mib in SIZES_MIB {
        p = p.file(&format!("loader/entries/bench-{mib}.conf"), bls_entry(mib));
    }
    p
}

/// `lv` with [`bench_files`] and one entry per initrd.
fn lv_with_files(mut lv: LogicalVolume, files: &[(String, PathBuf)]) -> LogicalVolume {
    for (path, host) in files {
        lv = lv.file_from(path, host);
    }
    for mib in SIZES_MIB {
        lv = lv.file(&format!("loader/entries/bench-{mib}.conf"), bls_entry(mib));
    }
    lv
}

/// MiB a filesystem needs for the kernel and both initrds, with room for metadata
/// (XFS keeps a 64 MiB log inside a filesystem this small).
fn fs_mib() -> u64 {
    SIZES_MIB.iter().sum::<u64>() + 128
}

/// UUID of the filesystem of case number `n`.
fn uuid(n: u32) -> String {
    format!("6c5b1b0e-1b6a-4d0e-9a51-0000000be4{n:02x}")
}

/// A case before its image is built: table name, data, partition, `dd`'s start (MiB).
type Layout = (&'static str, Data, Partition, u64);

/// What each case is: table name, what data it holds, its partition with the files,
/// and where in the partition its first file byte lies, roughly (`dd` starts there):
/// the LV's first extent is 1 MiB into its PV.
fn layouts(vmlinuz: &Path, initrds: &BTreeMap<Data, BTreeMap<u64, PathBuf>>) -> Vec<Layout> {
    let size = fs_mib();
    let random = bench_files(vmlinuz, &initrds[&Data::Random]);
    let half = bench_files(vmlinuz, &initrds[&Data::HalfCompressible]);
    let lv = LogicalVolume::new("boot", size, Filesystem::ext4("bench-lv", &uuid(5)));
    vec![
        (
            "ext4",
            Data::Random,
            with_files(Partition::linux_ext4(size, "bench", &uuid(1)), &random),
            0,
        ),
        (
            "FAT",
            Data::Random,
            with_files(Partition::esp(size), &random),
            0,
        ),
        // Filled by [`fill_xfs`] after the disk is written.
        (
            "XFS",
            Data::Random,
            Partition::raw(PartType::Linux, size),
            0,
        ),
        (
            "Btrfs",
            Data::Random,
            with_files(
                Partition::new(PartType::Linux, size, Filesystem::btrfs("bench", &uuid(3))),
                &random,
            ),
            0,
        ),
        (
            "Btrfs+zstd",
            Data::HalfCompressible,
            with_files(
                Partition::new(
                    PartType::Linux,
                    size,
                    Filesystem::btrfs_with("bench", &uuid(4), &[], None, Some("zstd")),
                ),
                &half,
            ),
            0,
        ),
        (
            "ext4 on LV",
            Data::Random,
            Partition::lvm(
                size + 8,
                VolumeGroup::new("benchvg").lv(lv_with_files(lv, &random)),
            ),
            1,
        ),
    ]
}

/// What [`fill_xfs`] needs that the host may lack.
fn xfs_requirements() -> Vec<String> {
    let mut missing = Vec::new();
    if find_program("mkfs.xfs").is_none() {
        missing.push("mkfs.xfs (package xfsprogs)".to_string());
    }
    if !is_root() {
        missing.push("root (to mount the XFS image)".to_string());
    }
    missing
}

/// Makes XFS the way an installer does and copies it into partition 1 of `image`
/// (at `offset`): `mkfs.xfs` on an empty file, mounted (loop), the files and entries
/// copied in, unmounted. Not [`Filesystem::Xfs`]: its `mkfs.xfs -p` (xfsprogs 6.1)
/// writes a 256 MiB file wrongly (the bytes differ from about 96 MiB on, and the log
/// cannot be found: "Log inconsistent", the kernel refuses to mount it).
fn fill_xfs(dir: &Path, image: &Path, offset: u64, files: &[(String, PathBuf)]) {
    let fs = dir.join("xfs.fs");
    let f = std::fs::File::create(&fs).unwrap();
    f.set_len(fs_mib() << 20).unwrap();
    drop(f);
    let status = std::process::Command::new(find_program("mkfs.xfs").unwrap())
        .args(["-q", "-f", "-L", "bench", "-m"])
        .arg(format!("uuid={}", uuid(2)))
        .arg(&fs)
        .status()
        .unwrap();
    assert!(status.success(), "mkfs.xfs {}: {status}", fs.display());
    let mount = Mount::new(&fs, &dir.join("xfs.mnt"), "loop").expect("mounting the XFS image");
    for (path, host) in files {
        std::fs::copy(host, mount.path().join(path)).unwrap();
    }
    let entries = mount.path().join("loader/entries");
    std::fs::create_dir_all(&entries).unwrap();
    for mib in SIZES_MIB {
        std::fs::write(entries.join(format!("bench-{mib}.conf")), bls_entry(mib)).unwrap();
    }
    mount.unmount().expect("unmounting the XFS image");
    let mut from = std::fs::File::open(&fs).unwrap();
    let mut to = std::fs::OpenOptions::new().write(true).open(image).unwrap();
    to.seek(SeekFrom::Start(offset)).unwrap();
    std::io::copy(&mut from, &mut to).unwrap();
    std::fs::remove_file(&fs).unwrap();
}

/// Says why `test` cannot run and passes, or with `LEAPBOOT_REQUIRE_QEMU=1` fails.
fn skip(test: &str, why: &str) {
    if std::env::var("LEAPBOOT_REQUIRE_QEMU").as_deref() == Ok("1") {
        panic!("{test}: {why} and LEAPBOOT_REQUIRE_QEMU=1; run scripts/setup");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// Builds each case's disk image in `dir`; `None` with a notice when the host cannot
/// build one (a missing tool, not root), or a panic with `LEAPBOOT_REQUIRE_QEMU=1`.
fn build_cases(
    test: &str,
    dir: &Path,
    vmlinuz: &Path,
    random: &BTreeMap<u64, PathBuf>,
    layouts: Vec<Layout>,
) -> Option<Vec<Case>> {
    let mut cases = Vec::new();
    for (name, data, p, skip_mib) in layouts {
        let disk = DiskImage::gpt(fs_mib() + 16).partition(p);
        let mut missing = disk.missing_requirements();
        if name == "XFS" {
            missing.extend(xfs_requirements());
        }
        if !missing.is_empty() {
            skip(
                test,
                &format!("the {name} image needs {}", missing.join(", ")),
            );
            return None;
        }
        let image = dir.join(format!("{}.img", name.replace([' ', '+'], "-")));
        disk.write(&image)
            .unwrap_or_else(|e| panic!("{test}: {name} image: {e}"));
        if name == "XFS" {
            let offset = disk.partition_offset(1).expect("partition 1");
            fill_xfs(dir, &image, offset, &bench_files(vmlinuz, random));
        }
        cases.push(Case {
            name,
            data,
            image,
            skip_mib,
        });
    }
    Some(cases)
}

/// The guest's initramfs: busybox, leapboot, the modules and [`GUEST_SCRIPT`].
fn guest_initramfs(s: &Scenario, cases: &[Case], runs: u32) -> Vec<u8> {
    let compare = std::env::var_os("LEAPBOOT_BENCH_COMPARE").filter(|v| !v.is_empty());
    let busybox = Path::new(BUSYBOX);
    let mut a = Archive::new();
    for d in ["dev", "proc", "sys", "tmp", "bin"] {
        a.add_dir(d, 0o755).unwrap();
    }
    a.add_char_device("dev/console", 0o600, 5, 1).unwrap();
    a.add_file("bin/busybox", 0o755, std::fs::read(busybox).unwrap())
        .unwrap();
    a.add_file(
        "bin/leapboot",
        0o755,
        std::fs::read(leapboot_bin()).unwrap(),
    )
    .unwrap();
    if let Some(other) = compare {
        let bytes = std::fs::read(&other)
            .unwrap_or_else(|e| panic!("LEAPBOOT_BENCH_COMPARE={other:?}: {e}"));
        a.add_file("bin/leapboot-b", 0o755, bytes).unwrap();
    }
    let names: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
    let order = a.add_modules(&s.kernel.modules_dir, &names).unwrap();
    let words: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}:{}:{}", c.tag(), disk_name(i), c.skip_mib))
        .collect();
    let sizes: Vec<String> = SIZES_MIB.iter().map(u64::to_string).collect();
    let script = GUEST_SCRIPT
        .replace("@MODULES@", &order.join(" "))
        .replace("@VERSION@", &s.kernel.version)
        .replace("@RUNS@", &runs.to_string())
        .replace("@SIZES@", &sizes.join(" "))
        .replace("@CASES@", &words.join(" "));
    a.add_file("init", 0o755, script.into_bytes()).unwrap();
    a.to_gzip().unwrap()
}

/// The guest's name of the `i`th virtio disk: `vda`, `vdb`, ...
fn disk_name(i: usize) -> String {
    let letter = char::from(b'a' + u8::try_from(i).unwrap());
    format!("vd{letter}")
}

/// One measured read, seconds, by (case, size, tool).
type Times = BTreeMap<(String, u64, &'static str), Vec<f64>>;

/// A `[SSSSS.UUUUUU]` stamp at the start of `line`, in seconds, and the rest.
fn stamp(line: &str) -> Option<(f64, &str)> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (secs, rest) = rest.split_once(']')?;
    Some((secs.trim().parse().ok()?, rest))
}

/// A read's tag: filesystem, size in MiB, run.
type Tag = (String, u64, u32);

/// The tag (`name size run`) at the start of `text`, and what follows it.
fn tag(text: &str) -> Option<(Tag, &str)> {
    let mut words = text.trim_start().splitn(4, ' ');
    let name = words.next()?.to_string();
    let mib = words.next()?.parse().ok()?;
    let run = words.next()?.parse().ok()?;
    Some(((name, mib, run), words.next().unwrap_or("")))
}

/// Which leapboot printed `line` (`leapboot`, or `compare` for the build named by
/// `LEAPBOOT_BENCH_COMPARE`), and the rest of the line after the prefix.
fn leapboot_line(line: &str) -> Option<(&'static str, &str)> {
    [
        ("LEAPBOOT-BENCH-LB ", "leapboot"),
        ("LEAPBOOT-BENCH-LBB ", "compare"),
    ]
    .into_iter()
    .find_map(|(prefix, tool)| line.split_once(prefix).map(|x| (tool, x.1)))
}

/// The times in the serial log: `dd` from the kernel's stamps on its start and end
/// marks (`LEAPBOOT-BENCH-KMSG [stamp] LEAPBOOT-BENCH-DD-START|END <tag>`), leapboot
/// from its `kernel` line to its last progress line (`LEAPBOOT-BENCH-LB <tag>
/// [stamp] leapboot: kexec: ...`), and `after`: from that line to the handoff's next
/// (`kernel version`): the initrd appended to the buffer handed to the kernel
/// (`Initrds::push` in `handoff/load.rs`), the command line and the pre-flight checks.
fn parse_times(log: &str) -> Times {
    let mut times = Times::new();
    let mut started: BTreeMap<(Tag, &str), f64> = BTreeMap::new();
    let mut end = |tool: &'static str, t: Tag, at: f64, start: bool| {
        if start {
            started.insert((t, tool), at);
        } else if let Some(t0) = started.remove(&(t.clone(), tool)) {
            times.entry((t.0, t.1, tool)).or_default().push(at - t0);
        }
    };
    for line in log.lines() {
        if let Some(rest) = line.split_once("LEAPBOOT-BENCH-KMSG ").map(|x| x.1) {
            let (at, mark) = stamp(rest).expect("a stamped kmsg line");
            let (start, text) = match mark.trim_start().split_once(' ') {
                Some(("LEAPBOOT-BENCH-DD-START", t)) => (true, t),
                Some(("LEAPBOOT-BENCH-DD-END", t)) => (false, t),
                _ => continue,
            };
            let (t, _) = tag(text).expect("a tagged mark");
            end("dd", t, at, start);
        } else if let Some((tool, rest)) = leapboot_line(line) {
            let (t, rest) = tag(rest).expect("a tagged leapboot line");
            let (at, text) = stamp(rest).expect("a stamped leapboot line");
            let after = if tool == "leapboot" {
                "after"
            } else {
                "after-b"
            };
            if text.contains("handoff: kernel /") {
                end(tool, t, at, true);
            } else if text.contains("(100%)") {
                end(tool, t.clone(), at, false);
                end(after, t, at, true);
            } else if text.contains("handoff: kernel version") {
                end(after, t, at, false);
            }
        }
    }
    times
}

/// The SHA-256 leapboot printed for each read initrd (`handoff: initrd <path> (...)
/// ... sha256 <hex>`), by case tag and size, one per run.
fn read_hashes(log: &str) -> BTreeMap<(String, u64), Vec<String>> {
    let mut out: BTreeMap<(String, u64), Vec<String>> = BTreeMap::new();
    for line in log.lines() {
        let Some(("leapboot", rest)) = leapboot_line(line) else {
            continue;
        };
        let Some(((name, mib, _), text)) = tag(rest) else {
            continue;
        };
        if text.contains("handoff: initrd /")
            && let Some((_, hex)) = text.rsplit_once(" sha256 ")
        {
            out.entry((name, mib))
                .or_default()
                .push(hex.trim().to_string());
        }
    }
    out
}

/// Lowercase hex SHA-256 of the file at `path`.
fn sha256_file(path: &Path) -> String {
    let digest = Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks every read returned the initrd's bytes: a benchmark of a wrong read would
/// mean nothing.
fn check_hashes(
    cases: &[Case],
    initrds: &BTreeMap<Data, BTreeMap<u64, PathBuf>>,
    log: &str,
    runs: u32,
) {
    let read = read_hashes(log);
    for c in cases {
        for mib in SIZES_MIB {
            let want = sha256_file(&initrds[&c.data][&mib]);
            let got = read.get(&(c.tag(), mib)).cloned().unwrap_or_default();
            assert_eq!(
                got,
                vec![want; usize::try_from(runs).unwrap()],
                "{} {mib} MiB: leapboot read other bytes than the initrd's",
                c.name
            );
        }
    }
}

/// min / median / max of `v`.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[0], s[s.len() / 2], s[s.len() - 1])
}

/// One table cell: `min/median/max` seconds and the median's MiB/s, or why there is
/// no time; and the (min, median).
fn cell(v: Option<&Vec<f64>>, mib: u64) -> (String, Option<(f64, f64)>) {
    match v.filter(|v| !v.is_empty()) {
        Some(v) => {
            let (lo, mid, hi) = spread(v);
            // Display only: a MiB count fits f64 exactly.
            #[allow(clippy::cast_precision_loss)]
            let rate = mib as f64 / mid;
            (
                format!("{lo:.2}/{mid:.2}/{hi:.2} {rate:>5.0} MiB/s"),
                Some((lo, mid)),
            )
        }
        None => ("no time (no progress line)".to_string(), None),
    }
}

/// The table: one row per filesystem and size, leapboot against dd, with the ratio
/// of the medians and of the minimums (the least disturbed runs).
fn table(cases: &[Case], times: &Times, runs: u32) -> Vec<String> {
    let mut out = vec![
        format!(
            "initrd read in a TCG guest, cold page cache, {runs} run(s) each: \
             seconds min/median/max, MiB/s of the median; ratio = leapboot / dd"
        ),
        format!(
            "{:<11} {:>4} {:<6} {:<30} {:<30} {:>6} {:>6}  {}",
            "filesystem",
            "MiB",
            "data",
            "dd (raw device)",
            "leapboot",
            "median",
            "min",
            "then copy+checks (median s)"
        ),
    ];
    for c in cases {
        for mib in SIZES_MIB {
            let (dd, dd_t) = cell(times.get(&(c.tag(), mib, "dd")), mib);
            let (lb, lb_t) = cell(times.get(&(c.tag(), mib, "leapboot")), mib);
            let (med, min) = match (dd_t, lb_t) {
                (Some(d), Some(l)) => (format!("{:.2}x", l.1 / d.1), format!("{:.2}x", l.0 / d.0)),
                _ => ("-".to_string(), "-".to_string()),
            };
            let data = match c.data {
                Data::Random => "random",
                Data::HalfCompressible => "half",
            };
            let after = match times.get(&(c.tag(), mib, "after")) {
                Some(v) if !v.is_empty() => format!("{:.2}", spread(v).1),
                _ => "-".to_string(),
            };
            out.push(format!(
                "{:<11} {mib:>4} {data:<6} {dd:<30} {lb:<30} {med:>6} {min:>6}  {after}",
                c.name
            ));
        }
    }
    out
}

/// With `LEAPBOOT_BENCH_COMPARE`: the other build's reads beside this one's, run for
/// run in the same guest (ratio = other / this); empty without it.
fn compare_table(cases: &[Case], times: &Times) -> Vec<String> {
    let mut out = Vec::new();
    for c in cases {
        for mib in SIZES_MIB {
            let (other, o_t) = cell(times.get(&(c.tag(), mib, "compare")), mib);
            let Some(o) = o_t else { continue };
            let (this, t_t) = cell(times.get(&(c.tag(), mib, "leapboot")), mib);
            let Some(t) = t_t else { continue };
            out.push(format!(
                "{:<11} {mib:>4} this {this:<30} other {other:<30} {:.2}x {:.2}x",
                c.name,
                o.1 / t.1,
                o.0 / t.0
            ));
        }
    }
    if !out.is_empty() {
        out.insert(
            0,
            "LEAPBOOT_BENCH_COMPARE: this build against the other, same guest; \
             ratio = other / this, of the medians and of the minimums"
                .to_string(),
        );
    }
    out
}

/// Runs of each read: `LEAPBOOT_BENCH_RUNS`, default 3.
fn runs() -> u32 {
    std::env::var("LEAPBOOT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3)
}

#[test]
#[ignore = "a benchmark: minutes under TCG; scripts/bench runs it"]
fn bench_initrd_read() {
    let test = "bench_initrd_read";
    if !qemu_or_skip(test) {
        return;
    }
    let static_busybox = Path::new(BUSYBOX).is_file()
        && leapboot_qemu::is_static_elf(Path::new(BUSYBOX)).unwrap_or(false);
    if !static_busybox {
        skip(
            test,
            &format!("no static {BUSYBOX} (package busybox-static)"),
        );
        return;
    }
    let s = Scenario::new("read-bench");
    let runs = runs();
    let initrds = [Data::Random, Data::HalfCompressible]
        .into_iter()
        .map(|d| (d, write_initrds(&s.dir, d)))
        .collect();
    let layouts = layouts(&s.kernel.vmlinuz, &initrds);
    let random = &initrds[&Data::Random];
    let Some(cases) = build_cases(test, &s.dir, &s.kernel.vmlinuz, random, layouts) else {
        return;
    };
    let initrd = s.dir.join("guest.cpio.gz");
    std::fs::write(&initrd, guest_initramfs(&s, &cases, runs)).unwrap();
    let mut config = VmConfig::new(&s.kernel.vmlinuz, &initrd)
        .append("console=ttyS0,115200 panic=-1 loglevel=3")
        .memory_mib(MEMORY_MIB)
        .serial_log(s.dir.join("serial.log"));
    for c in &cases {
        config = config.disk(DiskSpec::virtio(&c.image));
    }
    let mut vm = Vm::start(config).unwrap_or_else(|e| panic!("{test}: starting QEMU: {e}"));
    let timeout = default_timeout() * 10 * runs;
    let (which, line) = vm
        .wait_for_first(&["LEAPBOOT-BENCH-DONE", "LEAPBOOT-BENCH-FAILED"], timeout)
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    assert_eq!(which, 0, "{test}: {line}\n{}", vm.log());
    vm.wait_exit(default_timeout()).unwrap();
    let log = vm.log();
    check_hashes(&cases, &initrds, &log, runs);
    let times = parse_times(&log);
    let mut lines = table(&cases, &times, runs);
    lines.extend(compare_table(&cases, &times));
    for line in lines {
        println!("bench: {line}");
    }
}

#[test]
fn times_are_read_from_the_stamped_lines() {
    let log = "\
LEAPBOOT-BENCH-LB ext4_on_LV 64 1 [    5.500000] leapboot: kexec: handoff: kernel /vmlinuz (8 bytes) sha256 ab
LEAPBOOT-BENCH-LB ext4_on_LV 64 1 [    6.750000] leapboot: kexec: reading initrd /initrd-64: 64.0 MiB of 64.0 MiB (100%), 51.2 MiB/s
LEAPBOOT-BENCH-LB ext4_on_LV 64 1 [    6.875000] leapboot: kexec: handoff: kernel version: 6.1.0
LEAPBOOT-BENCH-LB ext4_on_LV 64 1 [    7.000000] leapboot: kexec: handoff: initrd /initrd-64 (67108864 bytes, 64.0 MiB) data sha256 cd
LEAPBOOT-BENCH-KMSG [    3.250000] LEAPBOOT-BENCH-DD-START ext4_on_LV 64 1
LEAPBOOT-BENCH-KMSG [    3.750000] LEAPBOOT-BENCH-DD-END ext4_on_LV 64 1
";
    let times = parse_times(log);
    let key = |tool| ("ext4_on_LV".to_string(), 64, tool);
    assert_eq!(times[&key("dd")], [0.5]);
    assert_eq!(times[&key("leapboot")], [1.25]);
    assert_eq!(times[&key("after")], [0.125]);
    assert_eq!(
        read_hashes(log)[&("ext4_on_LV".to_string(), 64)],
        ["cd".to_string()]
    );
}

#[test]
fn half_compressible_data_is_half_zeros() {
    let random = initrd_bytes(Data::Random, 1, 4 * HALF_BLOCK);
    let half = initrd_bytes(Data::HalfCompressible, 1, 4 * HALF_BLOCK);
    assert_eq!(half.len(), random.len());
    for (h, r) in half.chunks(HALF_BLOCK).zip(random.chunks(HALF_BLOCK)) {
        let (kept, zeroed) = h.split_at(HALF_BLOCK / 2);
        assert_eq!(kept, &r[..HALF_BLOCK / 2]);
        assert!(zeroed.iter().all(|&b| b == 0));
        assert!(r[HALF_BLOCK / 2..].iter().any(|&b| b != 0));
    }
}
