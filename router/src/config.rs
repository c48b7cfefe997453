//! Router settings, read once at cold start.

use shared::RoutingTable;
use shared::config::{ConfigError, Env};

#[derive(Debug)]
pub struct RouterConfig {
    pub oanda_queue_url: String,
    pub tradovate_queue_url: String,
    pub coinbase_queue_url: String,
    pub routing: RoutingTable,
    /// `FRONT_MONTH_TABLE`: the DynamoDB cache of market-data front months (optional; unset,
    /// the routing table's roll rule alone resolves continuous symbols).
    pub front_month_table: Option<String>,
    /// `DEAD_LETTER_QUEUE_URL`: the signals queue's FIFO dead-letter queue, where a signal
    /// that no longer routes is sent (optional; unset, such a signal fails until the queue's
    /// redrive policy dead-letters it).
    pub dead_letter_queue_url: Option<String>,
}

impl RouterConfig {
    /// Settings: `OANDA_QUEUE_URL`, `TRADOVATE_QUEUE_URL`, `COINBASE_QUEUE_URL`,
    /// `ROUTING_TABLE_FILE` (optional), `FRONT_MONTH_TABLE` (optional),
    /// `DEAD_LETTER_QUEUE_URL` (optional).
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            oanda_queue_url: env.required("OANDA_QUEUE_URL")?,
            tradovate_queue_url: env.required("TRADOVATE_QUEUE_URL")?,
            coinbase_queue_url: env.required("COINBASE_QUEUE_URL")?,
            routing: RoutingTable::from_env(env)?,
            front_month_table: env.optional("FRONT_MONTH_TABLE"),
            dead_letter_queue_url: env.optional("DEAD_LETTER_QUEUE_URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::MapEnv;

    #[test]
    fn each_broker_queue_is_required_by_name() {
        let env = MapEnv::new([("OANDA_QUEUE_URL", "q1"), ("COINBASE_QUEUE_URL", "q3")]);
        assert_eq!(
            RouterConfig::from_env(&env).unwrap_err().to_string(),
            "missing setting TRADOVATE_QUEUE_URL"
        );
    }
}
