//! The webhook handler driven by real API Gateway events, with an in-memory FIFO queue and a
//! pinned clock.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Event, SECRET, alert, alert_with_passphrase, ingest, ingest_with, now, send};
use serde_json::{Value, json};
use shared::message::SignalMessage;

#[tokio::test]
async fn text_plain_alert_with_body_passphrase_is_enqueued_by_symbol_and_signal_id() {
    let (ingest, queue, _) = ingest();
    let body = alert_with_passphrase("oanda-eurusd-long.json", SECRET);
    let (status, reply) = send(&ingest, Event::post("/webhook", body).rest()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "enqueued");
    assert_eq!(reply["broker"], "oanda");
    assert_eq!(reply["instrument"], "EUR_USD");

    let sent = queue.messages();
    assert_eq!(sent.len(), 1);
    let msg: SignalMessage = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(sent[0].group_id, "EURUSD");
    assert_eq!(sent[0].dedup_id, msg.signal_id.as_str());
    assert_eq!(reply["signal_id"], msg.signal_id.as_str());
    assert_eq!(msg.received_at, now());
    assert!(
        !sent[0].body.contains(SECRET),
        "the passphrase travelled on"
    );
    assert_eq!(msg.version, shared::message::SIGNAL_VERSION);
}

/// An alert without a volume (`"NaN"`) is queued as version 2, the shape a router of an
/// earlier build retries rather than dead-letters; with a volume, as version 1.
#[tokio::test]
async fn an_alert_without_a_volume_is_queued_as_version_2() {
    let (ingest, queue, _) = ingest();
    let mut doc = alert("oanda-eurusd-long.json");
    doc["passphrase"] = json!(SECRET);
    doc["price_data"]["volume"] = json!("NaN");
    let (status, reply) = send(&ingest, Event::post("/webhook", doc.to_string()).rest()).await;
    assert_eq!(status, 200, "{reply}");
    let msg: SignalMessage = serde_json::from_str(&queue.messages()[0].body).unwrap();
    assert_eq!(
        (msg.version, msg.alert.price_data.volume),
        (shared::message::SIGNAL_VERSION_NO_VOLUME, None)
    );
}

#[tokio::test]
async fn application_json_alert_with_the_secret_in_the_path_is_enqueued() {
    let (ingest, queue, _) = ingest();
    let body = serde_json::to_vec(&alert("tradovate-es-long.json")).unwrap();
    let (status, reply) = send(
        &ingest,
        Event::post(&format!("/webhook/{SECRET}"), body)
            .json()
            .rest(),
    )
    .await;
    assert_eq!(
        (status, reply["instrument"].clone()),
        (200, json!("ESZ6")),
        "{reply}"
    );
    assert_eq!(queue.messages()[0].group_id, "ES1!");
}

