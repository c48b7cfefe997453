//! The CDP API key and the JWT Coinbase wants on every REST request.
//!
//! Coinbase hands out ECDSA keys as SEC1 PEM (`BEGIN EC PRIVATE KEY`), which `jsonwebtoken`
//! cannot read (it takes PKCS#8 only), so SEC1 is converted once with `p256`. PKCS#8 PEM is
//! taken as is (P-256 or Ed25519), and so is the raw base64 Ed25519 secret (32-byte seed, or
//! seed followed by the public key) that the CDP portal gives for Ed25519 keys.
//!
//! Key material never leaves this module: `Debug` prints the key name and algorithm only,
//! errors carry fixed texts, and the token is returned as a [`SecretString`].

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// How long a token lives: Coinbase documents two minutes.
pub const TOKEN_LIFETIME_SECS: i64 = 120;

/// The DER prefix of a PKCS#8 Ed25519 private key (RFC 8410): the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Why a private key was refused. The texts are fixed: none of them quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the API key name is empty")]
    EmptyName,
    #[error("the private key is empty")]
    Empty,
    #[error(
        "the private key is an encrypted PEM; paste the unencrypted key Coinbase issued (BEGIN EC PRIVATE KEY)"
    )]
    Encrypted,
    #[error("the private key could not be read: {0}")]
    Unreadable(&'static str),
    #[error("the private key cannot sign a JWT: {0}")]
    Sign(String),
}

/// The signature algorithm a key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256: the key type Coinbase recommends for Advanced Trade.
    Es256,
    /// Ed25519, signed as `EdDSA`.
    Ed25519,
}

impl KeyAlgorithm {
    fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::Ed25519 => Algorithm::EdDSA,
        }
    }
}

/// A CDP API key: its name (`organizations/{org}/apiKeys/{id}`) and its private key.
#[derive(Clone)]
pub struct ApiKey {
    name: String,
    algorithm: KeyAlgorithm,
    key: EncodingKey,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"[REDACTED]")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iss: &'static str,
    nbf: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<&'a str>,
}

impl ApiKey {
    /// Reads the key as the user pasted it: PEM with real newlines or with `\n` escapes (as
    /// in the JSON file Coinbase downloads), or a raw base64 Ed25519 secret.
    pub fn parse(name: &str, secret: &SecretString) -> Result<Self, KeyError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(KeyError::EmptyName);
        }
        let text = Zeroizing::new(
            secret
                .expose_secret()
                .trim()
                .trim_matches('"')
                .replace("\\n", "\n"),
        );
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        let (algorithm, key) = if text.contains("ENCRYPTED PRIVATE KEY") {
            return Err(KeyError::Encrypted);
        } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            let secret = p256::SecretKey::from_sec1_pem(text)
                .map_err(|_| KeyError::Unreadable("SEC1 PEM that is not a P-256 private key"))?;
            (KeyAlgorithm::Es256, es256_key(&secret)?)
        } else if text.contains("-----BEGIN PRIVATE KEY-----") {
            match p256::SecretKey::from_pkcs8_pem(text) {
                Ok(secret) => (KeyAlgorithm::Es256, es256_key(&secret)?),
                Err(_) => (
                    KeyAlgorithm::Ed25519,
                    EncodingKey::from_ed_pem(text.as_bytes()).map_err(|_| {
                        KeyError::Unreadable("PKCS#8 PEM that is neither P-256 nor Ed25519")
                    })?,
                ),
            }
        } else if text.contains("-----BEGIN") {
            return Err(KeyError::Unreadable(
                "unsupported PEM type (expected EC PRIVATE KEY or PRIVATE KEY)",
            ));
        } else {
            (KeyAlgorithm::Ed25519, raw_ed25519(text)?)
        };
        let parsed = Self {
            name: name.to_owned(),
            algorithm,
            key,
        };
        // Sign once now so a key that parses but cannot sign fails at cold start, not on
        // the first order.
        parsed.sign(None, 0)?;
        Ok(parsed)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// A fresh token for one REST request: `uri` is `"{METHOD} {host}{path}"` with no scheme
    /// and no query string, as Coinbase's SDK builds it.
    pub fn token(
        &self,
        method: &str,
        host: &str,
        path: &str,
        now: DateTime<Utc>,
    ) -> Result<SecretString, KeyError> {
        let uri = format!("{method} {host}{path}");
        self.sign(Some(&uri), now.timestamp())
    }

    fn sign(&self, uri: Option<&str>, now: i64) -> Result<SecretString, KeyError> {
        let mut header = Header::new(self.algorithm.jwt());
        header.kid = Some(self.name.clone());
        header.nonce = Some(hex::encode(rand::random::<[u8; 32]>()));
        let claims = Claims {
            sub: &self.name,
            iss: "cdp",
            nbf: now,
            exp: now + TOKEN_LIFETIME_SECS,
            uri,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::from)
            // jsonwebtoken's messages name the error kind, never the key.
            .map_err(|e| KeyError::Sign(e.to_string()))
    }
}

fn es256_key(secret: &p256::SecretKey) -> Result<EncodingKey, KeyError> {
    let der = secret
        .to_pkcs8_der()
        .map_err(|_| KeyError::Unreadable("P-256 key could not be re-encoded as PKCS#8"))?;
    Ok(EncodingKey::from_ec_der(der.as_bytes()))
}

/// The CDP portal's Ed25519 secret: base64 of the 32-byte seed, or of seed ‖ public key.
fn raw_ed25519(text: &str) -> Result<EncodingKey, KeyError> {
    let compact: Zeroizing<String> = Zeroizing::new(text.split_whitespace().collect());
    let bytes = Zeroizing::new(STANDARD.decode(compact.as_bytes()).map_err(|_| {
        KeyError::Unreadable("neither PEM nor base64 (expected BEGIN EC PRIVATE KEY)")
    })?);
    if bytes.len() != 32 && bytes.len() != 64 {
        return Err(KeyError::Unreadable(
            "base64 secret of the wrong length for Ed25519 (32 or 64 bytes)",
        ));
    }
    let mut der = Zeroizing::new(ED25519_PKCS8_PREFIX.to_vec());
    der.extend_from_slice(&bytes[..32]);
    let key = EncodingKey::from_ed_der(&der);
    if bytes.len() == 64 {
        // The second half is the public key: a mismatch means a corrupted paste.
        let public = Jwk::from_encoding_key(&key, Algorithm::EdDSA)
            .map_err(|_| KeyError::Unreadable("Ed25519 seed is invalid"))?;
        let AlgorithmParameters::OctetKeyPair(p) = public.algorithm else {
            return Err(KeyError::Unreadable("Ed25519 seed is invalid"));
        };
        if p.x != URL_SAFE_NO_PAD.encode(&bytes[32..]) {
            return Err(KeyError::Unreadable(
                "Ed25519 secret whose public half does not match its seed",
            ));
        }
    }
    Ok(key)
}
