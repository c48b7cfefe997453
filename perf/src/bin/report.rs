//! The bench report: for each Lambda binary, its release size, cold start to ready, peak
//! memory and the wall and CPU time of one invocation and of the cold start; with
//! `--with-load`, the local stack's load figures too.
//!
//! Cold start to ready is the time from spawning the process to its first
//! `GET /2018-06-01/runtime/invocation/next` on a Lambda runtime API this report serves on
//! 127.0.0.1. That request is answered with a realistic event (an API Gateway webhook, an SQS
//! batch built by the real ingest and router code, an EventBridge schedule); the peak memory
//! is the child's `VmHWM`, read when it has posted its response and asks for the next event.
//! CPU times come from the scheduler's per-thread counters (see [`cpu_ns`]).
//! AWS calls go to moto when `MOTO_ENDPOINT` is set; brokers are the in-process fakes.
//!
//! The binaries measured are those the CDK deploys: each built on its own
//! (`cargo build --profile lambda -p <name> --bin <name>`, which `--build` runs). A workspace
//! build (`--bins`) would unify features across every member and link SQLite into the
//! executors, which the deployed build does not.
#![allow(
    clippy::print_stdout,
    reason = "a bench binary: its figures are its output"
)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use local_sqs::{LocalFifoQueue, LocalQueueConfig};
use perf::{alert_body, median, vm_hwm_kib};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::clock::Clock as _;
use shared::clock::{ManualClock, SystemClock};
use shared::config::MapEnv;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "perf-report-webhook-secret-0001";
const FUNCTIONS: [&str; 6] = [
    "ingest",
    "router",
    "executor-oanda",
    "executor-tradovate",
    "executor-coinbase",
    "token-refresher",
];
const COLD_START_TARGET_MS: f64 = 30.0;
const MEMORY_TARGET_MIB: f64 = 40.0;
const SIZE_TARGET_MIB: f64 = 15.0;

#[derive(Debug, Parser)]
#[command(about = "Bench report of the Lambda binaries (127.0.0.1 only)")]
struct Args {
    /// Runs per binary; the table shows medians.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    runs: u32,
    /// Cargo profile of the binaries: `lambda` is the one the CDK deploys.
    #[arg(long, default_value = "lambda")]
    profile: String,
    /// Where the binaries are; by default the profile's directory under the target directory.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Build each binary first, one package at a time, as the CDK bundling does.
    #[arg(long)]
    build: bool,
    /// Also run the local stack load run (the `load` binary next to this one).
    #[arg(long)]
    with_load: bool,
    /// Journal of the load run: file or memory.
    #[arg(long, default_value = "file")]
    load_journal: String,
}

