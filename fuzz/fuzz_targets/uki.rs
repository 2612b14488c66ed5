//! Unified kernel images: arbitrary bytes through the PE section reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(u) = leapboot_menus::bls::uki::parse(data) {
        if let Some(os) = &u.os_release {
            let _ = leapboot_menus::bls::uki::os_release_info(os);
        }
    }
});
