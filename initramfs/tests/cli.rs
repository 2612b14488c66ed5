//! End-to-end checks of the `leapboot-initramfs` binary.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use leapboot_initramfs::read_cpio;

const BIN: &str = env!("CARGO_BIN_EXE_leapboot-initramfs");

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "leapboot-initramfs-cli-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let modules = dir.join("6.1.0-test");
    std::fs::create_dir_all(modules.join("kernel")).unwrap();
    std::fs::write(modules.join("kernel/a.ko"), b"a").unwrap();
    std::fs::write(modules.join("kernel/b-dep.ko.zst"), b"b").unwrap();
    std::fs::write(
        modules.join("modules.dep"),
        "kernel/a.ko: kernel/b-dep.ko.zst\nkernel/b-dep.ko.zst:\n",
    )
    .unwrap();
    std::fs::write(dir.join("init"), b"#!/bin/sh\n").unwrap();
    std::fs::write(dir.join("cfg.toml"), b"timeout = 1\n").unwrap();
    std::fs::write(dir.join("extra"), b"extra").unwrap();
    Command::new(BIN)
        .arg("--init")
        .arg(dir.join("init"))
        .arg("--config")
        .arg(dir.join("cfg.toml"))
        .arg("--modules-dir")
        .arg(&modules)
        .args(["--module", "a"])
        .arg("--file")
        .arg(format!("{}:/usr/share/extra", dir.join("extra").display()))
        .arg("-o")
        .arg(dir.join(out))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn builds_expected_tree_reproducibly() {
    let tmp = TempDir::new("tree");
    let out = build(tmp.path(), "a.cpio", &["--no-compress"]);
    assert!(out.status.success(), "{out:?}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("entries") && summary.contains("bytes"),
        "{summary}"
    );

    let bytes = std::fs::read(tmp.path().join("a.cpio")).unwrap();
    let entries = read_cpio(&bytes).unwrap();
    let get = |p: &str| {
        entries
            .iter()
            .find(|e| e.path == p)
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert_eq!(get("init").mode, 0o100755);
    assert_eq!(get("etc/leapboot.toml").data, b"timeout = 1\n");
    let console = get("dev/console");
    assert_eq!(
        (console.mode, console.rdev_major, console.rdev_minor),
        (0o020600, 5, 1)
    );
    for dir in ["dev", "proc", "sys", "run", "tmp"] {
        assert!(get(dir).is_dir(), "{dir}");
    }
    assert_eq!(get("usr/share/extra").data, b"extra");
    assert_eq!(get("lib/modules/6.1.0-test/kernel/b-dep.ko.zst").data, b"b");
    assert_eq!(get("etc/leapboot/modules").data, b"a\n");

    // gzip output, twice: identical bytes
    assert!(build(tmp.path(), "1.gz", &[]).status.success());
    assert!(build(tmp.path(), "2.gz", &[]).status.success());
    let one = std::fs::read(tmp.path().join("1.gz")).unwrap();
    assert_eq!(one, std::fs::read(tmp.path().join("2.gz")).unwrap());
    assert_eq!(&one[..2], &[0x1f, 0x8b]);
}

#[test]
fn reports_errors() {
    let tmp = TempDir::new("err");
    let out = build(tmp.path(), "x.gz", &["--module", "missing-mod"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing-mod"), "{err}");
    assert!(!tmp.path().join("x.gz").exists());

    let out = Command::new(BIN)
        .args(["--file", "nocolon", "-o"])
        .arg(tmp.path().join("y"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SRC:DEST"));
}
