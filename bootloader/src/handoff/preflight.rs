//! Pre-flight checks before `kexec_file_load`: is the kernel an image this kernel can
//! load (bzImage magic, protocol, 64-bit flags, not truncated; see [`crate::handoff::bzimage`]),
//! is every initrd something the new kernel can unpack (cpio `070701` or a known
//! compression), does the command line fit, and do the files fit in free memory
//! (`MemAvailable` in `/proc/meminfo`). A failing check is reported with a remedy and
//! the load is not attempted, so the user sees the real cause instead of an errno.

// Parses bytes from disks and consoles: no indexing that can panic, no silent casts.
#![deny(clippy::indexing_slicing, clippy::as_conversions)]

use crate::handoff::bzimage::{BzImage, Compression, KernelImage};
use crate::handoff::report::size;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Passed.
    Ok,
    /// Suspicious but not fatal; the load goes ahead.
    Warning,
    /// Would fail; the load is not attempted.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `kernel /vmlinuz`, `initrd /initrd.img`, `command line`, `memory`.
    pub subject: String,
    /// Result.
    pub status: Status,
    /// What was found.
    pub message: String,
    /// What the user can do (failures and warnings).
    pub remedy: Option<String>,
}

/// What an initrd is, from its first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitrdFormat {
    /// An uncompressed newc cpio archive (`070701`, or `070702` with checksums).
    Cpio,
    /// A compressed archive.
    Compressed(Compression),
    /// A filesystem image for the classic initrd (`/dev/ram0`).
    FilesystemImage(&'static str),
    /// Zero bytes long.
    Empty,
    /// Only zero bytes.
    Zeros,
    /// Nothing the kernel unpacks; the first bytes in hex.
    Unknown(String),
}

impl InitrdFormat {
    /// Identifies an initrd. Leading zero bytes are skipped, as the kernel's
    /// `unpack_to_rootfs` skips the padding between concatenated archives.
    pub fn identify(data: &[u8]) -> InitrdFormat {
        if data.is_empty() {
            return InitrdFormat::Empty;
        }
        let Some(start) = data.iter().position(|&b| b != 0) else {
            return InitrdFormat::Zeros;
        };
        let d = data.get(start..).unwrap_or_default();
        if d.starts_with(b"070701") || d.starts_with(b"070702") {
            return InitrdFormat::Cpio;
        }
        if let Some(c) = Compression::sniff(d) {
            return InitrdFormat::Compressed(c);
        }
        // Filesystem images are recognised at the start of the file, not after padding.
        if data.get(1080..1082) == Some([0x53, 0xef].as_slice()) {
            return InitrdFormat::FilesystemImage("ext2/3/4");
        }
        if data.starts_with(b"hsqs") {
            return InitrdFormat::FilesystemImage("squashfs");
        }
        if data.starts_with(&[0x45, 0x3d, 0xcd, 0x28]) {
            return InitrdFormat::FilesystemImage("cramfs");
        }
        if data.starts_with(b"-rom1fs-") {
            return InitrdFormat::FilesystemImage("romfs");
        }
        let hex: Vec<String> = d.iter().take(8).map(|b| format!("{b:02x}")).collect();
        InitrdFormat::Unknown(hex.join(" "))
    }

    /// Name for the report.
    pub fn describe(&self) -> String {
        match self {
            InitrdFormat::Cpio => "cpio".into(),
            InitrdFormat::Compressed(c) => c.as_str().into(),
            InitrdFormat::FilesystemImage(fs) => format!("{fs} image (classic initrd)"),
            InitrdFormat::Empty => "empty".into(),
            InitrdFormat::Zeros => "only zero bytes".into(),
            InitrdFormat::Unknown(h) => format!("unknown format, starts {h}"),
        }
    }
}

/// What is about to be loaded, for [`run`].
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Kernel path for messages.
    pub kernel_path: &'a str,
    /// Kernel bytes.
    pub kernel: &'a [u8],
    /// Each initrd: path for messages and bytes.
    pub initrds: &'a [(String, &'a [u8])],
    /// The final command line.
    pub cmdline: &'a str,
    /// `MemAvailable` in bytes, when known.
    pub mem_available: Option<u64>,
}

/// Everything the checks found.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// What the kernel file is.
    pub kernel: KernelImage,
    /// Each initrd's format, in order.
    pub initrd_formats: Vec<InitrdFormat>,
    /// Longest command line the kernel takes through kexec, when known.
    pub cmdline_limit: Option<u32>,
    /// Memory the load needs, about.
    pub memory_needed: u64,
    /// Every check in order.
    pub checks: Vec<Check>,
}

impl Preflight {
    /// The failed checks.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .collect()
    }

    /// True when nothing failed.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}

/// Reads `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

