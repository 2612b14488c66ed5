//! The handoff without kexec: the bzImage setup header reader on headers built byte by
//! byte (`Documentation/arch/x86/boot.rst` offsets) and on the real Debian kernel, the
//! pre-flight checks, the errno decoder, and `handoff::prepare` over a host directory
//! (the report's lines, the command line, missing and truncated files).

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot::devices::volume::{Volume, dir::DirVolume};
use leapboot::handoff::bzimage::{self, BzImage, HeaderError, KernelImage, SetupHeader};
use leapboot::handoff::kexec::{Situation, decode_load_error, parse_lockdown};
use leapboot::handoff::preflight::{self, Inputs, Status};
use leapboot::handoff::{self, BootError, BootOptions};
use leapboot::settings::Settings;
use leapboot_menus::{Entry, EntryKind, Source, VolumeInfo, VolumeRef, VolumeRole};
use std::path::{Path, PathBuf};

/// The real Debian kernel, downloaded into the cache on first use (as every QEMU test
/// does). A kernel that cannot be had fails the test where `LEAPBOOT_REQUIRE_QEMU=1`
/// (`scripts/test`, CI), and is skipped with a notice elsewhere (no network, no apt).
fn debian_vmlinuz(test: &str) -> Option<Vec<u8>> {
    let read = leapboot_qemu::debian_kernel()
        .map_err(|e| e.to_string())
        .and_then(|k| {
            std::fs::read(&k.vmlinuz).map_err(|e| format!("{}: {e}", k.vmlinuz.display()))
        });
    match read {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(
                std::env::var_os("LEAPBOOT_REQUIRE_QEMU").is_none_or(|v| v != "1"),
                "{test}: the Debian kernel is needed: {e}"
            );
            eprintln!("SKIPPED part of {test}: the Debian kernel: {e}");
            None
        }
    }
}

/// A bzImage header, field by field at the boot.rst offsets, in a file of `len` bytes.
struct Hdr {
    setup_sects: u8,
    syssize: u32,
    version: u16,
    loadflags: u8,
    xloadflags: u16,
    cmdline_size: u32,
    init_size: u32,
    version_string: &'static str,
    len: usize,
}

impl Default for Hdr {
    fn default() -> Self {
        Hdr {
            setup_sects: 3,
            syssize: 0x100, // 4096 bytes of payload
            version: 0x020F,
            loadflags: bzimage::LOADED_HIGH,
            xloadflags: bzimage::XLF_KERNEL_64 | bzimage::XLF_CAN_BE_LOADED_ABOVE_4G,
            cmdline_size: 2047,
            init_size: 0x0100_0000,
            version_string: "6.99.0-test (builder@example) #1 SMP",
            len: 4 * 512 + 4096,
        }
    }
}

impl Hdr {
    fn bytes(&self) -> Vec<u8> {
        let mut d = vec![0u8; self.len.max(0x300)];
        let put16 =
            |d: &mut Vec<u8>, off: usize, v: u16| d[off..off + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |d: &mut Vec<u8>, off: usize, v: u32| d[off..off + 4].copy_from_slice(&v.to_le_bytes());
        d[0x1F1] = self.setup_sects; // setup_sects
        put32(&mut d, 0x1F4, self.syssize); // syssize
        put16(&mut d, 0x1FE, 0xAA55); // boot_flag
        d[0x200] = 0xEB; // jump over the header: header ends at 0x202 + 0x6A
        d[0x201] = 0x6A;
        d[0x202..0x206].copy_from_slice(b"HdrS"); // header
        put16(&mut d, 0x206, self.version); // version
        put16(&mut d, 0x20E, 0x0100); // kernel_version: string at 0x100 + 0x200
        d[0x211] = self.loadflags; // loadflags
        put32(&mut d, 0x22C, 0x7fff_ffff); // initrd_addr_max
        put32(&mut d, 0x230, 0x20_0000); // kernel_alignment
        d[0x234] = 1; // relocatable_kernel
        put16(&mut d, 0x236, self.xloadflags); // xloadflags
        put32(&mut d, 0x238, self.cmdline_size); // cmdline_size
        put32(&mut d, 0x248, 0x10); // payload_offset
        put32(&mut d, 0x24C, 0x100); // payload_length
        put32(&mut d, 0x260, self.init_size); // init_size
        let vs = self.version_string.as_bytes();
        d[0x300..0x300 + vs.len()].copy_from_slice(vs);
        let payload = usize::from(self.setup_sects.max(1)) * 512 + 512 + 0x10;
        if payload + 4 <= d.len() {
            d[payload..payload + 4].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]); // zstd
        }
        d.truncate(self.len);
        d
    }
}

