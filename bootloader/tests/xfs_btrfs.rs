//! XFS and Btrfs read through leapboot's volumes (`lamxfs` and `lambutter` behind
//! `devices/volume/{xfs,btrfs,bounded}.rs`) on images the real tools made in a temp
//! dir: `mkfs.xfs -p` (a protofile: no mount) for v5 with today's defaults, v5 with
//! 64-bit extent counts and v4; `mkfs.btrfs --rootdir`; and, as root, `mount -o loop`
//! for what only the kernel writes: fragmented B-tree-format XFS files, reflinks, a
//! dirty XFS log, Btrfs subvolumes with a default that is not the top level, and
//! zstd, zlib and lzo extents. Then hostile copies edited byte by byte here (bad
//! magic, bad superblock checksum, B-tree nodes that point at themselves, absurd
//! sizes), each answered with an error in bounded time, never a panic or a hang.
//! Last, `leapboot list --disk` on a GPT disk holding one of each.
//!
//! Without the tools (xfsprogs, btrfs-progs, gdisk) or root (for `mount`) the tests
//! say so and pass; with `LEAPBOOT_REQUIRE_QEMU=1` (`scripts/test`) they fail instead.
//! `LEAPBOOT_KEEP_IMAGES=1` keeps the images in the temp dir for a look.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot::devices::disk::{self, Disk};
use leapboot::devices::volume::{self, FsType, Volume, VolumeError};
use leapboot_menus::{FileKind, FsError};
use leapboot_qemu::hostfs::{find_program as tool, is_root};
use leapboot_qemu::hostile;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
/// A kernel-sized file: 4 MiB and an odd tail.
const KERNEL_LEN: usize = 4 * 1024 * 1024 + 4097;
const XFS_UUID: &str = "0b7c1c6e-1111-4222-8333-444455556666";
const BTRFS_UUID: &str = "7d6f1c2e-aaaa-4bbb-8ccc-ddddeeeeffff";
const GRUB_CFG: &str =
    "set default=0\nmenuentry 'Linux' {\n linux /boot/vmlinuz root=/dev/sda2\n}\n";
/// Every hostile image must be answered within this.
const HOSTILE_TIME: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- environment

/// True when `tools` (and root, when `root`) are there; otherwise says why the test
/// is skipped, or fails it under `LEAPBOOT_REQUIRE_QEMU=1`.
fn have(test: &str, tools: &[&str], root: bool) -> bool {
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| tool(t).is_none())
        .map(|t| t.to_string())
        .collect();
    if root && !is_root() {
        missing.push("root (for mount -o loop)".into());
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("{test}: needs {}", missing.join(", "));
    assert!(
        std::env::var_os("LEAPBOOT_REQUIRE_QEMU").is_none_or(|v| v != "1"),
        "{why} (scripts/setup installs xfsprogs, btrfs-progs and gdisk; run as root)"
    );
    eprintln!("SKIPPED {why}");
    false
}

