//! `GET /security/public-key-certificates`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::{AppState, Routes, ts};

pub(super) fn register(r: &mut Routes) {
    r.add("get_public_key_certificates", public_key_certificates);
}

async fn public_key_certificates(State(app): State<Arc<AppState>>) -> Json<Vec<Value>> {
    let now = app.now();
    Json(
        app.keys
            .keys()
            .iter()
            .filter(|k| k.accepted_at(now))
            .map(|k| {
                json!({
                    "certificate": B64.encode(&k.certificate_der),
                    "certificateId": k.certificate_id,
                    "publicKeyId": k.public_key_id,
                    "validFrom": ts(k.valid_from),
                    "validTo": ts(k.valid_to),
                    "usage": [k.usage.as_str()],
                })
            })
            .collect(),
    )
}