/// `MemAvailable:  123456 kB` to bytes.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Memory a `kexec_file_load` of these sizes takes, about: the memfd copies, the
/// kernel's read buffers for both files, and the loaded segments (the kernel segment
/// is `init_size` long, `bzImage64_load`), all at once.
pub fn memory_needed(kernel_len: u64, initrd_len: u64, init_size: Option<u32>) -> u64 {
    let segment = u64::from(init_size.unwrap_or(0)).max(kernel_len);
    kernel_len
        .saturating_add(initrd_len)
        .saturating_mul(2)
        .saturating_add(segment)
        .saturating_add(initrd_len)
}

const NOT_BOOTABLE_REMEDY: &str = "point the entry at the distribution's vmlinuz (a bzImage), or reinstall the kernel package if the file was damaged";

fn kernel_check(path: &str, image: &KernelImage) -> Check {
    let subject = format!("kernel {path}");
    let fail = |message: String, remedy: &str| Check {
        subject: subject.clone(),
        status: Status::Fail,
        message,
        remedy: Some(remedy.to_string()),
    };
    match image {
        KernelImage::BzImage(b) => {
            let problems = b.kexec_problems();
            if problems.is_empty() {
                Check {
                    subject,
                    status: Status::Ok,
                    message: "bzImage loads with kexec_file_load".into(),
                    remedy: None,
                }
            } else {
                let truncated = problems.iter().any(|p| p.starts_with("truncated"));
                fail(
                    format!(
                        "{path} is not a bootable kernel image: {}",
                        problems.join("; ")
                    ),
                    if truncated {
                        "the file was cut short (a full volume or an interrupted copy): reinstall the kernel package or copy the file again"
                    } else {
                        "kexec_file_load needs a 64-bit bzImage with boot protocol 2.12 or later: boot a newer kernel build"
                    },
                )
            }
        }
        KernelImage::Elf { .. } => fail(
            format!(
                "{path} is not a bootable kernel image: {}",
                image.describe()
            ),
            "use the compressed bzImage (arch/x86/boot/bzImage, installed as vmlinuz), not vmlinux",
        ),
        KernelImage::Pe { .. } | KernelImage::Arm64Image | KernelImage::RiscvImage => fail(
            format!(
                "{path} is not a bootable kernel image for x86-64 kexec_file_load: {}",
                image.describe()
            ),
            "boot a kernel built for this machine (x86-64 bzImage)",
        ),
        _ => fail(
            format!(
                "{path} is not a bootable kernel image: {}",
                image.describe()
            ),
            NOT_BOOTABLE_REMEDY,
        ),
    }
}

fn initrd_check(path: &str, format: &InitrdFormat) -> Check {
    let subject = format!("initrd {path}");
    let (status, message, remedy) = match format {
        InitrdFormat::Compressed(Compression::Lz4Frame) => (
            Status::Fail,
            format!("{path} is lz4 in the frame format, which the kernel does not unpack"),
            Some("recompress with `lz4 -l` (legacy format), or use zstd or gzip".to_string()),
        ),
        InitrdFormat::Cpio | InitrdFormat::Compressed(_) => (Status::Ok, format.describe(), None),
        InitrdFormat::FilesystemImage(_) => (
            Status::Warning,
            format!(
                "{path} is a {}; it needs root=/dev/ram0 and CONFIG_BLK_DEV_RAM in the new kernel",
                format.describe()
            ),
            None,
        ),
        InitrdFormat::Empty => (
            Status::Warning,
            format!("{path} is empty; it adds nothing"),
            Some("regenerate it (update-initramfs -u, dracut -f) or drop the initrd line".into()),
        ),
        InitrdFormat::Zeros | InitrdFormat::Unknown(_) => (
            Status::Fail,
            format!(
                "{path} is not an initramfs: {}; the kernel unpacks cpio (070701) archives, raw or compressed with gzip, zstd, xz, lzma, bzip2, lz4 or lzo",
                format.describe()
            ),
            Some(
                "regenerate it (update-initramfs -u, dracut -f) or fix the entry's initrd line"
                    .into(),
            ),
        ),
    };
    Check {
        subject,
        status,
        message,
        remedy,
    }
}