#[test]
fn header_fields_at_their_offsets() {
    let data = Hdr {
        len: 0x300 + 0x100 + 4096,
        syssize: 0x100,
        setup_sects: 1,
        ..Hdr::default()
    }
    .bytes();
    let b = BzImage::read(&data).unwrap();
    let h = &b.header;
    assert_eq!(h.version, 0x020F);
    assert_eq!(h.protocol(), "2.15");
    assert_eq!(h.setup_sects, 1);
    assert_eq!(h.setup_len(), 1024);
    assert_eq!(h.syssize, 0x100);
    assert_eq!(h.expected_len(), Some(1024 + 4096));
    assert_eq!(h.loadflags, bzimage::LOADED_HIGH);
    assert_eq!(h.initrd_addr_max, Some(0x7fff_ffff));
    assert_eq!(h.kernel_alignment, Some(0x20_0000));
    assert_eq!(h.relocatable_kernel, Some(true));
    assert_eq!(h.xloadflags, Some(3));
    assert_eq!(h.cmdline_size, Some(2047));
    assert_eq!(h.payload_offset, Some(0x10));
    assert_eq!(h.init_size, Some(0x0100_0000));
    assert_eq!(h.max_cmdline(), 2047);
    // 2047 - NUL - 30 bytes kexec keeps for elfcorehdr=.
    assert_eq!(h.kexec_max_cmdline(), 2016);
    assert_eq!(
        b.version_string.as_deref(),
        Some("6.99.0-test (builder@example) #1 SMP")
    );
    assert_eq!(b.payload_compression, Some(bzimage::Compression::Zstd));
    assert_eq!(b.pe_machine, None);
    assert_eq!(b.signature_size, None);
    assert!(b.kexec_problems().is_empty(), "{:?}", b.kexec_problems());
    assert!(
        b.describe()
            .contains("boot protocol 2.15, unsigned, 64-bit entry, loads above 4 GiB"),
        "{}",
        b.describe()
    );
}

#[test]
fn setup_sects_zero_means_four() {
    let data = Hdr {
        setup_sects: 0,
        ..Hdr::default()
    }
    .bytes();
    assert_eq!(SetupHeader::read(&data).unwrap().setup_len(), 5 * 512);
}

#[test]
fn fields_newer_than_the_protocol_are_absent() {
    let data = Hdr {
        version: 0x0205,
        ..Hdr::default()
    }
    .bytes();
    let h = SetupHeader::read(&data).unwrap();
    assert_eq!(h.cmdline_size, None, "cmdline_size is 2.06+");
    assert_eq!(h.xloadflags, None, "xloadflags is 2.12+");
    assert_eq!(h.init_size, None, "init_size is 2.10+");
    assert_eq!(h.max_cmdline(), 255, "255 before 2.06");
    assert_eq!(h.kernel_alignment, Some(0x20_0000));
}

#[test]
fn header_errors() {
    assert_eq!(
        SetupHeader::read(&[0u8; 1000]),
        Err(HeaderError::TooShort { len: 1000 })
    );
    assert_eq!(SetupHeader::read(&[0u8; 4096]), Err(HeaderError::NoMagic));
    let mut d = Hdr::default().bytes();
    d[0x1FE] = 0;
    assert_eq!(
        SetupHeader::read(&d),
        Err(HeaderError::BootFlag { found: 0xAA00 })
    );
}

fn problems(h: Hdr) -> Vec<String> {
    BzImage::read(&h.bytes()).unwrap().kexec_problems()
}