/// What the runtime API mock saw of one run.
#[derive(Debug, Default)]
struct Run {
    pid: Option<u32>,
    event: Option<String>,
    first_next: Option<Instant>,
    answered: Option<(Instant, &'static str, String)>,
    hwm_kib: Option<u64>,
    /// The child's CPU time when the mock hands out the first event (the end of the cold start).
    cpu_at_first: Option<ThreadCpu>,
    /// The child's CPU time when it asks for its second event (the invocation is over).
    cpu_at_second: Option<ThreadCpu>,
    init_error: Option<String>,
}

/// CPU time so far of each thread of a process: thread id to nanoseconds on a CPU.
type ThreadCpu = BTreeMap<u32, u64>;

/// How long [`cpu_ns`] waits at most for a moment when none of the child's threads is
/// running (the child is waiting on the mock, so this is the end of a syscall, not work).
const SETTLE_MAX: Duration = Duration::from_millis(2);

/// The CPU time, user and system, of each thread of process `pid`: the first field of
/// `/proc/<pid>/task/<tid>/schedstat`, nanoseconds on a CPU (the scheduler's
/// `sum_exec_runtime`, the figure CPU time clocks are built on, not tick-sampled like
/// `/proc/<pid>/stat`). `None` when a thread's counter cannot be read (no `/proc`, or a
/// kernel without `CONFIG_SCHED_INFO`, where the file is missing or reads `0 0 0`).
///
/// A thread's counter is brought up to date only when the scheduler switches it out or at a
/// tick, so a thread on a CPU can be up to one tick (4 ms at `HZ=250`) behind. The report
/// reads at moments when the child waits on the runtime API mock, so this waits (briefly,
/// with a thread sleep: a tokio sleep rounds up to a millisecond, which the first event's
/// wall time would include) until no thread of the child is in state `R`; after
/// [`SETTLE_MAX`] it takes the reading as it is. Threads that have exited are not in
/// `/proc/<pid>/task` any more and their time is not counted (the binaries' tokio threads
/// live as long as the process).
fn cpu_ns(pid: u32) -> Option<ThreadCpu> {
    let task = PathBuf::from(format!("/proc/{pid}/task"));
    let until = Instant::now() + SETTLE_MAX;
    loop {
        let mut cpu = ThreadCpu::new();
        let mut running = false;
        for entry in std::fs::read_dir(&task).ok()? {
            let entry = entry.ok()?;
            let tid = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `tid (comm) S ...`: the state follows the last `)`, as comm may hold one.
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            running |= state.is_some_and(|s| s.starts_with('R'));
            let schedstat = std::fs::read_to_string(entry.path().join("schedstat")).ok()?;
            cpu.insert(tid, schedstat.split_whitespace().next()?.parse().ok()?);
        }
        // A kernel without scheduler statistics prints zeros: nothing measured, not zero CPU.
        if cpu.is_empty() || cpu.values().all(|&ns| ns == 0) {
            return None;
        }
        if !running || Instant::now() >= until {
            return Some(cpu);
        }
        std::thread::sleep(Duration::from_micros(20));
    }
}

/// CPU time from the first reading to the second, in ms: per thread the second counter
/// minus the first (0 for a thread born in between). `None` when a thread of the first
/// reading is gone by the second, as its time is then counted nowhere.
fn cpu_ms_between(first: &ThreadCpu, second: &ThreadCpu) -> Option<f64> {
    if first.keys().any(|tid| !second.contains_key(tid)) {
        return None;
    }
    let mut ns = 0u64;
    for (tid, now) in second {
        ns += now.checked_sub(first.get(tid).copied().unwrap_or(0))?;
    }
    Some(ns as f64 / 1e6)
}

/// The total CPU time of a reading, in ms.
fn cpu_ms_total(cpu: &ThreadCpu) -> f64 {
    cpu.values().sum::<u64>() as f64 / 1e6
}

type Mock = Arc<Mutex<Run>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn next(State(mock): State<Mock>) -> Response {
    let now = Instant::now();
    let (first, second, pid) = {
        let mut run = lock(&mock);
        let first = run.event.take();
        if first.is_some() {
            run.first_next = Some(now);
        }
        // The second request for work: the invocation is over; this is the peak.
        let second = first.is_none() && run.answered.is_some() && run.hwm_kib.is_none();
        (first, second, run.pid)
    };
    if second {
        // Read before `hwm_kib` is set: `measure` kills the child once it is.
        let cpu = pid.and_then(cpu_ns);
        let mut run = lock(&mock);
        run.cpu_at_second = cpu;
        run.hwm_kib = pid.and_then(|p| vm_hwm_kib(&p.to_string()));
    }
    if let Some(event) = first {
        // The cold start's end and the invocation's start, before the child has the event.
        let cpu = pid.and_then(cpu_ns);
        lock(&mock).cpu_at_first = cpu;
        // The executors' function timeout as the CDK app deploys them (60 s): an executor does
        // not start a record its invocation cannot hold to its end (`AFTER_DRIVE`).
        let deadline =
            (shared::clock::SystemClock.now() + chrono::Duration::seconds(60)).timestamp_millis();
        let mut headers = HeaderMap::new();
        let set = |h: &mut HeaderMap, k: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        };
        set(
            &mut headers,
            "lambda-runtime-aws-request-id",
            "perf-request-1".into(),
        );
        set(
            &mut headers,
            "lambda-runtime-deadline-ms",
            deadline.to_string(),
        );
        set(
            &mut headers,
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:perf".into(),
        );
        set(
            &mut headers,
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
        );
        set(&mut headers, "content-type", "application/json".into());
        return (StatusCode::OK, headers, event).into_response();
    }
    // Hold it like Lambda would between events; the child is killed long before this ends.
    tokio::time::sleep(Duration::from_secs(60)).await;
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

async fn answer(mock: Mock, kind: &'static str, body: axum::body::Bytes) -> Response {
    let mut run = lock(&mock);
    run.answered = Some((
        Instant::now(),
        kind,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    StatusCode::ACCEPTED.into_response()
}

async fn response(
    State(mock): State<Mock>,
    Path(_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    answer(mock, "response", body).await
}

async fn error(
    State(mock): State<Mock>,
    Path(_id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    answer(mock, "error", body).await
}

async fn init_error(State(mock): State<Mock>, body: axum::body::Bytes) -> Response {
    lock(&mock).init_error = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED.into_response()
}

async fn serve_mock(mock: Mock) -> Result<String, String> {
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get(next),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            axum::routing::post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            axum::routing::post(error),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            axum::routing::post(init_error),
        )
        .with_state(mock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr.to_string())
}

/// The AWS side: moto resources when `MOTO_ENDPOINT` is set, else an endpoint that refuses.
struct Aws {
    endpoint: String,
    moto: bool,
    env: BTreeMap<&'static str, String>,
}

async fn aws() -> Result<Aws, String> {
    let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") else {
        // Port 9 (discard) on loopback: every AWS call fails fast and nothing leaves the host.
        const DUMMY: &str = "http://127.0.0.1:9";
        let dummy = DUMMY.to_owned();
        let q = |n: &str| format!("{DUMMY}/123456789012/{n}.fifo");
        return Ok(Aws {
            endpoint: dummy,
            moto: false,
            env: BTreeMap::from([
                ("SIGNALS_QUEUE_URL", q("signals")),
                ("OANDA_QUEUE_URL", q("oanda")),
                ("TRADOVATE_QUEUE_URL", q("tradovate")),
                ("COINBASE_QUEUE_URL", q("coinbase")),
                ("IDEMPOTENCY_TABLE", "perf-idempotency".into()),
                ("TOKEN_TABLE", "perf-tokens".into()),
                (
                    "NOTIFY_TOPIC_ARN",
                    "arn:aws:sns:us-east-1:123456789012:perf".into(),
                ),
            ]),
        });
    };
    let sdk = aws_adapters::local_sdk_config(&endpoint, "us-east-1").await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let tag = format!("perf{}", std::process::id());
    let mut env = BTreeMap::new();
    for (var, name) in [
        ("SIGNALS_QUEUE_URL", "signals"),
        ("OANDA_QUEUE_URL", "oanda"),
        ("TRADOVATE_QUEUE_URL", "tradovate"),
        ("COINBASE_QUEUE_URL", "coinbase"),
    ] {
        let made = sqs
            .create_queue()
            .queue_name(format!("{tag}-{name}.fifo"))
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .map_err(|e| format!("moto SQS: {e}"))?;
        env.insert(var, made.queue_url.unwrap_or_default());
    }
    let idem = format!("{tag}-idempotency");
    aws_adapters::dynamodb::create_table(&ddb, &idem)
        .await
        .map_err(|e| format!("moto DynamoDB: {e}"))?;
    let tokens = format!("{tag}-tokens");
    aws_adapters::tokens::create_token_table(&ddb, &tokens)
        .await
        .map_err(|e| format!("moto DynamoDB: {e}"))?;
    let topic = sns
        .create_topic()
        .name(format!("{tag}-alerts"))
        .send()
        .await
        .map_err(|e| format!("moto SNS: {e}"))?;
    env.insert("IDEMPOTENCY_TABLE", idem);
    env.insert("TOKEN_TABLE", tokens);
    env.insert("NOTIFY_TOPIC_ARN", topic.topic_arn.unwrap_or_default());
    env.insert("TRADOVATE_PARAM_PREFIX", format!("/{tag}/tradovate"));
    Ok(Aws {
        endpoint,
        moto: true,
        env,
    })
}

type LocalQueue = Arc<LocalFifoQueue<SystemClock>>;

fn local_queue(name: &str) -> LocalQueue {
    Arc::new(LocalFifoQueue::new(
        LocalQueueConfig {
            name: name.into(),
            visibility_timeout: chrono::Duration::seconds(30),
            max_receives: 5,
        },
        SystemClock,
        None,
    ))
}

/// One fresh alert through the real ingest and router code over in-process queues: the
/// API Gateway event, the `signals` SQS event and the broker queue's SQS event.
struct Events {
    webhook: String,
    signals: String,
    broker: String,
}

async fn events(exchange: &str, symbol: &str, close: &str, seq: u32) -> Result<Events, String> {
    let routing = shared::RoutingTable::from_env(&MapEnv::new(Vec::<(String, String)>::new()))
        .map_err(|e| e.to_string())?;
    // Each run a new signal: a fresh timenow, and entries alternate.
    let body = alert_body(
        exchange,
        symbol,
        close,
        seq.is_multiple_of(2),
        shared::clock::SystemClock.now(),
        SECRET,
    );
    let signals = local_queue("signals.fifo");
    let ingest = ingest::Ingest::new(
        signals.clone(),
        SystemClock,
        &SecretString::from(SECRET),
        shared::alert::Freshness::default(),
        None,
        routing.clone(),
    );
    let reply = ingest
        .handle(ingest::WebhookRequest {
            method: "POST",
            path: "/webhook",
            source_ip: None,
            body: body.as_bytes(),
        })
        .await;
    if reply.status != 200 {
        return Err(format!("ingest refused the sample: {}", reply.body));
    }
    let queued = signals.receive(1);
    let signals_event = local_stack::sqs_event(&queued, "signals.fifo");
    let brokers = router::BrokerQueues {
        oanda: local_queue("oanda.fifo"),
        tradovate: local_queue("tradovate.fifo"),
        coinbase: local_queue("coinbase.fifo"),
    };
    let r = router::Router::new(
        router::BrokerQueues {
            oanda: brokers.oanda.clone(),
            tradovate: brokers.tradovate.clone(),
            coinbase: brokers.coinbase.clone(),
        },
        routing,
        SystemClock,
    );
    r.handle_batch_with_errors(signals_event.clone(), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut broker_event = None;
    for q in [&brokers.oanda, &brokers.tradovate, &brokers.coinbase] {
        let got = q.receive(1);
        if !got.is_empty() {
            broker_event = Some(local_stack::sqs_event(&got, q.name()));
        }
    }
    let broker_event = broker_event.ok_or("the router sent nothing")?;
    // A REST API proxy event around the body, from the fixture the ingest tests use.
    let mut webhook: Value = serde_json::from_str(include_str!(
        "../../../ingest/tests/fixtures/apigw-rest-request.json"
    ))
    .map_err(|e| e.to_string())?;
    webhook["path"] = json!("/webhook");
    webhook["resource"] = json!("/webhook");
    webhook["pathParameters"] = Value::Null;
    webhook["headers"]["Content-Type"] = json!("text/plain; charset=utf-8");
    webhook["multiValueHeaders"]["Content-Type"] = json!(["text/plain; charset=utf-8"]);
    webhook["requestContext"]["path"] = json!("/prod/webhook");
    webhook["body"] = json!(body);
    Ok(Events {
        webhook: webhook.to_string(),
        signals: serde_json::to_string(&signals_event).map_err(|e| e.to_string())?,
        broker: serde_json::to_string(&broker_event).map_err(|e| e.to_string())?,
    })
}

fn schedule_event() -> String {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": shared::clock::SystemClock.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/token-refresh"],
        "detail": {}
    })
    .to_string()
}

struct Fakes {
    oanda: broker_fakes::oanda::FakeOanda,
    tradovate: broker_fakes::tradovate::FakeTradovate,
    coinbase: broker_fakes::coinbase::FakeCoinbase,
    /// The fake's clock, which checks each JWT's `nbf`/`exp`: set to now before each run.
    coinbase_clock: ManualClock,
    /// A throwaway P-256 key in SEC1 PEM (what Coinbase issues), made for this run.
    coinbase_key: String,
}

const COINBASE_KEY_NAME: &str = "organizations/perf-report/apiKeys/perf-report";

/// The environment a function needs at cold start, besides the runtime's own.
fn function_env(name: &str, aws: &Aws, fakes: &Fakes) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
    let aws_var = |k: &str| aws.env.get(k).cloned().unwrap_or_default();
    let tradovate = |put: &mut dyn FnMut(&str, &str)| {
        use broker_fakes::tradovate as tv;
        put("TRADOVATE_BASE_URL", &fakes.tradovate.url);
        put("TRADOVATE_USERNAME", tv::USERNAME);
        put("TRADOVATE_PASSWORD", tv::PASSWORD);
        put("TRADOVATE_APP_ID", "perf-report");
        put("TRADOVATE_DEVICE_ID", "perf-report-device");
        put("TRADOVATE_CID", &tv::CID.to_string());
        put("TRADOVATE_SEC", tv::SEC);
        put("TOKEN_TABLE", &aws_var("TOKEN_TABLE"));
        put("NOTIFY_TOPIC_ARN", &aws_var("NOTIFY_TOPIC_ARN"));
        if let Some(p) = aws.env.get("TRADOVATE_PARAM_PREFIX") {
            put("TRADOVATE_PARAM_PREFIX", p);
        }
    };
    match name {
        "ingest" => {
            put("SIGNALS_QUEUE_URL", &aws_var("SIGNALS_QUEUE_URL"));
            put("WEBHOOK_SECRET", SECRET);
        }
        "router" => {
            for q in [
                "OANDA_QUEUE_URL",
                "TRADOVATE_QUEUE_URL",
                "COINBASE_QUEUE_URL",
            ] {
                put(q, &aws_var(q));
            }
        }
        "executor-oanda" => {
            put("IDEMPOTENCY_TABLE", &aws_var("IDEMPOTENCY_TABLE"));
            put("NOTIFY_TOPIC_ARN", &aws_var("NOTIFY_TOPIC_ARN"));
            put("JOURNAL", "log");
            put("OANDA_BASE_URL", &fakes.oanda.url);
            put("OANDA_ACCOUNT", &fakes.oanda.account);
            put("OANDA_SECRET", &fakes.oanda.token);
        }
        "executor-tradovate" => {
            put("IDEMPOTENCY_TABLE", &aws_var("IDEMPOTENCY_TABLE"));
            put("JOURNAL", "log");
            tradovate(&mut put);
        }
        "executor-coinbase" => {
            put("IDEMPOTENCY_TABLE", &aws_var("IDEMPOTENCY_TABLE"));
            put("NOTIFY_TOPIC_ARN", &aws_var("NOTIFY_TOPIC_ARN"));
            put("JOURNAL", "log");
            put("COINBASE_BASE_URL", &fakes.coinbase.url);
            put("COINBASE_API_KEY_NAME", COINBASE_KEY_NAME);
            put("COINBASE_PRIVATE_KEY", &fakes.coinbase_key);
        }
        "token-refresher" => tradovate(&mut put),
        _ => {}
    }
    env
}

