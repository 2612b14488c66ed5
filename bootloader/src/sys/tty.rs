//! Terminals: termios, window size, output queue, and waiting on several at once.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The terminal settings of `f`, or `None` when it is not a terminal.
pub fn get_termios(f: &File) -> Option<libc::termios> {
    // SAFETY: termios is plain data; all zeroes is a valid value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr writes one termios we own; the fd is open for the call.
    (unsafe { libc::tcgetattr(f.as_raw_fd(), &mut t) } == 0).then_some(t)
}

/// Applies `t` to `f` now (`TCSANOW`).
pub fn set_termios(f: &File, t: &libc::termios) -> std::io::Result<()> {
    // SAFETY: tcsetattr reads one termios we own; the fd is open for the call.
    let r = unsafe { libc::tcsetattr(f.as_raw_fd(), libc::TCSANOW, t) };
    super::check(r.into())
}

/// `TIOCGWINSZ`: (columns, rows), or `None` when the terminal does not say.
pub fn window_size(f: &File) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data; all zeroes is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize we own; the fd is open for the call.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some((ws.ws_col, ws.ws_row))
}

/// `TIOCOUTQ`: bytes written to `f` that the terminal has not sent yet.
pub fn output_queue(f: &File) -> std::io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int we own; the fd is open for the call.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    super::check(r.into())?;
    Ok(usize::try_from(queued).unwrap_or(0))
}

/// What `poll` said of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ready {
    /// Bytes can be read.
    pub readable: bool,
    /// Hung up, in error or not open.
    pub failed: bool,
}

/// Waits up to `wait` (forever when `None`) until one of `files` can be read (`None`
/// entries are left out); returns what each can do, in order (all not ready on a
/// time-out or an interrupted wait).
pub fn poll_readable(files: &[Option<&File>], wait: Option<Duration>) -> Vec<Ready> {
    let mut fds: Vec<libc::pollfd> = files
        .iter()
        .map(|f| libc::pollfd {
            // poll(2) skips negative fds.
            fd: f.map_or(-1, |f| f.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = wait.map_or(-1, |w| i32::try_from(w.as_millis()).unwrap_or(i32::MAX));
    let n = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
    // SAFETY: fds is a valid array of n pollfd that lives for the call; every fd is
    // open (borrowed from the files) for the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), n, ms) };
    fds.iter()
        .map(|p| {
            if r <= 0 {
                return Ready::default();
            }
            Ready {
                readable: p.revents & libc::POLLIN != 0,
                failed: p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0,
            }
        })
        .collect()
}
