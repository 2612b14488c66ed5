//! `leapboot_menus::pe` and `bls::uki` on real PE files: the Debian kernel (a bzImage
//! with an EFI stub is a PE/COFF image, signed with an Authenticode certificate
//! table), systemd's EFI stub and boot loader, and a unified kernel image built from
//! that stub with `objcopy --add-section` (the way systemd documented building one by
//! hand before `ukify`). Each file's headers are compared with what binutils'
//! `objdump -h -p` prints for it.
//!
//! Files: the Debian kernel of the end-to-end tests (`leapboot_qemu::debian_kernel`,
//! cached under `$LEAPBOOT_CACHE`) and
//! `/usr/lib/systemd/boot/efi/{linuxx64.efi.stub,systemd-bootx64.efi}` (Debian's
//! `systemd-boot-efi`). A missing file or a missing `objdump`/`objcopy` is a notice on
//! stderr in a plain `cargo test`, and a failure where `LEAPBOOT_REQUIRE_BOOTCTL=1`
//! (`scripts/test`, which installs them).

// Test helpers outside #[test] fns unwrap, expect and panic: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_menus::bls::uki;
use leapboot_menus::pe::{self, PeFormat, PeHeaders};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A missing input: a failure under `LEAPBOOT_REQUIRE_BOOTCTL=1`, else a notice.
fn notice(msg: String) {
    assert!(
        std::env::var_os("LEAPBOOT_REQUIRE_BOOTCTL").is_none_or(|v| v != "1"),
        "{msg}"
    );
    eprintln!("notice: {msg}");
}

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const SD_BOOT: &str = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";

fn kernels() -> Vec<PathBuf> {
    // The Debian kernel the end-to-end tests boot, downloaded into the cache on first
    // use (`apt-get download`).
    match leapboot_qemu::debian_kernel() {
        Ok(k) => vec![k.vmlinuz],
        Err(e) => {
            notice(format!("the Debian kernel: {e}; skipped"));
            Vec::new()
        }
    }
}

fn present(path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            notice(format!(
                "{path}: {e} (apt-get install systemd-boot-efi); skipped"
            ));
            None
        }
    }
}

/// What `objdump -h -p` says about a file: sections (name, size, VMA, file offset),
/// the optional header magic, `NumberOfRvaAndSizes` and data directory 4.
#[derive(Debug, Default)]
struct Objdump {
    sections: Vec<(String, u64, u64, u64)>,
    magic: Option<u16>,
    rva_count: Option<u32>,
    security: Option<(u64, u64)>,
}

fn objdump(path: &Path) -> Option<Objdump> {
    let out = match Command::new("objdump")
        .arg("-h")
        .arg("-p")
        .arg(path)
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            notice(format!(
                "objdump failed on {}: {}; not compared",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            ));
            return None;
        }
        Err(e) => {
            notice(format!(
                "objdump: {e} (apt-get install binutils); not compared"
            ));
            return None;
        }
    };
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    let mut d = Objdump::default();
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["Magic", m, ..] => d.magic = Some(u16::from_str_radix(m, 16).unwrap()),
            ["NumberOfRvaAndSizes", n] => d.rva_count = Some(u32::from_str_radix(n, 16).unwrap()),
            ["Entry", "4", addr, size, ..] => d.security = Some((hex(addr), hex(size))),
            [idx, name, size, vma, _lma, off, algn]
                if idx.parse::<u32>().is_ok() && algn.starts_with("2**") =>
            {
                d.sections
                    .push((name.to_string(), hex(size), hex(vma), hex(off)));
            }
            _ => {}
        }
    }
    Some(d)
}

/// The headers agree with objdump's view of the same file.
fn compare_with_objdump(path: &Path, h: &PeHeaders) {
    let Some(d) = objdump(path) else { return };
    let ours: Vec<(String, u64, u64, u64)> = h
        .sections
        .iter()
        .map(|s| {
            let r = s.data_in_file();
            (
                String::from_utf8_lossy(s.name_bytes()).into_owned(),
                r.end - r.start,
                u64::from(s.virtual_address),
                r.start,
            )
        })
        .collect();
    assert_eq!(ours, d.sections, "{}: sections", path.display());
    let magic = match h.format {
        PeFormat::Pe32 => pe::PE32_MAGIC,
        PeFormat::Pe32Plus => pe::PE32_PLUS_MAGIC,
    };
    assert_eq!(Some(magic), d.magic, "{}: magic", path.display());
    assert_eq!(
        h.optional.map(|o| o.number_of_rva_and_sizes),
        d.rva_count,
        "{}: NumberOfRvaAndSizes",
        path.display()
    );
    let dir4 = h
        .data_directory(pe::DIRECTORY_SECURITY)
        .map(|s| (u64::from(s.virtual_address), u64::from(s.size)));
    assert_eq!(dir4, d.security, "{}: data directory 4", path.display());
}

