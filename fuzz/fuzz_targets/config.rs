//! Arbitrary UTF-8 text as the server's config file: `Config::from_toml_str` (defaults, then
//! the text) returns an error, never panics; a config it accepts is equal to itself re-read
//! from its own TOML serialisation, so nothing it holds is lost or changed on the way.
#![no_main]

use granska_server::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = Config::from_toml_str(text) else { return };
    let written = toml::to_string(&config).expect("an accepted config serialises");
    let reread = Config::from_toml_str(&written).expect("a serialised config is accepted");
    assert_eq!(reread, config, "config changed through TOML:\n{written}");
});
