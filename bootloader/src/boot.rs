//! The handoff: read the chosen entry's kernel and initrds from its volume, build the
//! final command line, log the handoff summary, load with kexec and jump.
//! The TUI, the headless path and `leapboot boot` all call [`prepare`] and [`execute`].

use crate::kexec::{self, KexecError};
use crate::log::Area;
use crate::settings::Settings;
use crate::volume::Volume;
use leapboot_menus::{Entry, FsError};

/// Largest kernel image read (bzImages are tens of MiB).
pub const MAX_KERNEL_BYTES: u64 = 256 * 1024 * 1024;
/// Largest total of initrds read.
pub const MAX_INITRD_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Why an entry could not be handed off.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The entry says it cannot boot.
    #[error("entry '{id}' is not bootable: {problem}")]
    NotBootable {
        /// Entry id.
        id: String,
        /// Why.
        problem: String,
    },
    /// Its volume is not among those found.
    #[error("entry '{id}': volume {volume} is not present")]
    NoVolume {
        /// Entry id.
        id: String,
        /// UUID or device.
        volume: String,
    },
    /// Reading a file failed.
    #[error("entry '{id}': cannot read {what} from {device}: {source}")]
    Read {
        /// Entry id.
        id: String,
        /// `kernel` or `initrd`.
        what: &'static str,
        /// Device name.
        device: String,
        /// The filesystem error (names the path).
        source: FsError,
    },
    /// The initrds together are too large.
    #[error("entry '{id}': initrds total more than {MAX_INITRD_BYTES} bytes")]
    InitrdsTooLarge {
        /// Entry id.
        id: String,
    },
    /// kexec failed.
    #[error("entry '{id}': {source}")]
    Kexec {
        /// Entry id.
        id: String,
        /// The decoded kexec error.
        source: KexecError,
    },
}

/// Everything needed for the two syscalls, plus the summary that was logged.
#[derive(Debug)]
pub struct Handoff {
    /// Entry id.
    pub id: String,
    /// Kernel image bytes.
    pub kernel: Vec<u8>,
    /// Every initrd, concatenated in order.
    pub initrd: Vec<u8>,
    /// The final command line.
    pub cmdline: String,
    /// The handoff summary, one line each.
    pub summary: Vec<String>,
}

/// Choices made in the menu for one boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// The whole command line, edited in the menu (replaces [`final_cmdline`]).
    pub cmdline_override: Option<String>,
    /// Boot with handoff debugging parameters.
    pub debug: bool,
}

/// The command line the new kernel gets: the entry's, then the `append` setting.
pub fn final_cmdline(entry: &Entry, settings: &Settings) -> String {
    let mut c = entry.cmdline.trim().to_string();
    if let Some(a) = settings
        .append
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        if !c.is_empty() {
            c.push(' ');
        }
        c.push_str(a);
    }
    c
}

/// Finds the volume an entry's files live on: by filesystem UUID, else device name.
pub fn find_volume<'a>(entry: &Entry, volumes: &'a [Volume]) -> Option<&'a Volume> {
    volumes
        .iter()
        .find(|v| {
            entry.volume.uuid.is_some()
                && v.info.uuid == entry.volume.uuid
                && v.info.device == entry.volume.device
        })
        .or_else(|| {
            volumes
                .iter()
                .find(|v| entry.volume.uuid.is_some() && v.info.uuid == entry.volume.uuid)
        })
        .or_else(|| {
            volumes
                .iter()
                .find(|v| v.info.device == entry.volume.device)
        })
}

/// PID 1's boot: reopens the entry's volume, prepares and executes the handoff.
/// Returns only on failure.
pub fn boot_entry(entry: &Entry, settings: &Settings, opts: &BootOptions) -> BootError {
    crate::log!(Area::Kexec, "booting '{}'", entry.id);
    let Some(vol) = crate::discovery::reopen_volume(entry) else {
        return BootError::NoVolume {
            id: entry.id.clone(),
            volume: entry
                .volume
                .uuid
                .clone()
                .unwrap_or_else(|| entry.volume.device.clone()),
        };
    };
    match prepare(entry, std::slice::from_ref(&vol), settings, opts) {
        Ok(h) => execute_counted(&h, entry, &vol),
        Err(e) => e,
    }
}

/// [`execute`], renaming a counted BLS entry (one try used) after the kernel loaded
/// and before jumping to it, so a failed load does not use up a try.
pub fn execute_counted(h: &Handoff, entry: &Entry, vol: &Volume) -> BootError {
    let Some((old, new)) = leapboot_menus::bls::counter::rename_for_boot(entry) else {
        return execute(h);
    };
    crate::log!(Area::Kexec, "loading '{}' before counting the try", h.id);
    if let Err(source) = kexec::load(&h.kernel, &h.initrd, &h.cmdline) {
        return BootError::Kexec {
            id: h.id.clone(),
            source,
        };
    }
    match crate::volume::counting::rename(vol, &old, &new) {
        Ok(()) => crate::log!(
            Area::Kexec,
            "boot counting: renamed {old} to {new} on {}",
            vol.info.device
        ),
        Err(e) => crate::log!(
            Area::Kexec,
            "boot counting: cannot rename {old} to {new}: {e}; booting anyway"
        ),
    }
    crate::log!(Area::Kexec, "loaded '{}'; starting the new kernel", h.id);
    let source = kexec::exec();
    kexec::unload();
    BootError::Kexec {
        id: h.id.clone(),
        source,
    }
}

