//! The real OANDA, Tradovate and Coinbase venues and clients against `broker-fakes`' servers,
//! as the simulation's HTTP seeds and the venue contract suite (`tests/venue_contract.rs`)
//! run them: short timeouts and settle times, each longer than its fake's fill delay and
//! listing lag, so an asynchronous fill shows in the lookups.

use broker_fakes::coinbase::{FakeCoinbase, ProductSpec};
use broker_fakes::oanda::FakeOanda;
use broker_fakes::tradovate::{self as tv_fake, FakeTradovate};
use executor_coinbase::client::ClientSettings as CoinbaseSettings;
use executor_coinbase::config::CoinbaseSettings as CoinbaseConfig;
use executor_coinbase::venue::CoinbaseVenue;
use executor_oanda::client::ClientSettings as OandaSettings;
use executor_oanda::config::OandaSettings as OandaConfig;
use executor_oanda::venue::OandaVenue;
use executor_tradovate::client::ClientSettings as TvSettings;
use executor_tradovate::config::TradovateSettings as TradovateConfig;
use executor_tradovate::venue::{TradovateAccount, TradovateVenue, VenueSettings};
use rust_decimal::Decimal;
use shared::clock::{Clock, ManualClock};
use shared::config::{BrokerSettings, MapEnv};
use shared::memory::{MemoryLeaseLock, MemoryTokenStore};
use shared::secrets::EnvSecretStore;
use std::sync::Arc;

/// The Tradovate venue as the simulation builds it.
pub type HttpTradovate = TradovateVenue<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, ManualClock>;

/// The Tradovate fake's fill delay here, and the venue's settle time (longer).
pub const TRADOVATE_FILL_DELAY: std::time::Duration = std::time::Duration::from_millis(20);
pub const TRADOVATE_SETTLE: std::time::Duration = std::time::Duration::from_millis(60);

pub async fn oanda(clock: &ManualClock) -> Result<(OandaVenue<ManualClock>, FakeOanda), String> {
    let fake = FakeOanda::start().await;
    // The executor asks for the transactions since a time read from this clock.
    fake.use_clock(Arc::new(clock.clone()));
    // The executor's own settings and factory, as the Lambda and the local stack read them.
    let env = MapEnv::new([
        ("OANDA_BASE_URL", fake.url.as_str()),
        ("OANDA_ACCOUNT", fake.account.as_str()),
        ("OANDA_SECRET", fake.token.as_str()),
    ]);
    let client = OandaConfig::load(&env, &EnvSecretStore)
        .await
        .and_then(|s| {
            s.client(OandaSettings {
                timeout: std::time::Duration::from_secs(5),
                read_attempts: 2,
                read_backoff: std::time::Duration::from_millis(1),
            })
        })
        .map_err(|e| e.to_string())?;
    let venue = OandaVenue::new(client, clock.clone())
        .with_settle_time(std::time::Duration::from_millis(20));
    Ok((venue, fake))
}

pub async fn tradovate(clock: &ManualClock) -> Result<(HttpTradovate, FakeTradovate), String> {
    let fake = FakeTradovate::start(clock.now()).await;
    fake.set_fill_delay(TRADOVATE_FILL_DELAY);
    // The March contracts ES1! and MNQ1! roll to on 2026-12-12.
    fake.add_contract("ESH7", 3_580_000);
    fake.add_contract("MNQH7", 3_580_013);
    let settings = TradovateConfig::load(&tradovate_env(&fake.url), &EnvSecretStore)
        .await
        .map_err(|e| e.to_string())?;
    let tokens = settings
        .tokens(
            TvSettings {
                timeout: std::time::Duration::from_secs(5),
                read_attempts: 2,
                read_backoff: std::time::Duration::from_millis(1),
                max_wait: std::time::Duration::from_millis(100),
                // The simulation's fake lifts its 429 at once (`TooMany(0)`), to go on to
                // what follows it; Tradovate's hour is the executor's own tests'.
                rate_limit_stop: std::time::Duration::ZERO,
            },
            Arc::new(MemoryTokenStore::default()),
            Arc::new(MemoryLeaseLock::default()),
            clock.clone(),
            "simulation",
        )
        .map_err(|e| e.to_string())?;
    let venue = TradovateVenue::new(
        Arc::new(tokens),
        TradovateAccount {
            id: executor_tradovate::models::AccountId(tv_fake::ACCOUNT_ID),
            name: tv_fake::ACCOUNT_NAME.into(),
        },
        clock.clone(),
        VenueSettings {
            settle: TRADOVATE_SETTLE,
            poll_interval: std::time::Duration::from_millis(5),
            // The simulated clock stands still while the venue waits.
            max_wait: std::time::Duration::from_millis(300),
        },
    );
    Ok((venue, fake))
}

