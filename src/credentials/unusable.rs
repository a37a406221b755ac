//! What is wrong with a source's answer that arrived but cannot be used: named, so a caller
//! (and a test) can tell "Vault has no such version" from "the Secret holds no data" without
//! reading the text. No variant holds a value; keys are names, never contents.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("the response holds no token")]
    NoToken,
    #[error("the response gives no expiry")]
    NoExpiry,
    #[error("holds no data")]
    NoData,
    #[error("the secret holds no fields")]
    NoFields,
    #[error("field `{field}` is {kind}; store it as a string so it is read exactly as written")]
    NotAString { field: String, kind: &'static str },
    #[error("data[{key}] is not base64")]
    NotBase64 { key: String },
    #[error("data[{key}] is not UTF-8 text")]
    NotText { key: String },
    #[error("version {version} is destroyed; the last good value is kept")]
    VersionDestroyed { version: u64 },
    #[error("version {version} is deleted; the last good value is kept")]
    VersionDeleted { version: u64 },
    #[error("version {version} does not exist; the last good value is kept")]
    NoSuchVersion { version: u64 },
    #[error("no such secret; the last good value is kept")]
    NoSuchSecret,
    #[error("the answer has no lease (use `vault.kv` for static secrets)")]
    NoLease,
    #[error("no current lease, and `plan` does not issue dynamic credentials (the next sync will)")]
    NotIssuedInPlan,
}
