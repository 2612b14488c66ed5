//! Devices found and read in the background, so the menu never waits on a slow disk.
//!
//! A coordinator thread waits for block devices to settle, then gives each disk a
//! worker thread that reads its partition table and probes its filesystems. As each
//! disk answers, the coordinator reopens the volumes of every disk that has answered
//! and runs the config sources over all of them together (GRUB's `search` may find
//! a kernel on another disk), and sends a new [`Snapshot`]. A disk that has not
//! answered within [`DISK_TIME_LIMIT`] is reported and left out; one that answers
//! later still joins. Volumes are reopened rather than shared because the ext4
//! reader is not `Send`; reopening costs a few superblock reads. RAID arrays and LVM
//! logical volumes are assembled from the members of every disk that has answered
//! (`scan::stacked`), so an LV striped over two disks appears once both answered.

use super::disk::sysfs;
use super::scan::{self, DiskScan};
use super::volume::Volume;
use crate::log::Area;
use crate::settings::Settings;
use leapboot_menus::{Menu, VolumeInfo, VolumeRef};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How long one disk may take to answer before the menu stops waiting for it.
pub const DISK_TIME_LIMIT: Duration = Duration::from_secs(10);
/// How long the set of disks must stay unchanged to count as settled.
pub const SETTLE_QUIET: Duration = Duration::from_millis(300);

/// The menu as it stands.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Entries of every disk that has answered, in boot order, with the default.
    pub menu: Menu,
    /// Disks still being read.
    pub pending: Vec<String>,
    /// Every volume read.
    pub volumes: Vec<VolumeInfo>,
}

/// What the discovery reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// Progress for the status line.
    Status(String),
    /// A new menu; replaces the previous one.
    Menu(Snapshot),
    /// Every disk answered or ran out of time.
    Settled,
}

/// A running discovery.
pub struct Discovery {
    rx: Receiver<Event>,
    settings: Settings,
}

/// The volumes of one disk that answered: where they are, not open handles (and the
/// RAID members and LVM PVs on it).
#[derive(Debug, Clone)]
struct DiskResult {
    scan: DiskScan,
}

impl Discovery {
    /// Starts discovery in the background.
    pub fn start(settings: &Settings) -> Discovery {
        let (tx, rx) = mpsc::channel();
        let s = settings.clone();
        let spawned = std::thread::Builder::new()
            .name("discovery".into())
            .spawn(move || coordinate(&s, &tx));
        if let Err(e) = spawned {
            crate::log!(Area::Disk, "cannot start the device scan: {e}");
        }
        Discovery {
            rx,
            settings: settings.clone(),
        }
    }

    /// The next event, or `None` when none arrives within `d` (or discovery ended).
    pub fn recv_timeout(&self, d: Duration) -> Option<Event> {
        match self.rx.recv_timeout(d) {
            Ok(e) => Some(e),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(d);
                None
            }
        }
    }

    /// Starts over: devices are looked for again (the old scan's results are dropped),
    /// timed as a pass of its own.
    pub fn rescan(&mut self) {
        crate::phases::rescan();
        *self = Discovery::start(&self.settings);
    }

    /// Waits until discovery settles and returns the last snapshot (headless boots).
    pub fn wait_settled(&self) -> Snapshot {
        let mut last = Snapshot {
            menu: Menu::default(),
            pending: Vec::new(),
            volumes: Vec::new(),
        };
        loop {
            match self.rx.recv() {
                Ok(Event::Menu(s)) => last = s,
                Ok(Event::Status(_)) => {}
                Ok(Event::Settled) | Err(_) => return last,
            }
        }
    }
}

fn send(tx: &Sender<Event>, e: Event) -> bool {
    tx.send(e).is_ok()
}

/// Opens the volumes of the disks that answered, in disk order, then those of the
/// RAID arrays and LVs assembled across them (logged when `log` is set).
fn open_volumes(results: &[DiskResult], log: bool) -> Vec<Volume> {
    let mut out: Vec<Volume> = results
        .iter()
        .flat_map(|r| scan::open_volumes(&r.scan))
        .collect();
    let scans: Vec<DiskScan> = results.iter().map(|r| r.scan.clone()).collect();
    let (devices, _problems) = scan::stacked(&scans, log);
    let seen: Vec<VolumeInfo> = out.iter().map(|v| v.info.clone()).collect();
    for d in &devices {
        out.extend(scan::drop_seen(scan::open_volumes(d), &seen));
    }
    out
}

