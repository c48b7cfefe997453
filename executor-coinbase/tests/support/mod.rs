//! The executor under test: the real runtime and Coinbase venue, the fake Coinbase server,
//! in-memory store, journal and notifier that tests can inspect, and API keys generated at
//! test time.
#![allow(dead_code, clippy::unwrap_used)]

pub use broker_fakes::coinbase as fake_coinbase;

use base64::Engine;
use chrono::Duration;
use executor_coinbase::client::{ClientSettings, CoinbaseClient};
use executor_coinbase::venue::CoinbaseVenue;
use fake_coinbase::FakeCoinbase;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rust_decimal::Decimal;
use secrecy::SecretString;
use shared::Action;
use shared::clock::ManualClock;
use shared::message::OrderIntent;
use shared::routing::Broker;
use std::sync::Arc;
use test_kit::executor::IntentFor;

pub type TestExecutor = test_kit::executor::TestExecutor<CoinbaseVenue<ManualClock>>;

pub const RISK: &str = r#"
default_size = "100"
default_max_position = "1000"
[instruments."BTC-USD"]
size = "100"
max_position = "500"
"#;

pub const KEY_NAME: &str = "organizations/0f7c1d2e-test-org/apiKeys/5b8e3a90-test-key";

pub use test_kit::executor::t0;

/// How a test hands the private key to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `BEGIN EC PRIVATE KEY`, what Coinbase issues.
    Sec1,
    /// `BEGIN PRIVATE KEY` (P-256).
    Pkcs8,
    /// SEC1 as it sits in Coinbase's JSON download: newlines written `\n`.
    Sec1Escaped,
    /// The CDP portal's Ed25519 secret: base64 of seed ‖ public key.
    Ed25519Raw,
}

/// A key pair generated for this test run.
pub struct TestKey {
    pub name: String,
    pub format: KeyFormat,
    /// What the client is given.
    pub secret_text: String,
    /// Hex of the private scalar (or Ed25519 seed): must never show up anywhere.
    pub private_hex: String,
    /// The base64 lines of the PEM body, each of which must never show up either.
    pub pem_lines: Vec<String>,
    p256_public: Option<p256::PublicKey>,
    ed25519_public: Option<Vec<u8>>,
}

impl TestKey {
    pub fn generate(name: &str, format: KeyFormat) -> Self {
        if format == KeyFormat::Ed25519Raw {
            let seed: [u8; 32] = rand::random();
            let mut der = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            der.extend_from_slice(&seed);
            let jwk =
                Jwk::from_encoding_key(&EncodingKey::from_ed_der(&der), Algorithm::EdDSA).unwrap();
            let AlgorithmParameters::OctetKeyPair(p) = jwk.algorithm else {
                panic!("not an OKP")
            };
            let public = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.x)
                .unwrap();
            let mut raw = seed.to_vec();
            raw.extend_from_slice(&public);
            let text = base64::engine::general_purpose::STANDARD.encode(&raw);
            // The suite's log audit looks for it too (it has no PEM armour to be seen by).
            shared::telemetry::list_for_audit(&text);
            shared::telemetry::list_for_audit(&hex::encode(seed));
            return Self {
                name: name.to_owned(),
                format,
                secret_text: text.clone(),
                private_hex: hex::encode(seed),
                pem_lines: vec![text],
                p256_public: None,
                ed25519_public: Some(public),
            };
        }
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let pem: String = match format {
            KeyFormat::Pkcs8 => secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            _ => secret.to_sec1_pem(LineEnding::LF).unwrap().to_string(),
        };
        // The suite's log audit looks for its body and scalar too (a PEM cut short of its
        // armour, the scalar in hex).
        shared::telemetry::list_for_audit(&pem);
        shared::telemetry::list_for_audit(&hex::encode(secret.to_bytes()));
        let pem_lines = pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
            .map(str::to_owned)
            .collect();
        let secret_text = match format {
            KeyFormat::Sec1Escaped => pem.replace('\n', "\\n"),
            _ => pem,
        };
        Self {
            name: name.to_owned(),
            format,
            secret_text,
            private_hex: hex::encode(secret.to_bytes()),
            pem_lines,
            p256_public: Some(secret.public_key()),
            ed25519_public: None,
        }
    }

    pub fn secret(&self) -> SecretString {
        SecretString::from(self.secret_text.clone())
    }

    pub fn register(&self, fake: &FakeCoinbase) {
        match (&self.p256_public, &self.ed25519_public) {
            (Some(p), _) => fake.register_es256(&self.name, p),
            (None, Some(p)) => fake.register_ed25519(&self.name, p),
            _ => unreachable!(),
        }
    }
}

/// The Coinbase executor against the Coinbase fake; `extra` is the API key it signs with
/// (`h.extra`).
pub type Harness = test_kit::executor::Harness<FakeCoinbase, CoinbaseVenue<ManualClock>, Extra>;

/// The harness's key, and the check at its end that the fake recorded no violation (an
/// order or a query the API does not define): the fake answers such a request in the kindest
/// way, where Coinbase may not. Reads as the key.
pub struct Extra {
    pub key: TestKey,
    check: test_kit::ViolationCheck,
}

impl std::ops::Deref for Extra {
    type Target = TestKey;
    fn deref(&self) -> &TestKey {
        &self.key
    }
}

pub fn client_settings() -> ClientSettings {
    ClientSettings {
        timeout: std::time::Duration::from_secs(2),
        read_attempts: 3,
        read_backoff: std::time::Duration::from_millis(10),
        page_limit: 250,
        fill_settle: std::time::Duration::from_millis(50),
        fill_wait: std::time::Duration::from_secs(2),
        rate_limit_pause: std::time::Duration::from_millis(100),
    }
}

pub async fn harness() -> Harness {
    harness_with(KeyFormat::Sec1).await
}

pub async fn harness_with(format: KeyFormat) -> Harness {
    harness_with_settings(format, client_settings()).await
}

/// With client settings of the test's own (how long an accepted order is followed).
pub async fn harness_with_settings(format: KeyFormat, settings: ClientSettings) -> Harness {
    shared::telemetry::init_test_logs();
    let clock = ManualClock::new(t0() + Duration::seconds(2));
    let fake = FakeCoinbase::start(clock.clone()).await;
    let key = TestKey::generate(KEY_NAME, format);
    key.register(&fake);
    let client = CoinbaseClient::new(
        &fake.url,
        &key.name,
        &key.secret(),
        Arc::new(clock.clone()),
        settings,
    )
    .unwrap();
    let venue = CoinbaseVenue::new(client, clock.clone())
        .with_settle_time(std::time::Duration::from_millis(20));
    let read = fake.clone();
    let extra = Extra {
        key,
        check: test_kit::ViolationCheck::new(move || read.violations()),
    };
    test_kit::executor::harness(fake, venue, clock, false, RISK, extra)
}

/// An intent as the router would send it; `n` makes distinct signals.
pub fn intent(action: Action, n: u32) -> OrderIntent {
    IntentFor {
        broker: Broker::Coinbase,
        instrument: "BTC-USD",
        symbol: "BTCUSD",
        exchange: "COINBASE",
        reference_price: Decimal::new(50000, 0),
        id_prefix: "coinbase-",
        contract: None,
    }
    .intent(action, n)
}
