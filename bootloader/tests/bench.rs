//! Benchmarks that print numbers (run by `scripts/bench`; ignored by `cargo test`):
//! what panic containment costs on the path that does not panic, and how long a scan
//! of a real FAT volume with BLS entries takes.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot::devices::disk::{self, Disk};
use leapboot::devices::volume;
use leapboot_menus::{Menu, VolumeView, scan_all};
use std::process::Command;
use std::time::{Duration, Instant};

fn esp_image() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("leapboot-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("loader/entries")).unwrap();
    for i in 0..20 {
        std::fs::write(
            dir.join(format!("loader/entries/entry-{i}.conf")),
            format!("title Entry {i}\nversion 6.1.{i}\nlinux /vmlinuz\ninitrd /initrd\noptions root=/dev/vda2 ro\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("vmlinuz"), vec![0u8; 4096]).unwrap();
    std::fs::write(dir.join("initrd"), vec![0u8; 4096]).unwrap();
    let img = dir.join("esp.img");
    let _ = std::fs::remove_file(&img);
    let ok = Command::new("mkfs.vfat")
        .args(["-F", "32", "-C"])
        .arg(&img)
        .arg("40000")
        .output()
        .unwrap();
    assert!(ok.status.success());
    for item in ["loader", "vmlinuz", "initrd"] {
        let ok = Command::new("mcopy")
            .arg("-s")
            .arg("-i")
            .arg(&img)
            .arg(dir.join(item))
            .arg("::/")
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }
    img
}

fn per_run(n: u32, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

#[test]
#[ignore = "benchmark: run with scripts/bench"]
fn bench_scan_and_containment() {
    let img = esp_image();
    let d = Disk::open(&img, "esp.img").unwrap();
    let parts = disk::partitions(&d).unwrap();
    let open = per_run(200, || {
        std::hint::black_box(volume::open(&d, &parts[0]).unwrap());
    });
    let vols: Vec<_> = parts
        .iter()
        .filter_map(|p| volume::open(&d, p).ok().flatten())
        .collect();
    let views: Vec<VolumeView<'_>> = vols
        .iter()
        .map(|v| VolumeView {
            info: &v.info,
            fs: v.fs.as_ref(),
        })
        .collect();
    let n = 500;
    for round in 1..=3 {
        let direct = per_run(n, || {
            std::hint::black_box(Menu::assemble(&scan_all(&views), None));
        });
        let contained = per_run(n, || {
            std::hint::black_box(
                leapboot::devices::scan::contain("bench", || {
                    Menu::assemble(&scan_all(&views), None)
                })
                .unwrap(),
            );
        });
        println!(
            "bench: round {round}: open FAT volume {open:?}; scan + menu of 20 BLS entries: {direct:?} direct, {contained:?} inside catch_unwind"
        );
    }
    let empty = per_run(1_000_000, || {
        std::hint::black_box(
            leapboot::devices::scan::contain("bench", || std::hint::black_box(1u32)).unwrap(),
        );
    });
    println!("bench: an empty catch_unwind: {empty:?}");
}
