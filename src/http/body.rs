//! Reading request bodies with a size cap, failing with an OAuth JSON error rather than actix's
//! plain-text one.

use actix_web::dev::RequestHead;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;

use crate::oauth::{ErrorCode, OAuthError};

use super::{BODY_READ_TIMEOUT, MAX_BODY_BYTES};

fn too_large() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequest,
        format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
    )
    .with_status(413)
}

/// Reads the whole body, refusing more than `MAX_BODY_BYTES` (413) and a body that takes longer
/// than [`BODY_READ_TIMEOUT`] to arrive (408): a slow sender must not hold a connection for minutes.
pub async fn read_limited(mut payload: web::Payload) -> Result<web::Bytes, OAuthError> {
    let read = async move {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "the request body could not be read",
                )
            })?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(result) => result,
        Err(_) => Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the request body was not received in time",
        )
        .with_status(408)),
    }
}

/// The declared body length, when a `Content-Length` header says it; an unparsable value counts
/// as oversized (the codec refuses it anyway).
fn declared_length(head: &RequestHead) -> Option<u64> {
    let value = head.headers.get(actix_web::http::header::CONTENT_LENGTH)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX),
    )
}

/// 413 for a request whose `Content-Length` exceeds `MAX_BODY_BYTES`, answered from the headers
/// before any of the body is read.
pub fn refuse_oversized(head: &RequestHead) -> Option<HttpResponse> {
    declared_length(head)
        .filter(|len| *len > MAX_BODY_BYTES as u64)
        .map(|_| ResponseError::error_response(&too_large()))
}

/// The `Expect: 100-continue` handler: `100 Continue` only for a body we will read; an oversized
/// one gets its 413 instead, so the client never starts sending it.
pub async fn expect_continue(
    req: actix_http::Request,
) -> Result<actix_http::Request, actix_web::Error> {
    match refuse_oversized(req.head()) {
        Some(res) => Err(actix_web::error::InternalError::from_response(
            "request body too large",
            res,
        )
        .into()),
        None => Ok(req),
    }
}

/// True when the request's media type is `expected` (parameters such as charset ignored).
pub fn has_media_type(req: &HttpRequest, expected: &str) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(expected))
}

/// Runs protocol work (signature checks, store commits) on the blocking pool so the async workers
/// stay free; a failure of the pool itself is a server error.
pub async fn blocking<T, F>(f: F) -> Result<T, OAuthError>
where
    F: FnOnce() -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f).await.map_err(OAuthError::internal)?
}

/// Issue 11: a pool for the token endpoint's CPU work (assertion checks, token signing), one
/// thread per core. `web::block`'s pool grows a thread for every request in flight (about 70 on
/// 2 cores under load), and the scheduler's hand-offs between them cost more than the work; here
/// requests queue and the threads stay busy. Waiting (the replay commit) happens on the async
/// side, so nothing here blocks for long except a rare store write.
struct CpuPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

fn cpu_pool() -> &'static CpuPool {
    static POOL: std::sync::OnceLock<CpuPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = std::sync::Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("udap-cpu-{i}"))
                .spawn(move || loop {
                    // The lock is held only to take one job.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A panicking job drops its reply sender (the caller sees an error);
                        // the thread carries on.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a CPU pool thread");
            }
        }
        CpuPool { jobs }
    })
}

/// Runs `f` on the CPU pool (see `CpuPool`) and awaits its result; a failure of the pool itself
/// is a server error.
pub async fn cpu<T, F>(f: F) -> Result<T, OAuthError>
where
    F: FnOnce() -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    cpu_pool()
        .jobs
        .send(job)
        .map_err(|_| OAuthError::internal("the CPU pool is not running"))?;
    rx.await
        .map_err(|_| OAuthError::internal("a CPU pool job failed"))?
}