#[test]
fn what_kexec_file_load_refuses() {
    let p = problems(Hdr {
        version: 0x020B,
        ..Hdr::default()
    });
    assert!(p.len() == 1 && p[0].contains("older than 2.12"), "{p:?}");
    let p = problems(Hdr {
        loadflags: 0,
        ..Hdr::default()
    });
    assert!(p.len() == 1 && p[0].contains("zImage"), "{p:?}");
    let p = problems(Hdr {
        xloadflags: bzimage::XLF_CAN_BE_LOADED_ABOVE_4G,
        ..Hdr::default()
    });
    assert!(p.len() == 1 && p[0].contains("XLF_KERNEL_64"), "{p:?}");
    let p = problems(Hdr {
        xloadflags: bzimage::XLF_KERNEL_64,
        ..Hdr::default()
    });
    assert!(
        p.len() == 1 && p[0].contains("XLF_CAN_BE_LOADED_ABOVE_4G"),
        "{p:?}"
    );
    let p = problems(Hdr {
        len: 4 * 512 + 4095,
        ..Hdr::default()
    });
    assert!(
        p.len() == 1 && p[0].contains("truncated") && p[0].contains("6144 bytes"),
        "{p:?}"
    );
    // A signature (or padding) after the promised length is fine.
    assert!(
        problems(Hdr {
            len: 4 * 512 + 4096 + 1472,
            ..Hdr::default()
        })
        .is_empty()
    );
}

