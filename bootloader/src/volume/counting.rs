//! Boot counting's one write (Boot Loader Specification, "Boot counting"): renaming
//! an entry file `+LEFT[-DONE]` to `+(LEFT-1)-(DONE+1)` on its FAT volume before the
//! entry boots. The only place leapboot opens a disk read-write.

use super::Volume;
use leapboot_menus::FsError;

/// Renames `old` to `new` (both absolute within `vol`) on the volume's device.
pub fn rename(vol: &Volume, old: &str, new: &str) -> Result<(), FsError> {
    let _ = (vol, new);
    Err(FsError::Unsupported {
        path: old.to_string(),
        what: "renaming for boot counting",
    })
}
