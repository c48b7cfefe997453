//! Bytes as method, path, headers and body → the ingest Lambda's handler; see `src/webhook.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tv_pipeline_fuzz::webhook::check(data);
});
