//! Dead-letter handling against moto (`MOTO_ENDPOINT`, set by scripts/test.sh): a poisoned
//! signal lands in the FIFO DLQ after max receives (the executor reports it failed each
//! time); `tvctl dlq replay` refuses it as stale, replays it with `--force`, and the replay
//! executes exactly once.
#![allow(clippy::unwrap_used)]

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use chrono::{Duration, Utc};
use executor_runtime::killswitch::KillSwitch;
use executor_runtime::metrics::CapturedMetrics;
use executor_runtime::paper::PaperNetting;
use executor_runtime::processor::{Executor, ExecutorSettings};
use executor_runtime::risk::RiskConfig;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::clock::Clock as _;
use shared::clock::SystemClock;
use shared::memory::{MemoryIdempotencyStore, MemoryJournal, MemoryNotifier};
use shared::message::{INTENT_VERSION, OrderIntent};
use shared::outcome::Outcome;
use shared::routing::{Broker, Instrument};
use shared::{Action, SignalId};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use test_kit::moto::{self, endpoint};

/// Unreadable while poisoned: the executor reports the record failed, sending nothing.
struct Poison(AtomicBool);

impl KillSwitch for Poison {
    async fn engaged(&self) -> Result<bool, String> {
        if self.0.load(Ordering::SeqCst) {
            Err("parameter store unreachable".into())
        } else {
            Ok(false)
        }
    }
}

/// A LONG_ENTRY EUR_USD intent on OANDA, fired at `t`.
fn intent_at(name: &str, t: chrono::DateTime<Utc>) -> OrderIntent {
    OrderIntent {
        version: INTENT_VERSION,
        signal_id: SignalId::of_canonical(name),
        broker: Broker::Oanda,
        instrument: Instrument::new("EUR_USD"),
        action: Action::LongEntry,
        target: Action::LongEntry.target(),
        symbol: "EURUSD".into(),
        exchange: "OANDA".into(),
        reference_price: Decimal::new(108345, 5),
        quantity_override: None,
        signal_time: t,
        received_at: t,
        enqueued_at: t,
        routed_at: t,
        contract: None,
        raw: "{}".into(),
        replay_forced: false,
    }
}

async fn receive(client: &aws_sdk_sqs::Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

fn event(messages: &[aws_sdk_sqs::types::Message]) -> aws_lambda_events::sqs::SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attrs = m.attributes.clone().unwrap_or_default();
            let group = attrs
                .get(&MessageSystemAttributeName::MessageGroupId)
                .cloned()
                .unwrap_or_default();
            json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                   "attributes": {"MessageGroupId": group}, "messageAttributes": {}})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// Sends `intents` to the dead-letter queue at `url` as an executor does: group `EUR_USD`,
/// deduplicated by signal id.
async fn dead_letter(client: &aws_sdk_sqs::Client, url: &str, intents: &[&OrderIntent]) {
    for intent in intents {
        client
            .send_message()
            .queue_url(url)
            .message_group_id("EUR_USD")
            .message_deduplication_id(intent.signal_id.as_str())
            .message_body(serde_json::to_string(intent).unwrap())
            .send()
            .await
            .unwrap();
    }
}