/// Runs a tool, failing the test with its output if it fails.
fn run(name: &str, args: &[&str]) -> String {
    let bin = tool(name).unwrap_or_else(|| PathBuf::from(name));
    let out = Command::new(&bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temp dir for one test, removed (after unmounting what it mounted) on drop.
struct Scratch {
    dir: PathBuf,
    mounts: Vec<PathBuf>,
}

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("leapboot-xfs-btrfs-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            mounts: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Mounts `img` (a loop device) on a new directory and returns it.
    fn mount(&mut self, img: &Path, opts: &str) -> PathBuf {
        let mnt = self.path(&format!("mnt{}", self.mounts.len()));
        std::fs::create_dir_all(&mnt).unwrap();
        let opts = if opts.is_empty() {
            "loop".to_string()
        } else {
            format!("loop,{opts}")
        };
        run(
            "mount",
            &["-o", &opts, img.to_str().unwrap(), mnt.to_str().unwrap()],
        );
        self.mounts.push(mnt.clone());
        mnt
    }

    fn umount(&mut self, mnt: &Path) {
        run("umount", &[mnt.to_str().unwrap()]);
        self.mounts.retain(|m| m != mnt);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for m in self.mounts.drain(..).rev() {
            let _ = Command::new(tool("umount").unwrap_or_else(|| "umount".into()))
                .arg(&m)
                .status();
        }
        if std::env::var_os("LEAPBOOT_KEEP_IMAGES").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------- the files

/// Deterministic bytes (xorshift), so a kernel-sized file compares byte for byte.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Compressible text: words from a small vocabulary with numbers.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let words = [
        "kernel", "initrd", "grub", "btrfs", "xfs", "boot", "entry", "root ",
    ];
    let mut out = Vec::with_capacity(len + 16);
    let n = noise(len / 4 + 16, seed);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(words[usize::from(n[i % n.len()]) % words.len()].as_bytes());
        out.extend_from_slice(format!(" {} ", n[(i + 1) % n.len()]).as_bytes());
        if i % 9 == 0 {
            out.push(b'\n');
        }
        i += 1;
    }
    out.truncate(len);
    out
}

fn bls(title: &str) -> String {
    format!("title {title}\nversion 6.1.0\nlinux /boot/vmlinuz-6.1.0\noptions root=UUID=x ro\n")
}

/// A boot tree in `root`: GRUB and BLS configs, a kernel-sized file, symlinks (inline,
/// long, to a directory, with `..`), and directories big enough for every XFS
/// directory format: short-form (3 names), block (60), leaf (200 long names), node
/// (600) and node in B-tree format (6000).
fn boot_tree(root: &Path, title: &str) {
    let w = |p: &str, data: &[u8]| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("boot/grub2/grub.cfg", GRUB_CFG.as_bytes());
    w("boot/loader/entries/test.conf", bls(title).as_bytes());
    w(
        "boot/loader/entries/older.conf",
        bls(&format!("{title} old")).as_bytes(),
    );
    w("boot/vmlinuz-6.1.0", &noise(KERNEL_LEN, 7));
    let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
    link("vmlinuz-6.1.0", "boot/vmlinuz");
    // Longer than an XFS inode's literal area (336 bytes): a remote symlink.
    link(
        &format!("{}vmlinuz-6.1.0", "./".repeat(200)),
        "boot/long-link",
    );
    link("/boot", "b");
    link("../grub2/grub.cfg", "boot/loader/cfg-up");
    for (dir, n, name) in [
        ("sf", 3, "f"),
        ("block", 60, "file-"),
        ("leaf", 200, "file-with-a-longer-name-"),
        ("node", 600, "file-with-a-longer-name-"),
        ("big", 6000, "file-with-a-much-longer-name-to-fill-blocks-"),
    ] {
        std::fs::create_dir_all(root.join("dirs").join(dir)).unwrap();
        for i in 0..n {
            w(&format!("dirs/{dir}/{name}{i}"), content(dir, i).as_bytes());
        }
    }
}

/// What `dirs/DIR/NAME{i}` holds: its number, except in `big`, whose 6000 files are
/// empty (mkfs.xfs -p runs out of transaction space filling them on v4 with 256-byte
/// inodes).
fn content(dir: &str, i: usize) -> String {
    if dir == "big" {
        String::new()
    } else {
        format!("{i}\n")
    }
}

/// `mkfs.xfs -p` protofile for the tree in `root` (xfsprogs' proto.c format).
fn protofile(root: &Path) -> String {
    fn walk(dir: &Path, depth: usize, out: &mut String) {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for n in names {
            let p = dir.join(&n);
            let ind = " ".repeat(depth);
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.push_str(&format!("{ind}{n} l--777 0 0 {}\n", t.display()));
            } else if md.is_dir() {
                out.push_str(&format!("{ind}{n} d--755 0 0\n"));
                walk(&p, depth + 1, out);
                out.push_str(&format!("{ind}$\n"));
            } else {
                out.push_str(&format!("{ind}{n} ---644 0 0 {}\n", p.display()));
            }
        }
    }
    let mut out = String::from("/dev/null\n0 0\nd--755 0 0\n");
    walk(root, 1, &mut out);
    out.push_str("$\n");
    out
}

/// An XFS image of the boot tree, populated by `mkfs.xfs -p` (no mount needed).
fn make_xfs(s: &Scratch, name: &str, title: &str, mkfs_args: &[&str]) -> PathBuf {
    let tree = s.path(&format!("{name}-tree"));
    boot_tree(&tree, title);
    let proto = s.path(&format!("{name}.proto"));
    std::fs::write(&proto, protofile(&tree)).unwrap();
    let img = s.path(&format!("{name}.img"));
    std::fs::File::create(&img)
        .unwrap()
        .set_len(300 * MIB)
        .unwrap();
    let mut args = vec!["-q", "-f", "-L", "XFSLABEL", "-p", proto.to_str().unwrap()];
    args.extend_from_slice(mkfs_args);
    args.push(img.to_str().unwrap());
    run("mkfs.xfs", &args);
    img
}

/// The only volume on a bare filesystem image.
fn open_image(img: &Path) -> Result<Option<Volume>, VolumeError> {
    let d = Disk::open(img, img.file_name().unwrap().to_str().unwrap()).unwrap();
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(parts.len(), 1);
    volume::open(&d, &parts[0])
}

fn volume_of(img: &Path) -> Volume {
    open_image(img).unwrap().expect("a volume")
}

/// A field of `xfs_db -r -c "path P" -c "p FIELD"`.
fn xfs_db(img: &Path, cmds: &[&str]) -> String {
    let mut args = vec!["-r"];
    for c in cmds {
        args.extend(["-c", c]);
    }
    args.push(img.to_str().unwrap());
    run("xfs_db", &args)
}

fn names(v: &Volume, dir: &str) -> Vec<String> {
    let mut n: Vec<String> =
        v.fs.read_dir(dir)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
    n.sort();
    n
}

