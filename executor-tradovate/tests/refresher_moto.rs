//! The token refresher's logic over the real AWS adapters against moto (DynamoDB token cache
//! and lock, SSM SecureString) and the fake Tradovate server: renew path, re-login path, and
//! two concurrent refreshes making one login. Needs `MOTO_ENDPOINT` (scripts/test.sh).
#![allow(clippy::unwrap_used)]

mod support;

use aws_adapters::tokens::{DynamoLeaseLock, DynamoTokenStore, SsmTokenStore, create_token_table};
use chrono::Duration;
use executor_tradovate::token::{Mirrored, Refreshed, TOKEN_NAME, TokenManager, TokenPolicy};
use secrecy::ExposeSecret;
use shared::clock::{Clock, ManualClock};
use shared::ports::TokenStore;
use support::fake_tradovate::FakeTradovate;
use support::{client, credentials, t0};
use test_kit::moto;

type Manager =
    TokenManager<Mirrored<DynamoTokenStore, SsmTokenStore>, DynamoLeaseLock, ManualClock>;

struct Aws {
    ddb: aws_sdk_dynamodb::Client,
    ssm: aws_sdk_ssm::Client,
    table: String,
    prefix: String,
}

async fn aws() -> Aws {
    let cfg = moto::sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&cfg);
    let table = moto::table(&ddb, "token-cache", create_token_table).await;
    Aws {
        ddb,
        ssm: aws_sdk_ssm::Client::new(&cfg),
        table,
        prefix: format!("/{}", moto::unique_name("tradovate")),
    }
}

fn manager(aws: &Aws, fake: &FakeTradovate, clock: ManualClock, owner: &str) -> Manager {
    let store = Mirrored(
        DynamoTokenStore::new(aws.ddb.clone(), &aws.table),
        SsmTokenStore::new(aws.ssm.clone(), &aws.prefix),
    );
    TokenManager::new(
        client(fake),
        credentials(),
        store,
        DynamoLeaseLock::new(aws.ddb.clone(), &aws.table),
        clock,
        owner,
        TokenPolicy::default(),
    )
}

#[tokio::test]
async fn renew_path_and_relogin_path_store_the_token_in_dynamodb_and_ssm() {
    let aws = aws().await;
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let m = manager(&aws, &fake, clock.clone(), "refresher");
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);

    clock.advance(Duration::minutes(65));
    fake.set_now(clock.now());
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::Renewed);
    let ssm = SsmTokenStore::new(aws.ssm.clone(), &aws.prefix);
    let cache = DynamoTokenStore::new(aws.ddb.clone(), &aws.table);
    let (a, b) = (
        ssm.load(TOKEN_NAME).await.unwrap().unwrap(),
        cache.load(TOKEN_NAME).await.unwrap().unwrap(),
    );
    assert_eq!(
        a.access_token.expose_secret(),
        b.access_token.expose_secret()
    );
    assert!(a.expires_at > clock.now() + Duration::minutes(60));
    assert!(ssm.parameter_name(TOKEN_NAME).starts_with("/tradovate"));

    clock.advance(Duration::minutes(120));
    fake.set_now(clock.now());
    assert_eq!(m.scheduled().await.unwrap(), Refreshed::LoggedIn);
    assert_eq!((fake.logins(), fake.renewals()), (2, 1));
}

#[tokio::test]
async fn two_concurrent_refreshes_log_in_once() {
    let aws = aws().await;
    let (fake, _check) = support::checked_fake(t0()).await;
    let clock = ManualClock::new(t0());
    let schedule = manager(&aws, &fake, clock.clone(), "refresher");
    let executor = manager(&aws, &fake, clock.clone(), "executor");
    let (a, b) = tokio::join!(schedule.scheduled(), executor.token());
    a.unwrap();
    b.unwrap();
    assert_eq!(fake.logins(), 1);
}
