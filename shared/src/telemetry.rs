//! Structured JSON logs. Every line about a signal is emitted inside a `signal` span carrying
//! its `signal_id`, and the JSON formatter copies span fields onto each line, so one id
//! follows a signal across ingest, router and executor logs.
//!
//! Nothing here logs request bodies or headers: those may carry the passphrase.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter: `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's logging controls), then `RUST_LOG`,
/// then `info`.
pub fn env_filter() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    EnvFilter::try_new(level.to_ascii_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the JSON subscriber for a binary. Safe to call once per process.
pub fn init_json_logs() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(env_filter())
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The same format written to `writer`, for tests that inspect log lines.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new("debug"))
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .with_writer(writer)
        .finish()
}

/// A `MakeWriter` collecting log output in memory.
#[derive(Debug, Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