/// The Debian kernel: an x86-64 PE32+ image whose signature (the certificate table) is
/// appended at the end of the file, found both from memory and through positioned reads.
#[test]
fn debian_kernel_is_a_signed_pe_image() {
    for path in kernels() {
        let bytes = std::fs::read(&path).unwrap();
        let h = pe::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(h.machine(), pe::MACHINE_AMD64);
        assert_eq!(pe::machine_name(h.machine()), "x86-64");
        assert_eq!(h.format, PeFormat::Pe32Plus);
        let o = h.optional.unwrap();
        assert_eq!(o.subsystem, 10, "EFI application");
        assert!(o.number_of_rva_and_sizes > 4);
        assert!(h.section(".text").is_some());
        // bzImage: the setup header's magic is still where the boot protocol puts it.
        assert_eq!(&bytes[0x202..0x206], b"HdrS");
        let sig = h.security_directory().expect("Debian signs its kernels");
        assert_eq!(
            u64::from(sig.virtual_address) + u64::from(sig.size),
            bytes.len() as u64,
            "the certificate table ends the file"
        );
        assert_eq!(h.signature_size(), Some(sig.size));
        // A UKI reader sees a PE image with none of its sections.
        let u = uki::parse(&bytes).unwrap();
        assert_eq!((u.sections.linux, u.os_release), (None, None));
        // The same headers through positioned reads.
        let read = pe::read_headers::<pe::PeError>(bytes.len() as u64, &mut |off, len| {
            let off = off as usize;
            Ok(bytes[off..(off + len).min(bytes.len())].to_vec())
        })
        .unwrap();
        assert_eq!(read, h);
        compare_with_objdump(&path, &h);
    }
}

/// systemd's stub and boot loader: unsigned PE32+ images; `.sdmagic` names them, and
/// systemd-boot carries its own `.osrel`.
#[test]
fn systemd_efi_binaries() {
    for (path, magic) in [
        (STUB, "#### LoaderInfo: systemd-stub"),
        (SD_BOOT, "#### LoaderInfo: systemd-boot"),
    ] {
        let Some(bytes) = present(path) else { continue };
        let h = pe::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(h.machine(), pe::MACHINE_AMD64, "{path}");
        assert_eq!(h.signature_size(), None, "{path}");
        let r = h.section(".sdmagic").unwrap().data_in_file();
        let text = String::from_utf8_lossy(&bytes[r.start as usize..r.end as usize]).into_owned();
        assert!(text.starts_with(magic), "{path}: {text:?}");
        let u = uki::parse(&bytes).unwrap();
        assert_eq!(u.sections.linux, None);
        assert_eq!(u.os_release.is_some(), path == SD_BOOT, "{path}");
        compare_with_objdump(Path::new(path), &h);
    }
}

/// A UKI made the manual way from the real stub: `objcopy --add-section` for `.osrel`,
/// `.cmdline`, `.linux` and `.initrd` at VMAs past the stub's image. Every section
/// comes back byte for byte.
#[test]
fn uki_built_with_objcopy() {
    if present(STUB).is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("leapboot-pe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let parts: [(&str, &[u8], &str); 4] = [
        (
            ".osrel",
            b"ID=test\nPRETTY_NAME=\"Test OS 1\"\nVERSION_ID=1\n",
            "0x20000",
        ),
        (".cmdline", b"root=/dev/vda2 quiet\n", "0x30000"),
        (".linux", b"not really a kernel", "0x2000000"),
        (".initrd", b"not really an initrd", "0x3000000"),
    ];
    let mut cmd = Command::new("objcopy");
    for (name, data, vma) in parts {
        let f = dir.join(name.trim_start_matches('.'));
        std::fs::write(&f, data).unwrap();
        cmd.arg("--add-section")
            .arg(format!("{name}={}", f.display()))
            .arg("--change-section-vma")
            .arg(format!("{name}={vma}"));
    }
    let out = dir.join("test.efi");
    match cmd.arg(STUB).arg(&out).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("objcopy: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            notice(format!("objcopy: {e} (apt-get install binutils); skipped"));
            return;
        }
    }
    let bytes = std::fs::read(&out).unwrap();
    let u = uki::parse(&bytes).unwrap();
    let get = |r: Option<leapboot_menus::SectionRange>| {
        let r = r.unwrap();
        &bytes[r.offset as usize..(r.offset + r.size) as usize]
    };
    assert_eq!(get(u.sections.linux), parts[2].1);
    assert_eq!(get(u.sections.initrd), parts[3].1);
    assert_eq!(get(u.sections.osrel), parts[0].1);
    assert_eq!(u.cmdline.as_deref(), Some("root=/dev/vda2 quiet"));
    let info = uki::os_release_info(u.os_release.as_deref().unwrap()).unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_deref()),
        ("Test OS 1", Some("1"))
    );
    let h = pe::parse(&bytes).unwrap();
    assert_eq!(h.sections.len(), 12);
    compare_with_objdump(&out, &h);
}
