//! Volumes in, entries and diagnostics out: the sources run one after the other on
//! each volume. A source may look at the other volumes too (GRUB's `search` finds
//! kernels on another partition), so every scan sees the whole set.

use crate::bls::{self, loader_conf::LoaderConf};
use crate::diag::Diagnostic;
use crate::entry::{Entry, VolumeInfo};
use crate::grub::{self, GrubScan};

/// Where [`VolumeView`] lives now; re-exported so `scan::VolumeView` keeps working.
pub use crate::fs::VolumeView;

/// Everything the sources found on one volume.
#[derive(Debug)]
pub struct VolumeScan {
    /// The volume scanned.
    pub volume: VolumeInfo,
    /// Entries found, per source in that source's own order.
    pub entries: Vec<Entry>,
    /// The volume's `loader.conf`, if any.
    pub loader_conf: Option<LoaderConf>,
    /// What GRUB would do with the volume's `grub.cfg`, if it has one; its entries
    /// are also in `entries`, after the BLS and UKI ones.
    pub grub: Option<GrubScan>,
    /// Problems found and skipped.
    pub diagnostics: Vec<Diagnostic>,
}

/// Runs every source over `volumes[index]`; the other volumes are visible to sources
/// that search across volumes. An index out of range gives an empty scan of nothing.
pub fn scan_volume(volumes: &[VolumeView<'_>], index: usize) -> Option<VolumeScan> {
    scan_volume_with(volumes, index, &grub::GrubOptions::default())
}

/// [`scan_volume`] with GRUB run under `options` (the platform GRUB runs on, for one:
/// `leapboot reboot` on a BIOS machine runs its config as the `pc` GRUB would).
pub fn scan_volume_with(
    volumes: &[VolumeView<'_>],
    index: usize,
    options: &grub::GrubOptions,
) -> Option<VolumeScan> {
    let view = volumes.get(index)?;
    let mut diagnostics = Vec::new();
    let bls = bls::scan(view.info, view.fs, &mut diagnostics);
    let mut entries = bls.entries;
    entries.extend(bls::uki::scan(view.info, view.fs, &mut diagnostics));
    let grub = grub::scan_with(volumes, index, options, &mut diagnostics);
    if let Some(g) = &grub {
        entries.extend(g.entries.iter().cloned());
    }
    Some(VolumeScan {
        volume: view.info.clone(),
        entries,
        loader_conf: bls.loader_conf,
        grub,
        diagnostics,
    })
}

/// Scans every volume, in order.
pub fn scan_all(volumes: &[VolumeView<'_>]) -> Vec<VolumeScan> {
    (0..volumes.len())
        .filter_map(|i| scan_volume(volumes, i))
        .collect()
}