/// Reads the entry's files and logs the handoff summary.
pub fn prepare(
    entry: &Entry,
    volumes: &[Volume],
    settings: &Settings,
    opts: &BootOptions,
) -> Result<Handoff, BootError> {
    let id = entry.id.clone();
    if let Some(p) = &entry.problem {
        return Err(BootError::NotBootable {
            id,
            problem: p.clone(),
        });
    }
    let vol = find_volume(entry, volumes).ok_or_else(|| BootError::NoVolume {
        id: id.clone(),
        volume: entry
            .volume
            .uuid
            .clone()
            .unwrap_or_else(|| entry.volume.device.clone()),
    })?;
    let device = vol.info.device.clone();
    let read_err = |what, source| BootError::Read {
        id: id.clone(),
        what,
        device: device.clone(),
        source,
    };
    // A unified kernel image carries the kernel and initrd as PE sections.
    let uki = entry.uki.as_ref();
    let kernel = match uki.and_then(|u| u.linux.as_ref()) {
        Some(r) if r.size > MAX_KERNEL_BYTES => {
            return Err(read_err(
                "kernel",
                FsError::TooLarge {
                    path: format!("{}:.linux", entry.kernel),
                    size: r.size,
                    limit: MAX_KERNEL_BYTES,
                },
            ));
        }
        Some(r) => vol.fs.read_range(&entry.kernel, r.offset, r.size),
        None => vol.fs.read(&entry.kernel, MAX_KERNEL_BYTES),
    }
    .map_err(|e| read_err("kernel", e))?;
    let mut summary = vec![
        format!(
            "handoff: entry '{}' ({}) from {}:{}",
            entry.id, entry.title, entry.source.file, entry.source.line
        ),
        format!(
            "handoff: volume {} UUID={} LABEL={}",
            device,
            vol.info.uuid.as_deref().unwrap_or("-"),
            vol.info.label.as_deref().unwrap_or("-")
        ),
        format!("handoff: kernel {} ({} bytes)", entry.kernel, kernel.len()),
    ];
    let mut initrd = Vec::new();
    if let Some(r) = uki.and_then(|u| u.initrd.as_ref()) {
        if r.size > MAX_INITRD_BYTES {
            return Err(BootError::InitrdsTooLarge { id: id.clone() });
        }
        initrd = vol
            .fs
            .read_range(&entry.kernel, r.offset, r.size)
            .map_err(|e| read_err("initrd", e))?;
        summary.push(format!(
            "handoff: initrd {}:.initrd ({} bytes)",
            entry.kernel,
            initrd.len()
        ));
    }
    for path in &entry.initrds {
        let left = MAX_INITRD_BYTES.saturating_sub(initrd.len() as u64);
        let data = vol.fs.read(path, left).map_err(|e| match e {
            FsError::TooLarge { .. } => BootError::InitrdsTooLarge { id: id.clone() },
            e => read_err("initrd", e),
        })?;
        summary.push(format!("handoff: initrd {path} ({} bytes)", data.len()));
        // Each cpio archive starts 4-byte aligned; the kernel unpacks them one after another.
        while initrd.len() % 4 != 0 {
            initrd.push(0);
        }
        initrd.extend_from_slice(&data);
    }
    if initrd.is_empty() {
        summary.push("handoff: no initrd".to_string());
    }
    let cmdline = opts
        .cmdline_override
        .clone()
        .unwrap_or_else(|| final_cmdline(entry, settings));
    summary.push(format!(
        "handoff: command line ({} bytes): {cmdline}",
        cmdline.len()
    ));
    for line in &summary {
        crate::log!(Area::Kexec, "{line}");
    }
    Ok(Handoff {
        id,
        kernel,
        initrd,
        cmdline,
        summary,
    })
}

/// Loads the handoff with `kexec_file_load` and jumps. Returns only on failure.
pub fn execute(h: &Handoff) -> BootError {
    crate::log!(
        Area::Kexec,
        "kexec_file_load: kernel {} bytes, initrd {} bytes",
        h.kernel.len(),
        h.initrd.len()
    );
    if let Err(source) = kexec::load(&h.kernel, &h.initrd, &h.cmdline) {
        return BootError::Kexec {
            id: h.id.clone(),
            source,
        };
    }
    crate::log!(Area::Kexec, "loaded '{}'; starting the new kernel", h.id);
    let source = kexec::exec();
    kexec::unload();
    BootError::Kexec {
        id: h.id.clone(),
        source,
    }
}
