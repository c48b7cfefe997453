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
            // Set but blank is refused, not read as unset: a value lost in an edit.
            front_month_table: env
                .unset_or_given("FRONT_MONTH_TABLE", "the routing table's roll rule alone")?,
            dead_letter_queue_url: env.unset_or_given(
                "DEAD_LETTER_QUEUE_URL",
                "signals that no longer route left to the redrive policy",
            )?,
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

    /// An optional table or queue set but blank is refused by name, not read as unset.
    #[test]
    fn blank_optional_settings_are_refused_by_name() {
        let queues = [
            ("OANDA_QUEUE_URL", "q1"),
            ("TRADOVATE_QUEUE_URL", "q2"),
            ("COINBASE_QUEUE_URL", "q3"),
        ];
        for name in ["FRONT_MONTH_TABLE", "DEAD_LETTER_QUEUE_URL"] {
            let env = MapEnv::new(queues.into_iter().chain([(name, " ")]));
            let err = RouterConfig::from_env(&env).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("set but empty"), "{err}");
        }
        let env = MapEnv::new(queues.into_iter().chain([("FRONT_MONTH_TABLE", "fm ")]));
        let cfg = RouterConfig::from_env(&env).unwrap();
        assert_eq!(
            (cfg.front_month_table.as_deref(), cfg.dead_letter_queue_url),
            (Some("fm"), None)
        );
    }
}
