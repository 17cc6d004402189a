//! HTTP surface: the actix-web app, its routes, TLS, health and metrics.
//!
//! Handlers here parse the wire and map errors; the rules they apply live in `oauth`, `pki` and
//! `jose` as plain functions.

pub mod admin;
pub mod authorize;
pub mod body;
pub mod error;
pub mod form;
pub mod health;
// Issue 8 item 8: RP-initiated logout.
pub mod logout;
pub mod metrics;
pub mod pages;
pub mod session;
pub mod smart;
pub mod state;
pub mod tls;
pub mod token;
pub mod udap;

use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_service::{IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{ServerHandle, Service};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App};
use futures_util::FutureExt;

pub use state::AppState;

/// Largest request body any endpoint reads; software statements and assertions are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen: {0}")]
    Bind(std::io::Error),
    #[error("server thread failed to start")]
    Thread,
}

/// Registers every route: health and metrics at the root, protocol endpoints under the base URL's
/// path (UDAP-7: `{baseURL}/.well-known/udap`).
pub fn routes(cfg: &mut web::ServiceConfig, prefix: &str) {
    error::configure_extractors(cfg);
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .default_service(web::to(error::not_found))
        .route("/health", web::get().to(health::health))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            web::scope(prefix)
                .route("/.well-known/udap", web::get().to(udap::metadata))
                .route(
                    "/.well-known/smart-configuration",
                    web::get().to(smart::smart_configuration),
                )
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(smart::openid_configuration),
                )
                .route(
                    "/.well-known/smart-configuration",
                    web::method(actix_web::http::Method::OPTIONS).to(smart::preflight),
                )
                .route(
                    "/token",
                    web::method(actix_web::http::Method::OPTIONS).to(smart::preflight),
                )
                .route("/authorize", web::get().to(authorize::authorize_get))
                .route("/authorize", web::post().to(authorize::authorize_post))
                .route(
                    "/authorize/continue",
                    web::get().to(authorize::continue_get),
                )
                .route(
                    "/authorize/patient",
                    web::post().to(authorize::patient_post),
                )
                .route(
                    "/authorize/consent",
                    web::post().to(authorize::consent_post),
                )
                .route("/login", web::get().to(authorize::login_get))
                .route("/login", web::post().to(authorize::login_post))
                // Issue 8 item 8: end-session endpoint.
                .route("/logout", web::get().to(logout::logout_get))
                .route("/logout", web::post().to(logout::logout_post))
                .route("/launch", web::post().to(smart::create_launch))
                .route("/smart-style.json", web::get().to(authorize::smart_style))
                .route("/register", web::post().to(udap::register))
                .route("/token", web::post().to(token::token))
                .route("/introspect", web::post().to(token::introspect))
                .route("/revoke", web::post().to(token::revoke))
                .route("/jwks", web::get().to(token::jwks)),
        );
}

