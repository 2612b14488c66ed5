//! A FAT image found by the `disk_image` fuzz target: a directory whose cluster chain
//! reaches cluster 1, on which fatfs 0.3.6 computes `cluster - 2` (`sector_from_cluster`)
//! and, with overflow checks on, panics. leapboot contains a parser's panic per volume:
//! the volume is skipped with "internal error (contained)" and the command still ends
//! with an exit status, not a crash.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn fat_directory_chain_at_cluster_1_is_contained() {
    let dir = std::env::temp_dir().join(format!("leapboot-hostile-fat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("fat-cluster-below-2.img");
    let gz = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/fat-cluster-below-2.img.gz"
    );
    let out = Command::new("gzip").arg("-dc").arg(gz).output().unwrap();
    assert!(out.status.success(), "gzip -dc {gz}");
    std::fs::write(&img, &out.stdout).unwrap();
    let before = std::fs::read(&img).unwrap();

    let run = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .args(["list", "-v", "--disk"])
        .arg(&img)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    // An exit status, not a signal: the panic did not take the process down.
    assert!(run.status.code().is_some(), "{:?}\n{stderr}", run.status);
    assert!(stderr.contains("internal error (contained)"), "{stderr}");
    assert!(
        stderr.contains("vfat UUID=19E5-7414"),
        "the volume was still recognised: {stderr}"
    );
    assert_eq!(
        std::fs::read(&img).unwrap(),
        before,
        "the image is unchanged"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
