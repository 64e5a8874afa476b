//! Fuzzes the parser: any input must parse or fail with an error, never panic, and whatever
//! parses must print to text that parses to the same printed form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(expr) = promql::parse(text) {
        let printed = expr.to_string();
        let again = promql::parse(&printed).unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(again.to_string(), printed, "round trip of {text:?}");
    }
});