/// One measured run of one binary.
#[derive(Debug)]
struct Measured {
    cold_ms: Option<f64>,
    /// CPU time from spawn to the first event being handed out.
    init_cpu_ms: Option<f64>,
    invoke_ms: Option<f64>,
    /// CPU time from the first event being handed out to the request for the second.
    invoke_cpu_ms: Option<f64>,
    hwm_mib: Option<f64>,
    outcome: String,
}

/// Summarises what the function answered: ok, or the failure in a few words.
fn outcome(kind: &str, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if kind == "error" {
        return format!("error: {}", v["errorType"].as_str().unwrap_or("?"));
    }
    if let Some(code) = v["statusCode"].as_u64() {
        let inner: Value = v["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        return match inner["error"]["code"].as_str() {
            Some(c) => format!("HTTP {code} {c}"),
            None => format!("HTTP {code}"),
        };
    }
    match v["batchItemFailures"].as_array() {
        Some(f) if f.is_empty() => "ok".into(),
        Some(f) => format!("{} record(s) failed", f.len()),
        None => "ok".into(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    exe: &std::path::Path,
    name: &str,
    event: String,
    mock: &Mock,
    api: &str,
    aws: &Aws,
    fakes: &Fakes,
    log: &std::path::Path,
) -> Result<Measured, String> {
    *lock(mock) = Run {
        event: Some(event),
        ..Default::default()
    };
    let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(exe);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("perf/{name}"))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &aws.endpoint)
        .envs(function_env(name, aws, fakes))
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    let spawned = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", exe.display()))?;
    lock(mock).pid = Some(child.id());
    let until = spawned + Duration::from_secs(30);
    let mut exited = None;
    while Instant::now() < until {
        {
            let run = lock(mock);
            if run.hwm_kib.is_some() || run.init_error.is_some() {
                break;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let run = std::mem::take(&mut *lock(mock));
    let cold_ms = run.first_next.map(|t| perf::ms(t - spawned));
    let invoke_ms = run
        .first_next
        .zip(run.answered.as_ref().map(|a| a.0))
        .map(|(a, b)| perf::ms(b - a));
    let init_cpu_ms = run.cpu_at_first.as_ref().map(cpu_ms_total);
    let invoke_cpu_ms = run
        .cpu_at_first
        .as_ref()
        .zip(run.cpu_at_second.as_ref())
        .and_then(|(a, b)| cpu_ms_between(a, b));
    let outcome = match (&run.answered, &run.init_error, exited) {
        (Some((_, kind, body)), _, _) => outcome(kind, body),
        (None, Some(e), _) => format!("init error: {}", e.chars().take(120).collect::<String>()),
        (None, None, Some(status)) => {
            format!("exited ({status}) before answering; see {}", log.display())
        }
        (None, None, None) => format!("no answer within 30 s; see {}", log.display()),
    };
    Ok(Measured {
        cold_ms,
        init_cpu_ms,
        invoke_ms,
        invoke_cpu_ms,
        hwm_mib: run.hwm_kib.map(|k| k as f64 / 1024.0),
        outcome,
    })
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.1}"))
}

/// A CPU time: `n/a` when it could not be read, which is not zero.
fn fmt_cpu(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.1}"))
}

fn verdict(v: Option<f64>, target: f64) -> &'static str {
    match v {
        Some(x) if x <= target => "ok",
        Some(_) => "MISSED",
        None => "-",
    }
}