fn coordinate(settings: &Settings, tx: &Sender<Event>) {
    let t = Instant::now();
    send(tx, Event::Status("waiting for block devices".into()));
    let disks = sysfs::settle(
        Path::new("/sys/class/block"),
        Duration::from_millis(settings.device_wait_ms),
        SETTLE_QUIET,
    );
    crate::phases::add(crate::phases::Phase::Devices, t.elapsed());
    crate::log!(
        Area::Disk,
        "{} disk(s) after {} ms: {}",
        disks.len(),
        t.elapsed().as_millis(),
        disks
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (wtx, wrx) = mpsc::channel::<(usize, Option<DiskScan>)>();
    for (i, d) in disks.iter().enumerate() {
        let wtx = wtx.clone();
        let dd = d.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("disk-{}", d.name))
            .spawn(move || {
                let scan = scan::disk_scan(&dd.node, &dd.name);
                let _ = wtx.send((i, scan));
            });
        if let Err(e) = spawned {
            crate::log!(Area::Disk, "{}: cannot start reader thread: {e}", d.name);
        }
    }
    drop(wtx);
    let mut answered: Vec<Option<DiskResult>> = vec![None; disks.len()];
    let mut done = vec![false; disks.len()];
    let deadline = Instant::now() + DISK_TIME_LIMIT;
    let mut settled_sent = false;
    let snapshot = |answered: &[Option<DiskResult>], done: &[bool]| {
        let results: Vec<DiskResult> = answered.iter().flatten().cloned().collect();
        let volumes = {
            let _t = crate::phases::timer(crate::phases::Phase::Scan);
            open_volumes(&results, done.iter().all(|d| *d))
        };
        let _t = crate::phases::timer(crate::phases::Phase::Parse);
        let pending = disks
            .iter()
            .zip(done)
            .filter(|(_, d)| !**d)
            .map(|(b, _)| b.name.clone())
            .collect::<Vec<_>>();
        let (_scans, menu) =
            scan::entries_logged(&volumes, settings.default.as_deref(), pending.is_empty());
        Snapshot {
            menu,
            pending,
            volumes: volumes.iter().map(|v| v.info.clone()).collect(),
        }
    };
    if disks.is_empty() {
        crate::log!(
            Area::Disk,
            "no block devices found within {} ms",
            settings.device_wait_ms
        );
        send(tx, Event::Menu(snapshot(&answered, &done)));
        send(tx, Event::Settled);
        return;
    }
    loop {
        let wait = if settled_sent {
            Duration::from_secs(3600)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        let waited = Instant::now();
        let answer = wrx.recv_timeout(wait);
        if !settled_sent {
            crate::phases::add(crate::phases::Phase::Scan, waited.elapsed());
        }
        match answer {
            Ok((i, scan)) => {
                done[i] = true;
                if let (Some(scan), Some(slot)) = (scan, answered.get_mut(i)) {
                    *slot = Some(DiskResult { scan });
                }
                let snap = snapshot(&answered, &done);
                let pending = snap.pending.clone();
                if !send(tx, Event::Menu(snap)) {
                    return;
                }
                if pending.is_empty() && !settled_sent {
                    send(tx, Event::Settled);
                    settled_sent = true;
                } else if !pending.is_empty() {
                    send(tx, Event::Status(format!("reading {}", pending.join(", "))));
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !settled_sent {
                    let slow: Vec<&str> = disks
                        .iter()
                        .zip(&done)
                        .filter(|(_, d)| !**d)
                        .map(|(b, _)| b.name.as_str())
                        .collect();
                    crate::log!(
                        Area::Disk,
                        "{} did not answer within {} s; continuing without it (it joins the menu if it answers later)",
                        slow.join(", "),
                        DISK_TIME_LIMIT.as_secs()
                    );
                    send(
                        tx,
                        Event::Status(format!("not answering: {}", slow.join(", "))),
                    );
                    send(tx, Event::Settled);
                    settled_sent = true;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Opens the volume `r` names (by UUID and device) by looking at every disk again
/// (PID 1 boots, and the grubenv writer).
pub fn reopen(r: &VolumeRef) -> Option<Volume> {
    // The volume's own disk first (`vda` for `vda1`), so a slow disk elsewhere is
    // never touched on the way to the boot.
    let mut disks = sysfs::whole_disks(Path::new("/sys/class/block"));
    disks.sort_by_key(|d| !r.device.starts_with(&d.name));
    let mut results = Vec::new();
    for d in disks {
        let Some(scan) = scan::disk_scan(&d.node, &d.name) else {
            continue;
        };
        let result = DiskResult { scan };
        for v in open_volumes(std::slice::from_ref(&result), false) {
            if super::match_rank(r, &v.info).is_some() {
                return Some(v);
            }
        }
        results.push(result);
    }
    // A volume on an LV or array whose members are on several disks.
    open_volumes(&results, false)
        .into_iter()
        .find(|v| super::match_rank(r, &v.info).is_some())
}
