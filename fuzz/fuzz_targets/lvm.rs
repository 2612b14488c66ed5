//! LVM2: arbitrary bytes as a PV's first sectors (label and PV header), as a metadata
//! area header, and as metadata text (the `vg { ... }` parser, the volume group read
//! from it and every LV mapped onto two PVs); then the same bytes as a whole PV read
//! through the metadata areas its label names (the circular buffer included). Nothing
//! may panic, hang or allocate without bound.
#![no_main]

use leapboot::devices::stack::{self, lvm, lvm_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(top) = lvm_text::parse(data)
        && let Ok(vg) = lvm::volume_group(&top)
    {
        let pvs: Vec<lvm::PvDevice> = vg
            .pvs
            .iter()
            .map(|p| lvm::PvDevice {
                uuid: p.uuid.clone(),
                len: 64 << 20,
            })
            .collect();
        let _ = lvm::plan(&vg, &pvs);
    }
    // The header names its own start: take it from the input, so the checks after
    // that one are reached.
    let start = data
        .get(24..32)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    let area = lvm::Area {
        offset: start,
        size: 0,
    };
    if let Ok(mda) = lvm::parse_mda_header(data, area)
        && let Some(locn) = mda.locn
    {
        let _ = lvm::text_ranges(&mda, &locn);
    }
    if let Ok(Some(label)) = lvm::parse_label(data) {
        let read = |at: u64, buf: &mut [u8]| -> std::io::Result<()> {
            let start = usize::try_from(at).map_err(std::io::Error::other)?;
            let src = start
                .checked_add(buf.len())
                .and_then(|end| data.get(start..end))
                .ok_or_else(|| std::io::Error::other("past the end"))?;
            buf.copy_from_slice(src);
            Ok(())
        };
        let _ = stack::pv_metadata(&label, read);
    }
});