#[tokio::test]
async fn base64_bodies_and_http_api_events_are_accepted_too() {
    let (ingest, queue, _) = ingest();
    let body = alert_with_passphrase("coinbase-btcusd-long.json", SECRET);
    let (status, _) = send(
        &ingest,
        Event::post("/webhook", body.clone()).base64().rest(),
    )
    .await;
    assert_eq!(status, 200);
    let short = alert_with_passphrase("coinbase-btcusd-short.json", SECRET);
    let (status, reply) = send(&ingest, Event::post("/webhook", short).json().http_v2()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(queue.messages().len(), 2);
}

/// An HTTP API (v2) on a named stage puts the stage at the start of `rawPath`
/// (`/prod/webhook/…`): the route is the path after it. Every request was answered 404.
#[tokio::test]
async fn an_http_api_on_a_named_stage_routes_by_the_path_after_the_stage() {
    let (ingest, queue, _) = ingest();
    let body = serde_json::to_string(&alert("coinbase-btcusd-long.json")).unwrap();
    let (status, reply) = send(
        &ingest,
        Event::post(&format!("/webhook/{SECRET}"), body)
            .json()
            .http_v2_on("prod"),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(queue.messages().len(), 1);
    let get = |path| Event {
        method: "GET",
        ..Event::post(path, Vec::new())
    };
    let (status, _) = send(&ingest, get("/healthcheck").http_v2_on("prod")).await;
    assert_eq!(status, 200);
    // A path that only starts with the stage's name is not under it (`/production` on
    // stage `prod`).
    let (status, _) = send(&ingest, get("uction").http_v2_on("prod")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_resent_alert_gets_the_same_signal_id_and_is_queued_once() {
    let (ingest, queue, clock) = ingest();
    let body = alert_with_passphrase("oanda-eurusd-short.json", SECRET);
    let (_, first) = send(&ingest, Event::post("/webhook", body.clone()).rest()).await;
    clock.advance(chrono::Duration::seconds(5));
    let (status, second) = send(&ingest, Event::post("/webhook", body).rest()).await;
    assert_eq!(status, 200);
    assert_eq!(first["signal_id"], second["signal_id"]);
    assert_eq!(queue.attempts(), 2);
    assert_eq!(queue.messages().len(), 1);
}

#[tokio::test]
async fn every_auth_failure_answers_the_same_401_body_and_enqueues_nothing() {
    let (ingest, queue, _) = ingest_with(Some(vec!["52.89.214.238".parse().unwrap()]));
    let good = alert_with_passphrase("oanda-eurusd-long.json", SECRET);
    let wrong = alert_with_passphrase("oanda-eurusd-long.json", "tv-secret-0123456788");
    let none = serde_json::to_string(&alert("oanda-eurusd-long.json")).unwrap();
    let cases = [
        ("wrong body passphrase", Event::post("/webhook", wrong)),
        (
            "no passphrase at all",
            Event::post("/webhook", none.clone()),
        ),
        (
            "wrong path secret",
            Event::post("/webhook/not-the-secret-at-all", good.clone()),
        ),
        (
            "path secret a prefix",
            Event::post("/webhook/tv-secret", none),
        ),
        (
            "right secret, wrong source address",
            Event::post("/webhook", good).with_source_ip("203.0.113.9"),
        ),
    ];
    let mut bodies = Vec::new();
    for (case, event) in cases {
        let resp = ingest::lambda::serve(&ingest, event.rest()).await.unwrap();
        assert_eq!(resp.status(), 401, "{case}");
        bodies.push(resp.body().as_ref().to_vec());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "401 bodies differ");
    let body: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "unauthorized", "message": "unauthorized"}})
    );
    assert_eq!(queue.attempts(), 0);
}

/// The operator's own console learns why a 401 was given (the local stack prints it beside
/// the refusal); the caller's body stays the same for every cause.
#[tokio::test]
async fn a_401_tells_the_operator_what_failed_and_the_caller_nothing() {
    let (ingest, _, _) = ingest_with(Some(vec!["52.89.214.238".parse().unwrap()]));
    let good = alert_with_passphrase("oanda-eurusd-long.json", SECRET);
    let none = serde_json::to_string(&alert("oanda-eurusd-long.json")).unwrap();
    let allowed = Some("52.89.214.238".parse().unwrap());
    for (path, body, source_ip, says) in [
        (
            "/webhook/not-the-secret-at-all",
            &good,
            allowed,
            "is not this stack's WEBHOOK_SECRET",
        ),
        ("/webhook", &none, allowed, "no secret"),
        (
            "/webhook",
            &good,
            Some("203.0.113.9".parse().unwrap()),
            "IP allowlist",
        ),
    ] {
        let reply = ingest
            .handle(ingest::WebhookRequest {
                method: "POST",
                path,
                source_ip,
                body: body.as_bytes(),
            })
            .await;
        assert_eq!(reply.status, 401);
        assert!(
            reply
                .operator_note
                .as_deref()
                .is_some_and(|n| n.contains(says)),
            "{reply:?}"
        );
        assert_eq!(
            reply.body,
            json!({"error": {"code": "unauthorized", "message": "unauthorized"}})
        );
    }
}

#[tokio::test]
async fn allowlisted_source_address_with_the_secret_passes() {
    let (ingest, _, _) = ingest_with(Some(vec!["52.89.214.238".parse().unwrap()]));
    let body = alert_with_passphrase("oanda-eurusd-long.json", SECRET);
    assert_eq!(
        send(&ingest, Event::post("/webhook", body).rest()).await.0,
        200
    );
}

