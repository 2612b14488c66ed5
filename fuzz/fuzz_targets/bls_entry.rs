//! BLS Type #1 entry files and loader.conf: arbitrary text through both parsers.
#![no_main]

use leapboot_menus::bls::{entry, loader_conf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut diags = Vec::new();
    let e = entry::parse("/loader/entries/fuzz.conf", &text, &mut diags);
    let _ = e.cmdline();
    let c = loader_conf::parse("/loader/loader.conf", &text, &mut diags);
    let _ = c.default_pattern();
});