/// A minimal PE32+ header at `pe`, with a certificate table of `cert` bytes.
fn pe_file(machine: u16, cert: u32) -> Vec<u8> {
    let mut d = vec![0u8; 1024];
    d[0..2].copy_from_slice(b"MZ");
    let pe = 0x80usize;
    d[0x3C..0x40].copy_from_slice(&(pe as u32).to_le_bytes());
    d[pe..pe + 4].copy_from_slice(b"PE\0\0");
    d[pe + 4..pe + 6].copy_from_slice(&machine.to_le_bytes());
    d[pe + 6..pe + 8].copy_from_slice(&1u16.to_le_bytes()); // NumberOfSections
    d[pe + 20..pe + 22].copy_from_slice(&240u16.to_le_bytes()); // SizeOfOptionalHeader (PE32+, 16 directories)
    let opt = pe + 24;
    let section = opt + 240;
    d[section..section + 8].copy_from_slice(b".text\0\0\0");
    d[section + 16..section + 20].copy_from_slice(&0x100u32.to_le_bytes()); // SizeOfRawData
    d[section + 20..section + 24].copy_from_slice(&0x200u32.to_le_bytes()); // PointerToRawData
    d[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    d[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes()); // NumberOfRvaAndSizes
    let cert_dir = opt + 112 + 4 * 8;
    d[cert_dir..cert_dir + 4].copy_from_slice(&0x300u32.to_le_bytes());
    d[cert_dir + 4..cert_dir + 8].copy_from_slice(&cert.to_le_bytes());
    d
}

#[test]
fn pe_machine_and_signature() {
    assert_eq!(bzimage::pe_machine(&pe_file(0xaa64, 0)), Some(0xaa64));
    assert_eq!(bzimage::pe_signature_size(&pe_file(0x8664, 0)), None);
    assert_eq!(
        bzimage::pe_signature_size(&pe_file(0x8664, 1472)),
        Some(1472)
    );
    let k = KernelImage::identify(&pe_file(0xaa64, 0));
    assert_eq!(k, KernelImage::Pe { machine: 0xaa64 });
    assert!(
        k.describe()
            .contains("arm64 without a bzImage setup header"),
        "{}",
        k.describe()
    );
}

#[test]
fn identify_other_files() {
    let mut elf = vec![0u8; 64];
    elf[0..4].copy_from_slice(b"\x7fELF");
    elf[0x12] = 0x3E;
    assert_eq!(
        KernelImage::identify(&elf),
        KernelImage::Elf { machine: 0x3E }
    );
    let mut arm = vec![0u8; 128];
    arm[0x38..0x3C].copy_from_slice(b"ARM\x64");
    assert_eq!(KernelImage::identify(&arm), KernelImage::Arm64Image);
    assert_eq!(
        KernelImage::identify(&[0x1f, 0x8b, 8, 0]),
        KernelImage::Compressed(bzimage::Compression::Gzip)
    );
    assert_eq!(KernelImage::identify(b"070701000"), KernelImage::Cpio);
    assert_eq!(KernelImage::identify(b""), KernelImage::Empty);
    assert_eq!(
        KernelImage::identify(b"this is a text file, not a bzImage\n"),
        KernelImage::Unknown {
            what: "text".into()
        }
    );
}

#[test]
fn real_debian_kernel_header() {
    let Some(data) = debian_vmlinuz("real_debian_kernel_header") else {
        return;
    };
    let b = BzImage::read(&data).unwrap();
    let h = &b.header;
    assert!(h.version >= 0x020C, "protocol {}", h.protocol());
    assert!(
        b.version_string
            .as_deref()
            .unwrap()
            .starts_with("6.1.0-50-amd64 (debian-kernel@lists.debian.org)"),
        "{:?}",
        b.version_string
    );
    assert_eq!(h.cmdline_size, Some(2047));
    assert_eq!(h.kexec_max_cmdline(), 2016);
    assert!(h.init_size.unwrap() > data.len() as u32);
    assert_eq!(b.pe_machine, Some(0x8664), "Debian's kernel is an EFI stub");
    assert!(b.signature_size.is_some(), "Debian's kernel is signed");
    // The file is the promised length plus the signature.
    assert_eq!(
        h.expected_len().unwrap() + u64::from(b.signature_size.unwrap()),
        data.len() as u64
    );
    assert!(b.kexec_problems().is_empty(), "{:?}", b.kexec_problems());
    eprintln!("{}", b.describe());

    // Cut in half, it is truncated; cut to 300 bytes, it is not a bzImage at all.
    let half = BzImage::read(&data[..data.len() / 2]).unwrap();
    let p = half.kexec_problems();
    assert!(p.len() == 1 && p[0].starts_with("truncated"), "{p:?}");
    assert_eq!(
        BzImage::read(&data[..300]),
        Err(HeaderError::TooShort { len: 300 })
    );
}

#[test]
fn preflight_checks() {
    let kernel = Hdr::default().bytes();
    let cpio = b"070701".to_vec();
    let initrds = vec![("/initrd.img".to_string(), cpio.as_slice())];
    let ok = preflight::run(&Inputs {
        kernel_path: "/vmlinuz",
        kernel: &kernel,
        initrds: &initrds,
        cmdline: "root=/dev/sda1",
        mem_available: Some(1 << 30),
    });
    assert!(ok.passed(), "{:?}", ok.checks);
    assert_eq!(ok.cmdline_limit, Some(2016));

    let long = "x".repeat(2017);
    let garbage = b"garbage!".to_vec();
    let bad_initrds = vec![("/bad.img".to_string(), garbage.as_slice())];
    let truncated = &kernel[..kernel.len() - 1];
    let bad = preflight::run(&Inputs {
        kernel_path: "/vmlinuz-cut",
        kernel: truncated,
        initrds: &bad_initrds,
        cmdline: &long,
        mem_available: Some(1 << 20),
    });
    let failed: Vec<&str> = bad.failures().iter().map(|c| c.subject.as_str()).collect();
    assert_eq!(
        failed,
        [
            "kernel /vmlinuz-cut",
            "initrd /bad.img",
            "command line",
            "memory"
        ]
    );
    let msgs: Vec<&str> = bad.failures().iter().map(|c| c.message.as_str()).collect();
    assert!(
        msgs[0].contains("/vmlinuz-cut is not a bootable kernel image: truncated"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("/bad.img is not an initramfs"),
        "{}",
        msgs[1]
    );
    assert!(
        msgs[2].contains("2017 bytes") && msgs[2].contains("at most 2016"),
        "{}",
        msgs[2]
    );
    assert!(msgs[3].contains("MemAvailable is 1.0 MiB"), "{}", msgs[3]);
    assert!(bad.failures().iter().all(|c| c.remedy.is_some()));

    let text = b"not a kernel".repeat(100);
    let t = preflight::run(&Inputs {
        kernel_path: "/notakernel",
        kernel: &text,
        initrds: &[],
        cmdline: "",
        mem_available: None,
    });
    assert_eq!(t.checks[0].status, Status::Fail);
    assert!(
        t.checks[0]
            .message
            .contains("/notakernel is not a bootable kernel image: text"),
        "{}",
        t.checks[0].message
    );
}

#[test]
fn preflight_real_kernel_passes() {
    let Some(data) = debian_vmlinuz("preflight_real_kernel_passes") else {
        return;
    };
    let gz = [0x1f, 0x8b, 8, 0];
    let initrds = vec![("/initrd.img".to_string(), gz.as_slice())];
    let p = preflight::run(&Inputs {
        kernel_path: "/vmlinuz",
        kernel: &data,
        initrds: &initrds,
        cmdline: "console=ttyS0,115200",
        mem_available: Some(512 << 20),
    });
    assert!(p.passed(), "{:?}", p.failures());
    // With 64 MiB free, the 8 MiB kernel with its ~64 MiB init_size does not fit.
    let p = preflight::run(&Inputs {
        kernel_path: "/vmlinuz",
        kernel: &data,
        initrds: &initrds,
        cmdline: "",
        mem_available: Some(64 << 20),
    });
    assert_eq!(p.failures().len(), 1);
    assert_eq!(p.failures()[0].subject, "memory");
}

// ---- the errno decoder: one case per errno and situation ----

fn decoded(errno: i32, s: &Situation) -> (String, String, &'static str) {
    let d = decode_load_error(errno, s);
    (d.cause, d.remedy, d.name)
}

#[test]
fn eperm_lockdown_unsigned() {
    let s = Situation {
        lockdown: Some("integrity".into()),
        kernel_signed: Some(false),
        ..Situation::default()
    };
    let (cause, remedy, name) = decoded(libc::EPERM, &s);
    assert_eq!(name, "EPERM");
    assert!(
        cause.contains("lockdown mode 'integrity'") && cause.contains("not signed"),
        "{cause}"
    );
    assert!(
        remedy.contains("sbsign") && remedy.contains("without lockdown"),
        "{remedy}"
    );
}

#[test]
fn eperm_lockdown_signed_by_unknown_key() {
    let s = Situation {
        lockdown: Some("confidentiality".into()),
        kernel_signed: Some(true),
        ..Situation::default()
    };
    let (cause, _, _) = decoded(libc::EPERM, &s);
    assert!(
        cause.contains("'confidentiality'")
            && cause.contains("not by a key the firmware kernel trusts"),
        "{cause}"
    );
}

#[test]
fn eperm_kexec_disabled_wins() {
    let s = Situation {
        lockdown: Some("integrity".into()),
        kexec_load_disabled: Some(true),
        ..Situation::default()
    };
    let (cause, remedy, _) = decoded(libc::EPERM, &s);
    assert!(cause.contains("kexec_load_disabled is 1"), "{cause}");
    assert!(remedy.contains("sysctl"), "{remedy}");
}

#[test]
fn eperm_without_lockdown_is_capability() {
    let s = Situation {
        lockdown: Some("none".into()),
        ..Situation::default()
    };
    let (cause, _, _) = decoded(libc::EPERM, &s);
    assert!(cause.contains("CAP_SYS_BOOT"), "{cause}");
}

#[test]
fn signature_errors_under_kexec_sig_force() {
    let unsigned = Situation {
        kernel_signed: Some(false),
        ..Situation::default()
    };
    for (errno, name, word) in [
        (libc::EKEYREJECTED, "EKEYREJECTED", "rejected"),
        (
            libc::ENOKEY,
            "ENOKEY",
            "not in the firmware kernel's keyrings",
        ),
        (libc::ENODATA, "ENODATA", "missing"),
        (libc::EBADMSG, "EBADMSG", "malformed"),
        (libc::ENOPKG, "ENOPKG", "algorithm"),
    ] {
        let (cause, remedy, n) = decoded(errno, &unsigned);
        assert_eq!(n, name);
        assert!(cause.contains(word), "{name}: {cause}");
        assert!(remedy.contains("signed"), "{name}: {remedy}");
    }
}

#[test]
fn enoexec_names_the_image_problem() {
    let s = Situation {
        image_problems: vec!["truncated: the header promises 8221184 bytes".into()],
        ..Situation::default()
    };
    let (cause, _, _) = decoded(libc::ENOEXEC, &s);
    assert!(
        cause.contains("truncated: the header promises 8221184 bytes"),
        "{cause}"
    );
    let s = Situation {
        image: Some("bzImage, boot protocol 2.15".into()),
        ..Situation::default()
    };
    let (cause, _, _) = decoded(libc::ENOEXEC, &s);
    assert!(
        cause.contains("bzImage, boot protocol 2.15") && cause.contains("XLF_5LEVEL"),
        "{cause}"
    );
}

#[test]
fn einval_long_command_line() {
    let s = Situation {
        cmdline_len: 3000,
        cmdline_limit: Some(2016),
        ..Situation::default()
    };
    let (cause, remedy, _) = decoded(libc::EINVAL, &s);
    assert!(
        cause.contains("too long: 3000 bytes") && cause.contains("at most 2016"),
        "{cause}"
    );
    assert!(remedy.contains("shorten"), "{remedy}");
    let s = Situation {
        cmdline_len: 10,
        cmdline_limit: Some(2016),
        ..Situation::default()
    };
    let (cause, _, _) = decoded(libc::EINVAL, &s);
    assert!(!cause.contains("too long"), "{cause}");
}

#[test]
fn out_of_memory_for_the_initrd() {
    let s = Situation {
        kernel_len: 8 << 20,
        initrd_len: 900 << 20,
        init_size: Some(64 << 20),
        mem_available: Some(700 << 20),
        ..Situation::default()
    };
    for errno in [libc::ENOMEM, libc::EADDRNOTAVAIL] {
        let (cause, remedy, _) = decoded(errno, &s);
        assert!(
            cause.contains("out of memory")
                && cause.contains("initrds 900.0 MiB")
                && cause.contains("MemAvailable 700.0 MiB"),
            "{cause}"
        );
        assert!(remedy.contains("smaller initrd"), "{remedy}");
    }
    assert!(
        decoded(libc::EADDRNOTAVAIL, &s)
            .0
            .contains("no free physical memory range")
    );
}

#[test]
fn enosys_ebusy_and_unknown() {
    let s = Situation::default();
    assert!(decoded(libc::ENOSYS, &s).0.contains("CONFIG_KEXEC_FILE"));
    assert!(decoded(libc::EBUSY, &s).0.contains("in progress"));
    let (cause, _, name) = decoded(libc::ETXTBSY, &s);
    assert_eq!(name, "errno");
    assert!(cause.contains("unexpected"), "{cause}");
}

#[test]
fn decoded_error_displays_everything() {
    let d = decode_load_error(libc::ENOSYS, &Situation::default());
    let s = d.to_string();
    assert!(s.starts_with("kexec_file_load failed: ENOSYS ("), "{s}");
    assert!(s.contains("CONFIG_KEXEC_FILE=y"), "{s}");
}

#[test]
fn lockdown_file() {
    assert_eq!(
        parse_lockdown("[none] integrity confidentiality\n").as_deref(),
        Some("none")
    );
    assert_eq!(
        parse_lockdown("none [integrity] confidentiality\n").as_deref(),
        Some("integrity")
    );
    assert_eq!(parse_lockdown("garbage"), None);
}

// ---- handoff::prepare over a host directory ----

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("leapboot-handoff-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn volume(root: &Path) -> Volume {
    Volume {
        info: VolumeInfo {
            uuid: Some("1234-ABCD".into()),
            label: Some("ESP".into()),
            device: "vda1".into(),
            fs_type: "dir".into(),
            role: VolumeRole::Esp,
        },
        fs: Box::new(DirVolume::new(root)),
        location: None,
    }
}

fn entry(id: &str, kernel: &str, initrds: &[&str]) -> Entry {
    Entry {
        id: id.into(),
        title: "Test".into(),
        version: None,
        kind: EntryKind::Bls,
        volume: VolumeRef {
            uuid: Some("1234-ABCD".into()),
            label: Some("ESP".into()),
            device: "vda1".into(),
        },
        kernel: kernel.into(),
        initrds: initrds.iter().map(|s| s.to_string()).collect(),
        cmdline: "root=/dev/vda2 ro".into(),
        devicetree: None,
        source: Source {
            file: format!("/loader/entries/{id}.conf"),
            line: 1,
        },
        path: None,
        problem: None,
        bls: None,
        uki: None,
    }
}

#[test]
fn prepare_reports_everything() {
    let dir = tmpdir("report");
    let kernel = Hdr::default().bytes();
    std::fs::write(dir.join("vmlinuz"), &kernel).unwrap();
    std::fs::write(dir.join("a.img"), b"070701 first").unwrap();
    std::fs::write(dir.join("b.img"), [0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]).unwrap();
    let vols = [volume(&dir)];
    let e = entry("debian-test", "/vmlinuz", &["/a.img", "/b.img"]);
    let settings = Settings {
        append: Some("quiet".into()),
        ..Settings::default()
    };
    let h = handoff::prepare(&e, &vols, &settings, &BootOptions::default()).unwrap();
    // A BLS entry: systemd-boot's initrd= parameters in front.
    assert_eq!(
        h.cmdline,
        r"initrd=\a.img initrd=\b.img root=/dev/vda2 ro quiet leapboot.entry=debian-test"
    );
    // Two initrds, the second 4-byte aligned.
    assert_eq!(h.initrd.len(), 12 + 7);
    let text = h.summary.join("\n");
    for want in [
        "report for 'debian-test' (attempt 1 of 1)",
        "entry 'debian-test' \"Test\" (bls) from /loader/entries/debian-test.conf:1 on vda1",
        "volume vda1 UUID=1234-ABCD LABEL=ESP (dir)",
        &format!(
            "kernel /vmlinuz ({} bytes, 6.0 KiB) sha256 {}",
            kernel.len(),
            leapboot::handoff::report::sha256_hex(&kernel)
        ),
        "kernel version: 6.99.0-test (builder@example) #1 SMP",
        "kernel image: bzImage, boot protocol 2.15",
        "initrd /a.img (12 bytes, 12 B) cpio sha256 ",
        "initrd /b.img (7 bytes, 7 B) zstd sha256 ",
        r"command line (78 bytes of at most 2016): initrd=\a.img initrd=\b.img root=/dev/vda2 ro quiet leapboot.entry=debian-test",
        "syscall: kexec_file_load(kernel memfd 6144 bytes, initrd memfd 19 bytes, cmdline_len 79, flags 0x0)",
        "checks: kernel /vmlinuz ok, initrd /a.img ok, initrd /b.img ok, command line ok, memory ok",
        "phases: ",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // The SHA-256 agrees with sha256sum where that exists.
    if let Ok(out) = std::process::Command::new("sha256sum")
        .arg(dir.join("a.img"))
        .output()
    {
        let sum = String::from_utf8_lossy(&out.stdout);
        let sum = sum.split_whitespace().next().unwrap_or_default();
        assert!(
            text.contains(&format!("cpio sha256 {sum}")),
            "{sum}\n{text}"
        );
    }
}

#[test]
fn entry_param_off_and_edited_command_line() {
    let dir = tmpdir("param");
    std::fs::write(dir.join("vmlinuz"), Hdr::default().bytes()).unwrap();
    let vols = [volume(&dir)];
    let e = entry("x", "/vmlinuz", &[]);
    let off = Settings {
        entry_param: false,
        ..Settings::default()
    };
    let h = handoff::prepare(&e, &vols, &off, &BootOptions::default()).unwrap();
    assert_eq!(h.cmdline, "root=/dev/vda2 ro");
    assert!(
        h.summary
            .iter()
            .any(|l| l.contains("flags 0x4 KEXEC_FILE_NO_INITRAMFS"))
    );
    // An edit that already names the entry is not given a second one.
    let opts = BootOptions {
        cmdline_override: Some("single leapboot.entry=mine".into()),
        ..BootOptions::default()
    };
    let h = handoff::prepare(&e, &vols, &Settings::default(), &opts).unwrap();
    assert_eq!(h.cmdline, "single leapboot.entry=mine");
}

#[test]
fn prepare_refuses_truncated_kernel_without_loading() {
    let dir = tmpdir("truncated");
    let mut k = Hdr::default().bytes();
    k.truncate(3000);
    std::fs::write(dir.join("vmlinuz-cut"), &k).unwrap();
    let vols = [volume(&dir)];
    let e = entry("cut", "/vmlinuz-cut", &[]);
    match handoff::prepare(&e, &vols, &Settings::default(), &BootOptions::default()) {
        Err(BootError::Preflight { id, failures }) => {
            assert_eq!(id, "cut");
            assert!(
                failures[0].contains("/vmlinuz-cut is not a bootable kernel image: truncated"),
                "{failures:?}"
            );
        }
        other => panic!("expected a pre-flight failure, got {other:?}"),
    }
}

#[test]
fn prepare_missing_initrd_names_it() {
    let dir = tmpdir("missing");
    std::fs::write(dir.join("vmlinuz"), Hdr::default().bytes()).unwrap();
    let vols = [volume(&dir)];
    let e = entry("m", "/vmlinuz", &["/gone.img"]);
    match handoff::prepare(&e, &vols, &Settings::default(), &BootOptions::default()) {
        Err(BootError::Read {
            what,
            device,
            source,
            ..
        }) => {
            assert_eq!((what, device.as_str()), ("initrd", "vda1"));
            assert!(source.is_not_found(), "{source}");
        }
        other => panic!("expected a read failure, got {other:?}"),
    }
}

#[test]
fn fallback_order_follows_grub_then_menu() {
    assert_eq!(handoff::fallback::fallback_order(3, 0, &[]), [0, 1, 2]);
    assert_eq!(handoff::fallback::fallback_order(3, 2, &[]), [2, 0, 1]);
    assert_eq!(
        handoff::fallback::fallback_order(5, 0, &[3, 1]),
        [0, 3, 1, 2, 4]
    );
}
