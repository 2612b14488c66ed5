//! Boot counting's rename (`volume::counting`) on real FAT images made by mkfs.vfat
//! and filled by mtools; checked afterwards with `mdir`, `mtype` and `fsck.fat -n`, and
//! by comparing the image byte for byte with its copy from before the rename: only the
//! 512-byte blocks the rename reports may differ, and they hold directory slots.
//! (dosfstools, mtools, e2fsprogs, util-linux' sfdisk; `scripts/test` installs them.)

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot::devices::scan;
use leapboot::devices::volume::Volume;
use leapboot::writes::counting::{self, CountError, Method, Renamed};
use leapboot_menus::FsError;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1024 * 1024;
const BLOCK: usize = 512;

/// A fresh directory for one test, removed when the test passes (kept for a look when
/// it fails).
struct TmpDir(PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn tmpdir(test: &str) -> TmpDir {
    let dir = std::env::temp_dir().join(format!("leapboot-counting-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TmpDir(dir)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mtools(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("MTOOLS_SKIP_CHECK", "1").env("MTOOLSRC", "/dev/null");
    c
}

/// A FAT filesystem image of `mib` MiB (`bits`: 12, 16 or 32; `args`: more mkfs flags).
fn mkfat(path: &Path, mib: u64, bits: u8, args: &[&str]) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(mib * MIB).unwrap();
    drop(f);
    run(Command::new("mkfs.vfat")
        .args(["--invariant", "-F", &bits.to_string()])
        .args(args)
        .arg(path));
}

/// Creates `/loader/entries` and writes `files` (path, contents) with mcopy.
fn fill(img: &Path, files: &[(&str, &[u8])]) {
    let staging = img.with_extension("src");
    let mut dirs: Vec<String> = Vec::new();
    for (path, _) in files {
        let mut d = String::new();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for p in &parts[..parts.len() - 1] {
            d.push('/');
            d.push_str(p);
            if !dirs.contains(&d) {
                dirs.push(d.clone());
            }
        }
    }
    for d in &dirs {
        // Directories made by an earlier fill stay.
        let exists = mtools("mdir")
            .arg("-i")
            .arg(img)
            .arg(format!("::{d}"))
            .output()
            .is_ok_and(|o| o.status.success());
        if !exists {
            run(mtools("mmd").arg("-i").arg(img).arg(format!("::{d}")));
        }
    }
    for (path, data) in files {
        std::fs::write(&staging, data).unwrap();
        run(mtools("mcopy")
            .arg("-i")
            .arg(img)
            .arg(&staging)
            .arg(format!("::{path}")));
    }
    let _ = std::fs::remove_file(&staging);
}

/// `mdir -b` of a directory: the long names.
fn names(img: &Path, dir: &str) -> Vec<String> {
    let out = run(mtools("mdir")
        .arg("-b")
        .arg("-i")
        .arg(img)
        .arg(format!("::{dir}")));
    out.lines()
        .filter_map(|l| l.rsplit('/').next().map(str::to_string))
        .collect()
}

/// `mtype`: a file's contents.
fn contents(img: &Path, path: &str) -> Vec<u8> {
    let out = mtools("mtype")
        .arg("-i")
        .arg(img)
        .arg(format!("::{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "mtype {path}");
    out.stdout
}

/// `fsck.fat -n` finds nothing to fix.
fn fsck_clean(img: &Path) {
    let out = Command::new("fsck.fat")
        .arg("-n")
        .arg(img)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "fsck.fat -n: {text}");
    // A clean run prints the version line and the summary line only.
    assert_eq!(text.lines().count(), 2, "fsck.fat -n: {text}");
}

/// The only volume on an image (superfloppy or partitioned).
fn volume(img: &Path) -> Volume {
    let mut v = scan::disk_volumes(img, "img");
    assert_eq!(v.len(), 1, "volumes on {}", img.display());
    v.remove(0)
}

/// Disk offsets of the 512-byte blocks that differ.
fn changed_blocks(before: &[u8], after: &[u8]) -> Vec<u64> {
    assert_eq!(before.len(), after.len());
    before
        .chunks(BLOCK)
        .zip(after.chunks(BLOCK))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| (i * BLOCK) as u64)
        .collect()
}

/// Renames on the whole-image filesystem and checks what changed.
fn rename_img(img: &Path, old: &str, new: &str) -> Renamed {
    let len = std::fs::metadata(img).unwrap().len();
    let before = std::fs::read(img).unwrap();
    let r = counting::rename_at(img, "img", 0, len, old, new)
        .unwrap_or_else(|e| panic!("rename {old} -> {new}: {e}"));
    let after = std::fs::read(img).unwrap();
    let changed = changed_blocks(&before, &after);
    assert!(!changed.is_empty(), "nothing changed");
    for b in &changed {
        assert!(
            r.blocks.contains(b),
            "block {b} changed but was not reported"
        );
    }
    r
}

/// Checks a finished rename with the reference tools: the new name is there with the
/// old contents, the old name is gone, and fsck finds nothing.
fn check_renamed(img: &Path, old: &str, new: &str, data: &[u8]) {
    let (dir, old_name) = old.rsplit_once('/').unwrap();
    let new_name = new.rsplit_once('/').unwrap().1;
    let listed = names(img, if dir.is_empty() { "/" } else { dir });
    assert!(
        listed.iter().any(|n| n == new_name),
        "{new_name} missing: {listed:?}"
    );
    assert!(
        !listed.iter().any(|n| n == old_name),
        "{old_name} still there: {listed:?}"
    );
    assert_eq!(contents(img, new), data);
    fsck_clean(img);
    // leapboot's own reader agrees.
    let v = volume(img);
    assert_eq!(v.fs.read(new, 1 << 20).unwrap(), data);
    assert!(v.fs.read(old, 1 << 20).unwrap_err().is_not_found());
}

const ENTRY: &[u8] = b"title X\nlinux /vmlinuz\noptions quiet\n";

/// The usual rename, `x+1.conf` to `x+0-1.conf`: the same single long-name slot,
/// rewritten in place with one 512-byte write, on FAT12, FAT16 and FAT32.
#[test]
fn same_slot_count_is_rewritten_in_place() {
    let dir = tmpdir("in-place");
    for (bits, mib) in [(12u8, 8u64), (16, 24), (32, 40)] {
        let img = dir.join(format!("fat{bits}.img"));
        mkfat(&img, mib, bits, &[]);
        fill(
            &img,
            &[
                ("/vmlinuz", &[0x4d; 70_000]),
                ("/loader/loader.conf", b"default x*\n"),
                ("/loader/entries/y.conf", b"title Y\nlinux /vmlinuz\n"),
                ("/loader/entries/x+1.conf", ENTRY),
            ],
        );
        let r = rename_img(
            &img,
            "/loader/entries/x+1.conf",
            "/loader/entries/x+0-1.conf",
        );
        assert_eq!(r.method, Method::InPlace, "FAT{bits}");
        assert_eq!(r.blocks.len(), 1, "FAT{bits}: one write");
        check_renamed(
            &img,
            "/loader/entries/x+1.conf",
            "/loader/entries/x+0-1.conf",
            ENTRY,
        );
        // And once more: +0-1 to +0-2 (no tries left, still counted), also in place.
        let r = rename_img(
            &img,
            "/loader/entries/x+0-1.conf",
            "/loader/entries/x+0-2.conf",
        );
        assert_eq!(r.method, Method::InPlace);
        check_renamed(
            &img,
            "/loader/entries/x+0-1.conf",
            "/loader/entries/x+0-2.conf",
            ENTRY,
        );
    }
}

/// `rename(&Volume, ..)`, the call the boot path makes, on an ESP that is partition 1
/// of an MBR disk (so the partition offset is honoured); names are matched without
/// regard to case, as FAT does.
#[test]
fn rename_through_the_volume_on_a_partition() {
    let dir = tmpdir("partition");
    let fs = dir.join("esp.img");
    mkfat(&fs, 16, 16, &[]);
    fill(&fs, &[("/loader/entries/Fedora+3.conf", ENTRY)]);
    let disk = dir.join("disk.img");
    let f = std::fs::File::create(&disk).unwrap();
    f.set_len(18 * MIB).unwrap();
    drop(f);
    let mut sfdisk = Command::new("sfdisk");
    sfdisk
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(&disk)
        .stdin(std::process::Stdio::piped());
    let mut child = sfdisk.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"label: dos\nstart=2048, size=32768, type=ef\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let mut image = std::fs::read(&disk).unwrap();
    let esp = std::fs::read(&fs).unwrap();
    image[MIB as usize..MIB as usize + esp.len()].copy_from_slice(&esp);
    std::fs::write(&disk, &image).unwrap();

    let vol = volume(&disk);
    assert_eq!(vol.location.as_ref().unwrap().partition.offset, MIB);
    counting::rename(
        &vol,
        "/LOADER/entries/fedora+3.conf",
        "/loader/entries/Fedora+2-1.conf",
    )
    .unwrap();
    let after = std::fs::read(&disk).unwrap();
    let changed = changed_blocks(&image, &after);
    assert_eq!(changed.len(), 1, "one block written: {changed:?}");
    assert!(changed[0] >= MIB, "the write is inside the partition");
    let esp_after = &after[MIB as usize..MIB as usize + esp.len()];
    std::fs::write(&fs, esp_after).unwrap();
    check_renamed(
        &fs,
        "/loader/entries/Fedora+3.conf",
        "/loader/entries/Fedora+2-1.conf",
        ENTRY,
    );
}

/// `abcdef+1.conf` (13 units, one slot) to `abcdef+0-1.conf` (15 units, two slots):
/// the new slots are written first, then the old ones deleted.
#[test]
fn slot_count_change_copies_then_deletes() {
    let dir = tmpdir("copy");
    for (bits, mib) in [(12u8, 8u64), (16, 24), (32, 40)] {
        let img = dir.join(format!("fat{bits}.img"));
        mkfat(&img, mib, bits, &[]);
        fill(
            &img,
            &[
                ("/loader/entries/abcdef+1.conf", ENTRY),
                ("/loader/entries/other.conf", b"title O\n"),
            ],
        );
        let r = rename_img(
            &img,
            "/loader/entries/abcdef+1.conf",
            "/loader/entries/abcdef+0-1.conf",
        );
        assert_eq!(r.method, Method::CopyThenDelete, "FAT{bits}");
        check_renamed(
            &img,
            "/loader/entries/abcdef+1.conf",
            "/loader/entries/abcdef+0-1.conf",
            ENTRY,
        );
        // The freed slots are reused by the next rename that needs new slots.
        let r = rename_img(
            &img,
            "/loader/entries/abcdef+0-1.conf",
            "/loader/entries/abcdef+0-10.conf",
        );
        assert_eq!(r.method, Method::InPlace);
        check_renamed(
            &img,
            "/loader/entries/abcdef+0-1.conf",
            "/loader/entries/abcdef+0-10.conf",
            ENTRY,
        );
    }
}

/// A name that needs fewer slots is still rewritten in one write (the leading old slot
/// is marked deleted), and so is one that needs more when the slot before the old set
/// is a deleted one.
#[test]
fn fewer_or_more_slots_in_place_when_one_block_holds_them() {
    let dir = tmpdir("in-place-resize");
    let img = dir.join("fat16.img");
    mkfat(&img, 24, 16, &[]);
    // 14 units (2 slots) to 13 (1 slot).
    fill(&img, &[("/loader/entries/abcd+10-3.conf", ENTRY)]);
    let r = rename_img(
        &img,
        "/loader/entries/abcd+10-3.conf",
        "/loader/entries/abcd+9-4.conf",
    );
    assert_eq!((r.method, r.blocks.len()), (Method::InPlace, 1));
    check_renamed(
        &img,
        "/loader/entries/abcd+10-3.conf",
        "/loader/entries/abcd+9-4.conf",
        ENTRY,
    );
    // 13 units (1 slot) to 15 (2 slots), with a deleted slot just before.
    fill(
        &img,
        &[("/grow/DEL.TXT", b"d"), ("/grow/abcdef+1.conf", b"second")],
    );
    run(mtools("mdel").arg("-i").arg(&img).arg("::/grow/DEL.TXT"));
    let r = rename_img(&img, "/grow/abcdef+1.conf", "/grow/abcdef+0-1.conf");
    assert_eq!((r.method, r.blocks.len()), (Method::InPlace, 1));
    check_renamed(
        &img,
        "/grow/abcdef+1.conf",
        "/grow/abcdef+0-1.conf",
        b"second",
    );
}

/// Names that need several long-name slots: 4 slots to 4 slots in place, 3 to 4 by
/// copy-then-delete.
#[test]
fn names_with_several_slots() {
    let dir = tmpdir("several");
    let img = dir.join("fat16.img");
    mkfat(&img, 24, 16, &[]);
    let four = "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+2-1.conf"; // 40 units
    let three = "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+3.conf"; // 38 units
    fill(
        &img,
        &[
            (four, ENTRY),
            ("/loader/entries/spacer.conf", b"x"),
            (three, b"three"),
        ],
    );
    let r = rename_img(
        &img,
        four,
        "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+1-2.conf",
    );
    assert_eq!(r.method, Method::InPlace);
    assert_eq!(r.blocks.len(), 1);
    check_renamed(
        &img,
        four,
        "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+1-2.conf",
        ENTRY,
    );
    let r = rename_img(
        &img,
        three,
        "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+2-1.conf",
    );
    assert_eq!(r.method, Method::CopyThenDelete);
    check_renamed(
        &img,
        three,
        "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+2-1.conf",
        b"three",
    );
}

/// The same slot count, but the slots straddle two 512-byte blocks: two writes would not
/// be atomic, so the rename copies then deletes.
#[test]
fn slots_across_a_block_boundary_are_not_rewritten_in_place() {
    let dir = tmpdir("straddle");
    let img = dir.join("fat16.img");
    mkfat(&img, 24, 16, &[]);
    // `.` and `..`, then 12 short-name-only files fill slots 0..=13; the counted name's
    // four long-name slots take 14..=17 and cross the block boundary at slot 16.
    let shorts: Vec<String> = (0..12)
        .map(|i| format!("/loader/entries/A{i:02}.TXT"))
        .collect();
    let mut files: Vec<(&str, &[u8])> = shorts
        .iter()
        .map(|s| (s.as_str(), b"s".as_slice()))
        .collect();
    let name = "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+2-1.conf";
    files.push((name, ENTRY));
    fill(&img, &files);
    let r = rename_img(
        &img,
        name,
        "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+1-2.conf",
    );
    assert_eq!(r.method, Method::CopyThenDelete);
    check_renamed(
        &img,
        name,
        "/loader/entries/fedora-40-6.8.9-300.fc40.x86_64+1-2.conf",
        ENTRY,
    );
}

/// An ext4 volume is never written: the error says only FAT volumes are.
#[test]
fn ext4_is_refused() {
    let dir = tmpdir("ext4");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("loader/entries")).unwrap();
    std::fs::write(tree.join("loader/entries/x+1.conf"), ENTRY).unwrap();
    let img = dir.join("ext4.img");
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("8M"));
    let before = std::fs::read(&img).unwrap();
    let vol = volume(&img);
    let err = counting::rename(
        &vol,
        "/loader/entries/x+1.conf",
        "/loader/entries/x+0-1.conf",
    )
    .unwrap_err();
    assert!(matches!(err, FsError::Unsupported { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("only FAT volumes"), "{msg}");
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "ext4 image was written"
    );
}

/// Offsets in a FAT16 image: the first FAT, and the first cluster of `/loader/entries`.
struct Layout {
    fat: usize,
    entries_cluster: u16,
    loader_slot: usize,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Finds the FAT and the entries directory by hand (FAT16, 8.3 names `LOADER` and
/// `ENTRIES`), for the corruption tests.
fn layout(img: &[u8]) -> Layout {
    let bps = le16(img, 11) as usize;
    let spc = img[13] as usize;
    let rsvd = le16(img, 14) as usize;
    let nfats = img[16] as usize;
    let root_entries = le16(img, 17) as usize;
    let fat_sectors = le16(img, 22) as usize;
    let root = (rsvd + nfats * fat_sectors) * bps;
    let data = root + root_entries * 32;
    let find = |at: usize, len: usize, name: &[u8; 11]| {
        (0..len / 32)
            .map(|i| at + i * 32)
            .find(|&s| &img[s..s + 11] == name)
            .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(name)))
    };
    let loader_slot = find(root, root_entries * 32, b"LOADER     ");
    let loader = le16(img, loader_slot + 26) as usize;
    let entries_slot = find(data + (loader - 2) * spc * bps, spc * bps, b"ENTRIES    ");
    Layout {
        fat: rsvd * bps,
        entries_cluster: le16(img, entries_slot + 26),
        loader_slot,
    }
}

/// A change to a good image.
type Corruption = Box<dyn Fn(&mut Vec<u8>)>;

/// Damaged directory structures give a `Corrupt` error, never a panic, and nothing is
/// written.
#[test]
fn corrupt_directory_chain_is_an_error() {
    let dir = tmpdir("corrupt");
    let clean = dir.join("clean.img");
    mkfat(&clean, 24, 16, &[]);
    fill(&clean, &[("/loader/entries/x+1.conf", ENTRY)]);
    let good = std::fs::read(&clean).unwrap();
    let l = layout(&good);
    let c = l.entries_cluster as usize;
    let cases: Vec<(&str, Corruption, &str)> = vec![
        (
            "loop",
            Box::new(move |img| {
                img[l.fat + 2 * c..l.fat + 2 * c + 2].copy_from_slice(&(c as u16).to_le_bytes())
            }),
            "loops back to cluster",
        ),
        (
            "free",
            Box::new(move |img| img[l.fat + 2 * c..l.fat + 2 * c + 2].copy_from_slice(&[0, 0])),
            "free, bad or out of range",
        ),
        (
            "bad-cluster",
            Box::new(move |img| {
                img[l.fat + 2 * c..l.fat + 2 * c + 2].copy_from_slice(&0xFFF7u16.to_le_bytes())
            }),
            "free, bad or out of range",
        ),
        (
            "dir-outside",
            Box::new(move |img| {
                let s = l.loader_slot + 26;
                img[s..s + 2].copy_from_slice(&0xFFF0u16.to_le_bytes())
            }),
            "outside 2..=",
        ),
        (
            "bpb",
            Box::new(|img| img[11..13].copy_from_slice(&[0, 0])),
            "bytes per sector is 0",
        ),
        (
            "truncated",
            Box::new(|img| img.truncate(img.len() / 2)),
            "claims",
        ),
    ];
    for (name, corrupt, want) in cases {
        let img = dir.join(format!("{name}.img"));
        let mut bytes = good.clone();
        corrupt(&mut bytes);
        std::fs::write(&img, &bytes).unwrap();
        let len = bytes.len() as u64;
        let err = counting::rename_at(
            &img,
            "img",
            0,
            len,
            "/loader/entries/x+1.conf",
            "/loader/entries/x+0-1.conf",
        )
        .unwrap_err();
        assert!(matches!(err, CountError::Corrupt { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(want), "{name}: {err}");
        assert_eq!(std::fs::read(&img).unwrap(), bytes, "{name}: image written");
        // As the boot path sees it.
        let fs_err = FsError::from(err);
        assert!(matches!(fs_err, FsError::Corrupt { .. }), "{name}");
    }
}

/// Refusals leave the image as it was: a missing file, a name already taken, a rename
/// into another directory, a directory without free slots.
#[test]
fn refusals_write_nothing() {
    let dir = tmpdir("refusals");
    let img = dir.join("fat12.img");
    mkfat(&img, 2, 12, &["-r", "16"]);
    // The root holds 16 slots: the counted file (2 slots) and 13 short-only files
    // leave one free, too few for a 3-slot copy.
    let shorts: Vec<String> = (0..13).map(|i| format!("/B{i:02}.TXT")).collect();
    let mut files: Vec<(&str, &[u8])> = vec![("/abcdef+1.conf", ENTRY)];
    files.extend(shorts.iter().map(|s| (s.as_str(), b"s".as_slice())));
    fill(&img, &files);
    fill(
        &img,
        &[
            ("/loader/entries/x+1.conf", ENTRY),
            ("/loader/entries/x+0-1.conf", ENTRY),
        ],
    );
    let before = std::fs::read(&img).unwrap();
    let len = before.len() as u64;
    let try_rename = |old: &str, new: &str| {
        let e = counting::rename_at(&img, "img", 0, len, old, new).unwrap_err();
        assert_eq!(
            std::fs::read(&img).unwrap(),
            before,
            "{old} -> {new}: image written"
        );
        e
    };
    let e = try_rename("/loader/entries/y+1.conf", "/loader/entries/y+0-1.conf");
    assert!(matches!(e, CountError::NotFound { .. }), "{e:?}");
    let e = try_rename("/nodir/y+1.conf", "/nodir/y+0-1.conf");
    assert!(matches!(e, CountError::NotFound { .. }), "{e:?}");
    let e = try_rename("/loader/entries/x+1.conf", "/loader/entries/X+0-1.CONF");
    assert!(matches!(e, CountError::Exists { .. }), "{e:?}");
    let e = try_rename("/loader/entries/x+1.conf", "/loader/x+0-1.conf");
    assert!(matches!(e, CountError::BadName { .. }), "{e:?}");
    let e = try_rename("/loader/entries/x+1.conf", "/loader/entries/x:1.conf");
    assert!(matches!(e, CountError::BadName { .. }), "{e:?}");
    let e = try_rename("/abcdef+1.conf", "/abcdef+0-1.conf");
    assert!(
        matches!(e, CountError::DirectoryFull { needed: 3, .. }),
        "{e:?}"
    );
    let fs_err = FsError::from(e);
    assert!(fs_err.to_string().contains("free slots"), "{fs_err}");
    fsck_clean(&img);
}

/// The power cut the copy-then-delete rename cannot exclude: after the new slots were
/// written and before the old ones were deleted. Rebuilt here by un-deleting the old
/// slots of a finished rename. Both names are on the disk and share one cluster chain;
/// the menu lists one entry, the renamed one, with a warning; the next rename works.
#[test]
fn interrupted_copy_then_delete_leaves_one_entry() {
    let dir = tmpdir("interrupted");
    let img = dir.join("fat16.img");
    mkfat(&img, 24, 16, &[]);
    fill(&img, &[("/loader/entries/abcdef+1.conf", ENTRY)]);
    let before = std::fs::read(&img).unwrap();
    let r = rename_img(
        &img,
        "/loader/entries/abcdef+1.conf",
        "/loader/entries/abcdef+0-1.conf",
    );
    assert_eq!(r.method, Method::CopyThenDelete);
    let mut crashed = std::fs::read(&img).unwrap();
    let mut undeleted = 0;
    for i in (0..crashed.len()).step_by(32) {
        if crashed[i] == 0xE5 && before[i] != 0xE5 && before[i] != 0 {
            crashed[i] = before[i];
            undeleted += 1;
        }
    }
    assert_eq!(undeleted, 2, "one long-name slot and the short slot");
    std::fs::write(&img, &crashed).unwrap();

    let listed = names(&img, "/loader/entries");
    assert!(listed.iter().any(|n| n == "abcdef+1.conf"), "{listed:?}");
    assert!(listed.iter().any(|n| n == "abcdef+0-1.conf"), "{listed:?}");
    let vols = scan::disk_volumes(&img, "img");
    let (scans, menu) = scan::entries(&vols, None);
    let files: Vec<&str> = menu
        .entries
        .iter()
        .map(|e| e.bls.as_ref().unwrap().file_name.as_str())
        .collect();
    assert_eq!(files, ["abcdef+0-1.conf"]);
    assert!(
        scans[0]
            .diagnostics
            .iter()
            .any(|d| d.file == "/loader/entries/abcdef+1.conf"),
        "{:?}",
        scans[0].diagnostics
    );
    // The next boot renames the entry the menu shows.
    let r = rename_img(
        &img,
        "/loader/entries/abcdef+0-1.conf",
        "/loader/entries/abcdef+0-2.conf",
    );
    assert_eq!(r.method, Method::InPlace);
    let listed = names(&img, "/loader/entries");
    assert!(listed.iter().any(|n| n == "abcdef+0-2.conf"), "{listed:?}");
}
