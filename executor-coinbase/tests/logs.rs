//! Log capture runs alone in this test binary (tracing caches callsite interest per process).
//! It drives the noisy paths (unknown outcome, lookup, resend, reject, a refused key) and
//! checks that no PEM, no private scalar and no JWT reaches a log line or a `Debug` print,
//! and that lines about an order carry the signal id.
#![allow(clippy::unwrap_used)]

mod support;

use executor_coinbase::auth::ApiKey;
use executor_coinbase::client::CoinbaseClient;
use executor_coinbase::config::CoinbaseSettings;
use serde_json::Value;
use shared::Action;
use shared::config::MapEnv;
use shared::telemetry::{CapturedLogs, json_subscriber};
use std::sync::Arc;
use support::fake_coinbase::Fault;
use support::{KEY_NAME, KeyFormat, TestKey, harness, intent};

fn assert_secret_free(text: &str, key: &TestKey, tokens: &[String], what: &str) {
    assert!(
        !text.contains(&key.secret_text),
        "{what}: the private key text appeared"
    );
    assert!(
        !text.contains("-----BEGIN"),
        "{what}: a PEM header appeared"
    );
    assert!(
        !text.to_lowercase().contains(&key.private_hex),
        "{what}: the private scalar appeared"
    );
    for line in &key.pem_lines {
        assert!(!text.contains(line.as_str()), "{what}: a PEM line appeared");
    }
    for token in tokens {
        assert!(!text.contains(token.as_str()), "{what}: a JWT appeared");
        // The signature part alone is just as secret-adjacent; check it too.
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "{what}: a JWT signature appeared"
        );
    }
    assert!(
        !text.contains("Bearer"),
        "{what}: an Authorization header appeared"
    );
}

#[tokio::test]
async fn no_key_material_or_token_in_logs_errors_or_debug() {
    let logs = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(json_subscriber(logs.clone()));
    let h = harness().await;
    // The lines the signals write start here.
    let signals_start = logs.text().lines().count();
    h.fake.script(Fault::ErrorAfterCreate);
    h.executor
        .execute(&intent(Action::LongEntry, 1))
        .await
        .unwrap();
    h.fake.script(Fault::ErrorBeforeCreate);
    h.executor
        .execute(&intent(Action::ShortEntry, 2))
        .await
        .unwrap();
    h.fake.set_wallet("BTC", "1");
    h.fake.script(Fault::Reject {
        error: "INSUFFICIENT_FUND",
        message: "Insufficient balance in source account",
        preview_failure_reason: "PREVIEW_INSUFFICIENT_FUND",
    });
    h.executor
        .execute(&intent(Action::LongExit, 3))
        .await
        .unwrap();
    // The lines the signals wrote end here.
    let signals_end = logs.text().lines().count();
    // A key the server does not know: the refusal is logged and journaled.
    let impostor = TestKey::generate(KEY_NAME, KeyFormat::Sec1);
    let wrong = CoinbaseClient::new(
        &h.fake.url,
        KEY_NAME,
        &impostor.secret(),
        Arc::new(h.clock.clone()),
        support::client_settings(),
    )
    .unwrap();
    let err = wrong.available_balances().await.unwrap_err();
    tracing::error!(error = %err, "balances unreadable");

    let tokens = h.fake.tokens();
    assert!(tokens.len() >= 10, "expected many signed requests");
    let text = logs.text();
    assert_secret_free(&text, &h.extra, &tokens, "logs");
    assert_secret_free(&text, &impostor, &tokens, "logs");
    assert_secret_free(&err.to_string(), &impostor, &tokens, "error");

    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let about_orders: Vec<_> = lines.iter().filter(|l| l.get("leg").is_some()).collect();
    assert!(about_orders.len() >= 3, "expected lookup lines:\n{text}");
    // Every line written while the signals executed (from the first signal's start to the
    // last signal's end), not only those about a leg: a signal's own lines ("signal not
    // executed") and its HTTP client's too.
    let during = &lines[signals_start..signals_end];
    assert!(during.len() > about_orders.len(), "{text}");
    assert!(
        during.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("not executed"))),
        "{text}"
    );
    for line in during {
        assert!(
            line["span"]["signal_id"].as_str().is_some(),
            "line without signal id: {line}"
        );
    }

    let debug = [
        format!("{:?}", h.executor.venue),
        format!("{:?}", h.executor.venue.client()),
        format!("{wrong:?}"),
        format!("{:?}", ApiKey::parse(KEY_NAME, &h.extra.secret()).unwrap()),
    ];
    for text in &debug {
        assert_secret_free(text, &h.extra, &tokens, "Debug");
        assert_secret_free(text, &impostor, &tokens, "Debug");
        assert!(text.contains("REDACTED"), "{text}");
    }

    let env = MapEnv::new([("COINBASE_API_KEY_NAME", KEY_NAME)]);
    let settings = CoinbaseSettings::from_env(&env, &h.extra.secret()).unwrap();
    let printed = format!("{settings:?}");
    assert_secret_free(&printed, &h.extra, &tokens, "settings Debug");
    assert!(printed.contains(KEY_NAME) && printed.contains("REDACTED"));
}

#[test]
fn unreadable_keys_are_refused_without_quoting_them() {
    let key = TestKey::generate(KEY_NAME, KeyFormat::Sec1);
    let cases = [
        // A truncated PEM: the body is cut in half.
        key.secret_text[..key.secret_text.len() / 2].to_owned() + "\n-----END EC PRIVATE KEY-----",
        key.secret_text
            .replace("EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
        key.secret_text.replace("EC PRIVATE KEY", "RSA PRIVATE KEY"),
        "bm90IGEga2V5".to_owned(),
        String::new(),
    ];
    for case in cases {
        let err = ApiKey::parse(KEY_NAME, &case.clone().into()).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert_secret_free(&shown, &key, &[], "key error");
        assert!(!shown.contains("bm90IGEga2V5"), "{shown}");
        let env = MapEnv::new([("COINBASE_API_KEY_NAME", KEY_NAME)]);
        let config = CoinbaseSettings::from_env(&env, &case.into()).unwrap_err();
        assert!(
            config.to_string().contains("COINBASE_PRIVATE_KEY"),
            "{config}"
        );
    }
    let env = MapEnv::new([("COINBASE_BASE_URL", "http://127.0.0.1:1")]);
    let missing = CoinbaseSettings::from_env(&env, &key.secret()).unwrap_err();
    assert!(missing.to_string().contains("COINBASE_API_KEY_NAME"));
    // A base URL set but blank is refused by name, not read as unset (production).
    let env = MapEnv::new([
        ("COINBASE_API_KEY_NAME", KEY_NAME),
        ("COINBASE_BASE_URL", " "),
    ]);
    let blank = CoinbaseSettings::from_env(&env, &key.secret()).unwrap_err();
    assert!(
        blank.to_string().contains("COINBASE_BASE_URL")
            && blank.to_string().contains("set but empty"),
        "{blank}"
    );
}
