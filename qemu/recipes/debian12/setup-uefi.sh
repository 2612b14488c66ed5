#!/bin/sh
# Second stage of the Debian 12 UEFI + systemd-boot test image (installed as
# /usr/local/sbin/leapboot-image-setup), run as PID 1 (init=) by the image's own
# kernel and initramfs under QEMU, the disk as /dev/vda: mounts the ESP at /boot/efi
# and does what Debian's systemd-boot package does on installation when it finds an
# ESP (its postinst): `bootctl install` and `kernel-install add` for every kernel,
# which writes Boot Loader Specification entries (with /etc/kernel/cmdline) and
# copies kernel and initramfs to the ESP. This guest has no EFI (it was started with
# -kernel), so no EFI variables are written: the firmware finds systemd-boot at the
# removable-media path EFI/BOOT/BOOTX64.EFI that bootctl also installs. Prints the
# kernels in systemd-boot's order (newest first), then powers off.
set -u
# Run from /run (the initramfs' tmpfs), so that / can be remounted read-only at the
# end with this script deleted from it.
if [ "$0" != /run/leapboot-image-setup ]; then
  cp "$0" /run/leapboot-image-setup && exec sh /run/leapboot-image-setup
fi
log() { echo "LEAPBOOT-SETUP: $*"; }
fail() {
  log "FAILED: $*"
  sync
  poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 60
}
log "start on $(uname -r)"
mount -o remount,rw / || fail "remount / read-write"
/lib/systemd/systemd-udevd --daemon || fail "systemd-udevd"
udevadm trigger --action=add && udevadm settle || fail "udevadm"
mount /boot/efi || fail "mount /boot/efi"
bootctl install --no-variables --make-machine-id-directory=yes || fail "bootctl install"
# A short menu, so that the boot loader shows on the serial line.
sed -i 's/^#\?timeout .*/timeout 1/' /boot/efi/loader/loader.conf
grep -q '^timeout 1' /boot/efi/loader/loader.conf || echo 'timeout 1' >>/boot/efi/loader/loader.conf
for v in $(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V -r); do
  kernel-install add "$v" "/boot/vmlinuz-$v" "/boot/initrd.img-$v" || fail "kernel-install add $v"
done
bootctl --no-variables list || true
for v in $(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V -r); do
  entry=$(cd /boot/efi/loader/entries && ls -- *-"$v".conf | head -n 1)
  [ -n "$entry" ] || fail "no loader entry for $v"
  log "kernel $v entry $entry"
done
udevadm control --exit || true
umount /boot/efi || fail "umount /boot/efi"
rm -f /usr/local/sbin/leapboot-image-setup
sync
mount -o remount,ro / || fail "remount / read-only"
log "OK"
poweroff -f
echo o >/proc/sysrq-trigger
sleep 60
