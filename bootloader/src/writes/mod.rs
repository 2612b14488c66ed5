//! The only code that opens a disk read-write, each for one file and in place:
//!
//! - [`counting`]: systemd-boot's boot counting, a crash-safe rename of a counted BLS
//!   entry (`x+3.conf` to `x+2-1.conf`) in a FAT directory slot;
//! - [`grubenv`]: GRUB's environment block (`next_entry` cleared, `save_env`), rewritten
//!   in the sectors the filesystem reader itself read it from, at the same size.
//!
//! Both find where to write through the read side ([`crate::devices::volume`]), and
//! change nothing else on the disk. On an installed system (`leapboot reboot`), where the
//! volumes are mounted, the same two writes go through the mounted filesystem instead
//! ([`counting::rename_mounted`], [`grubenv::apply_to_file`]).

pub mod counting;
pub mod grubenv;