/// The fake's login as the Tradovate settings read it.
fn tradovate_env(url: &str) -> MapEnv {
    MapEnv::new([
        ("TRADOVATE_BASE_URL", url),
        ("TRADOVATE_USERNAME", tv_fake::USERNAME),
        ("TRADOVATE_PASSWORD", tv_fake::PASSWORD),
        ("TRADOVATE_APP_ID", "tv-pipeline"),
        (
            "TRADOVATE_DEVICE_ID",
            "5e1a0c7d9b3f4e2a8c6d0b1f3e5a7c9d5e1a0c7d9b3f4e2a8c6d0b1f3e5a7c9d",
        ),
        ("TRADOVATE_CID", &tv_fake::CID.to_string()),
        ("TRADOVATE_SEC", tv_fake::SEC),
    ])
}

/// The name of the API key the simulation's Coinbase client signs with.
const COINBASE_KEY: &str = "organizations/sim-org/apiKeys/sim-key";

/// The real Coinbase venue and client against the fake server: a P-256 key made for this
/// run (registered with the fake, which verifies every request's JWT), the simulation's
/// products, and a wallet of 10,000 USD as the paper venue has.
pub async fn coinbase(
    clock: &ManualClock,
) -> Result<(CoinbaseVenue<ManualClock>, FakeCoinbase), String> {
    use p256::pkcs8::LineEnding;
    let fake = FakeCoinbase::start(clock.clone()).await;
    let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    fake.register_es256(COINBASE_KEY, &key.public_key());
    let pem = key
        .to_sec1_pem(LineEnding::LF)
        .map_err(|e| format!("test key: {e}"))?;
    // The suite's log audit looks for the key's body too (cut short of its PEM armour).
    shared::telemetry::list_for_audit(&pem);
    for (ccy, amount) in [("USD", "10000"), ("BTC", "0"), ("ETH", "0"), ("USDC", "0")] {
        fake.set_wallet(ccy, amount);
    }
    let spec = |price: &str, min: &str| -> Result<ProductSpec, String> {
        let d = |s: &str| s.parse::<Decimal>().map_err(|e| format!("{s}: {e}"));
        Ok(ProductSpec {
            base_increment: d("0.00000001")?,
            quote_increment: d("0.01")?,
            base_min_size: d(min)?,
            quote_min_size: d("1")?,
            base_max_size: d("3400")?,
            quote_max_size: d("150000000")?,
            price: d(price)?,
            trading_disabled: false,
            post_only: false,
            auction_mode: false,
            is_disabled: false,
            cancel_only: false,
            limit_only: false,
            view_only: false,
        })
    };
    fake.add_product("BTC-USD", spec("97123.45", "0.00001")?);
    fake.add_product("ETH-USD", spec("3456.78", "0.0001")?);
    // Lists come back a few items per page, so lookups by client order id page.
    fake.set_page_size(4);
    // As Coinbase may: a fill shows in the wallet a moment after the order reads filled
    // (the documents give no time), so the executor's wait for its holdings is exercised;
    // and each fill pays a fee in the quote currency.
    fake.set_balance_lag(std::time::Duration::from_millis(30));
    fake.set_fee_rate("0.006");
    let pem = pem.to_string();
    let env = MapEnv::new([
        ("COINBASE_BASE_URL", fake.url.as_str()),
        ("COINBASE_API_KEY_NAME", COINBASE_KEY),
        ("COINBASE_PRIVATE_KEY", pem.as_str()),
    ]);
    let client = CoinbaseConfig::load(&env, &EnvSecretStore)
        .await
        .and_then(|s| {
            s.client(
                Arc::new(clock.clone()),
                CoinbaseSettings {
                    // Short, so an accepted-then-timeout fault costs little real time.
                    timeout: COINBASE_TIMEOUT,
                    read_attempts: 2,
                    read_backoff: std::time::Duration::from_millis(1),
                    page_limit: 250,
                    fill_settle: std::time::Duration::from_millis(20),
                    fill_wait: std::time::Duration::from_millis(200),
                    rate_limit_pause: std::time::Duration::from_millis(20),
                },
            )
        })
        .map_err(|e| e.to_string())?;
    Ok((
        CoinbaseVenue::new(client, clock.clone())
            .with_settle_time(std::time::Duration::from_millis(20)),
        fake,
    ))
}

/// The Coinbase client's timeout in the simulation, and how long the fake holds back the
/// answer to an order it created under an accepted-then-timeout fault.
pub const COINBASE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(150);
pub const COINBASE_LOST_ANSWER: std::time::Duration = std::time::Duration::from_millis(250);