/// A server running on its own thread (with its own actix system).
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where the admin API listens, when it does.
    pub admin_addr: Option<SocketAddr>,
    handle: ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    /// Our own reference to the state, so `stop` can wait until the workers have let go of it
    /// (and with it the database file lock).
    state: Option<web::Data<AppState>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish, and waits for the thread.
    pub fn stop(mut self) {
        let handle = self.handle.clone();
        actix_web::rt::System::new().block_on(handle.stop(true));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.release();
    }

    /// Waits (bounded) until worker threads have dropped their copies of the state, then drops
    /// ours, so the store is closed when this returns.
    fn release(&mut self) {
        if let Some(state) = self.state.take() {
            let arc = state.into_inner();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::sync::Arc::strong_count(&arc) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// The state being served. Issue 10 item 4: an in-process admin change (a key rotation)
    /// reloads what the running server uses.
    pub fn state(&self) -> Option<&AppState> {
        self.state.as_ref().map(|d| d.get_ref())
    }

    /// Blocks until the server stops (SIGINT/SIGTERM trigger a graceful shutdown).
    pub fn wait(mut self) -> std::io::Result<()> {
        let result = match self.thread.take() {
            Some(t) => t.join().unwrap_or(Ok(())),
            None => Ok(()),
        };
        self.release();
        result
    }
}

/// How long a client may take to send a request body once its headers are in. Bodies here are a
/// few KiB; a client that dribbles one is holding a connection, not sending a request.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts serving `state` on an already-bound listener (so callers, and tests on port 0, know the
/// address before the base URL and communities are fixed).
///
/// Built on actix-http's service builder rather than `HttpServer` because only the builder takes
/// an `Expect: 100-continue` handler: a request announcing a body over the limit gets 413 at
/// once, never `100 Continue` (`body::refuse_oversized`).
pub fn start(state: AppState, listener: TcpListener) -> Result<RunningServer, ServeError> {
    start_with_admin(state, listener, None)
}

/// [`start`], plus the admin API (issue 10) on its own listener when one is given: the same
/// workers and state, but only the admin routes, and none of them on the public listener.
pub fn start_with_admin(
    state: AppState,
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
) -> Result<RunningServer, ServeError> {
    let addr = listener.local_addr().map_err(ServeError::Bind)?;
    let admin_addr = match &admin_listener {
        Some(l) => Some(l.local_addr().map_err(ServeError::Bind)?),
        None => None,
    };
    let tls_config = match &state.settings.tls {
        Some(files) => Some(tls::server_config(&files.cert, &files.key)?),
        None => None,
    };
    let admin_tls = match (&state.settings.tls, &state.settings.admin_client_ca) {
        (Some(files), Some(ca)) => {
            Some(tls::server_config_with(&files.cert, &files.key, Some(ca))?)
        }
        _ => tls_config.clone(),
    };
    let workers = state.settings.workers;
    let prefix = state.endpoints.path_prefix.clone();
    let data = web::Data::new(state);
    let kept = data.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<ServerHandle, std::io::Error>>(1);
    let thread = std::thread::Builder::new()
        .name("udap-http".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app_data = data.clone();
                let factory = move || {
                    let app_data = app_data.clone();
                    let prefix = prefix.clone();
                    let app = App::new()
                        .app_data(app_data)
                        .wrap(
                            DefaultHeaders::new()
                                .add(("X-Content-Type-Options", "nosniff"))
                                .add(("Referrer-Policy", "no-referrer")),
                        )
                        .wrap_fn(|req, srv| {
                            // Requests without `Expect` that announce an oversized body are refused
                            // here, before anything reads it.
                            if let Some(res) = body::refuse_oversized(req.head()) {
                                let (http_req, _) = req.into_parts();
                                return futures_util::future::Either::Left(futures_util::future::ready(Ok(actix_web::dev::ServiceResponse::new(http_req, res))));
                            }
                            let data = req.app_data::<web::Data<AppState>>().cloned();
                            let started = std::time::Instant::now();
                            // Issue 10 item 6: the latency histogram's endpoint, from a fixed list.
                            let endpoint = data.as_ref().map(|d| metrics::endpoint_index(req.path(), &d.endpoints.path_prefix));
                            // The path only: query strings can carry values that do not belong in logs.
                            let line = data.as_ref().filter(|d| d.settings.access_log).map(|_| (req.method().to_string(), req.path().to_string()));
                            futures_util::future::Either::Right(srv.call(req).map(move |res| {
                                if let (Ok(r), Some(d)) = (&res, data) {
                                    let status = r.status().as_u16();
                                    d.metrics.record_status(status);
                                    if let Some(endpoint) = endpoint {
                                        d.metrics.record_duration(endpoint, started.elapsed());
                                    }
                                    if let Some((method, path)) = line {
                                        let ms = started.elapsed().as_secs_f64() * 1000.0;
                                        tracing::info!(target: "udap_server::access", %method, %path, status, ms = format!("{ms:.2}"), "request");
                                    }
                                }
                                res
                            }))
                        })
                        .configure(|cfg| routes(cfg, &prefix));
                    app.into_factory().map_err(|err| err.error_response())
                };
                // The same service over TCP or TLS; only the stream type differs.
                macro_rules! http_service {
                    () => {
                        actix_http::HttpService::build()
                            .client_request_timeout(Duration::from_secs(10))
                            .expect(actix_service::fn_service(body::expect_continue))
                            .finish(actix_service::map_config(factory(), |_| actix_web::dev::AppConfig::default()))
                    };
                }
                let builder = actix_server::Server::build().workers(workers).shutdown_timeout(10);
                let server = match tls_config {
                    Some(cfg) => builder.listen("udap-https", listener, move || http_service!().rustls_0_23(cfg.clone())),
                    None => builder.listen("udap-http", listener, move || http_service!().tcp()),
                };
                let server = match (server, admin_listener) {
                    (Ok(b), Some(l)) => {
                        let admin_data = data.clone();
                        let admin_factory = move || {
                            App::new()
                                .app_data(admin_data.clone())
                                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                                .configure(admin::routes)
                                .into_factory()
                                .map_err(|err| err.error_response())
                        };
                        macro_rules! admin_service {
                            () => {
                                actix_http::HttpService::build()
                                    .client_request_timeout(Duration::from_secs(10))
                                    .finish(actix_service::map_config(admin_factory(), |_| actix_web::dev::AppConfig::default()))
                            };
                        }
                        match admin_tls {
                            Some(cfg) => b.listen("udap-admin-https", l, move || admin_service!().rustls_0_23(cfg.clone())),
                            None => b.listen("udap-admin", l, move || admin_service!().tcp()),
                        }
                    }
                    (other, _) => other,
                };
                let server = match server {
                    Ok(s) => s.run(),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = tx.send(Ok(server.handle()));
                server.await
            })
        })
        .map_err(|_| ServeError::Thread)?;
    let handle = rx
        .recv()
        .map_err(|_| ServeError::Thread)?
        .map_err(ServeError::Bind)?;
    Ok(RunningServer {
        addr,
        admin_addr,
        handle,
        thread: Some(thread),
        state: Some(kept),
    })
}