#[tokio::test]
async fn oversized_body_is_refused_before_parsing() {
    let (ingest, queue, _) = ingest();
    // Not JSON at all: a 413 rather than a 400 shows nothing tried to parse it.
    let (status, reply) = send(
        &ingest,
        Event::post("/webhook", vec![b'x'; 16 * 1024 + 1]).rest(),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(reply["error"]["code"], "payload_too_large");
    assert_eq!(queue.attempts(), 0);
}

#[tokio::test]
async fn sender_mistakes_get_4xx_with_code_and_message() {
    let (ingest, queue, _) = ingest();
    let path = format!("/webhook/{SECRET}");
    let mut stale = alert("oanda-eurusd-long.json");
    stale["market_data"]["timenow"] = json!("2026-11-23T14:31:00Z");
    let mut unknown = alert("oanda-eurusd-long.json");
    unknown["market_data"]["exchange"] = json!("BINANCE");
    let template = serde_json::to_string(&alert("unsubstituted-template.json")).unwrap();
    // September 2026 on 2026-11-23: expired on its roll date, 2026-09-12.
    let mut expired = alert("tradovate-es-long.json");
    expired["market_data"]["symbol"] = json!("ESU2026");
    let cases: [(&str, String, u16, &str, &str); 5] = [
        (
            "malformed",
            "{\"action\": }".into(),
            400,
            "malformed_json",
            "line 1, column 12",
        ),
        (
            "template",
            template,
            422,
            "unsubstituted_placeholder",
            "market_data.symbol",
        ),
        ("stale", stale.to_string(), 422, "stale_alert", "62 s old"),
        (
            "exchange",
            unknown.to_string(),
            422,
            "unknown_exchange",
            "BINANCE",
        ),
        (
            "expired contract",
            expired.to_string(),
            422,
            "unroutable_symbol",
            "expired: its roll date in the routing table was 2026-09-12",
        ),
    ];
    for (case, body, status, code, words) in cases {
        let (got, reply) = send(&ingest, Event::post(&path, body).rest()).await;
        assert_eq!(got, status, "{case}: {reply}");
        assert_eq!(reply["error"]["code"], code, "{case}");
        assert!(
            reply["error"]["message"].as_str().unwrap().contains(words),
            "{case}: {reply}"
        );
    }
    assert_eq!(queue.attempts(), 0);
}

/// A body that fails to parse with no secret in the path is refused before its sender is
/// authenticated: its answer must not depend on the secret. Echoes cut at `…` and scrubbed of
/// the secret's parts said `##[REDACTED]…` when a guessed key was the secret's start and
/// `##z…` when not: a character of the secret per request or two.
#[tokio::test]
async fn an_unauthenticated_body_that_fails_to_parse_tells_nothing_of_the_secret() {
    let (ingest, queue, _) = ingest();
    let right = &SECRET[..1];
    assert_ne!(right, "z");
    let mut answers = Vec::new();
    for guess in [right, "z"] {
        let duplicate = format!(r#"{{"xx{guess}…":1,"xx{guess}…":1}}"#);
        let placeholders = format!(r#"{{"a{guess}…": {{{{close}}}}, "b{guess}…": {{{{open}}}}}}"#);
        let mut bodies = Vec::new();
        for body in [duplicate, placeholders] {
            let (status, reply) = send(&ingest, Event::post("/webhook", body.clone()).rest()).await;
            assert!(matches!(status, 400 | 422), "{body}: {reply}");
            assert_eq!(
                reply["error"]["message"],
                ingest::error::UNREAD_MESSAGE,
                "{body}: {reply}"
            );
            assert!(!reply.to_string().contains("REDACTED"), "{reply}");
            bodies.push((status, reply));
        }
        answers.push(bodies);
    }
    assert_eq!(answers[0], answers[1], "the answers differ with the guess");
    // With the secret in the path the sender gets what was wrong, and the operator's
    // console gets it for an unauthenticated one.
    let body = r#"{"k":1,"k":1}"#;
    let (status, reply) = send(
        &ingest,
        Event::post(&format!("/webhook/{SECRET}"), body).rest(),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"k\""),
        "{reply}"
    );
    let unread = ingest
        .handle(ingest::WebhookRequest {
            method: "POST",
            path: "/webhook",
            source_ip: None,
            body: body.as_bytes(),
        })
        .await;
    assert!(
        unread
            .operator_note
            .as_deref()
            .is_some_and(|n| n.contains("\"k\"")),
        "{unread:?}"
    );
    assert_eq!(queue.attempts(), 0);
}

#[tokio::test]
async fn queue_failure_is_the_only_5xx_and_the_resend_then_succeeds() {
    let (ingest, queue, _) = ingest();
    queue.fail_group("EURUSD", 1);
    let body = alert_with_passphrase("oanda-eurusd-long.json", SECRET);
    let (status, reply) = send(&ingest, Event::post("/webhook", body.clone()).rest()).await;
    assert_eq!(status, 503);
    assert_eq!(reply["error"]["code"], "enqueue_failed");
    assert!(
        !reply.to_string().contains("signals"),
        "queue name leaked: {reply}"
    );
    let (status, _) = send(&ingest, Event::post("/webhook", body).rest()).await;
    assert_eq!(status, 200);
    assert_eq!(queue.messages().len(), 1);
}

/// A queue that never answers (SDK retries on a throttled queue) gets a 503 within the budget,
/// before TradingView's 3 s, so TradingView resends the alert instead of dropping it.
#[tokio::test(start_paused = true)]
async fn a_queue_that_does_not_answer_in_time_is_a_503_tradingview_resends() {
    struct Stalled;
    impl shared::ports::FifoQueue for Stalled {
        async fn send(
            &self,
            _: shared::ports::FifoMessage,
        ) -> Result<(), shared::ports::QueueError> {
            std::future::pending().await
        }
    }
    let clock = shared::clock::ManualClock::new(now());
    let ingest = ingest::Ingest::new(
        Stalled,
        clock,
        &secrecy::SecretString::from(SECRET),
        shared::alert::Freshness::default(),
        None,
        shared::RoutingTable::embedded(),
    );
    let started = tokio::time::Instant::now();
    let body = alert_with_passphrase("oanda-eurusd-long.json", SECRET);
    // Bounded, so that without the budget this fails instead of waiting for ever.
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        ingest::lambda::serve(&ingest, Event::post("/webhook", body).rest()),
    )
    .await
    .expect("answered before a minute")
    .unwrap();
    assert_eq!(started.elapsed(), ingest::handler::ENQUEUE_BUDGET);
    assert!(ingest::handler::ENQUEUE_BUDGET < std::time::Duration::from_secs(3));
    assert_eq!(reply.status().as_u16(), 503);
    let reply: Value = serde_json::from_slice(reply.body()).unwrap();
    assert_eq!(reply["error"]["code"], "enqueue_failed");
}

#[tokio::test]
async fn healthcheck_and_unknown_routes() {
    let (ingest, _, _) = ingest();
    let get = |path: &str| Event {
        method: "GET",
        ..Event::post(path, Vec::new())
    };
    assert_eq!(
        send(&ingest, get("/healthcheck").rest()).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(send(&ingest, get("/healthcheck").http_v2()).await.0, 200);
    assert_eq!(
        send(&ingest, get("/webhook").rest()).await.1["error"]["code"],
        "method_not_allowed"
    );
    assert_eq!(
        send(&ingest, Event::post("/elsewhere", "{}").rest())
            .await
            .0,
        404
    );
    assert_eq!(
        send(&ingest, Event::post("/webhook/a/b", "{}").rest())
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_secret_pasted_into_another_field_is_never_echoed_or_logged() {
    let (ingest, queue, _) = ingest();
    let logs = shared::telemetry::CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(shared::telemetry::json_subscriber(logs.clone()));
    for pointer in ["/action", "/market_data/exchange"] {
        let mut doc = alert("tradovate-es-long.json");
        *doc.pointer_mut(pointer).unwrap() = json!(SECRET);
        let body = serde_json::to_vec(&doc).unwrap();
        let (status, reply) = send(
            &ingest,
            Event::post(&format!("/webhook/{SECRET}"), body)
                .json()
                .rest(),
        )
        .await;
        assert_eq!(status, 422, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(!message.contains(SECRET), "{message}");
        assert!(message.contains("[REDACTED]"), "{message}");
    }
    let text = logs.text();
    assert!(text.contains("alert refused"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(queue.messages().is_empty());
}

#[tokio::test]
async fn a_secret_pasted_into_a_free_text_field_never_reaches_the_queue_or_the_logs() {
    let (ingest, queue, _) = ingest();
    let logs = shared::telemetry::CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(shared::telemetry::json_subscriber(logs.clone()));
    let mut doc = alert("oanda-eurusd-long.json");
    doc["indicator"] = json!(format!("my strategy {SECRET}"));
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 200, "{reply}");
    let warning = reply["warnings"][0].as_str().unwrap();
    assert!(warning.contains("indicator"), "{warning}");
    assert!(!reply.to_string().contains(SECRET));

    // The queued message (which the router forwards and the executor journals as raw and
    // normalized) holds the redacted text in both the alert and the canonical body.
    let sent = queue.messages();
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].body.contains(SECRET), "{}", sent[0].body);
    let msg: SignalMessage = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(msg.alert.indicator, "my strategy [REDACTED]");
    assert!(msg.raw.contains("my strategy [REDACTED]"), "{}", msg.raw);
    assert_eq!(reply["signal_id"], msg.signal_id.as_str());
    // The id is the hash of the redacted text the journal keeps, not of the text with the
    // secret in it: anyone who reads the journal could test guesses of the secret against it.
    assert_eq!(msg.signal_id, shared::SignalId::of_canonical(&msg.raw));
    let text = logs.text();
    assert!(text.contains("redacted before queueing"), "{text}");
    assert!(!text.contains(SECRET), "{text}");

    // TradingView resends the same body: the same signal id, deduplicated as before.
    let (status, again) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 200);
    assert_eq!(again["signal_id"], reply["signal_id"]);

    // In a key (here with the secret in its value too), it cannot be redacted without
    // changing the alert: refused, and neither the reply nor the logs carry it.
    let mut keyed = alert("oanda-eurusd-long.json");
    keyed["note"] = json!({ SECRET: format!("x {SECRET}") });
    let (status, refused) = post_doc(&ingest, &keyed).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("free of the webhook secret"),
        "{refused}"
    );
    assert!(!refused.to_string().contains(SECRET), "{refused}");
    assert_eq!(queue.messages().len(), 1, "nothing more queued");
    assert!(!logs.text().contains(SECRET));
}

/// The secret typed in another letter case is the secret all the same: redacted from a
/// refusal's echo (a symbol that does not route), from the queued alert (a free-text field)
/// and from the logs.
#[tokio::test]
async fn a_secret_in_another_letter_case_is_redacted_too() {
    let (ingest, queue, _) = ingest();
    let logs = shared::telemetry::CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(shared::telemetry::json_subscriber(logs.clone()));
    let upper = SECRET.to_ascii_uppercase();
    let mixed: String = SECRET
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    assert!(upper != SECRET && mixed != SECRET, "the secret has letters");
    let mut doc = alert("oanda-eurusd-long.json");
    doc["market_data"]["symbol"] = json!(upper);
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 422, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("[REDACTED]"), "{message}");
    let mut doc = alert("oanda-eurusd-long.json");
    doc["indicator"] = json!(format!("my strategy {mixed}"));
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 200, "{reply}");
    let sent = queue.messages();
    assert_eq!(sent.len(), 1);
    let msg: SignalMessage = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(msg.alert.indicator, "my strategy [REDACTED]");
    for text in [reply.to_string(), sent[0].body.clone(), logs.text()] {
        let lower = text.to_ascii_lowercase();
        assert!(!lower.contains(&SECRET.to_ascii_lowercase()), "{text}");
    }
}