/// The directory cargo writes a profile's binaries to.
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

/// The build the CDK bundling runs for one function: its package alone, so cargo resolves the
/// features that package needs and no more.
fn build_command(profile: &str, name: &str) -> String {
    format!("cargo build --locked --profile {profile} -p {name} --bin {name}")
}

fn build(root: &std::path::Path, profile: &str, name: &str) -> Result<(), String> {
    eprintln!("report: {}", build_command(profile, name));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--profile",
            profile,
            "-p",
            name,
            "--bin",
            name,
        ])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cargo build -p {name}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build -p {name} failed ({status})"))
    }
}

async fn report(args: &Args) -> Result<bool, String> {
    let root = workspace_root();
    let bin_dir = args.bin_dir.clone().unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join(profile_dir(&args.profile))
    });
    if args.build {
        for name in FUNCTIONS {
            if root.join(name).join("src/main.rs").is_file() {
                build(&root, &args.profile, name)?;
            }
        }
    }
    let aws = aws().await?;
    let coinbase_clock = ManualClock::new(shared::clock::SystemClock.now());
    let coinbase_secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let fakes = Fakes {
        oanda: broker_fakes::oanda::FakeOanda::start().await,
        tradovate: broker_fakes::tradovate::FakeTradovate::start(shared::clock::SystemClock.now())
            .await,
        coinbase: broker_fakes::coinbase::FakeCoinbase::start(coinbase_clock.clone()).await,
        coinbase_clock,
        coinbase_key: coinbase_secret
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .map_err(|e| e.to_string())?
            .to_string(),
    };
    fakes
        .coinbase
        .register_es256(COINBASE_KEY_NAME, &coinbase_secret.public_key());
    let mock: Mock = Arc::default();
    let api = serve_mock(mock.clone()).await?;
    let logs = std::env::temp_dir().join(format!("perf-report-{}", std::process::id()));
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;

    println!(
        "Lambda binaries (from {}; {} runs each, medians; AWS: {}; brokers: in-process fakes)\n",
        bin_dir.display(),
        args.runs,
        if aws.moto {
            format!("moto at {}", aws.endpoint)
        } else {
            "none (MOTO_ENDPOINT unset: AWS calls are refused on 127.0.0.1:9)".into()
        }
    );
    println!(
        "| binary | size (MiB) | cold start to ready (ms) | init CPU (ms) | peak memory (MiB) | invocation (ms) | invocation CPU (ms) | invocation result |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    let mut all_ok = true;
    for name in FUNCTIONS {
        let exe = bin_dir.join(name);
        if !exe.is_file() {
            let why = if root.join(name).join("src/main.rs").is_file() {
                format!(
                    "not built: run `{}` or pass --build (looked in {})",
                    build_command(&args.profile, name),
                    bin_dir.display()
                )
            } else {
                "no Lambda binary yet (no src/main.rs)".into()
            };
            println!("| {name} | - | - | - | - | - | - | skipped: {why} |");
            continue;
        }
        let size = std::fs::metadata(&exe)
            .map(|m| m.len() as f64 / (1024.0 * 1024.0))
            .ok();
        let mut cold = Vec::new();
        let mut hwm = Vec::new();
        let mut invoke = Vec::new();
        let mut init_cpu = Vec::new();
        let mut invoke_cpu = Vec::new();
        let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
        for seq in 0..args.runs {
            let e = match name {
                "ingest" | "router" | "executor-oanda" => {
                    events("OANDA", "EURUSD", "1.08345", seq).await?
                }
                "executor-coinbase" => events("COINBASE", "BTCUSD", "97123.45", seq).await?,
                _ => events("CME_MINI", "ES1!", "6012.25", seq).await?,
            };
            let event = match name {
                "ingest" => e.webhook,
                "router" => e.signals,
                "executor-oanda" | "executor-tradovate" | "executor-coinbase" => e.broker,
                _ => schedule_event(),
            };
            fakes.coinbase_clock.set(shared::clock::SystemClock.now());
            let log = logs.join(format!("{name}-{seq}.log"));
            let m = measure(&exe, name, event, &mock, &api, &aws, &fakes, &log).await?;
            cold.extend(m.cold_ms);
            hwm.extend(m.hwm_mib);
            invoke.extend(m.invoke_ms);
            init_cpu.extend(m.init_cpu_ms);
            invoke_cpu.extend(m.invoke_cpu_ms);
            *outcomes.entry(m.outcome).or_default() += 1;
        }
        let (c, h, i) = (median(cold), median(hwm), median(invoke));
        let (ic, vc) = (median(init_cpu), median(invoke_cpu));
        let result = outcomes
            .iter()
            .map(|(o, n)| format!("{o} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {name} | {} {} | {} {} | {} | {} {} | {} | {} | {result} |",
            fmt(size),
            verdict(size, SIZE_TARGET_MIB),
            fmt(c),
            verdict(c, COLD_START_TARGET_MS),
            fmt_cpu(ic),
            fmt(h),
            verdict(h, MEMORY_TARGET_MIB),
            fmt(i),
            fmt_cpu(vc),
        );
        for (v, t) in [
            (size, SIZE_TARGET_MIB),
            (c, COLD_START_TARGET_MS),
            (h, MEMORY_TARGET_MIB),
        ] {
            all_ok &= verdict(v, t) == "ok";
        }
        if outcomes.keys().any(|o| o != "ok" && o != "HTTP 200") {
            notes.push(format!("{name}: logs in {}", logs.display()));
        }
    }
    println!(
        "\nTargets: cold start <= {COLD_START_TARGET_MS} ms, peak memory <= {MEMORY_TARGET_MIB} MiB, binary <= {SIZE_TARGET_MIB} MiB."
    );
    println!(
        "Cold start = spawn to the first GET .../runtime/invocation/next; peak memory = the child's VmHWM when it asks for its second event."
    );
    println!(
        "CPU = user + system, summed over the child's threads from /proc/<pid>/task/*/schedstat: init from spawn to the first event handed out, invocation from then to the request for the second; n/a when unreadable."
    );
    for n in notes {
        println!("Note: {n}");
    }
    if args.with_load {
        println!();
        let load = std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("load");
        let status = std::process::Command::new(&load)
            .args(["--journal", &args.load_journal])
            .status()
            .map_err(|e| {
                format!(
                    "{}: {e} (build it with cargo build -p perf --release --bins)",
                    load.display()
                )
            })?;
        all_ok &= status.success();
    }
    Ok(all_ok)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("report: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(report(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::from(2)
        }
    }
}