/// Reads of the boot tree that every image must answer the same way.
fn check_boot_tree(v: &Volume, prefix: &str, title: &str) {
    let p = |s: &str| format!("{prefix}{s}");
    assert_eq!(
        v.fs.read(&p("/boot/grub2/grub.cfg"), 1 << 20).unwrap(),
        GRUB_CFG.as_bytes()
    );
    assert_eq!(
        names(v, &p("/boot/loader/entries")),
        ["older.conf", "test.conf"]
    );
    assert_eq!(
        v.fs.read(&p("/boot/loader/entries/test.conf"), 1 << 20)
            .unwrap(),
        bls(title).as_bytes()
    );
    // The kernel, byte for byte, whole and in ranges at odd offsets.
    let kernel = noise(KERNEL_LEN, 7);
    let k = p("/boot/vmlinuz-6.1.0");
    assert_eq!(v.fs.metadata(&k).unwrap().len, KERNEL_LEN as u64);
    assert!(
        v.fs.read(&k, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("limit")
    );
    assert!(v.fs.read(&k, 64 << 20).unwrap() == kernel, "kernel differs");
    for (off, len) in [
        (0, 1),
        (1, 4095),
        (4095, 2),
        (4097, 1 << 20),
        (3 * MIB + 5, 3 * MIB),
    ] {
        let got = v.fs.read_range(&k, off, len).unwrap();
        let end = (off + len).min(KERNEL_LEN as u64) as usize;
        assert!(
            got == kernel[off as usize..end],
            "read_range({off}, {len}) differs"
        );
    }
    assert!(
        v.fs.read_range(&k, KERNEL_LEN as u64 + 10, 5)
            .unwrap()
            .is_empty()
    );
    // Links: inline, remote, to a directory, with `..`; metadata follows them.
    let vmlinuz = p("/boot/vmlinuz");
    assert_eq!(v.fs.metadata(&vmlinuz).unwrap().len, KERNEL_LEN as u64);
    assert!(v.fs.read(&vmlinuz, 64 << 20).unwrap() == kernel);
    assert!(v.fs.read(&p("/boot/long-link"), 64 << 20).unwrap() == kernel);
    assert_eq!(
        v.fs.read(&p("/boot/loader/cfg-up"), 4096).unwrap(),
        GRUB_CFG.as_bytes()
    );
    let boot = v.fs.read_dir(&p("/boot")).unwrap();
    let kind = |n: &str| boot.iter().find(|e| e.name == n).unwrap().kind;
    assert_eq!(kind("vmlinuz"), FileKind::Symlink);
    assert_eq!(kind("vmlinuz-6.1.0"), FileKind::File);
    assert_eq!(kind("grub2"), FileKind::Dir);
    assert!(v.fs.is_dir(&p("/boot/grub2")));
    assert!(v.fs.read(&p("/boot/grub2"), 10).is_err());
    assert!(v.fs.read(&p("/boot/nope"), 10).unwrap_err().is_not_found());
    // Directories in every format, listed whole; a name found in each.
    for (dir, n, name) in [
        ("sf", 3, "f"),
        ("block", 60, "file-"),
        ("leaf", 200, "file-with-a-longer-name-"),
        ("node", 600, "file-with-a-longer-name-"),
        ("big", 6000, "file-with-a-much-longer-name-to-fill-blocks-"),
    ] {
        let d = p(&format!("/dirs/{dir}"));
        let got = names(v, &d);
        assert_eq!(got.len(), n, "{d}");
        let mut want: Vec<String> = (0..n).map(|i| format!("{name}{i}")).collect();
        want.sort();
        assert_eq!(got, want, "{d}");
        let last = format!("{d}/{name}{}", n - 1);
        assert_eq!(
            v.fs.read(&last, 100).unwrap(),
            content(dir, n - 1).as_bytes()
        );
    }
}

// ---------------------------------------------------------------- XFS

/// mkfs.xfs's defaults today (v5: CRC, ftype, sparse inodes, bigtime, inobtcount,
/// reflink): detection, UUID and label, configs, a kernel-sized file, links, and
/// short-form, block, leaf, node and B-tree directories.
#[test]
fn xfs_v5_reads_every_directory_format() {
    if !have(
        "xfs_v5_reads_every_directory_format",
        &["mkfs.xfs", "xfs_db"],
        false,
    ) {
        return;
    }
    let s = Scratch::new("xfs-v5");
    let img = make_xfs(
        &s,
        "v5",
        "XFS five",
        &[
            "-m",
            &format!("crc=1,bigtime=1,inobtcount=1,reflink=1,uuid={XFS_UUID}"),
            "-i",
            "sparse=1",
            "-n",
            "ftype=1",
        ],
    );
    let info = xfs_db(&img, &["info"]);
    for f in [
        "crc=1",
        "bigtime=1",
        "inobtcount=1",
        "reflink=1",
        "sparse=1",
        "ftype=1",
    ] {
        assert!(info.contains(f), "mkfs.xfs made no {f}:\n{info}");
    }
    // The directories are in the formats their names say (xfs_db: local, extents
    // with one block, extents with a leaf, extents with a free index, btree).
    let format = |p: &str| xfs_db(&img, &[&format!("path {p}"), "p core.format"]);
    assert!(format("/dirs/sf").contains("local"));
    assert!(format("/dirs/block").contains("extents"));
    let bmap = |p: &str| xfs_db(&img, &[&format!("path {p}"), "bmap"]);
    assert!(bmap("/dirs/block").lines().count() == 1);
    let leaf = bmap("/dirs/leaf");
    assert!(
        leaf.contains("offset 8388608") && !leaf.contains("offset 16777216"),
        "{leaf}"
    );
    assert!(bmap("/dirs/node").contains("offset 16777216"));
    assert!(format("/dirs/node").contains("extents"));
    assert!(format("/dirs/big").contains("btree"));
    assert!(
        format("/boot/long-link").contains("extents"),
        "a remote symlink"
    );

    let d = Disk::open(&img, "v5.img").unwrap();
    let parts = disk::partitions(&d).unwrap();
    let slice = leapboot::devices::volume::slice::Slice::new(d.clone(), 0, d.size);
    assert_eq!(volume::detect(&slice).unwrap(), Some(FsType::Xfs));
    let v = volume::open(&d, &parts[0]).unwrap().unwrap();
    assert_eq!(v.info.fs_type, "xfs");
    assert_eq!(v.info.uuid.as_deref(), Some(XFS_UUID));
    assert_eq!(v.info.label.as_deref(), Some("XFSLABEL"));
    check_boot_tree(&v, "", "XFS five");
    assert_eq!(
        v.fs.read("/b/grub2/grub.cfg", 4096).unwrap(),
        GRUB_CFG.as_bytes()
    );
}

/// 64-bit extent counts (`-i nrext64=1`: per-inode large counts) and v4 (`-m crc=0`,
/// which Linux 6.x no longer mounts).
#[test]
fn xfs_nrext64_and_v4() {
    if !have("xfs_nrext64_and_v4", &["mkfs.xfs", "xfs_db"], false) {
        return;
    }
    let s = Scratch::new("xfs-nrext64-v4");
    let img = make_xfs(&s, "n64", "XFS n64", &["-i", "nrext64=1"]);
    assert!(xfs_db(&img, &["info"]).contains("nrext64=1"));
    check_boot_tree(&volume_of(&img), "", "XFS n64");
    let img = make_xfs(&s, "v4", "XFS four", &["-m", "crc=0"]);
    assert!(xfs_db(&img, &["info"]).contains("crc=0"));
    let v = volume_of(&img);
    assert_eq!(v.info.fs_type, "xfs");
    check_boot_tree(&v, "", "XFS four");
}

/// What only the kernel writes (as root): files fragmented into B-tree format (one
/// written backwards block by block, one sparse), a reflinked copy, and a log left
/// dirty by a shutdown, whose changes are replayed in memory.
#[test]
fn xfs_btree_files_reflinks_and_a_dirty_log() {
    if !have(
        "xfs_btree_files_reflinks_and_a_dirty_log",
        &["mkfs.xfs", "xfs_db", "xfs_io", "mount", "umount"],
        true,
    ) {
        return;
    }
    let mut s = Scratch::new("xfs-kernel");
    let img = s.path("k.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(300 * MIB)
        .unwrap();
    run("mkfs.xfs", &["-q", "-f", img.to_str().unwrap()]);
    let mnt = s.mount(&img, "");
    use std::os::unix::fs::FileExt;
    let block = |i: u64| vec![(i * 7 % 251) as u8 + 1; 4096];
    let frag = std::fs::File::create(mnt.join("frag.bin")).unwrap();
    for i in (0..300u64).rev() {
        frag.write_all_at(&block(i), i * 4096).unwrap();
        frag.sync_data().unwrap();
    }
    let sparse = std::fs::File::create(mnt.join("sparse.bin")).unwrap();
    for i in 0..400u64 {
        sparse.write_all_at(&block(i), i * 8192).unwrap();
    }
    drop((frag, sparse));
    run(
        "cp",
        &[
            "--reflink=always",
            mnt.join("frag.bin").to_str().unwrap(),
            mnt.join("clone.bin").to_str().unwrap(),
        ],
    );
    let want_frag = std::fs::read(mnt.join("frag.bin")).unwrap();
    let want_sparse = std::fs::read(mnt.join("sparse.bin")).unwrap();
    s.umount(&mnt);
    let format = |p: &str| xfs_db(&img, &[&format!("path {p}"), "p core.format"]);
    assert!(format("/frag.bin").contains("btree"));
    assert!(format("/sparse.bin").contains("btree"));
    let v = volume_of(&img);
    assert!(v.fs.read("/frag.bin", 64 << 20).unwrap() == want_frag);
    assert!(v.fs.read("/clone.bin", 64 << 20).unwrap() == want_frag);
    assert!(v.fs.read("/sparse.bin", 64 << 20).unwrap() == want_sparse);
    let r = v.fs.read_range("/sparse.bin", 8191, 8194).unwrap();
    assert!(r == want_sparse[8191..8191 + 8194]);
    drop(v);

    // A power cut: entries written after the last checkpoint live only in the log.
    let mnt = s.mount(&img, "");
    std::fs::create_dir_all(mnt.join("boot/loader/entries")).unwrap();
    let f = std::fs::File::create(mnt.join("boot/loader/entries/crash.conf")).unwrap();
    use std::io::Write;
    (&f).write_all(bls("After crash").as_bytes()).unwrap();
    f.sync_all().unwrap(); // data and log written, metadata not yet in place
    drop(f);
    run(
        "xfs_io",
        &["-x", "-c", "shutdown -f", mnt.to_str().unwrap()],
    );
    s.umount(&mnt);
    let raw = Command::new(tool("xfs_db").unwrap())
        .args(["-r", "-c", "path /boot", img.to_str().unwrap()])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&raw.stdout),
        String::from_utf8_lossy(&raw.stderr)
    );
    assert!(
        said.contains("No such file"),
        "xfs_db (no replay) should not see /boot yet: {said}"
    );
    let v = volume_of(&img);
    assert_eq!(
        v.fs.read("/boot/loader/entries/crash.conf", 4096).unwrap(),
        bls("After crash").as_bytes()
    );
}