/// Runs every check.
pub fn run(i: &Inputs<'_>) -> Preflight {
    let kernel = KernelImage::identify(i.kernel);
    let mut checks = vec![kernel_check(i.kernel_path, &kernel)];
    let mut formats = Vec::new();
    for (path, data) in i.initrds {
        let f = InitrdFormat::identify(data);
        checks.push(initrd_check(path, &f));
        formats.push(f);
    }

    let bz: Option<&BzImage> = kernel.bzimage();
    let cmdline_limit = bz.map(|b| b.header.kexec_max_cmdline());
    let len = i.cmdline.len();
    checks.push(if i.cmdline.contains('\0') {
        Check {
            subject: "command line".into(),
            status: Status::Fail,
            message: "the command line contains a NUL byte".into(),
            remedy: Some("remove the NUL from the entry's options".into()),
        }
    } else {
        match (cmdline_limit, bz) {
            (Some(limit), Some(b)) if len > usize::try_from(limit).unwrap_or(usize::MAX) => Check {
                subject: "command line".into(),
                status: Status::Fail,
                message: format!(
                    "the command line is {len} bytes; this kernel takes at most {limit} through kexec_file_load (cmdline_size {} at 0x238, less the NUL and the {} bytes kexec keeps for elfcorehdr=)",
                    b.header.max_cmdline(),
                    crate::handoff::bzimage::KEXEC_CMDLINE_RESERVE
                ),
                remedy: Some("shorten the entry's options or the append setting".into()),
            },
            (Some(limit), _) => Check {
                subject: "command line".into(),
                status: Status::Ok,
                message: format!("{len} of at most {limit} bytes"),
                remedy: None,
            },
            _ => Check {
                subject: "command line".into(),
                status: Status::Ok,
                message: format!("{len} bytes (limit unknown)"),
                remedy: None,
            },
        }
    });

    let len64 = |b: &[u8]| u64::try_from(b.len()).unwrap_or(u64::MAX);
    let initrd_len: u64 = i.initrds.iter().map(|(_, d)| len64(d)).sum();
    let kernel_len = len64(i.kernel);
    let init_size = bz.and_then(|b| b.header.init_size);
    let needed = memory_needed(kernel_len, initrd_len, init_size);
    checks.push(match i.mem_available {
        Some(avail) if needed > avail => Check {
            subject: "memory".into(),
            status: Status::Fail,
            message: format!(
                "loading needs about {} (kernel {}, initrds {}, kernel init_size {}, each staged twice), MemAvailable is {}",
                size(needed),
                size(kernel_len),
                size(initrd_len),
                init_size.map_or("unknown".into(), |s| size(u64::from(s))),
                size(avail)
            ),
            remedy: Some(
                "use a smaller initrd (dracut --hostonly, MODULES=dep in initramfs.conf) or give the machine more memory".into(),
            ),
        },
        Some(avail) => Check {
            subject: "memory".into(),
            status: Status::Ok,
            message: format!("needs about {} of {} available", size(needed), size(avail)),
            remedy: None,
        },
        None => Check {
            subject: "memory".into(),
            status: Status::Ok,
            message: format!(
                "needs about {}; MemAvailable unknown",
                size(needed)
            ),
            remedy: None,
        },
    });

    Preflight {
        kernel,
        initrd_formats: formats,
        cmdline_limit,
        memory_needed: needed,
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initrd_magics() {
        let cases: &[(&[u8], InitrdFormat)] = &[
            (b"070701000000", InitrdFormat::Cpio),
            (b"\x00\x00\x00\x00070701", InitrdFormat::Cpio),
            (
                &[0x1f, 0x8b, 8, 0],
                InitrdFormat::Compressed(Compression::Gzip),
            ),
            (
                &[0x28, 0xb5, 0x2f, 0xfd, 0],
                InitrdFormat::Compressed(Compression::Zstd),
            ),
            (
                &[0xfd, b'7', b'z', b'X', b'Z', 0, 0],
                InitrdFormat::Compressed(Compression::Xz),
            ),
            (
                &[0x02, 0x21, 0x4c, 0x18],
                InitrdFormat::Compressed(Compression::Lz4Legacy),
            ),
            (
                &[0x5d, 0, 0, 0x80],
                InitrdFormat::Compressed(Compression::Lzma),
            ),
            (b"BZh91AY", InitrdFormat::Compressed(Compression::Bzip2)),
            (b"", InitrdFormat::Empty),
            (&[0, 0, 0, 0], InitrdFormat::Zeros),
            (b"hello", InitrdFormat::Unknown("68 65 6c 6c 6f".into())),
        ];
        for (data, want) in cases {
            assert_eq!(&InitrdFormat::identify(data), want, "{data:?}");
        }
    }

    #[test]
    fn lz4_frame_and_garbage_fail() {
        let bad = initrd_check("/i", &InitrdFormat::identify(&[0x04, 0x22, 0x4d, 0x18]));
        assert_eq!(bad.status, Status::Fail);
        let bad = initrd_check("/i", &InitrdFormat::identify(b"text"));
        assert_eq!(bad.status, Status::Fail);
        assert!(bad.message.contains("not an initramfs"));
    }

    #[test]
    fn meminfo() {
        let t = "MemTotal: 1000 kB\nMemFree: 10 kB\nMemAvailable:     512 kB\n";
        assert_eq!(parse_mem_available(t), Some(512 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn memory_estimate() {
        assert_eq!(memory_needed(10, 5, Some(100)), 30 + 100 + 5);
        assert_eq!(memory_needed(10, 0, None), 20 + 10);
    }
}
