//! EHR launch contexts (SMART EHR launch), for testing or for EHRs without HTTP access to
//! `POST {base}/launch`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::oauth::launch::{self, LaunchError, LaunchRequest};

use super::{AdminContext, AdminError, Output};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LaunchOp {
    Create {
        client_id: String,
        patient: String,
        encounter: Option<String>,
    },
}

impl LaunchOp {
    pub fn command(&self) -> &'static str {
        "create"
    }

    pub fn client_id(&self) -> &str {
        let LaunchOp::Create { client_id, .. } = self;
        client_id
    }
}

pub fn execute(op: LaunchOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    let LaunchOp::Create {
        client_id,
        patient,
        encounter,
    } = op;
    let request = LaunchRequest {
        client_id: Some(client_id),
        patient: Some(patient),
        encounter,
    };
    let (id, expires_at) = launch::create(ctx.store, &request, ctx.now).map_err(|e| match e {
        LaunchError::Invalid(m) => AdminError::Invalid(m),
        other => AdminError::Internal(other.into()),
    })?;
    let ttl = expires_at - ctx.now;
    Ok(Output::new(
        json!({"launch": id, "expires_in": ttl}),
        format!("launch: {id}\n(valid for {ttl} seconds)"),
    ))
}
