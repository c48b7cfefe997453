//! Bytes → an API Gateway event → `ingest::lambda::serve` → the real `Ingest::handle`, with
//! the project's in-memory FIFO queue and a fixed clock.
//!
//! The input is read as a small HTTP-like frame, so that seeds are readable and the fuzzer can
//! mutate each part:
//!
//! ```text
//! POST /webhook/fuzz-secret-0123456789abcdef      ← method, one space, path
//! content-type: application/json                  ← headers, `name: value`
//! x-fuzz-event: rest                              ← harness switches, see below
//!                                                 ← empty line
//! {"action": …}                                   ← body, any bytes
//! ```
//!
//! Harness switches (also sent on as ordinary headers): `x-fuzz-event: rest` builds a REST API
//! (v1) event instead of an HTTP API (v2) one; `x-fuzz-ip: <addr>` sets the source address;
//! `x-fuzz-allowlist: on` turns on the TradingView allowlist; `x-fuzz-queue: down` makes every
//! send fail; `x-fuzz-base64: 1` sends the body base64-encoded (a body that is not UTF-8 always
//! is).
//!
//! Invariants, beyond "never panics":
//! - every answer is JSON with `content-type: application/json`;
//! - a 2xx is either `GET /healthcheck` with nothing queued, or exactly one message queued
//!   whose SignalId, group and body agree with the answer and with what the router reads;
//! - nothing is queued unless the answer is 2xx;
//! - every other answer is exactly `{"error":{"code","message"}}`, with a known code whose
//!   status is the documented one; 503 only when the queue is down; every 401 is the same;
//! - the secret appears in no answer and no log line, unless the sender wrote it into the
//!   method or a field other than `passphrase` (always checked with `FUZZ_STRICT=1`).

use base64::Engine;
use ingest::Ingest;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use shared::alert::Freshness;
use shared::clock::ManualClock;
use shared::message::SignalMessage;
use shared::ports::{FifoMessage, FifoQueue, QueueError};
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use test_kit::fifo::MemoryFifoQueue;

/// The webhook secret of the fuzzed handler; the seeds carry it so that inputs get past
/// authentication.
pub const SECRET: &str = "fuzz-secret-0123456789abcdef";

const REST_EVENT: &str = include_str!("../../ingest/tests/fixtures/apigw-rest-request.json");
const HTTP_V2_EVENT: &str = include_str!("../../ingest/tests/fixtures/apigw-http-v2-request.json");

/// One fuzz input, split into its parts.
#[derive(Debug)]
pub struct Frame<'a> {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
}

impl<'a> Frame<'a> {
    pub fn parse(data: &'a [u8]) -> Self {
        let (first, mut rest) = split_line(data);
        let first = String::from_utf8_lossy(first);
        let (method, path) = first.split_once(' ').unwrap_or((&first, ""));
        let mut headers = Vec::new();
        loop {
            if rest.is_empty() {
                break;
            }
            let (line, after) = split_line(rest);
            rest = after;
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(line);
            let (name, value) = line.split_once(':').unwrap_or((&line, ""));
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            headers,
            body: rest,
        }
    }

    fn switch(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &data[..i];
            (line.strip_suffix(b"\r").unwrap_or(line), &data[i + 1..])
        }
        None => (data, &[]),
    }
}

/// The project's in-memory FIFO queue, or one that refuses every send.
#[derive(Debug)]
struct Queue {
    inner: Arc<MemoryFifoQueue<ManualClock>>,
    down: bool,
}

impl FifoQueue for Queue {
    async fn send(&self, message: FifoMessage) -> Result<(), QueueError> {
        if self.down {
            return Err(QueueError::Unavailable {
                queue: "signals".into(),
                reason: "the fuzz harness took the queue down".into(),
            });
        }
        self.inner.send(message).await
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // Timers on: the webhook bounds its queue send (`ingest::handler::ENQUEUE_BUDGET`), as
        // the Lambda runtime and the local stack allow.
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

/// Every log line of the handler, captured so that it can be searched for the secret.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // Fails only if a subscriber is already set, and then that one sees the lines.
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogSink)
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .try_init();
    });
}

fn take_logs() -> String {
    let mut logs = LOGS.lock().unwrap_or_else(|e| e.into_inner());
    let text = String::from_utf8_lossy(&logs).into_owned();
    logs.clear();
    text
}

