#!/bin/sh
# Customizes the debootstrapped tree "$1" of a Debian 12 test image (run by mmdebstrap
# as a --customize-hook, on the host, as root). The boot loader is installed later,
# inside a QEMU guest (setup-in-guest.sh: setup-bios.sh or setup-uefi.sh), where the
# disk is a real disk with a partition table.
#
# Environment: BOOT (bios: GRUB; uefi: systemd-boot on the ESP at /boot/efi),
# ROOT_UUID (the root filesystem's UUID), ESP_UUID (uefi: the ESP's volume id,
# XXXX-XXXX), MACHINE_ID, RECIPE_DIR (these files).
set -eu
root="$1"

echo leapboot-guest >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tleapboot-guest\n' >"$root/etc/hosts"
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$ROOT_UUID" >"$root/etc/fstab"
# A fixed machine id: an empty one makes every boot a first boot (systemd-firstboot
# would ask questions on the console).
echo "$MACHINE_ID" >"$root/etc/machine-id"
# root can log in on a console without a password (a test machine without a network).
chroot "$root" passwd -d root >/dev/null

case "$BOOT" in
bios)
  # GRUB on the serial line with a short menu, the kernel's console there too. The
  # rest of /etc/default/grub stays Debian's (GRUB_DEFAULT=0, "quiet", the submenu).
  sed -i \
    -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' \
    -e 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=ttyS0,115200"/' \
    -e 's/^#\?GRUB_TERMINAL=.*/GRUB_TERMINAL=serial/' \
    "$root/etc/default/grub"
  cat >>"$root/etc/default/grub" <<'GRUB'
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_TIMEOUT_STYLE=menu
GRUB
  # Where Debian's grub-pc package installs GRUB on upgrades (the question it asks).
  echo "grub-pc grub-pc/install_devices multiselect /dev/vda" |
    chroot "$root" debconf-set-selections
  ;;
uefi)
  # The ESP where the Debian installer mounts it; kernel-install writes the Boot
  # Loader Specification entries there with this command line.
  printf 'UUID=%s\t/boot/efi\tvfat\tumask=0077\t0\t1\n' "$ESP_UUID" >>"$root/etc/fstab"
  mkdir -p "$root/boot/efi"
  echo "root=UUID=$ROOT_UUID ro console=ttyS0,115200 quiet" >"$root/etc/kernel/cmdline"
  ;;
*)
  echo "customize.sh: BOOT=$BOOT: expected bios or uefi" >&2
  exit 1
  ;;
esac

# The test driver owns ttyS0: no getty there (the generator would start one for
# console=ttyS0).
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
install -m 0755 "$RECIPE_DIR/leapboot-test-driver" "$root/usr/local/sbin/leapboot-test-driver"
install -m 0644 "$RECIPE_DIR/leapboot-test-driver.service" \
  "$root/etc/systemd/system/leapboot-test-driver.service"
ln -sf ../leapboot-test-driver.service \
  "$root/etc/systemd/system/multi-user.target.wants/leapboot-test-driver.service"
install -D -m 0755 "$RECIPE_DIR/leapboot-test-down" \
  "$root/usr/lib/systemd/system-shutdown/leapboot-test-down"
install -m 0755 "$RECIPE_DIR/setup-in-guest.sh" "$root/usr/local/sbin/leapboot-image-setup"

# No timers firing during a test run.
rm -f "$root"/etc/systemd/system/timers.target.wants/*.timer