/// XFS hostile copies: no magic (not an XFS volume), a broken superblock CRC, a
/// directory's B-tree block pointing at itself, a directory extent repeating one block
/// two million times, an absurd file size. Each is an error in bounded time, and the
/// rest of the volume still reads.
#[test]
fn xfs_hostile_images_fail_cleanly() {
    if !have(
        "xfs_hostile_images_fail_cleanly",
        &["mkfs.xfs", "xfs_db"],
        false,
    ) {
        return;
    }
    let s = Scratch::new("xfs-hostile");
    let good = make_xfs(&s, "good", "XFS", &[]);
    let copy = |name: &str| {
        let p = s.path(name);
        std::fs::copy(&good, &p).unwrap();
        p
    };
    let img = copy("magic.img");
    hostile::write_at(&img, 0, b"XXXX").unwrap();
    assert!(open_image(&img).unwrap().is_none(), "no magic, no XFS");

    let img = copy("crc.img");
    hostile::xfs_break_superblock_crc(&img).unwrap();
    let e = open_image(&img).unwrap_err().to_string();
    assert!(e.contains("corrupt xfs") && e.contains("checksum"), "{e}");

    // The B-tree-format directory's block-map leaf becomes a level-1 node whose
    // pointers all point at itself (its CRC made valid again).
    let img = copy("bmbt-loop.img");
    hostile::xfs_bmbt_self_loop(&img, "/dirs/big").unwrap();
    let v = volume_of(&img);
    let t = Instant::now();
    let e = v.fs.read_dir("/dirs/big").unwrap_err();
    assert!(t.elapsed() < HOSTILE_TIME, "took {:?}", t.elapsed());
    // lamxfs would queue the node's 251 pointers 65,536 times; the read budget ends it.
    assert!(e.to_string().contains("gave up after reading"), "{e}");
    assert!(
        v.fs.read(
            "/dirs/big/file-with-a-much-longer-name-to-fill-blocks-7",
            10
        )
        .is_err()
    );
    assert_eq!(
        v.fs.read("/boot/grub2/grub.cfg", 4096).unwrap(),
        GRUB_CFG.as_bytes()
    );

    // A block directory whose one extent claims 2^21 - 1 blocks.
    let img = copy("dir-extent.img");
    hostile::xfs_set_inode_field(&img, "/dirs/block", "u3.bmx[0].blockcount", 2097151).unwrap();
    let v = volume_of(&img);
    let t = Instant::now();
    let r = v.fs.read_dir("/dirs/block");
    assert!(t.elapsed() < HOSTILE_TIME, "took {:?}", t.elapsed());
    assert!(matches!(r, Err(FsError::Corrupt { .. })), "{r:?}");
    assert!(v.fs.read("/boot/grub2/grub.cfg", 4096).is_ok());

    // A kernel that claims 2^62 bytes: refused before any allocation.
    let img = copy("size.img");
    hostile::xfs_set_inode_field(&img, "/boot/vmlinuz-6.1.0", "core.size", 1 << 62).unwrap();
    assert_huge_kernel_refused(&volume_of(&img));
}

