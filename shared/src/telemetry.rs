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
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    filter(level.ok(), "info")
}

/// Crates whose `debug` and `trace` lines can carry what a request carried: the Lambda
/// runtime logs each raw event at `trace` (an API Gateway event holds the webhook's path
/// secret and the alert's passphrase), the HTTP, TLS, SDK and database stacks their requests
/// and headers. Whatever level an operator sets, they log warnings and errors only.
const CAPPED: [&str; 14] = [
    "lambda_runtime",
    "lambda_http",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_sigv4",
    "aws_config",
    "sqlx",
    "tokio_postgres",
];

/// Crates that log nothing at all, whatever the level: `databento` logs the whole body of an
/// answer it could not decode at `error` (`Failed to decode JSON`), and a debugging server or
/// proxy at `DATABENTO_BASE_URL` that echoes the request puts the API key there (its HTTP
/// Basic form). The refresher logs the client's errors itself, the key scrubbed.
const SILENCED: [&str; 1] = ["databento"];

/// The CloudWatch namespace of every metric the pipeline emits; the CDK dashboard and alarms
/// read the same name (`METRIC_NAMESPACE` in `cdk/lib/common.ts`).
pub const METRIC_NAMESPACE: &str = "TvPipeline";

/// One CloudWatch embedded-metric-format line (a JSON document, no trailing newline) counting
/// `count` of the metric `name` (unit `Count`) in [`METRIC_NAMESPACE`], at `at_ms`
/// (milliseconds since the epoch). `dimensions`: the (name, value) pairs the metric is split
/// by, none for one metric across the deployment; `properties`: members of the line that are
/// not dimensions (searchable in the log, not metrics). Lambda's log pipeline turns such a
/// line on stdout into a metric
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
pub fn emf_count_line(
    name: &str,
    count: u64,
    at_ms: i64,
    dimensions: &[(&str, &str)],
    properties: &[(&str, &str)],
) -> String {
    let mut line = serde_json::Map::new();
    let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    line.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [names],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        }),
    );
    for (k, v) in dimensions.iter().chain(properties) {
        line.insert((*k).into(), (*v).into());
    }
    line.insert(name.into(), count.into());
    serde_json::Value::Object(line).to_string()
}

/// The target of the journal's records when the journal is the log (`JOURNAL=log`): kept at
/// any level, so an operator who sets `warn` to cut the log bill keeps the journal.
pub const JOURNAL_TARGET: &str = "journal_record";

/// `level` (any case), or `default` when it is unset or does not parse, as `EnvFilter`
/// directives, with [`CAPPED`] at `warn`, [`SILENCED`] off and [`JOURNAL_TARGET`] at `info`
/// whatever the level:
/// a directive of `level` naming a capped crate or one of its modules
/// (`lambda_runtime::layers=trace`, which `EnvFilter` would prefer as the more specific) is
/// left out.
pub fn directives(level: Option<String>, default: &str) -> String {
    let given = level
        .map(|l| l.to_ascii_lowercase())
        .filter(|l| !l.trim().is_empty() && EnvFilter::try_new(l).is_ok())
        .unwrap_or_else(|| default.to_owned());
    // A directive naming a capped or silenced crate, one of its modules, or any target that
    // starts with its name (`EnvFilter` matches a target by its start: `databento:=trace`
    // still reaches `databento::…`), with a level or without one (which is `trace`).
    let capped = |directive: &str| {
        let target = directive
            .split(['[', '='])
            .next()
            .unwrap_or_default()
            .trim();
        !target.is_empty()
            && CAPPED
                .iter()
                .chain(SILENCED.iter())
                .any(|c| target.starts_with(c))
    };
    let mut d = given
        .split(',')
        .filter(|directive| !capped(directive))
        .collect::<Vec<_>>()
        .join(",");
    // Nothing of the operator's left (all of it capped crates): the default, where the caps
    // alone would count as the filter and drop every other line, errors too.
    if d.trim_matches(',').trim().is_empty() {
        d = default.to_owned();
    }
    for target in CAPPED {
        d.push(',');
        d.push_str(target);
        d.push_str("=warn");
    }
    for target in SILENCED {
        d.push(',');
        d.push_str(target);
        d.push_str("=off");
    }
    d.push(',');
    d.push_str(JOURNAL_TARGET);
    d.push_str("=info");
    d
}

fn filter(level: Option<String>, default: &str) -> EnvFilter {
    EnvFilter::new(directives(level, default))
}

/// With this variable set (the test script sets it), every log line of every test process,
/// and of every binary the tests start, is also appended to a file in that directory, so
/// that one audit can check the whole suite's output for credentials (`log-audit`).
pub const CAPTURE_DIR_ENV: &str = "TV_LOG_CAPTURE_DIR";

