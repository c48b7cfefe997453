//! One venue type for the local stack: a paper broker, or a real broker client when any of
//! its settings is set (its base URL defaulting as the executor's does: Coinbase's live
//! exchange).

use executor_coinbase::venue::CoinbaseVenue;
use executor_oanda::venue::OandaVenue;
use executor_runtime::drive::ReadError;
use executor_runtime::paper::{PaperNetting, PaperSpot};
use executor_runtime::venue::{ExecRequest, Execution, NothingSent, PositionRead, Venue};
use executor_tradovate::venue::TradovateVenue;
use rust_decimal::Decimal;
use shared::clock::SystemClock;
use shared::memory::{MemoryLeaseLock, MemoryTokenStore};
use shared::routing::Broker;
use std::sync::Arc;

pub type LocalTradovate = TradovateVenue<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, SystemClock>;

/// Shared (`Arc`) so the executor trades through it and the dashboard reads positions
/// through the same client.
#[derive(Clone)]
pub enum AnyVenue {
    Netting(Arc<PaperNetting>),
    Spot(Arc<PaperSpot>),
    Oanda(Arc<OandaVenue<SystemClock>>),
    Tradovate(Arc<LocalTradovate>),
    Coinbase(Arc<CoinbaseVenue<SystemClock>>),
}

impl std::fmt::Debug for AnyVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl AnyVenue {
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Netting(_) | Self::Spot(_) => "paper",
            Self::Oanda(_) | Self::Tradovate(_) | Self::Coinbase(_) => "REAL broker API",
        }
    }
}

impl Venue for AnyVenue {
    fn broker(&self) -> Broker {
        match self {
            Self::Netting(v) => v.broker(),
            Self::Spot(v) => v.broker(),
            Self::Oanda(v) => v.broker(),
            Self::Tradovate(v) => v.broker(),
            Self::Coinbase(v) => v.broker(),
        }
    }

    fn account(&self) -> &str {
        match self {
            Self::Netting(v) => v.account(),
            Self::Spot(v) => v.account(),
            Self::Oanda(v) => v.account(),
            Self::Tradovate(v) => v.account(),
            Self::Coinbase(v) => v.account(),
        }
    }

    async fn execute(&self, req: &ExecRequest<'_>) -> Result<Execution, NothingSent> {
        match self {
            Self::Netting(v) => v.execute(req).await,
            Self::Spot(v) => v.execute(req).await,
            Self::Oanda(v) => v.execute(req).await,
            Self::Tradovate(v) => v.execute(req).await,
            Self::Coinbase(v) => v.execute(req).await,
        }
    }
}

impl AnyVenue {
    /// True for a real broker's client, false for a paper broker.
    pub fn is_real(&self) -> bool {
        matches!(
            self,
            Self::Oanda(_) | Self::Tradovate(_) | Self::Coinbase(_)
        )
    }
}

impl PositionRead for AnyVenue {
    async fn position(&self, instrument: &str) -> Result<Decimal, ReadError> {
        match self {
            Self::Netting(v) => Ok(v.positions().get(instrument).copied().unwrap_or_default()),
            Self::Spot(v) => {
                let Some((base, _)) = shared::routing::coinbase_currencies(instrument) else {
                    return Err(ReadError::Refused(format!(
                        "{instrument} is not BASE-QUOTE"
                    )));
                };
                Ok(v.balances().get(base).copied().unwrap_or_default())
            }
            Self::Oanda(v) => v.position(instrument).await,
            Self::Tradovate(v) => v.position(instrument).await,
            Self::Coinbase(v) => v.position(instrument).await,
        }
    }
}