/// `/boot/vmlinuz` claims 2^62 bytes: its size is shown, a whole read is refused
/// before any allocation, a range past the end is an error, and its first bytes still
/// read.
fn assert_huge_kernel_refused(v: &Volume) {
    assert_eq!(v.fs.metadata("/boot/vmlinuz").unwrap().len, 1 << 62);
    let e = v.fs.read("/boot/vmlinuz", 512 << 20).unwrap_err();
    assert!(matches!(e, FsError::TooLarge { .. }), "{e}");
    assert!(v.fs.read_range("/boot/vmlinuz", 0, u64::MAX).is_err());
    assert!(v.fs.read_range("/boot/vmlinuz", 0, 16).unwrap() == noise(16, 7));
}

// ---------------------------------------------------------------- Btrfs

/// Btrfs as openSUSE lays it out (as root): subvolume `@` as the default, holding
/// `/boot`; a nested subvolume; another at the top level; files compressed with zstd,
/// zlib and lzo (regular and inline extents); inline small files. The volume shows
/// the top level (`/@/boot/grub2/grub.cfg`) and, for paths missing there, the default
/// subvolume (`/boot/grub2/grub.cfg`).
#[test]
fn btrfs_subvolumes_compression_and_inline_files() {
    if !have(
        "btrfs_subvolumes_compression_and_inline_files",
        &["mkfs.btrfs", "btrfs", "mount", "umount", "cp"],
        true,
    ) {
        return;
    }
    let mut s = Scratch::new("btrfs-suse");
    let tree = s.path("tree");
    boot_tree(&tree, "openSUSE-like");
    let img = s.path("b.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(300 * MIB)
        .unwrap();
    run(
        "mkfs.btrfs",
        &[
            "-q",
            "-f",
            "-L",
            "BTRLABEL",
            "-U",
            BTRFS_UUID,
            img.to_str().unwrap(),
        ],
    );
    let mnt = s.mount(&img, "");
    let m = |p: &str| mnt.join(p).to_str().unwrap().to_string();
    run("btrfs", &["-q", "subvolume", "create", &m("@")]);
    run("btrfs", &["-q", "subvolume", "create", &m("other")]);
    std::fs::write(mnt.join("top.txt"), "top\n").unwrap();
    std::fs::write(mnt.join("other/o.txt"), "other\n").unwrap();
    run("cp", &["-a", &format!("{}/.", tree.display()), &m("@")]);
    run("btrfs", &["-q", "subvolume", "create", &m("@/var")]);
    std::fs::write(mnt.join("@/var/nested.txt"), "nested\n").unwrap();
    let big = text(3 * MIB as usize + 333, 1);
    let small = text(1000, 2);
    for c in ["zstd", "zlib", "lzo"] {
        std::fs::create_dir(mnt.join(format!("@/{c}"))).unwrap();
        run(
            "btrfs",
            &["property", "set", &m(&format!("@/{c}")), "compression", c],
        );
        std::fs::write(mnt.join(format!("@/{c}/big.txt")), &big).unwrap();
        std::fs::write(mnt.join(format!("@/{c}/small.txt")), &small).unwrap();
    }
    std::fs::write(mnt.join("@/tiny.txt"), "tiny inline file\n").unwrap();
    run("sync", &[]);
    run("btrfs", &["subvolume", "set-default", &m("@")]);
    s.umount(&mnt);

    // The image holds what the test is about: compressed regular and inline extents
    // of each kind, uncompressed inline extents, and `@` as the default.
    let dump = run(
        "btrfs",
        &[
            "inspect-internal",
            "dump-tree",
            "-t",
            "256",
            img.to_str().unwrap(),
        ],
    );
    for c in ["1 (zlib)", "2 (lzo)", "3 (zstd)"] {
        assert!(
            dump.contains(&format!("extent compression {c}")),
            "no {c} extents"
        );
    }
    assert!(dump.contains("compression 3 (zstd)") && dump.contains("inline extent data size"));
    let sv = run(
        "btrfs",
        &[
            "inspect-internal",
            "dump-tree",
            "-t",
            "1",
            img.to_str().unwrap(),
        ],
    );
    assert!(sv.contains("DIR_ITEM"), "{sv}");

    let v = volume_of(&img);
    assert_eq!(v.info.fs_type, "btrfs");
    assert_eq!(v.info.uuid.as_deref(), Some(BTRFS_UUID));
    assert_eq!(v.info.label.as_deref(), Some("BTRLABEL"));
    // The top level, subvolumes as directories.
    assert_eq!(names(&v, "/"), ["@", "other", "top.txt"]);
    assert!(
        v.fs.read_dir("/")
            .unwrap()
            .iter()
            .all(|e| e.name == "top.txt" || e.kind == FileKind::Dir)
    );
    check_boot_tree(&v, "/@", "openSUSE-like");
    assert_eq!(v.fs.read("/@/var/nested.txt", 100).unwrap(), b"nested\n");
    assert_eq!(v.fs.read("/other/o.txt", 100).unwrap(), b"other\n");
    // Paths missing at the top level are looked up in the default subvolume.
    assert_eq!(
        v.fs.read("/boot/grub2/grub.cfg", 4096).unwrap(),
        GRUB_CFG.as_bytes()
    );
    assert_eq!(
        names(&v, "/boot/loader/entries"),
        ["older.conf", "test.conf"]
    );
    assert_eq!(v.fs.read("/var/nested.txt", 100).unwrap(), b"nested\n");
    assert_eq!(
        v.fs.read("/b/grub2/grub.cfg", 4096).unwrap(),
        GRUB_CFG.as_bytes()
    );
    assert!(v.fs.is_file("/boot/vmlinuz"));
    // Compressed, whole and across 128 KiB compressed extents.
    for c in ["zstd", "zlib", "lzo"] {
        let f = format!("/@/{c}/big.txt");
        assert!(v.fs.read(&f, 64 << 20).unwrap() == big, "{c}");
        assert!(
            v.fs.read(&format!("/@/{c}/small.txt"), 4096).unwrap() == small,
            "{c} inline"
        );
        for (off, len) in [(131071, 3), (12345, 300000), (big.len() as u64 - 10, 100)] {
            let got = v.fs.read_range(&f, off, len).unwrap();
            let end = (off + len).min(big.len() as u64) as usize;
            assert!(
                got == big[off as usize..end],
                "{c} read_range({off}, {len})"
            );
        }
    }
    assert_eq!(v.fs.read("/tiny.txt", 100).unwrap(), b"tiny inline file\n");
}

/// A Btrfs image `mkfs.btrfs --rootdir` made (no mount): the default subvolume is the
/// top level.
fn make_btrfs(s: &Scratch, name: &str, title: &str) -> PathBuf {
    let tree = s.path(&format!("{name}-tree"));
    boot_tree(&tree, title);
    let img = s.path(&format!("{name}.img"));
    std::fs::File::create(&img)
        .unwrap()
        .set_len(128 * MIB)
        .unwrap();
    run(
        "mkfs.btrfs",
        &[
            "-q",
            "-f",
            "-L",
            "BTRLABEL",
            "-U",
            BTRFS_UUID,
            "--rootdir",
            tree.to_str().unwrap(),
            img.to_str().unwrap(),
        ],
    );
    img
}

/// `--rootdir` images: the whole boot tree at the top level.
#[test]
fn btrfs_rootdir_image_reads() {
    if !have("btrfs_rootdir_image_reads", &["mkfs.btrfs"], false) {
        return;
    }
    let s = Scratch::new("btrfs-rootdir");
    let v = volume_of(&make_btrfs(&s, "r", "Btrfs rootdir"));
    assert_eq!(
        (v.info.fs_type.as_str(), v.info.uuid.as_deref()),
        ("btrfs", Some(BTRFS_UUID))
    );
    check_boot_tree(&v, "", "Btrfs rootdir");
}

const BTRFS_SB: [u64; 2] = hostile::BTRFS_SUPERBLOCKS;

/// Btrfs hostile copies: no magic; bad superblock checksums (all copies, or only the
/// primary, which is read from the backup as GRUB does); a valid superblock whose
/// system chunk array claims more than it holds (that made `lambutter` index past its
/// array); every file-tree block an interior node pointing at itself; inodes that
/// claim 2^62 bytes.
#[test]
fn btrfs_hostile_images_fail_cleanly() {
    if !have("btrfs_hostile_images_fail_cleanly", &["mkfs.btrfs"], false) {
        return;
    }
    let s = Scratch::new("btrfs-hostile");
    let good = make_btrfs(&s, "good", "Btrfs");
    let original = std::fs::read(&good).unwrap();
    let variant = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut img = original.clone();
        edit(&mut img);
        let p = s.path(name);
        std::fs::write(&p, img).unwrap();
        p
    };
    let sb_edit = |img: &mut Vec<u8>, copies: &[u64], f: &dyn Fn(&mut [u8])| {
        for &at in copies {
            let sb = &mut img[at as usize..at as usize + 4096];
            f(sb);
        }
    };

    let p = variant("magic", &|img| {
        sb_edit(img, &BTRFS_SB, &|sb| {
            sb[0x40..0x48].copy_from_slice(b"XXXXXXXX")
        })
    });
    assert!(open_image(&p).unwrap().is_none());

    let p = variant("crc-all", &|img| {
        hostile::btrfs_break_superblock_csum(img, &BTRFS_SB)
    });
    let e = open_image(&p).unwrap_err().to_string();
    assert!(e.contains("corrupt btrfs") && e.contains("checksum"), "{e}");

    let p = variant("crc-primary", &|img| {
        hostile::btrfs_break_superblock_csum(img, &BTRFS_SB[..1])
    });
    let v = volume_of(&p);
    assert_eq!(
        v.info.label.as_deref(),
        Some("BTRLABEL"),
        "the backup copy's label"
    );
    assert_eq!(
        v.fs.read("/boot/grub2/grub.cfg", 4096).unwrap(),
        GRUB_CFG.as_bytes()
    );

    // The system chunk array filled with copies of its one item (at other logical
    // addresses) and its size set past the 2048 bytes it holds.
    let p = variant("sys-chunk-array", &|img| {
        sb_edit(img, &BTRFS_SB, &|sb| {
            let used = u32::from_le_bytes(sb[0xa0..0xa4].try_into().unwrap()) as usize;
            let item = sb[0x32b..0x32b + used].to_vec();
            let mut arr = item.clone();
            let mut i = 1u64;
            while arr.len() < 2048 {
                let mut it = item.clone();
                it[9..17].copy_from_slice(&(i << 40).to_le_bytes());
                arr.extend_from_slice(&it);
                i += 1;
            }
            sb[0x32b..0x32b + 2048].copy_from_slice(&arr[..2048]);
            sb[0xa0..0xa4].copy_from_slice(&4096u32.to_le_bytes());
            hostile::btrfs_fix_csum(sb);
        })
    });
    let e = open_image(&p).unwrap_err().to_string();
    assert!(e.contains("system chunk array"), "{e}");

    // Every block of the top-level file tree: an interior node whose one pointer is
    // itself, checksums valid.
    let p = variant("fs-tree-loop", &|img| {
        assert!(
            hostile::btrfs_fs_tree_self_loop(img) > 0,
            "no file-tree blocks found"
        );
    });
    let t = Instant::now();
    match open_image(&p) {
        Err(e) => assert!(e.to_string().contains("corrupt btrfs"), "{e}"),
        Ok(v) => {
            let v = v.unwrap();
            assert!(matches!(v.fs.read_dir("/"), Err(FsError::Corrupt { .. })));
            assert!(v.fs.read("/boot/grub2/grub.cfg", 4096).is_err());
        }
    }
    assert!(t.elapsed() < HOSTILE_TIME, "took {:?}", t.elapsed());

    // Every regular file's inode claims 2^62 bytes.
    let p = variant("sizes", &|img| hostile::btrfs_huge_file_sizes(img));
    let v = volume_of(&p);
    assert_huge_kernel_refused(&v);
}

