//! Service-account tokens as JWTs signed with ECDSA P-256 (JWS `ES256`, RFC 7518 §3.4: the
//! fixed-size r‖s signature), as Kubernetes may sign them and as OpenBao's kubernetes auth
//! accepts (it refuses HMAC and EdDSA tokens).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use serde_json::{Value, json};

fn pair(pkcs8: &[u8]) -> Option<EcdsaKeyPair> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &SystemRandom::new()).ok()
}

/// A new signing key, as PKCS#8 bytes.
pub fn generate_key() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec()
}

pub fn sign(claims: &Value, pkcs8: &[u8]) -> String {
    let pair = pair(pkcs8).unwrap();
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = pair.sign(&SystemRandom::new(), signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// The claims of a token signed with this key, if the signature checks.
pub fn verify(token: &str, pkcs8: &[u8]) -> Option<Value> {
    let pair = pair(pkcs8)?;
    let (signing_input, signature) = token.rsplit_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
        .verify(signing_input.as_bytes(), &signature)
        .ok()?;
    let payload = signing_input.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}