fn event(frame: &Frame<'_>) -> Value {
    let rest = frame
        .switch("x-fuzz-event")
        .is_some_and(|v| v.eq_ignore_ascii_case("rest"));
    let source_ip = frame.switch("x-fuzz-ip").unwrap_or("52.89.214.238");
    let base64 = frame.switch("x-fuzz-base64") == Some("1");
    let (body, is_base64) = match std::str::from_utf8(frame.body) {
        _ if frame.body.is_empty() => (Value::Null, false),
        Ok(text) if !base64 => (json!(text), false),
        _ => (
            json!(base64::engine::general_purpose::STANDARD.encode(frame.body)),
            true,
        ),
    };
    let path = request_target(&frame.path);
    let path = path.as_str();
    let method = frame.method.as_str();
    let fixture = if rest { REST_EVENT } else { HTTP_V2_EVENT };
    let mut ev: Value = serde_json::from_str(fixture).expect("the ingest test fixtures are JSON");
    // API Gateway sets these itself, and lambda_http builds a URL from them with `unwrap`.
    let forwarded: Vec<&(String, String)> = frame
        .headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("host") && !n.eq_ignore_ascii_case("x-forwarded-proto")
        })
        .collect();
    let mut headers = Map::new();
    for (name, value) in forwarded.iter().copied() {
        match headers.get_mut(name) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(value);
            }
            _ => {
                headers.insert(name.clone(), json!(value));
            }
        }
    }
    if rest {
        let resource = if path.starts_with("/webhook/") {
            "/webhook/{secret}"
        } else {
            path
        };
        ev["resource"] = json!(resource);
        ev["path"] = json!(path);
        ev["httpMethod"] = json!(method);
        let multi: Map<String, Value> = forwarded.iter().fold(Map::new(), |mut m, (n, v)| {
            if let Value::Array(values) = m.entry(n.clone()).or_insert_with(|| json!([])) {
                values.push(json!(v));
            }
            m
        });
        ev["headers"] = Value::Object(headers);
        ev["multiValueHeaders"] = Value::Object(multi);
        ev["queryStringParameters"] = Value::Null;
        ev["multiValueQueryStringParameters"] = Value::Null;
        ev["pathParameters"] = match path.strip_prefix("/webhook/") {
            Some(secret) => json!({ "secret": secret }),
            None => Value::Null,
        };
        ev["requestContext"]["stage"] = json!("prod");
        ev["requestContext"]["path"] = json!(format!("/prod{path}"));
        ev["requestContext"]["resourcePath"] = json!(resource);
        ev["requestContext"]["httpMethod"] = json!(method);
        ev["requestContext"]["identity"]["sourceIp"] = json!(source_ip);
    } else {
        ev["rawPath"] = json!(path);
        ev["routeKey"] = json!("$default");
        ev["headers"] = Value::Object(headers);
        ev["requestContext"]["http"]["method"] = json!(method);
        ev["requestContext"]["http"]["path"] = json!(path);
        ev["requestContext"]["http"]["sourceIp"] = json!(source_ip);
    }
    ev["body"] = body;
    ev["isBase64Encoded"] = json!(is_base64);
    ev
}

/// The path as API Gateway hands it over: it starts with `/` and holds no byte an HTTP request
/// line cannot carry, so anything else is percent-encoded. Without this, lambda_http panics
/// while building the request URL (`regressions/webhook/lambda-http-path-without-slash-panics.bin`),
/// before the handler runs, on events API Gateway never sends.
fn request_target(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        out.push('/');
    }
    for b in path.bytes() {
        if b.is_ascii_graphic() && !matches!(b, b'?' | b'#') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the sender itself wrote the secret somewhere the handler may echo or log: the
/// method, any field of the body but the top-level `passphrase`, or anywhere in a body that
/// is not a JSON object.
fn sender_wrote_secret_elsewhere(frame: &Frame<'_>) -> bool {
    if frame.method.contains(SECRET) {
        return true;
    }
    // As ingest reads it (a bare `NaN` read as quoted): read plainly, such a body fell to the
    // text search below, which finds the passphrase's secret and so skipped every echo check.
    match shared::alert::read_alert_json(frame.body) {
        Ok(Value::Object(mut root)) => {
            root.remove("passphrase");
            Value::Object(root).to_string().contains(SECRET)
        }
        Ok(other) => other.to_string().contains(SECRET),
        Err(_) => String::from_utf8_lossy(frame.body).contains(SECRET),
    }
}

/// The documented HTTP status of each refusal code.
fn status_of(code: &str) -> Option<u16> {
    Some(match code {
        "payload_too_large" => 413,
        "malformed_json" => 400,
        "unauthorized" => 401,
        "not_found" => 404,
        "method_not_allowed" => 405,
        "enqueue_failed" => 503,
        "missing_field"
        | "invalid_field"
        | "unsubstituted_placeholder"
        | "unknown_action"
        | "unknown_exchange"
        | "unroutable_symbol"
        | "inconsistent_signal"
        | "invalid_number"
        | "invalid_time"
        | "stale_alert"
        | "alert_from_future" => 422,
        _ => return None,
    })
}

/// Runs one input; returns the status answered, or `None` when the Lambda runtime itself
/// would refuse the event.
pub fn check(data: &[u8]) -> Option<u16> {
    capture_logs();
    let frame = Frame::parse(data);
    let Ok(request) = lambda_http::request::from_str(&event(&frame).to_string()) else {
        // The Lambda runtime refuses such an event before the handler runs.
        return None;
    };

    let clock = ManualClock::new(crate::alert_parser::fixed_now());
    let memory = Arc::new(MemoryFifoQueue::new("signals", clock.clone()));
    let down = frame
        .switch("x-fuzz-queue")
        .is_some_and(|v| v.eq_ignore_ascii_case("down"));
    let allowlist = frame
        .switch("x-fuzz-allowlist")
        .is_some_and(|v| v.eq_ignore_ascii_case("on"))
        .then(|| {
            ingest::config::TRADINGVIEW_IPS
                .iter()
                .filter_map(|ip| ip.parse::<IpAddr>().ok())
                .collect()
        });
    let ingest = Ingest::new(
        Queue {
            inner: memory.clone(),
            down,
        },
        clock,
        &SecretString::from(SECRET),
        Freshness::default(),
        allowlist,
        crate::alert_parser::routing().clone(),
    );

    take_logs();
    let response = runtime()
        .block_on(ingest::lambda::serve(&ingest, request))
        .unwrap_or_else(|e| panic!("serve failed instead of answering: {e}"));
    let logs = take_logs();

    let status = response.status().as_u16();
    assert_eq!(
        response.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..]),
        "answer without the JSON content type"
    );
    let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a {status} answer is not JSON ({e}): {text}"));
    let queued = memory.messages();

    let echo_allowed = !crate::strict() && sender_wrote_secret_elsewhere(&frame);
    assert!(
        echo_allowed || !text.contains(SECRET),
        "the secret is in a {status} answer: {text}"
    );
    assert!(
        echo_allowed || !logs.contains(SECRET),
        "the secret is in a log line:\n{logs}"
    );

    if (200..300).contains(&status) {
        check_success(&frame, status, &body, &queued);
    } else {
        assert!(
            queued.is_empty(),
            "a {status} answer, yet {} message(s) queued",
            queued.len()
        );
        check_refusal(status, &body, down);
    }
    Some(status)
}

