//! Oracle: any text, as TOML or YAML, parses into a config or into located problems; it never
//! panics, and a config that parses also validates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tailsift::config_file::{Config, Format};

fuzz_target!(|text: &str| {
    for format in [Format::Toml, Format::Yaml] {
        if let Ok(config) = Config::parse(text, format, "fuzz".as_ref()) {
            assert!(config.validate().is_ok(), "a parsed config must validate");
        }
    }
});
