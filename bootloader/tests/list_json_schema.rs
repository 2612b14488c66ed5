//! `leapboot list --json`, run as a user runs it, validated against the JSON Schema the
//! repository ships (`docs/list.schema.json`, draft 2020-12; described in
//! `docs/json.md`).
//!
//! The validator is the `jsonschema` crate, a dev-dependency: it never reaches the
//! binary, runs wherever `cargo test` runs, and cost about a minute of compile once on
//! two cores (35 crates beyond the workspace's, built without its default HTTP and TLS
//! features, 57 s here). Python's `jsonschema` would have needed a Python with that
//! package on every machine that runs the tests, which `scripts/test` does not install.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/list.schema.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("{}: not a valid draft 2020-12 schema: {e}", path.display()))
}

/// Runs `leapboot list --json` with `args` and parses its stdout.
fn list_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_leapboot"))
        .arg("list")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "list --json printed no JSON ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "list --json does not match docs/list.schema.json:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(doc).unwrap()
    );
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("leapboot-list-schema-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn with_files(root: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let path = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

/// One volume with every kind of entry the schema describes: BLS entries that can
/// and cannot boot (one with a devicetree), GRUB entries at the top and in a submenu
/// (with `path`), a GRUB entry whose kernel is missing and one that loads no kernel.
fn every_kind(name: &str) -> PathBuf {
    let d = dir(name);
    with_files(
        &d,
        &[
            (
                "/loader/entries/good.conf",
                "title Good\nversion 6.1\nlinux /vmlinuz\ninitrd /initrd.img\ndevicetree /board.dtb\noptions root=/dev/vda2 ro\n",
            ),
            (
                "/loader/entries/gone.conf",
                "title Gone\nlinux /missing-vmlinuz\n",
            ),
            ("/vmlinuz", "k"),
            ("/initrd.img", "070701"),
            ("/board.dtb", "d"),
            (
                "/boot/grub/grub.cfg",
                "set default=0\n\
                 menuentry 'Plain' --id plain { linux /vmlinuz root=/dev/vda2\n initrd /initrd.img\n}\n\
                 submenu 'More' {\n  menuentry 'Deep' { linux /vmlinuz deep\n }\n}\n\
                 menuentry 'Missing' { linux /missing quiet\n}\n\
                 menuentry 'Chain' { chainloader /EFI/x.efi\n}\n",
            ),
        ],
    );
    d
}

#[test]
fn list_json_matches_the_schema() {
    let v = schema();
    let root = every_kind("every-kind");
    let doc = list_json(&["--root", &root.display().to_string()]);
    let entries = doc["entries"].as_array().unwrap();
    assert!(entries.len() >= 6, "{doc:#}");
    assert!(
        entries.iter().any(|e| e["path"].is_string())
            && entries.iter().any(|e| !e["bootable"].as_bool().unwrap()),
        "{doc:#}"
    );
    assert_valid(&v, &doc);
    // The default chosen by a glob, and the document when nothing can boot or
    // nothing is there at all.
    assert_valid(
        &v,
        &list_json(&["--root", &root.display().to_string(), "--default", "gone"]),
    );
    let unbootable = dir("unbootable");
    with_files(
        &unbootable,
        &[("/loader/entries/only.conf", "title Only\nlinux /nothing\n")],
    );
    assert_valid(
        &v,
        &list_json(&["--root", &unbootable.display().to_string()]),
    );
    assert_valid(
        &v,
        &list_json(&["--root", &dir("empty").display().to_string()]),
    );
}

/// The validator does reject what the schema forbids, so a pass above means something.
#[test]
fn the_schema_rejects_broken_documents() {
    let v = schema();
    let root = every_kind("broken");
    let good = list_json(&["--root", &root.display().to_string()]);
    assert_valid(&v, &good);
    let mut two_defaults = good.clone();
    for e in two_defaults["entries"].as_array_mut().unwrap() {
        if e["bootable"] == Value::Bool(true) {
            e["default"] = Value::Bool(true);
        }
    }
    assert!(!v.is_valid(&two_defaults), "two defaults accepted");
    let mut no_version = good.clone();
    no_version.as_object_mut().unwrap().remove("schema_version");
    assert!(
        !v.is_valid(&no_version),
        "a document without schema_version accepted"
    );
    let mut relative = good;
    relative["entries"][0]["kernel"] = Value::String("vmlinuz".into());
    assert!(!v.is_valid(&relative), "a relative kernel path accepted");
}