fn journal_path() -> String {
    std::env::temp_dir()
        .join(format!("dlq-audit-{}.sqlite", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

fn tvctl(args: &[&str]) -> (i32, String) {
    tvctl_with(args, Some(&journal_path()))
}

/// `tvctl` with `JOURNAL_URL` set to `journal`, or unset (a deployment whose database the
/// operator cannot reach).
fn tvctl_with(args: &[&str], journal: Option<&str>) -> (i32, String) {
    tvctl_at(args, journal, &endpoint())
}

/// `tvctl_with`, its AWS calls sent to `aws` (a proxy in front of moto).
fn tvctl_at(args: &[&str], journal: Option<&str>, aws: &str) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tvctl"));
    match journal {
        Some(url) => cmd.env("JOURNAL_URL", url),
        None => cmd.env_remove("JOURNAL_URL"),
    };
    let out = cmd
        .args(args)
        .env("AWS_ENDPOINT_URL", aws)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", moto::REGION)
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A queue URL SQS does not know is the operator's mistake (exit 2), not an unreachable SQS.
#[test]
fn a_queue_sqs_does_not_know_is_a_usage_error() {
    let url = format!("{}/123456789012/no-such-queue-dlq.fifo", endpoint());
    let (code, text) = tvctl(&["dlq", "list", "--queue-url", &url]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("check --queue-url"), "{text}");
}

#[tokio::test]
async fn poisoned_signal_dead_letters_then_replays_only_when_forced_and_executes_once() {
    shared::telemetry::init_test_logs();
    let _ = std::fs::remove_file(journal_path());
    let client = moto::sqs().await;
    let suffix = moto::unique_name("t");
    let dlq_url = moto::fifo_queue(&client, "oanda-dlq").await;
    let redrive = json!({
        "deadLetterTargetArn": moto::queue_arn(&client, &dlq_url).await,
        "maxReceiveCount": 2,
    });
    let url = moto::fifo_queue_with(
        &client,
        "oanda",
        [(QueueAttributeName::RedrivePolicy, redrive.to_string())],
    )
    .await;

    let venue = Arc::new(PaperNetting::new(Broker::Oanda, "paper"));
    let poison = Poison(AtomicBool::new(true));
    let executor = Executor {
        dead_letters: None,
        venue: venue.clone(),
        store: Arc::new(MemoryIdempotencyStore::default()),
        journal: Arc::new(MemoryJournal::default()),
        notifier: Arc::new(MemoryNotifier::default()),
        kill_switch: poison,
        clock: SystemClock,
        metrics: Arc::new(CapturedMetrics::default()),
        settings: ExecutorSettings {
            max_age: Duration::seconds(30),
            lease: Duration::seconds(60),
            send_margin: shared::ports::HAND_OVER_SKEW,
            record_ttl: Duration::days(1),
            risk: RiskConfig::from_toml(
                "default_size = \"1000\"\ndefault_max_position = \"10000\"",
            )
            .unwrap(),
            notify_fills: false,
        },
    };

    // Fired 20 s ago: fresh for the executor (30 s), stale for a replay held to 10 s.
    let t = shared::clock::SystemClock.now() - Duration::seconds(20);
    let intent = intent_at(&format!("dlq-{suffix}"), t);
    client
        .send_message()
        .queue_url(&url)
        .message_group_id("EUR_USD")
        .message_deduplication_id(intent.signal_id.as_str())
        .message_body(serde_json::to_string(&intent).unwrap())
        .send()
        .await
        .unwrap();

    let mut attempts = 0;
    loop {
        let got = receive(&client, &url).await;
        if got.is_empty() {
            break;
        }
        attempts += 1;
        assert!(attempts <= 5, "never dead-lettered");
        let resp = executor.handle_batch(event(&got), None).await.unwrap();
        assert_eq!(resp.batch_item_failures.len(), 1);
        for m in &got {
            client
                .change_message_visibility()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(attempts, 2, "maxReceiveCount 2");
    assert_eq!(venue.orders(), 0);

    let (code, listing) = tvctl(&["dlq", "list", "--queue-url", &dlq_url, "--json"]);
    assert_eq!(code, 0, "{listing}");
    // The JSON on its own line; standard error after it says the audit journal, not made
    // yet, was not read for reasons (a listing never makes one up).
    let listed: Value = serde_json::from_str(listing.lines().next().unwrap()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listing}");
    assert!(
        listing.contains("was not read for the dead letters' reasons: no journal at"),
        "{listing}"
    );
    assert_eq!(listed[0]["signal_id"], intent.signal_id.as_str());
    assert!(listed[0]["age_secs"].as_i64().unwrap() >= 20);
    // Listing does not consume (SQS counts the listing's receive, so only ids are compared).
    let again: Value = serde_json::from_str(
        tvctl(&["dlq", "list", "--queue-url", &dlq_url, "--json"])
            .1
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again[0]["message_id"], listed[0]["message_id"]);

    let (code, out) = tvctl(&[
        "dlq",
        "replay",
        "--queue-url",
        &dlq_url,
        "--source-url",
        &url,
        "--all",
        "--dry-run",
        "--force",
        "--max-age-secs",
        "10",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would replay (forced)"), "{out}");
    assert!(
        receive(&client, &url).await.is_empty(),
        "a dry run sent something"
    );

    let (code, out) = tvctl(&[
        "dlq",
        "replay",
        "--queue-url",
        &dlq_url,
        "--source-url",
        &url,
        "--all",
        "--dry-run",
        "--max-age-secs",
        "10",
    ]);
    assert!(out.contains("would be refused"), "{out}");
    // Exit 1, as the run itself would: a script checks with a dry run before it replays.
    assert_eq!(code, 1, "{out}");

    executor.kill_switch.0.store(false, Ordering::SeqCst);
    let (code, out) = tvctl(&[
        "dlq",
        "replay",
        "--queue-url",
        &dlq_url,
        "--source-url",
        &url,
        "--all",
        "--max-age-secs",
        "10",
    ]);
    assert_eq!(
        code, 1,
        "a stale signal must be refused without --force: {out}"
    );
    assert!(out.contains("refused") && out.contains("--force"), "{out}");
    assert!(receive(&client, &url).await.is_empty());

    // `--all --force` is refused (only a dry run may force them all): nothing moves.
    let (code, out) = tvctl(&[
        "dlq",
        "replay",
        "--queue-url",
        &dlq_url,
        "--source-url",
        &url,
        "--all",
        "--force",
        "--max-age-secs",
        "10",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("name the ones to force"), "{out}");
    assert!(receive(&client, &url).await.is_empty());

    let id = listed[0]["message_id"].as_str().unwrap();
    let (code, out) = tvctl(&[
        "dlq",
        "replay",
        "--queue-url",
        &dlq_url,
        "--source-url",
        &url,
        id,
        "--force",
        "--max-age-secs",
        "10",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replayed (forced)"), "{out}");
    assert_eq!(
        tvctl(&["dlq", "list", "--queue-url", &dlq_url, "--json"])
            .1
            .trim(),
        "[]"
    );

    let audits = journal::SqliteJournal::connect(&journal_path())
        .await
        .unwrap()
        .replay_audits()
        .await
        .unwrap();
    let results: Vec<_> = audits
        .iter()
        // Up to the reason (after `:`) or a forced replay's age (after `,`).
        .map(|a| a.2.split([':', ',']).next().unwrap().to_owned())
        .collect();
    assert_eq!(
        results,
        [
            "would replay (forced)",
            "would be refused",
            "refused",
            "replayed (forced)"
        ]
    );

    let got = receive(&client, &url).await;
    assert_eq!(got.len(), 1);
    let resp = executor.handle_batch(event(&got), None).await.unwrap();
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(venue.orders(), 1);
    // Executing the same intent again (a second replay) is acknowledged without an order.
    let replayed: OrderIntent = serde_json::from_str(got[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(executor.execute(&replayed).await.unwrap(), Outcome::Filled);
    assert_eq!(venue.orders(), 1);
    for file in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{file}", journal_path()));
    }
}

/// A replay goes only from a queue's own dead-letter queue back to that queue (the source
/// queue's redrive policy names the pair). An executor's unknown outcome names no source
/// queue, so another stage's queue of the same broker was taken: the letter sent there and
/// deleted here, traded or looked up on the wrong stack. Two URLs swapped moved the waiting
/// signals into the dead-letter queue. Both refused before anything is received, exit 2.
#[tokio::test]
async fn a_replay_to_a_queue_whose_dead_letter_queue_is_another_is_refused() {
    let client = moto::sqs().await;
    let suffix = moto::unique_name("p");
    let (dlq_url, url) = moto::fifo_pair(&client, "oanda-prod", 5).await;
    let (_, other_url) = moto::fifo_pair(&client, "oanda-paper", 5).await;
    let t = shared::clock::SystemClock.now() - Duration::seconds(2);
    let letter = intent_at(&format!("pair-{suffix}"), t);
    dead_letter(&client, &dlq_url, &[&letter]).await;
    let waiting = intent_at(&format!("waiting-{suffix}"), t);
    dead_letter(&client, &url, &[&waiting]).await;
    let audit = std::env::temp_dir().join(format!("pair-{suffix}.jsonl"));
    let audit_path = audit.to_string_lossy().into_owned();
    let replay = |queue: &str, source: &str| {
        tvctl_with(
            &[
                "dlq",
                "replay",
                "--queue-url",
                queue,
                "--source-url",
                source,
                "--all",
                "--audit-file",
                &audit_path,
            ],
            None,
        )
    };
    for (queue, source) in [(&dlq_url, &other_url), (&url, &dlq_url)] {
        let (code, out) = replay(queue, source);
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains("is not the dead-letter queue of") && out.contains("nothing was replayed"),
            "{out}"
        );
    }
    assert!(receive(&client, &other_url).await.is_empty());
    // The pair itself passes: the letter back in its queue, behind the signal waiting there.
    let (code, out) = replay(&dlq_url, &url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replayed"), "{out}");
    assert!(receive(&client, &dlq_url).await.is_empty());
    let ids: Vec<String> = receive(&client, &url)
        .await
        .iter()
        .map(|m| {
            serde_json::from_str::<OrderIntent>(m.body.as_deref().unwrap())
                .unwrap()
                .signal_id
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        [waiting.signal_id.as_str(), letter.signal_id.as_str()],
        "the waiting signal stayed in its queue"
    );
    let _ = std::fs::remove_file(&audit);
}

/// The runbook of a deployment without a reachable database (`journal=log`): the executor
/// dead-lettered a signal whose outcome stayed unknown; the operator lists it, shows it, and
/// replays it with the audit trail in a local file. Without either audit trail nothing moves.
#[tokio::test]
async fn without_a_database_a_replay_is_audited_in_a_file_and_refused_without_one() {
    let client = moto::sqs().await;
    let suffix = moto::unique_name("r");
    let (dlq_url, url) = moto::fifo_pair(&client, "oanda-runbook", 5).await;
    let t = shared::clock::SystemClock.now() - Duration::seconds(2);
    let intent = intent_at(&format!("runbook-{suffix}"), t);
    // What the executor sends for an unknown outcome: the intent, a unique dedup id.
    client
        .send_message()
        .queue_url(&dlq_url)
        .message_group_id("EUR_USD")
        .message_deduplication_id(format!("{}-1", intent.signal_id))
        .message_body(serde_json::to_string(&intent).unwrap())
        .send()
        .await
        .unwrap();

    let (code, listing) = tvctl_with(&["dlq", "list", "--queue-url", &dlq_url, "--json"], None);
    assert_eq!(code, 0, "{listing}");
    let listed: Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(listed[0]["signal_id"], intent.signal_id.as_str());
    let id = listed[0]["message_id"].as_str().unwrap().to_owned();
    let (code, shown) = tvctl_with(&["dlq", "show", "--queue-url", &dlq_url, &id], None);
    assert_eq!(code, 0, "{shown}");
    // One not there: exit 1, naming the queue looked in.
    let (code, missing) = tvctl_with(&["dlq", "show", "--queue-url", &dlq_url, "abc"], None);
    assert_eq!(code, 1, "{missing}");
    assert!(
        missing.contains("message abc is not in oanda-runbook-dlq"),
        "{missing}"
    );
    assert!(shown.contains(intent.signal_id.as_str()), "{shown}");

    let replay = |audit: Option<&str>| {
        let mut args = vec![
            "dlq",
            "replay",
            "--queue-url",
            &dlq_url,
            "--source-url",
            &url,
            &id,
        ];
        if let Some(path) = audit {
            args.extend(["--audit-file", path]);
        }
        args.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<String>>()
    };

    // No JOURNAL_URL and no --audit-file: refused, naming both, and nothing moved.
    let args = replay(None);
    let (code, out) = tvctl_with(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("--audit-file") && out.contains("JOURNAL_URL"),
        "{out}"
    );
    assert!(receive(&client, &url).await.is_empty());

    // A PostgreSQL journal out of reach (it connects on first use): found before anything
    // moves, exit 3. It passed the check, replayed, then failed to audit.
    let (code, out) = tvctl_with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        Some("postgres://postgres@127.0.0.1:1/journal"),
    );
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("the audit trail's journal cannot be read")
            && out.contains("nothing was replayed"),
        "{out}"
    );
    assert!(!out.contains("postgres://"), "{out}");
    assert!(receive(&client, &url).await.is_empty());

    let audit = std::env::temp_dir().join(format!("replays-{suffix}.jsonl"));
    let _ = std::fs::remove_file(&audit);
    let audit_path = audit.to_string_lossy().into_owned();
    let args = replay(Some(&audit_path));
    let (code, out) = tvctl_with(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replayed"), "{out}");
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["message_id"], id.as_str());
    assert_eq!(lines[0]["signal_id"], intent.signal_id.as_str());
    assert_eq!(lines[0]["result"], "replayed");

    let got = receive(&client, &url).await;
    assert_eq!(got.len(), 1, "the source queue holds the replay");
    let back: OrderIntent = serde_json::from_str(got[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(back.signal_id, intent.signal_id);
    let (_, left) = tvctl_with(&["dlq", "list", "--queue-url", &dlq_url, "--json"], None);
    assert_eq!(serde_json::from_str::<Value>(&left).unwrap(), json!([]));
    let _ = std::fs::remove_file(&audit);
}

/// `--lookup-only`: a letter older than the age limit goes back unforced, so the executor
/// finds it stale and trades nothing (an unknown one is reconciled by lookup); a younger one
/// is refused, since sent back it could still trade. It cannot be forced.
#[tokio::test]
async fn a_lookup_only_replay_sends_back_only_stale_letters_and_the_executor_trades_none() {
    let client = moto::sqs().await;
    let suffix = moto::unique_name("l");
    let (dlq_url, url) = moto::fifo_pair(&client, "oanda-lookup", 5).await;
    let now = shared::clock::SystemClock.now();
    // Forced once already, and dead-lettered again as it was received: marked forced.
    let old = OrderIntent {
        replay_forced: true,
        ..intent_at(&format!("old-{suffix}"), now - Duration::hours(2))
    };
    let young = OrderIntent {
        instrument: Instrument::new("GBP_USD"),
        ..intent_at(&format!("young-{suffix}"), now - Duration::seconds(2))
    };
    for i in [&old, &young] {
        client
            .send_message()
            .queue_url(&dlq_url)
            .message_group_id(i.group_id())
            .message_deduplication_id(format!("{}-1", i.signal_id))
            .message_body(serde_json::to_string(i).unwrap())
            .send()
            .await
            .unwrap();
    }
    let audit = std::env::temp_dir().join(format!("lookup-{suffix}.jsonl"));
    let _ = std::fs::remove_file(&audit);
    let audit_path = audit.to_string_lossy().into_owned();
    let replay = |extra: &[&str]| {
        let mut args = vec![
            "dlq",
            "replay",
            "--queue-url",
            &dlq_url,
            "--source-url",
            &url,
            "--all",
            "--audit-file",
            &audit_path,
        ];
        args.extend_from_slice(extra);
        tvctl_with(&args, None)
    };
    let (code, out) = replay(&["--lookup-only", "--force"]);
    assert_eq!(code, 2, "{out}");
    assert!(receive(&client, &url).await.is_empty());

    let (code, out) = replay(&["--lookup-only"]);
    assert_eq!(code, 1, "one refused: {out}");
    assert!(out.contains("replayed (look-up only)"), "{out}");
    assert!(
        out.contains("within the 30 s max age") && out.contains("could still trade"),
        "{out}"
    );
    let got = receive(&client, &url).await;
    assert_eq!(got.len(), 1, "only the stale letter");
    let back: OrderIntent = serde_json::from_str(got[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(back.signal_id, old.signal_id);
    assert!(!back.replay_forced, "sent back unforced");

    let venue = Arc::new(PaperNetting::new(Broker::Oanda, "paper"));
    let executor = Executor {
        dead_letters: None,
        venue: venue.clone(),
        store: Arc::new(MemoryIdempotencyStore::default()),
        journal: Arc::new(MemoryJournal::default()),
        notifier: Arc::new(MemoryNotifier::default()),
        kill_switch: Poison(AtomicBool::new(false)),
        clock: SystemClock,
        metrics: Arc::new(CapturedMetrics::default()),
        settings: ExecutorSettings {
            max_age: Duration::seconds(30),
            lease: Duration::seconds(60),
            send_margin: shared::ports::HAND_OVER_SKEW,
            record_ttl: Duration::days(1),
            risk: RiskConfig::from_toml(
                "default_size = \"1000\"\ndefault_max_position = \"10000\"",
            )
            .unwrap(),
            notify_fills: false,
        },
    };
    assert_eq!(executor.execute(&back).await.unwrap(), Outcome::Expired);
    assert_eq!(venue.orders(), 0, "a look-up-only replay trades nothing");
    let _ = std::fs::remove_file(&audit);
}

/// A replay whose send to the source queue gets no answer (it landed, the connection broke):
/// not "failed", which reads as nothing queued, but an unknown outcome, the letter kept; a
/// second replay within SQS's deduplication window sends the same deduplication id, so the
/// source queue holds one copy, and the letter is removed.
#[tokio::test]
async fn a_replay_whose_send_answer_is_lost_is_an_unknown_outcome_and_a_second_is_one_copy() {
    // Every answer to a send lost, the SDK's own retries' too.
    lost_send(moto::losing_answers("AmazonSQS.SendMessage", usize::MAX)).await;
}

/// The same when the first answer is lost and the SDK's retries then meet a failing SQS (a
/// 500): the last answer is SQS's own error, yet the first copy may be queued.
#[tokio::test]
async fn a_replay_whose_send_landed_then_met_a_5xx_is_an_unknown_outcome() {
    lost_send(moto::losing_then_failing("AmazonSQS.SendMessage")).await;
}

async fn lost_send((proxy, lost): (String, std::sync::Arc<std::sync::atomic::AtomicUsize>)) {
    let client = moto::sqs().await;
    let suffix = moto::unique_name("l");
    // An audit journal of its own: the tests of this file run at once in one process, and two
    // migrating one file collided (`UNIQUE constraint failed: _sqlx_migrations.version`).
    let dir = tempfile::tempdir().unwrap();
    let journal = dir
        .path()
        .join("audit.sqlite")
        .to_string_lossy()
        .into_owned();
    let (dlq_url, url) = moto::fifo_pair(&client, "oanda-lost", 5).await;
    let intent = intent_at(
        &format!("lost-{suffix}"),
        shared::clock::SystemClock.now() - Duration::seconds(2),
    );
    dead_letter(&client, &dlq_url, &[&intent]).await;
    let (code, listing) = tvctl_with(
        &["dlq", "list", "--queue-url", &dlq_url, "--json"],
        Some(&journal),
    );
    assert_eq!(code, 0, "{listing}");
    let id =
        serde_json::from_str::<Value>(listing.lines().next().unwrap()).unwrap()[0]["message_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let args = [
        "dlq",
        "replay",
        "--queue-url",
        &dlq_url,
        "--source-url",
        &url,
        &id,
    ];

    let (code, out) = tvctl_at(&args, Some(&journal), &proxy);
    assert!(lost.load(std::sync::atomic::Ordering::SeqCst) >= 1, "{out}");
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("outcome unknown")
            && out.contains(&format!("replay-{id}"))
            && !out.contains("failed"),
        "{out}"
    );
    let (_, left) = tvctl_with(
        &["dlq", "list", "--queue-url", &dlq_url, "--json"],
        Some(&journal),
    );
    assert_eq!(
        serde_json::from_str::<Value>(left.lines().next().unwrap()).unwrap()[0]["message_id"],
        id.as_str(),
        "the letter is kept"
    );

    let (code, out) = tvctl_with(&args, Some(&journal));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replayed"), "{out}");
    let got = receive(&client, &url).await;
    assert_eq!(got.len(), 1, "one copy in the source queue: {got:?}");
    let back: OrderIntent = serde_json::from_str(got[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(back.signal_id, intent.signal_id);
    let (_, left) = tvctl_with(
        &["dlq", "list", "--queue-url", &dlq_url, "--json"],
        Some(&journal),
    );
    assert_eq!(
        serde_json::from_str::<Value>(left.lines().next().unwrap()).unwrap(),
        json!([])
    );
}

/// SQS moves a message to its dead-letter queue with no reason; the executors journal why.
/// With `JOURNAL_URL` naming the journal, `tvctl dlq list` and `show` give each dead letter's
/// journaled status and reason as its last error, and say when the journal has no row for
/// its signal; without it, the list is as SQS gives it.
#[tokio::test]
async fn dead_letters_listed_from_sqs_carry_their_journaled_reasons() {
    use shared::execution::{SignalStatus, TradeJournal};
    let client = moto::sqs().await;
    let suffix = moto::unique_name("r");
    let dlq_url = moto::fifo_queue(&client, "reasons-dlq").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let path = path.to_str().unwrap();
    let t = SystemClock.now() - Duration::seconds(5);
    let journaled = intent_at(&format!("journaled-{suffix}"), t);
    let not_journaled = intent_at(&format!("not-journaled-{suffix}"), t);
    let journal = journal::AnyJournal::connect(path).await.unwrap();
    journal
        .upsert_signal(&journal_row(
            &journaled,
            SignalStatus::Unknown,
            Some("open leg: order 42 accepted, outcome unknown"),
        ))
        .await
        .unwrap();
    drop(journal);
    dead_letter(&client, &dlq_url, &[&journaled, &not_journaled]).await;
    let last_errors = |journal: Option<&str>| {
        let (code, out) = tvctl_with(&["dlq", "list", "--queue-url", &dlq_url, "--json"], journal);
        assert_eq!(code, 0, "{out}");
        let listed: Value = serde_json::from_str(out.trim()).unwrap();
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["signal_id"].as_str().unwrap().to_owned(),
                    m["last_error"].clone(),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let with = last_errors(Some(path));
    assert_eq!(
        with[journaled.signal_id.as_str()],
        json!("journaled unknown: open leg: order 42 accepted, outcome unknown"),
        "{with:?}"
    );
    assert!(
        with[not_journaled.signal_id.as_str()]
            .as_str()
            .is_some_and(|e| e.starts_with("no row in the journal")),
        "{with:?}"
    );
    let without = last_errors(None);
    assert!(without.values().all(Value::is_null), "{without:?}");
    // A mistyped journal path is said, never made: an empty new journal's "no row" would
    // read as "failed before an executor journaled it".
    let typo = dir.path().join("jounral.sqlite");
    let (code, out) = tvctl_with(
        &["dlq", "list", "--queue-url", &dlq_url],
        Some(typo.to_str().unwrap()),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("was not read for the dead letters' reasons: no journal at"),
        "{out}"
    );
    assert!(!typo.exists(), "no journal made up");
}

/// The journal's row of `intent`, ended `status` with `reason`.
fn journal_row(
    intent: &OrderIntent,
    status: shared::execution::SignalStatus,
    reason: Option<&str>,
) -> shared::execution::SignalRecord {
    shared::execution::SignalRecord {
        signal_id: intent.signal_id.clone(),
        raw: intent.raw.clone(),
        normalized: serde_json::to_value(intent).unwrap().into(),
        symbol: intent.symbol.clone(),
        exchange: intent.exchange.clone(),
        action: intent.action.to_string(),
        broker: Some(intent.broker),
        instrument: Some(intent.instrument.to_string()),
        contract_resolution: None,
        status,
        reason: reason.map(str::to_owned),
        stages: shared::execution::StageTimes::default(),
    }
}

/// `tvctl dlq replay --all --force --dry-run` of the letters at `dlq_url` (source `url`),
/// audited in `audit`, with `JOURNAL_URL` set to `journal` or unset: its output, exit 0.
fn forced_dry_run(
    dlq_url: &str,
    url: &str,
    audit: &std::path::Path,
    journal: Option<&str>,
) -> String {
    let (code, out) = tvctl_with(
        &[
            "dlq",
            "replay",
            "--queue-url",
            dlq_url,
            "--source-url",
            url,
            "--all",
            "--force",
            "--dry-run",
            "--audit-file",
            audit.to_str().unwrap(),
        ],
        journal,
    );
    assert_eq!(code, 0, "{out}");
    out
}

/// Forcing shows each letter's age, and says when a later signal of its group is in the
/// dead-letter queue too: a forced replay is never superseded, so forcing the older one
/// trades it as if it were the latest (a trial forced a long while the strategy's later short
/// waited beside it, and ended long).
#[tokio::test]
async fn a_forced_dry_run_gives_ages_and_names_a_later_letter_of_the_group() {
    let client = moto::sqs().await;
    let suffix = moto::unique_name("f");
    let (dlq_url, url) = moto::fifo_pair(&client, "oanda", 5).await;
    let now = SystemClock.now();
    let older = intent_at(&format!("older-{suffix}"), now - Duration::seconds(60));
    let mut later = intent_at(&format!("later-{suffix}"), now - Duration::seconds(40));
    later.action = Action::ShortEntry;
    later.target = Action::ShortEntry.target();
    dead_letter(&client, &dlq_url, &[&older, &later]).await;
    let audit = std::env::temp_dir().join(format!("forced-{suffix}.jsonl"));
    let out = forced_dry_run(&dlq_url, &url, &audit, None);
    let line_of = |intent: &OrderIntent| {
        out.lines()
            .find(|l| l.contains(intent.signal_id.as_str()))
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned()
    };
    let first = line_of(&older);
    assert!(
        first.contains("would replay (forced), the signal 6")
            && first.contains("a later signal of its group is in this queue too"),
        "{first}"
    );
    let second = line_of(&later);
    assert!(
        second.contains("would replay (forced), the signal 4")
            && !second.contains("later signal of its group"),
        "{second}"
    );
    assert!(
        receive(&client, &url).await.is_empty(),
        "a dry run sent nothing"
    );
    let _ = std::fs::remove_file(&audit);
}

/// A forced replay is never superseded: forcing a letter after a later signal of its symbol
/// was taken (journaled filled or no-op) trades the older one against it. The dry run's line
/// names such signals from the journal (a refused later one is not named), and says when the
/// journal was not read.
#[tokio::test]
async fn a_forced_dry_run_names_a_later_signal_of_the_symbol_the_journal_shows_taken() {
    use shared::execution::{SignalStatus, TradeJournal};
    let client = moto::sqs().await;
    let suffix = moto::unique_name("t");
    let (dlq_url, url) = moto::fifo_pair(&client, "oanda-taken", 5).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let path = path.to_str().unwrap();
    let now = SystemClock.now();
    let older = intent_at(&format!("older-{suffix}"), now - Duration::seconds(90));
    let journal = journal::AnyJournal::connect(path).await.unwrap();
    let mut taken = intent_at(&format!("taken-{suffix}"), now - Duration::seconds(30));
    taken.action = Action::ShortEntry;
    taken.target = Action::ShortEntry.target();
    let refused = intent_at(&format!("refused-{suffix}"), now - Duration::seconds(20));
    let earlier = intent_at(&format!("earlier-{suffix}"), now - Duration::seconds(120));
    for (i, status) in [
        (&taken, SignalStatus::Filled),
        (&refused, SignalStatus::Refused),
        (&earlier, SignalStatus::Filled),
    ] {
        journal
            .upsert_signal(&journal_row(i, status, None))
            .await
            .unwrap();
    }
    // Another symbol's later fill is not this letter's business.
    let mut other = intent_at(&format!("other-{suffix}"), now - Duration::seconds(10));
    other.symbol = "GBPUSD".into();
    other.instrument = Instrument::new("GBP_USD");
    journal
        .upsert_signal(&journal_row(&other, SignalStatus::Filled, None))
        .await
        .unwrap();
    drop(journal);
    dead_letter(&client, &dlq_url, &[&older]).await;
    let audit = std::env::temp_dir().join(format!("taken-{suffix}.jsonl"));
    let line = |journal: Option<&str>| {
        let out = forced_dry_run(&dlq_url, &url, &audit, journal);
        out.lines()
            .find(|l| l.contains(older.signal_id.as_str()))
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned()
    };
    let with = line(Some(path));
    assert!(
        with.contains(&format!(
            "a later signal of its symbol was taken since ({} SHORT_ENTRY filled)",
            &taken.signal_id.as_str()[..12]
        )),
        "{with}"
    );
    // Said once, with what forcing does.
    assert!(
        with.contains(
            ": forced, this older one is not superseded, and moves the account to what it asks \
             (LONG_ENTRY EUR_USD at oanda) as if it were the latest signal"
        ),
        "{with}"
    );
    assert_eq!(
        with.matches("as if it were the latest").count(),
        1,
        "{with}"
    );
    for other in [&refused, &earlier, &other] {
        assert!(!with.contains(&other.signal_id.as_str()[..12]), "{with}");
    }
    // The filled check is said to be skipped only when no journal was read for it.
    assert!(
        !with.contains("was read for whether this signal filled"),
        "{with}"
    );
    let without = line(None);
    assert!(
        without.contains("the journal was not read for a later signal of its symbol")
            && without.contains("no journal (JOURNAL_URL) was read for whether this signal filled"),
        "{without}"
    );
    assert!(
        receive(&client, &url).await.is_empty(),
        "a dry run sent nothing"
    );
    let _ = std::fs::remove_file(&audit);
}

/// At Coinbase a forced dry run names a later signal of another product of the letter's coin
/// (a BTC-USDC exit after a BTC-USD entry's letter): the executor keeps one series per coin,
/// as one sale sells the whole balance, so forcing the entry buys after the strategy sold.
#[tokio::test]
async fn a_forced_dry_run_names_a_later_signal_of_another_product_of_the_coin() {
    use shared::execution::{SignalStatus, TradeJournal};
    let client = moto::sqs().await;
    let suffix = moto::unique_name("c");
    let (dlq_url, url) = moto::fifo_pair(&client, "coinbase-taken", 5).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let path = path.to_str().unwrap();
    let now = SystemClock.now();
    let coin = |name: &str, product: &str, action: Action, ago: i64| {
        let mut i = intent_at(&format!("{name}-{suffix}"), now - Duration::seconds(ago));
        i.broker = Broker::Coinbase;
        i.exchange = "COINBASE".into();
        i.symbol = product.replace('-', "");
        i.instrument = Instrument::new(product);
        i.action = action;
        i.target = action.target();
        i
    };
    let entry = coin("entry", "BTC-USD", Action::LongEntry, 90);
    let exit = coin("exit", "BTC-USDC", Action::LongExit, 30);
    let other = coin("other", "ETH-USD", Action::LongExit, 20);
    let journal = journal::AnyJournal::connect(path).await.unwrap();
    for i in [&exit, &other] {
        journal
            .upsert_signal(&journal_row(i, SignalStatus::Filled, None))
            .await
            .unwrap();
    }
    drop(journal);
    dead_letter(&client, &dlq_url, &[&entry]).await;
    let audit = std::env::temp_dir().join(format!("coin-{suffix}.jsonl"));
    let out = forced_dry_run(&dlq_url, &url, &audit, Some(path));
    let line = out
        .lines()
        .find(|l| l.contains(entry.signal_id.as_str()))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains(&format!(
            "a later signal of its symbol was taken since ({} LONG_EXIT filled)",
            &exit.signal_id.as_str()[..12]
        )),
        "{line}"
    );
    assert!(!line.contains(&other.signal_id.as_str()[..12]), "{line}");
    let _ = std::fs::remove_file(&audit);
}

/// A letter of a signal the journal shows filled (an acknowledgement lost after the fill, a
/// router's letter of a signal routed before) is not replayed, even forced: while the
/// executor's idempotency record of it is kept a replay does nothing, and after that it
/// would send the filled orders again. A letter whose signal ended unknown is replayed.
#[tokio::test]
async fn a_forced_replay_of_a_signal_the_journal_shows_filled_is_refused() {
    use shared::execution::{SignalStatus, TradeJournal};
    let client = moto::sqs().await;
    let suffix = moto::unique_name("filled");
    let (dlq_url, url) = moto::fifo_pair(&client, "oanda-filled", 5).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let path = path.to_str().unwrap();
    let now = SystemClock.now();
    let filled = intent_at(&format!("filled-{suffix}"), now - Duration::days(9));
    let mut unknown = intent_at(&format!("unknown-{suffix}"), now - Duration::days(9));
    unknown.symbol = "GBPUSD".into();
    unknown.instrument = Instrument::new("GBP_USD");
    let journal = journal::AnyJournal::connect(path).await.unwrap();
    let mut row = journal_row(&filled, SignalStatus::Filled, None);
    row.stages.broker_acked = Some(filled.signal_time + Duration::seconds(1));
    journal.upsert_signal(&row).await.unwrap();
    journal
        .upsert_signal(&journal_row(&unknown, SignalStatus::Unknown, Some("lost")))
        .await
        .unwrap();
    drop(journal);
    // 10,001 signals received after it, of another symbol: the filled one is not among the
    // journal's latest 10,000, so only a read of its own row by id finds it.
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(
            "INSERT INTO signals (signal_id, raw, normalized, symbol, exchange, action, status,
                 received_at)
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)
             SELECT printf('%032x', i), '{}', '{}', 'OTHER', 'OANDA', 'LONG_ENTRY', 'filled',
                 '2099-01-01T00:00:00Z'
             FROM n",
        )
        .unwrap();
    dead_letter(&client, &dlq_url, &[&filled, &unknown]).await;
    let audit = std::env::temp_dir().join(format!("filled-{suffix}.jsonl"));
    let (code, listing) = tvctl_with(&["dlq", "list", "--queue-url", &dlq_url, "--json"], None);
    assert_eq!(code, 0, "{listing}");
    let listed: Value = serde_json::from_str(listing.lines().next().unwrap()).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["message_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 2, "{listing}");
    let args = |force: bool| {
        let mut args = vec![
            "dlq",
            "replay",
            "--queue-url",
            &dlq_url,
            "--source-url",
            &url,
            "--audit-file",
            audit.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        args.extend(ids.iter().copied());
        args
    };
    // Unforced, the filled one is refused as filled, not sent to --force: that advice could
    // not work (the unknown one is over the age limit, and says so).
    let (_, unforced) = tvctl_with(&args(false), Some(path));
    let filled_line = unforced
        .lines()
        .find(|l| l.contains(filled.signal_id.as_str()))
        .unwrap_or_else(|| panic!("{unforced}"));
    assert!(
        filled_line.contains("refused: the journal shows this signal filled at ")
            && !filled_line.contains("--force"),
        "{filled_line}"
    );
    // Forced with a journal that cannot be read: refused, as whether it filled is not known.
    let gone = dir.path().join("gone.sqlite");
    let (_, unread) = tvctl_with(&args(true), Some(gone.to_str().unwrap()));
    assert!(
        unread
            .lines()
            .filter(|l| l.contains("the journal could not be read for whether this signal filled"))
            .count()
            == 2,
        "{unread}"
    );
    assert!(receive(&client, &url).await.is_empty(), "{unread}");
    let (_, out) = tvctl_with(&args(true), Some(path));
    let line_of = |intent: &OrderIntent| {
        out.lines()
            .find(|l| l.contains(intent.signal_id.as_str()))
            .unwrap_or_else(|| panic!("{out}"))
            .to_owned()
    };
    let refused = line_of(&filled);
    assert!(
        refused.contains("refused: the journal shows this signal filled at ")
            && refused.contains(
                "a replay would send its orders again wherever its idempotency record is gone \
                 (expired, or a new state file); not replayed, forced or not (send a new alert to \
                 trade again)"
            ),
        "{refused}"
    );
    assert!(line_of(&unknown).contains("replayed"), "{out}");
    let sent = receive(&client, &url).await;
    assert_eq!(sent.len(), 1, "only the unknown one is replayed: {out}");
    let body = sent[0].body().unwrap_or_default();
    assert!(body.contains(unknown.signal_id.as_str()), "{body}");
    let _ = std::fs::remove_file(&audit);
}
