//! Locked-down mode end to end: with `require_signature`, leapboot raises the
//! firmware kernel's lockdown and an unsigned kernel is refused, reported, and not
//! booted.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use leapboot_e2e::{Scenario, TARGET_OPTIONS};
use leapboot_qemu::{DiskImage, Partition, default_timeout, qemu_or_skip};

/// The Debian kernel with its Authenticode signature removed: the PE security data
/// directory (index 4) zeroed and the certificate table cut off the end.
fn unsigned_kernel(signed: &[u8]) -> Vec<u8> {
    let le32 =
        |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let pe = le32(signed, 0x3c);
    assert_eq!(
        &signed[pe..pe + 4],
        b"PE\0\0",
        "the Debian bzImage is an EFI stub"
    );
    let opt = pe + 24;
    assert_eq!(
        u16::from_le_bytes([signed[opt], signed[opt + 1]]),
        0x20b,
        "PE32+"
    );
    let dir = opt + 112 + 4 * 8;
    let (cert_off, cert_len) = (le32(signed, dir), le32(signed, dir + 4));
    assert!(
        cert_len > 0 && cert_off + cert_len == signed.len(),
        "signature table at the end"
    );
    let mut out = signed[..cert_off].to_vec();
    out[dir..dir + 8].fill(0);
    out
}

#[test]
fn unsigned_kernel_refused_when_signatures_are_required() {
    if !qemu_or_skip("unsigned_kernel_refused_when_signatures_are_required") {
        return;
    }
    let mut s = Scenario::new("lockdown-signature");
    let signed = std::fs::read(&s.kernel.vmlinuz).unwrap();
    let esp = Partition::esp(40)
        .file("/unsigned", unsigned_kernel(&signed))
        .file("/target.img", s.target_initrd(&["x"]))
        .file(
            "/loader/entries/unsigned.conf",
            format!(
                "title Unsigned\nlinux /unsigned\ninitrd /target.img\noptions {TARGET_OPTIONS}\n"
            ),
        );
    s.disk(&DiskImage::gpt(48).partition(esp));
    s.firmware("timeout = 0\nrequire_signature = true\n");
    let mut vm = s.boot("");
    vm.wait_for("kernel lockdown raised to integrity", default_timeout())
        .unwrap();
    let err = vm
        .wait_for("kexec_file_load failed", default_timeout())
        .unwrap();
    assert!(err.contains("EPERM"), "{err}");
    // Reported, not booted: leapboot stays in the menu.
    vm.wait_for("press 0-9 to boot an entry", default_timeout())
        .or_else(|_| vm.wait_for_any("leapboot", default_timeout()))
        .unwrap();
    assert!(
        vm.find_in_log("LEAPBOOT-TARGET").is_none(),
        "the unsigned kernel booted"
    );
    assert!(vm.is_running(), "PID 1 died");
}
