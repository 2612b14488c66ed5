#!/bin/sh
# Second stage of the Debian 12 BIOS + GRUB test image (installed as
# /usr/local/sbin/leapboot-image-setup), run as PID 1 (init=) by the image's own
# kernel and initramfs under QEMU, the disk as /dev/vda: installs GRUB the way the
# distribution does (grub-install, update-grub), prints the kernels in grub.cfg's
# order, then powers off. The host kernel that builds the image cannot see
# partitions of an image file; this kernel can.
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
# udev, so that /dev/disk/by-uuid exists and update-grub writes root=UUID=...
/lib/systemd/systemd-udevd --daemon || fail "systemd-udevd"
udevadm trigger --action=add && udevadm settle || fail "udevadm"
grub-install --target=i386-pc /dev/vda || fail "grub-install"
update-grub 2>/run/update-grub.log || { cat /run/update-grub.log; fail "update-grub"; }
cat /run/update-grub.log
grep -q '^menuentry ' /boot/grub/grub.cfg || fail "no menuentry in grub.cfg"
# The kernels in the order update-grub put them in grub.cfg (the default's first).
sed -n 's|^Found linux image: /boot/vmlinuz-|LEAPBOOT-SETUP: kernel |p' /run/update-grub.log
udevadm control --exit || true
rm -f /usr/local/sbin/leapboot-image-setup
sync
mount -o remount,ro / || fail "remount / read-only"
log "OK"
poweroff -f
echo o >/proc/sysrq-trigger
sleep 60