/// The capture file of this process, opened once; `None` when capture is off.
fn capture_file() -> Option<&'static std::sync::Mutex<std::fs::File>> {
    static FILE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
        std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::path::PathBuf::from(std::env::var_os(CAPTURE_DIR_ENV)?);
        std::fs::create_dir_all(&dir).ok()?;
        let exe = std::env::current_exe().ok();
        let name = exe
            .as_ref()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "process".into());
        let path = dir.join(format!("{name}-{}.jsonl", std::process::id()));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(std::sync::Mutex::new)
    })
    .as_ref()
}

fn capture(buf: &[u8]) {
    if let Some(file) = capture_file() {
        use std::io::Write;
        let _ = file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(buf);
    }
}

/// With capture on ([`CAPTURE_DIR_ENV`]), lists a credential made at run time (a test's
/// generated private key) for the log audit: each line of `text` but a PEM armour line
/// (`-----BEGIN …`), one per line, in a `.listed` file of this process in the capture
/// directory, which the audit reads as listed credentials, not as log lines. A key's PEM
/// body cut short of its armour, or a raw key (an Ed25519 secret in base64) that has none,
/// would otherwise pass unseen. Lines shorter than 16 characters are left out (a PEM's
/// last line can be a few characters, likely anywhere by chance). Does nothing with
/// capture off; a write that fails is ignored, as the capture's own are.
pub fn list_for_audit(text: &str) {
    let Some(dir) = std::env::var_os(CAPTURE_DIR_ENV).map(std::path::PathBuf::from) else {
        return;
    };
    let lines: String = text
        .lines()
        .map(str::trim)
        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
        .map(|l| format!("{l}\n"))
        .collect();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("listed-{}.listed", std::process::id()));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        use std::io::Write;
        let _ = file.write_all(lines.as_bytes());
    }
}

/// Standard output, and the capture file when capture is on.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdoutTee;

impl std::io::Write for StdoutTee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        capture(buf);
        std::io::stdout().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

