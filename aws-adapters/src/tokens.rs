//! Shared broker tokens: a DynamoDB cache and lease lock (one table, `pk` keyed), and an SSM
//! SecureString copy under a prefix (`/tradovate/...`) that operators and other tools read.
//! The token and its expiry are stored together so a reader never sees a mismatched pair.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use shared::ports::{LeaseLock, StoreError, StoredToken, TokenStore};

fn store_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        reason: format!("{what}: {e}"),
    }
}

fn millis(n: &AttributeValue) -> Option<DateTime<Utc>> {
    n.as_n()
        .ok()?
        .parse::<i64>()
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// Creates the token-cache table (on demand, `pk` string key) if it does not exist: for tests
/// and the local tooling; in AWS the CDK app owns it.
pub async fn create_token_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), StoreError> {
    crate::dynamodb::create_pk_table(client, name)
        .await
        .map_err(|e| store_error("create table", e))
}

/// Tokens in the DynamoDB token-cache table, item `token#<name>`.
#[derive(Debug, Clone)]
pub struct DynamoTokenStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTokenStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl DynamoTokenStore {
    /// The item `token#<name>`, read consistently; `None` when there is none.
    async fn item(
        &self,
        name: &str,
    ) -> Result<Option<std::collections::HashMap<String, AttributeValue>>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("token#{name}")))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| store_error("token read", crate::sdk_error_text(&e)))
    }
}

impl TokenStore for DynamoTokenStore {
    async fn load(&self, name: &str) -> Result<Option<StoredToken>, StoreError> {
        let Some(item) = self.item(name).await? else {
            return Ok(None);
        };
        let token = item.get("token").and_then(|v| v.as_s().ok()).cloned();
        let expires = item.get("expires_at").and_then(millis);
        let stopped_until = item.get("stopped_until").and_then(millis);
        let owner = item.get("owner").and_then(|v| v.as_s().ok()).cloned();
        Ok(token.zip(expires).map(|(t, e)| StoredToken {
            access_token: SecretString::from(t),
            expires_at: e,
            owner,
            stopped_until,
        }))
    }

    /// An update of `token`, `expires_at` and `owner` alone, so that a stop stored in the
    /// item (`save_stop`) stays whatever the order of the two writes. A token without an
    /// owner removes the stored one.
    async fn save(&self, name: &str, token: &StoredToken) -> Result<(), StoreError> {
        let (expression, owner) = match &token.owner {
            Some(owner) => (
                "SET #token = :token, expires_at = :expires, #owner = :owner",
                Some(owner),
            ),
            None => (
                "SET #token = :token, expires_at = :expires REMOVE #owner",
                None,
            ),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("token#{name}")))
            .update_expression(expression)
            .expression_attribute_names("#owner", "owner");
        if let Some(owner) = owner {
            update = update.expression_attribute_values(":owner", AttributeValue::S(owner.clone()));
        }
        update
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(
                ":token",
                AttributeValue::S(token.access_token.expose_secret().to_owned()),
            )
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(token.expires_at.timestamp_millis().to_string()),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error("token write", crate::sdk_error_text(&e)))
    }

    async fn load_stop(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .item(name)
            .await?
            .and_then(|item| item.get("stopped_until").and_then(millis)))
    }

    /// `stopped_until` (epoch ms) set in the token's item, only when none, an earlier one or
    /// one too far ahead ([`shared::ports::STOP_OVERWRITE_MARGIN`]) is stored (a conditional
    /// update: a later stop another process stored wins), leaving the token as it is; the
    /// item is made if there is none.
    async fn save_stop(&self, name: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("token#{name}")))
            .update_expression("SET stopped_until = :until")
            .condition_expression(
                "attribute_not_exists(stopped_until) OR stopped_until < :until OR stopped_until > :far",
            )
            .expression_attribute_values(
                ":until",
                AttributeValue::N(until.timestamp_millis().to_string()),
            )
            .expression_attribute_values(
                ":far",
                AttributeValue::N(
                    (until + shared::ports::STOP_OVERWRITE_MARGIN)
                        .timestamp_millis()
                        .to_string(),
                ),
            )
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(store_error("token stop write", crate::sdk_error_text(&e))),
        }
    }
}

/// A lease lock in the same table, item `lock#<name>`, taken with a conditional write.
#[derive(Debug, Clone)]
pub struct DynamoLeaseLock {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLeaseLock {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl LeaseLock for DynamoLeaseLock {
    async fn acquire(
        &self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("lock#{name}")))
            .item("owner", AttributeValue::S(owner.to_owned()))
            .item(
                "lease_until",
                AttributeValue::N(lease_until.timestamp_millis().to_string()),
            )
            .condition_expression(
                "attribute_not_exists(pk) OR lease_until < :now OR #owner = :owner",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.timestamp_millis().to_string()),
            )
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error("lock write", crate::sdk_error_text(&e))),
        }
    }

    async fn release(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("lock#{name}")))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // Someone else holds it now (our lease ran out): nothing of ours to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(store_error("lock release", crate::sdk_error_text(&e))),
        }
    }
}

/// Tokens as SSM SecureString parameters `<prefix>/<name>/token` holding
/// `{"accessToken": …, "expirationTime": …}`.
#[derive(Debug, Clone)]
pub struct SsmTokenStore {
    client: aws_sdk_ssm::Client,
    prefix: String,
}

impl SsmTokenStore {
    pub fn new(client: aws_sdk_ssm::Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into().trim_end_matches('/').to_owned(),
        }
    }

    pub fn parameter_name(&self, name: &str) -> String {
        format!("{}/{name}/token", self.prefix)
    }
}

impl TokenStore for SsmTokenStore {
    async fn load(&self, name: &str) -> Result<Option<StoredToken>, StoreError> {
        let got = self
            .client
            .get_parameter()
            .name(self.parameter_name(name))
            .with_decryption(true)
            .send()
            .await;
        let value = match got {
            Ok(out) => out.parameter.and_then(|p| p.value),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                None
            }
            Err(e) => {
                return Err(store_error(
                    "token parameter read",
                    crate::sdk_error_text(&e),
                ));
            }
        };
        let Some(value) = value else { return Ok(None) };
        // Parse errors never echo the value: it holds the token.
        let doc: serde_json::Value = serde_json::from_str(&value)
            .map_err(|_| store_error("token parameter", "not the expected JSON"))?;
        let token = doc["accessToken"].as_str();
        let expires = doc["expirationTime"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        let owner = doc["owner"].as_str().map(str::to_owned);
        Ok(token.zip(expires).map(|(t, e)| StoredToken {
            access_token: SecretString::from(t.to_owned()),
            expires_at: e.with_timezone(&Utc),
            owner,
            stopped_until: None,
        }))
    }

    async fn save(&self, name: &str, token: &StoredToken) -> Result<(), StoreError> {
        let value = json!({
            "accessToken": token.access_token.expose_secret(),
            "expirationTime": token.expires_at.to_rfc3339(),
            "owner": token.owner,
        });
        self.client
            .put_parameter()
            .name(self.parameter_name(name))
            .value(value.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error("token parameter write", crate::sdk_error_text(&e)))
    }

    /// None: the parameter is the token's copy for operators and other tools; a stop lives in
    /// the DynamoDB item only ([`DynamoTokenStore::save_stop`]).
    async fn load_stop(&self, _name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(None)
    }

    /// Nothing written (see [`Self::load_stop`]).
    async fn save_stop(&self, _name: &str, _until: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(())
    }
}