/// Posts `doc` with the right secret in the path: (status, reply).
async fn post_doc(
    ingest: &common::TestIngest,
    doc: &serde_json::Value,
) -> (u16, serde_json::Value) {
    send(
        ingest,
        Event::post(
            &format!("/webhook/{SECRET}"),
            serde_json::to_vec(doc).unwrap(),
        )
        .json()
        .rest(),
    )
    .await
}

#[tokio::test]
async fn a_secret_cut_by_the_echo_limit_leaks_not_even_its_start() {
    let (ingest, _, _) = ingest();
    let logs = shared::telemetry::CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(shared::telemetry::json_subscriber(logs.clone()));
    // Refusals echo 64 characters: the secret starts 4 before the cut.
    let pad = "x".repeat(60);
    let mut doc = alert("tradovate-es-long.json");
    doc["action"] = json!(format!("{pad}{SECRET}"));
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 422, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{pad}[REDACTED]…")), "{message}");
    let start = &SECRET[..4];
    assert!(!message.contains(&format!("{pad}{start}")), "{message}");
    assert!(!logs.text().contains(&format!("{pad}{start}")));
}

/// A `quantity` below the top level is refused with its path cut at its start (the last 128
/// characters, behind `…`): a secret used as a key above it must not leak its end there.
#[tokio::test]
async fn a_secret_cut_at_the_start_of_a_key_path_leaks_not_even_its_end() {
    let (ingest, _, _) = ingest();
    let logs = shared::telemetry::CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(shared::telemetry::json_subscriber(logs.clone()));
    // The path `x.<secret>.<60 x>.<40 y>.quantity` is 152 characters and more: its last 128
    // start inside the secret.
    let mut doc = alert("tradovate-es-long.json");
    let (a, b) = ("x".repeat(60), "y".repeat(40));
    doc["x"] = json!({ SECRET: { a.clone(): { b.clone(): { "quantity": 1 } } } });
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 422, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("…[REDACTED].{a}.{b}.quantity")),
        "{message}"
    );
    let end = &SECRET[SECRET.len() - 4..];
    assert!(!message.contains(&format!("{end}.{a}")), "{message}");
    assert!(
        !logs.text().contains(&format!("{end}.{a}")),
        "{}",
        logs.text()
    );
    assert!(
        logs.text().contains(&format!("[REDACTED].{a}")),
        "{}",
        logs.text()
    );
}