impl<'a> MakeWriter<'a> for StdoutTee {
    type Writer = StdoutTee;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Only the capture file (tests: their output is not for reading).
#[derive(Debug, Clone, Copy, Default)]
struct CaptureOnly;

impl std::io::Write for CaptureOnly {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        capture(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CaptureOnly {
    type Writer = CaptureOnly;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// A log file (appended to), and the capture file when capture is on: the local stack's
/// handler lines, which have no CloudWatch to go to.
#[derive(Debug, Clone)]
pub struct FileTee(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for FileTee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        capture(buf);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl<'a> MakeWriter<'a> for FileTee {
    type Writer = FileTee;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The local stack's filter: `RUST_LOG`, else warnings and errors only. At `info` the
/// handlers write three or four lines per alert (about 800 bytes), which cost the webhook
/// about 16 µs per alert on a 2-core machine and, unrotated, grow the file by half a gigabyte
/// an hour at 200 alerts/s; the console and the journal already hold each alert's story.
/// With capture on (the test suite, [`CAPTURE_DIR_ENV`]) the default is `info`, so the
/// credential audit still reads every line the handlers write.
pub fn local_filter() -> EnvFilter {
    let default = if std::env::var_os(CAPTURE_DIR_ENV).is_some() {
        "info"
    } else {
        "warn"
    };
    filter(std::env::var("RUST_LOG").ok(), default)
}

/// Installs the JSON subscriber writing to the file at `path` (created, or appended to), each
/// line with its UTC time, at [`local_filter`]'s level: the local stack's handlers log there,
/// beside its journal.
///
/// Errors: the file cannot be opened, or a subscriber is already installed.
pub fn init_json_logs_to(path: &std::path::Path) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(local_filter())
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_writer(FileTee(std::sync::Arc::new(std::sync::Mutex::new(file))))
        .try_init()
        .map_err(|e| format!("log subscriber: {e}"))
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
        .with_writer(StdoutTee)
        .try_init();
}

/// For test processes: when capture is on, every log line (debug and up) goes to the capture
/// file. Idempotent; a no-op when capture is off, so tests behave the same either way.
pub fn init_test_logs() {
    if capture_file().is_some() {
        // Our crates at debug; the SDK and HTTP stacks at info, or their wire chatter would
        // bury the suite's own lines.
        let filter = EnvFilter::new(
            "info,shared=debug,ingest=debug,router=debug,fifo_batch=debug,executor_runtime=debug,\
             executor_lambda=debug,executor_oanda=debug,executor_tradovate=debug,\
             executor_coinbase=debug,token_refresher=debug,local_stack=debug,tvctl=debug,\
             journal=debug,aws_adapters=debug,simulation=debug",
        );
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_target(false)
            .without_time()
            .with_writer(CaptureOnly)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
}

/// The same format written to `writer`, for tests that inspect log lines.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    json_subscriber_at(writer, "debug")
}

/// [`json_subscriber`] with another level filter (`"warn"`: what `tvctl dev` writes by
/// default), in `EnvFilter` syntax.
pub fn json_subscriber_at<W>(writer: W, filter: &str) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(filter))
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
    /// Everything written so far, one JSON log line per line; invalid UTF-8 is replaced
    /// with U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        capture(buf);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(level: &str, emit: impl FnOnce()) -> String {
        let logs = CapturedLogs::default();
        let subscriber = json_subscriber_at(logs.clone(), &directives(Some(level.into()), "info"));
        tracing::subscriber::with_default(subscriber, emit);
        logs.text()
    }

    /// At `TRACE` the Lambda runtime would print each raw event, the webhook's path secret
    /// in it, and the HTTP stack its headers; our own crates do log at that level.
    #[test]
    fn trace_leaves_the_runtime_and_the_http_stacks_at_warnings() {
        let text = logged("TRACE", || {
            tracing::trace!(
                target: "lambda_runtime::layers::api_response",
                body = "/webhook/s3cret-path",
                "raw JSON event received from Lambda"
            );
            tracing::debug!(target: "hyper_util::client", "authorization: Bearer tok3n");
            tracing::trace!(target: "executor_runtime::drive", "ours at trace");
            tracing::warn!(target: "lambda_runtime", "the runtime's warning");
        });
        assert!(!text.contains("s3cret-path"), "{text}");
        assert!(!text.contains("tok3n"), "{text}");
        assert!(text.contains("ours at trace"), "{text}");
        assert!(text.contains("the runtime's warning"), "{text}");
        // Nor when the level names the runtime's module itself.
        let text = logged("info,lambda_runtime::layers=trace,hyper=debug", || {
            tracing::trace!(
                target: "lambda_runtime::layers::api_response",
                body = "/webhook/s3cret-path",
                "raw JSON event received from Lambda"
            );
            tracing::debug!(target: "hyper::proto", "authorization: Bearer tok3n");
            tracing::info!(target: "executor_runtime", "ours at info");
        });
        assert!(!text.contains("s3cret-path"), "{text}");
        assert!(!text.contains("tok3n"), "{text}");
        assert!(text.contains("ours at info"), "{text}");
    }

    /// Databento's client logs an undecodable answer whole at `error`, which a server echoing
    /// the request fills with the key's Basic form: its lines are dropped at any level, even
    /// when the level names the crate.
    #[test]
    fn databentos_own_lines_are_dropped_whatever_the_level() {
        for level in [
            "info",
            "TRACE",
            "info,databento=trace",
            "info,databento::historical::client",
            "info,databento:=trace",
        ] {
            let text = logged(level, || {
                tracing::error!(
                    target: "databento::historical::client",
                    body = "Authorization: Basic ZGIta2V5Og==",
                    "Failed to decode JSON"
                );
                tracing::error!(target: "front_month_refresher", "ours at error");
            });
            assert!(!text.contains("ZGIta2V5Og"), "{level}: {text}");
            assert!(text.contains("ours at error"), "{level}: {text}");
        }
    }

    /// A level that is blank, or names only capped crates, is the default: the caps alone
    /// counted as the whole filter and dropped every other line, errors included.
    #[test]
    fn a_blank_level_or_one_of_capped_crates_alone_is_the_default() {
        for level in ["", " ", "sqlx=debug", "databento=debug"] {
            let text = logged(level, || {
                tracing::error!(target: "router", "an error of ours");
            });
            assert!(text.contains("an error of ours"), "{level:?}: {text}");
        }
    }

    #[test]
    fn an_emf_count_line_names_its_metric_dimensions_and_properties() {
        let line: serde_json::Value = serde_json::from_str(&emf_count_line(
            "TokenRefreshes",
            2,
            1_700_000_000_000,
            &[("Broker", "tradovate")],
            &[("Function", "token-refresher")],
        ))
        .unwrap();
        assert_eq!(
            line,
            serde_json::json!({
                "_aws": {"Timestamp": 1_700_000_000_000_i64, "CloudWatchMetrics": [{
                    "Namespace": "TvPipeline",
                    "Dimensions": [["Broker"]],
                    "Metrics": [{"Name": "TokenRefreshes", "Unit": "Count"}],
                }]},
                "Broker": "tradovate",
                "Function": "token-refresher",
                "TokenRefreshes": 2,
            })
        );
        // Without dimensions: one empty dimension set, one metric for the deployment.
        let line: serde_json::Value =
            serde_json::from_str(&emf_count_line("WebhookServerErrors", 1, 5, &[], &[])).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([[]])
        );
        assert_eq!(line["WebhookServerErrors"], 1);
    }

    /// At `warn` the journal's records (`JOURNAL=log`) still reach the log; other info lines
    /// do not.
    #[test]
    fn warn_keeps_the_journal_records() {
        let text = logged("warn", || {
            tracing::info!(target: JOURNAL_TARGET, journal = "signal", record = "{}", "journal");
            tracing::info!(target: "executor_lambda", "an info line");
        });
        assert!(text.contains(r#""journal":"signal""#), "{text}");
        assert!(!text.contains("an info line"), "{text}");
    }
}
