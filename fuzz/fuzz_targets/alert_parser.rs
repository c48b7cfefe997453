//! Bytes as a webhook body → parse → validate → SignalId → route; see `src/alert_parser.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tv_pipeline_fuzz::alert_parser::check(data);
});
