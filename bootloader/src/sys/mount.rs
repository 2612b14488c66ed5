//! `mount(2)`.

use std::ffi::CString;

fn cstr(s: &str) -> std::io::Result<CString> {
    CString::new(s).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
}

/// Mounts `source` on `target` as `fstype` with `flags` (`MS_*`) and `data` options.
pub fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let (source, target, fstype) = (cstr(source)?, cstr(target)?, cstr(fstype)?);
    let data = data.map(cstr).transpose()?;
    let data_ptr = data
        .as_ref()
        .map_or(std::ptr::null(), |d| d.as_ptr().cast::<libc::c_void>());
    // SAFETY: the three strings are NUL-terminated and live until the call returns;
    // data is null or a NUL-terminated string that lives as long.
    let r = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data_ptr,
        )
    };
    super::check(r.into())
}