// ---------------------------------------------------------------- the host command

/// `leapboot list --disk` on a GPT disk whose partitions hold an XFS and a Btrfs
/// filesystem (made separately and copied in at the partition offsets): a BLS entry
/// from each.
#[test]
fn list_reads_xfs_and_btrfs_partitions() {
    if !have(
        "list_reads_xfs_and_btrfs_partitions",
        &["mkfs.xfs", "mkfs.btrfs", "sgdisk", "dd"],
        false,
    ) {
        return;
    }
    let s = Scratch::new("list");
    let xfs = make_xfs(&s, "x", "RHEL-like", &["-m", &format!("uuid={XFS_UUID}")]);
    let btrfs = make_btrfs(&s, "b", "SUSE-like");
    let disk = s.path("disk.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(440 * MIB)
        .unwrap();
    run(
        "sgdisk",
        &[
            "-n",
            "1:1M:+300M",
            "-t",
            "1:8300",
            "-n",
            "2:0:+128M",
            "-t",
            "2:8300",
            disk.to_str().unwrap(),
        ],
    );
    let d = Disk::open(&disk, "disk.img").unwrap();
    let parts = disk::partitions(&d).unwrap();
    assert_eq!(parts.len(), 2);
    for (fs, part) in [(&xfs, &parts[0]), (&btrfs, &parts[1])] {
        run(
            "dd",
            &[
                &format!("if={}", fs.display()),
                &format!("of={}", disk.display()),
                "bs=1M",
                &format!("seek={}", part.offset / MIB),
                "conv=notrunc,sparse",
                "status=none",
            ],
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .args(["list", "-v", "--disk"])
        .arg(&disk)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for want in [
        "RHEL-like [test]",
        "SUSE-like [test]",
        &format!("xfs UUID={XFS_UUID}"),
        &format!("btrfs UUID={BTRFS_UUID}"),
    ] {
        assert!(
            stdout.contains(want) || stderr.contains(want),
            "no {want:?}:\n{stdout}\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------- fuzz seeds

/// An image as the `xfs` and `btrfs` fuzz targets read it (`fuzz/fuzz_targets/
/// sparse_image.rs`): `LBSPARSE`, then `[u32 block][u16 length][bytes]` records of
/// the non-zero 4 KiB blocks.
fn sparse_seed(img: &Path) -> Vec<u8> {
    let data = std::fs::read(img).unwrap();
    let mut out = b"LBSPARSE".to_vec();
    let blocks: Vec<usize> = (0..data.len() / 4096)
        .filter(|b| data[b * 4096..(b + 1) * 4096].iter().any(|&x| x != 0))
        .collect();
    let mut i = 0;
    while i < blocks.len() {
        let mut n = 1;
        while i + n < blocks.len() && blocks[i + n] == blocks[i] + n && n < 15 {
            n += 1;
        }
        out.extend_from_slice(&(blocks[i] as u32).to_le_bytes());
        out.extend_from_slice(&((n * 4096) as u16).to_le_bytes());
        out.extend_from_slice(&data[blocks[i] * 4096..(blocks[i] + n) * 4096]);
        i += n;
    }
    out
}

/// With `LEAPBOOT_FUZZ_SEEDS=DIR`, writes seeds for the fuzz targets: `DIR/xfs/` (v5,
/// v5 with nrext64, v4) and `DIR/btrfs/` (`--rootdir` with 4 KiB and 16 KiB nodes);
/// each a small boot tree, under 1 MiB in the sparse form. Without it, does nothing.
#[test]
fn write_fuzz_seeds() {
    let Some(out) = std::env::var_os("LEAPBOOT_FUZZ_SEEDS").map(PathBuf::from) else {
        return;
    };
    let s = Scratch::new("seeds");
    let tree = s.path("tree");
    let w = |p: &str, data: &[u8]| {
        let p = tree.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("boot/grub2/grub.cfg", GRUB_CFG.as_bytes());
    w("boot/loader/entries/test.conf", bls("Seed").as_bytes());
    w("boot/vmlinuz-6.1.0", &noise(70_000, 3));
    std::os::unix::fs::symlink("vmlinuz-6.1.0", tree.join("boot/vmlinuz")).unwrap();
    std::os::unix::fs::symlink(
        format!("{}vmlinuz-6.1.0", "./".repeat(200)),
        tree.join("boot/long"),
    )
    .unwrap();
    for (dir, n) in [("sf", 3), ("block", 40), ("node", 300)] {
        for i in 0..n {
            w(&format!("dirs/{dir}/a-longer-file-name-{i}"), b"");
        }
    }
    let proto = s.path("proto");
    std::fs::write(&proto, protofile(&tree)).unwrap();
    let mut seeds: Vec<(&str, String, PathBuf)> = Vec::new();
    if tool("mkfs.xfs").is_some() {
        for (name, args) in [
            ("v5", vec![]),
            ("nrext64", vec!["-i", "nrext64=1"]),
            ("v4", vec!["-m", "crc=0"]),
        ] {
            let img = s.path(&format!("{name}.img"));
            std::fs::File::create(&img)
                .unwrap()
                .set_len(300 * MIB)
                .unwrap();
            let mut a = vec!["-q", "-f", "-p", proto.to_str().unwrap()];
            a.extend(args);
            a.push(img.to_str().unwrap());
            run("mkfs.xfs", &a);
            seeds.push(("xfs", name.to_string(), img));
        }
    }
    if tool("mkfs.btrfs").is_some() {
        for (name, args) in [
            ("n4k", vec!["-n", "4096", "-m", "single"]),
            ("n16k", vec!["-m", "single"]),
        ] {
            let img = s.path(&format!("{name}.img"));
            std::fs::File::create(&img)
                .unwrap()
                .set_len(128 * MIB)
                .unwrap();
            let mut a = vec!["-q", "-f", "--rootdir", tree.to_str().unwrap()];
            a.extend(args);
            a.push(img.to_str().unwrap());
            run("mkfs.btrfs", &a);
            seeds.push(("btrfs", name.to_string(), img));
        }
    }
    for (fs, name, img) in seeds {
        let seed = sparse_seed(&img);
        assert!(seed.len() < 1 << 20, "{fs} {name}: {} bytes", seed.len());
        std::fs::create_dir_all(out.join(fs)).unwrap();
        std::fs::write(out.join(fs).join(format!("{name}.seed")), seed).unwrap();
    }
}