/// A key path cut at its start whose key holding the secret is itself cut at 64 characters:
/// the piece between the two cuts is a middle part of the secret, neither its start nor its
/// end, and leaked 14 of its 20 characters to the reply and the log.
#[tokio::test]
async fn a_secret_between_two_cuts_leaks_not_even_its_middle() {
    let (ingest, _, _) = ingest();
    let logs = shared::telemetry::CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(shared::telemetry::json_subscriber(logs.clone()));
    // The key: 48 x, then the secret, cut after its 16th character; the path's last 128
    // characters start at the secret's third: `…<secret[2..16]>….<64 k>.<38 m>.quantity`.
    let key = format!("{}{SECRET}y", "x".repeat(48));
    let (k, m) = ("k".repeat(64), "m".repeat(38));
    let mut doc = alert("tradovate-es-long.json");
    doc["x"] = json!({ key: { k.clone(): { m.clone(): { "quantity": 1 } } } });
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 422, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!(".{k}.{m}.quantity")), "{message}");
    let text = logs.text();
    for part in SECRET.as_bytes().windows(6) {
        let part = std::str::from_utf8(part).unwrap();
        assert!(!message.contains(part), "{part} in {message}");
        assert!(!text.contains(part), "{part} in {text}");
    }
}

#[tokio::test]
async fn refusals_quote_sender_chosen_names_bounded() {
    let (ingest, _, _) = ingest();
    let long = "K".repeat(300);
    let mut doc = alert("oanda-eurusd-long.json");
    for i in 0..40 {
        doc[format!("{long}{i}")] = json!("{{close}}");
    }
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 422, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("unsubstituted TradingView placeholders in:"),
        "{message}"
    );
    assert!(message.ends_with("and 20 more"), "{message}");
    assert!(message.len() < 20 * 80 + 100, "{} bytes", message.len());

    let mut doc = alert("tradovate-es-long.json");
    doc["market_data"]["symbol"] = json!(format!("{long}1!"));
    let (status, reply) = post_doc(&ingest, &doc).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["error"]["code"], "unroutable_symbol", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.len() < 400, "{message}");
}

