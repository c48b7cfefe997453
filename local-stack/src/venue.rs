//! One venue type for the local stack: a paper broker, or a real broker client when its
//! credentials and base URL are set.

use executor_coinbase::venue::CoinbaseVenue;
use executor_oanda::venue::OandaVenue;
use executor_runtime::paper::{PaperNetting, PaperSpot};
use executor_runtime::venue::{ExecRequest, Execution, NothingSent, Venue};
use executor_tradovate::venue::TradovateVenue;
use shared::clock::SystemClock;
use shared::memory::{MemoryLeaseLock, MemoryTokenStore};
use shared::routing::Broker;
use std::sync::Arc;

pub type LocalTradovate = TradovateVenue<Arc<MemoryTokenStore>, Arc<MemoryLeaseLock>, SystemClock>;

pub enum AnyVenue {
    Netting(Arc<PaperNetting>),
    Spot(Arc<PaperSpot>),
    Oanda(Box<OandaVenue<SystemClock>>),
    Tradovate(Box<LocalTradovate>),
    Coinbase(Box<CoinbaseVenue<SystemClock>>),
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