fn check_success(frame: &Frame<'_>, status: u16, body: &Value, queued: &[FifoMessage]) {
    assert_eq!(status, 200, "the only success status is 200");
    if *body == json!({"status": "ok"}) {
        assert_eq!(frame.method, "GET", "a health answer to {}", frame.method);
        assert!(queued.is_empty(), "a health check queued a message");
        return;
    }
    let [message] = queued else {
        panic!("200 {body} with {} message(s) queued", queued.len());
    };
    assert_eq!(body["status"], "enqueued", "200 body {body}");
    assert_eq!(
        body["signal_id"].as_str(),
        Some(message.dedup_id.as_str()),
        "the answer's SignalId is not the dedup id"
    );
    for key in ["broker", "instrument"] {
        assert!(
            body[key].as_str().is_some_and(|s| !s.is_empty()),
            "200 body without {key}: {body}"
        );
    }
    let object = body.as_object().map(|o| o.len());
    assert_eq!(object, Some(4), "200 body with other keys: {body}");

    // What the router will read: SQS's limits on the ids, and a body of the signal shape.
    let group = &message.group_id;
    assert!(
        (1..=128).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_graphic()),
        "group id {group:?} is not one SQS FIFO accepts"
    );
    assert!(
        (1..=128).contains(&message.dedup_id.len()),
        "dedup id {:?} is not one SQS FIFO accepts",
        message.dedup_id
    );
    let signal: SignalMessage = serde_json::from_str(&message.body)
        .unwrap_or_else(|e| panic!("the queued body is not a SignalMessage: {e}"));
    assert_eq!(signal.signal_id.as_str(), message.dedup_id);
    assert_eq!(&signal.group_id(), group);
    let raw: Value = serde_json::from_str(&signal.raw)
        .unwrap_or_else(|e| panic!("the queued raw alert is not JSON: {e}"));
    assert!(
        raw.get("passphrase").is_none(),
        "the queued raw alert keeps the passphrase"
    );
}

fn check_refusal(status: u16, body: &Value, queue_down: bool) {
    let error = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("error"))
        .and_then(Value::as_object)
        .filter(|e| e.len() == 2)
        .unwrap_or_else(|| panic!("a {status} body not of the error shape: {body}"));
    let (Some(code), Some(message)) = (
        error.get("code").and_then(Value::as_str),
        error.get("message").and_then(Value::as_str),
    ) else {
        panic!("a {status} error without a string code and message: {body}");
    };
    assert_eq!(
        status_of(code),
        Some(status),
        "code {code:?} answered with {status}"
    );
    assert!(!message.is_empty(), "an empty message for {code}");
    if status == 503 {
        assert!(queue_down, "503 while the queue was up: {body}");
    }
    if status == 401 {
        assert_eq!(message, "unauthorized", "a 401 that says why: {body}");
    }
    if crate::strict() {
        assert!(
            message.len() <= crate::MAX_REFUSAL_MESSAGE,
            "a {}-byte refusal message ({code}): the sender's text is reflected unbounded",
            message.len()
        );
    }
}