/// A secret with characters JSON escapes (a quote, a backslash) is found in a free-text field
/// all the same, though the canonical body holds it escaped.
#[tokio::test]
async fn a_secret_with_escaped_characters_pasted_into_a_field_is_redacted() {
    let secret = r#"tv"se\cret-0123456789"#;
    let clock = shared::clock::ManualClock::new(now());
    let queue = std::sync::Arc::new(test_kit::fifo::MemoryFifoQueue::new(
        "signals",
        clock.clone(),
    ));
    let ingest = ingest::Ingest::new(
        queue.clone(),
        clock,
        &secrecy::SecretString::from(secret),
        shared::alert::Freshness::default(),
        None,
        shared::RoutingTable::embedded(),
    );
    let mut doc = alert("oanda-eurusd-long.json");
    doc["passphrase"] = json!(secret);
    doc["indicator"] = json!(format!("my strategy {secret}"));
    let (status, reply) = send(
        &ingest,
        Event::post("/webhook", serde_json::to_string(&doc).unwrap()).rest(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["warnings"][0].as_str().unwrap().contains("indicator"));
    let sent = queue.messages();
    let msg: SignalMessage = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(msg.alert.indicator, "my strategy [REDACTED]");
    assert!(!msg.raw.contains("se\\\\cret"), "{}", msg.raw);
}

/// An alert routed to a broker whose executor is not deployed is refused before it is queued:
/// its broker's queue has no consumer, so it would be answered 200 and never executed (kept
/// until the queue's retention deleted it). Another broker's alert is taken as before.
#[tokio::test]
async fn an_alert_for_a_broker_not_deployed_is_refused_and_not_queued() {
    let (ingest, queue, _) = ingest();
    let ingest = ingest.with_brokers(vec![shared::routing::Broker::Oanda]);
    let (status, reply) = post_doc(&ingest, &alert("tradovate-es-long.json")).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["error"]["code"], "unroutable_symbol", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tradovate") && message.contains("DEPLOYED_BROKERS: oanda"),
        "{message}"
    );
    assert!(queue.messages().is_empty());
    // Named as the table's own refusals name them: the exchange without its delayed-data
    // suffix, the symbol cut (a 12,000-character symbol that routes to OANDA was echoed whole).
    let ingest_tv = {
        let (ingest, _, _) = common::ingest();
        ingest.with_brokers(vec![shared::routing::Broker::Tradovate])
    };
    let mut cl = alert("tradovate-cl-short.json");
    cl["market_data"]["exchange"] = json!("NYMEX_DL");
    let (_, reply) = post_doc(&ingest, &cl).await;
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("on NYMEX ") && !message.contains("NYMEX_DL"),
        "{message}"
    );
    let mut long = alert("oanda-eurusd-long.json");
    long["market_data"]["symbol"] = json!(format!("{}USD", "A".repeat(12_000)));
    let (status, reply) = post_doc(&ingest_tv, &long).await;
    assert_eq!(status, 422, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.len() < 600 && message.contains("not deployed"),
        "{} characters: {}",
        message.len(),
        &message[..200]
    );
    let (status, reply) = post_doc(&ingest, &alert("oanda-eurusd-long.json")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(queue.messages().len(), 1);
}

/// A request's `Debug` print (a `?req` in a log line, a panic message) shows neither the
/// secret in its path nor the body that may carry the passphrase.
#[test]
fn a_requests_debug_print_shows_neither_the_path_secret_nor_the_body() {
    let body = br#"{"passphrase":"body-secret-1234567890","symbol":"EURUSD"}"#;
    let req = ingest::WebhookRequest {
        method: "POST",
        path: "/prod/webhook/path-secret-1234567890",
        source_ip: None,
        body,
    };
    let shown = format!("{req:?}");
    assert!(!shown.contains("path-secret"), "{shown}");
    assert!(!shown.contains("body-secret"), "{shown}");
    assert!(shown.contains("/prod/webhook/[REDACTED]"), "{shown}");
    assert!(
        shown.contains(&format!("body_bytes: {}", body.len())),
        "{shown}"
    );
    let plain = ingest::WebhookRequest {
        path: "/webhook",
        ..req
    };
    assert!(format!("{plain:?}").contains("path: \"/webhook\""));
}
