//! The running service: binds every listener first (port 0 allowed, so tests spawn the
//! app on free ports), then serves until told to stop, then shuts down gracefully.
//!
//! In: an [`AppConfig`]. Out: an [`App`] whose addresses are known before it runs;
//! [`App::run`] accepts HTTP(S) connections until the shutdown future resolves, stops
//! accepting, lets in-flight requests finish within the grace period and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::{HttpArgs, SmtpArgs};
use crate::intake;
use crate::intake::smtp::dkim::{DkimMode, DkimVerifier};
use crate::intake::smtp::server::SmtpContext;
use crate::intake::smtp::{RecipientMatcher, SessionConfig};
use crate::pipeline::{Limits, Pipeline};
use crate::posture::check::{CheckOptions, Checker, CheckerError};
use crate::query;
use crate::store::{Store, StoreError};
use crate::tls::{ReloadableCert, TlsError};
use crate::watch::alerts::AlertWatch;
use crate::watch::alerts::config::AlertConfig;
use crate::watch::posture::{PostureSchedule, PostureWatch};
use crate::watch::readiness::ReadinessOptions;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("--smtp-recipient: {0}")]
    Recipients(String),
    #[error("DKIM resolver: {0}")]
    Dkim(String),
    #[error("posture checks: {0}")]
    Posture(#[from] CheckerError),
    #[error("alerts: {0}")]
    Alerts(String),
    #[error(
        "the JSON API, dashboard and /metrics would listen on {addr}, which is not a loopback \
         address, with no token: anyone who reaches it could read every report. Set \
         --api-token, or serve them on a loopback or admin address with --read-listen"
    )]
    ReadSideExposed { addr: SocketAddr },
    #[error(
        "--api-token is {len} characters; use at least {MIN_TOKEN_CHARS} (a guessable token \
         opens every report)"
    )]
    ShortToken { len: usize },
    #[error(
        "--max-inflight-decompressed-bytes ({budget}) is smaller than --max-decompressed-bytes          ({limit}): one submission at the limit could never be decoded"
    )]
    InflightBelowLimit { budget: u64, limit: u64 },
}

/// Shortest `--api-token` accepted: with the login limited to 10 tries a minute per
/// address, 16 random characters are out of reach of guessing.
pub const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub database_url: String,
    pub limits: Limits,
    pub http: HttpArgs,
    pub smtp: SmtpArgs,
    pub posture: PostureConfig,
    pub readiness: ReadinessOptions,
    /// How often every domain is re-judged for the overview; `None`: never.
    pub readiness_interval: Option<std::time::Duration>,
    /// Alert thresholds, channels and routing (`--config`); `None`: no alerting.
    pub alerts: Option<AlertConfig>,
}

/// Posture checks: when they run and how they reach the network.
#[derive(Debug, Clone)]
pub struct PostureConfig {
    pub schedule: PostureSchedule,
    pub options: CheckOptions,
}

impl PostureConfig {
    /// No schedule; checks only when the API asks, with the default network rules.
    pub fn off() -> PostureConfig {
        PostureConfig {
            schedule: PostureSchedule::off(),
            options: CheckOptions::default(),
        }
    }
}

pub struct App {
    store: Store,
    http_listener: TcpListener,
    http_addr: SocketAddr,
    tls: Option<(Arc<ReloadableCert>, Arc<rustls::ServerConfig>)>,
    router: axum::Router,
    /// The read side's own listener (`--read-listen`), its address and routes.
    read: Option<(TcpListener, SocketAddr, axum::Router)>,
    http: HttpArgs,
    smtp: Option<(TcpListener, SocketAddr, Arc<SmtpContext>)>,
    posture: PostureWatch,
    readiness: ReadinessOptions,
    readiness_interval: Option<std::time::Duration>,
    alerts: Option<AlertWatch>,
}

/// Binds `addr` and returns the listener with its actual address (port 0 resolved).
async fn bind_http(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), AppError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| AppError::Bind { addr, source })?;
    Ok((listener, local))
}

impl App {
    /// Opens the store (migrating it), prepares TLS and binds the listeners.
    /// Refuses, before anything is opened, a token shorter than [`MIN_TOKEN_CHARS`], a
    /// read side on a non-loopback address without a token, and an in-flight
    /// decompression budget smaller than one submission's limit.
    pub async fn build(config: AppConfig) -> Result<App, AppError> {
        if let Some(token) = &config.http.api_token {
            let len = token.chars().count();
            if len < MIN_TOKEN_CHARS {
                return Err(AppError::ShortToken { len });
            }
        }
        let (budget, limit) = (
            config.limits.inflight_decompressed_bytes,
            config.limits.decode.max_decompressed_bytes,
        );
        if budget < crate::decode::Allowance::full_grant(limit) {
            return Err(AppError::InflightBelowLimit { budget, limit });
        }
        let read_side = config.http.read_listen.unwrap_or(config.http.http_listen);
        if !read_side.ip().is_loopback() && config.http.api_token.is_none() {
            return Err(AppError::ReadSideExposed { addr: read_side });
        }
        let checker = Checker::new(config.posture.options.clone())?;
        let store = Store::open(&config.database_url).await?;
        let posture = PostureWatch::new(
            store.clone(),
            checker,
            config.posture.schedule.clone(),
            Arc::new(crate::watch::SystemClock),
        );
        let alerts = match &config.alerts {
            Some(alerts) => Some(
                AlertWatch::new(
                    store.clone(),
                    alerts.clone(),
                    Arc::new(crate::watch::SystemClock),
                )
                .map_err(AppError::Alerts)?,
            ),
            None => None,
        };
        let (http_listener, http_addr) = bind_http(config.http.http_listen).await?;
        let read_listener = match config.http.read_listen {
            Some(addr) => Some(bind_http(addr).await?),
            None => None,
        };
        let tls = if config.http.http_plain {
            None
        } else {
            let cert = ReloadableCert::load(
                config.http.tls_cert.as_deref(),
                config.http.tls_key.as_deref(),
                &config.http.hostname,
            )?;
            if cert.is_self_signed() {
                tracing::warn!(
                    hostname = %config.http.hostname,
                    "no --tls-cert/--tls-key configured: serving HTTPS with a generated self-signed certificate"
                );
            }
            let server_config = cert.server_config(&[b"h2", b"http/1.1"])?;
            Some((cert, server_config))
        };
        let pipeline = Pipeline::new(store.clone(), config.limits.clone());
        let (router, read) = match read_listener {
            // One listener for everything, as before --read-listen existed.
            None => (
                with_layers(intake_routes(&pipeline, &config.http).merge(read_routes(
                    &store,
                    &posture,
                    config.readiness,
                    &config.http,
                ))),
                None,
            ),
            // The public listener: intake and health checks, 404 for the rest.
            Some((listener, addr)) => (
                with_layers(
                    intake_routes(&pipeline, &config.http)
                        .merge(query::ops::health_router(store.clone()))
                        .fallback(query::ops::not_found),
                ),
                Some((
                    listener,
                    addr,
                    with_layers(read_routes(
                        &store,
                        &posture,
                        config.readiness,
                        &config.http,
                    )),
                )),
            ),
        };
        let smtp = if config.smtp.no_smtp {
            None
        } else {
            Some(bind_smtp(&config, &pipeline, tls.as_ref().map(|(cert, _)| cert)).await?)
        };
        Ok(App {
            store,
            http_listener,
            http_addr,
            tls,
            router,
            read,
            http: config.http,
            smtp,
            posture,
            readiness: config.readiness,
            readiness_interval: config.readiness_interval,
            alerts,
        })
    }

    /// Address of the read side's own listener (`None` without `--read-listen`: the read
    /// side is on [`http_addr`](App::http_addr)).
    pub fn read_addr(&self) -> Option<SocketAddr> {
        self.read.as_ref().map(|(_, addr, _)| *addr)
    }

    /// Address of the SMTP listener (`None` with `--no-smtp`).
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp.as_ref().map(|(_, addr, _)| *addr)
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The certificate served over HTTPS (`None` with `--http-plain`).
    pub fn certificate(&self) -> Option<CertificateDer<'static>> {
        self.tls.as_ref().and_then(|(cert, _)| cert.leaf_der())
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests for at most the
    /// configured grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), AppError> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(addr = %self.http_addr, scheme, "HTTP listener ready");
        if let Some((_, addr, _)) = &self.read {
            tracing::info!(%addr, scheme, "read-side listener ready (API, dashboard, metrics)");
        }
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let server = HttpServer {
            builder: Arc::new({
                let mut builder = auto::Builder::new(TokioExecutor::new());
                // Without a timer hyper enforces no header timeout: a client sending a
                // header byte every few seconds would hold its connection slot forever.
                builder
                    .http1()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(self.http.header_timeout);
                builder
            }),
            // One cap over both listeners: it bounds the process's sockets and buffers.
            connections: Arc::new(Semaphore::new(self.http.max_connections.max(1))),
            max_connections: self.http.max_connections,
            acceptor: self
                .tls
                .as_ref()
                .map(|(_, config)| tokio_rustls::TlsAcceptor::from(config.clone())),
            graceful: &graceful,
        };
        let mut reload = reload_signal();
        let (smtp_stop, smtp_stopped) = tokio::sync::watch::channel(false);
        let smtp_task = self.smtp.map(|(listener, addr, context)| {
            tracing::info!(%addr, "SMTP listener ready");
            tokio::spawn(crate::intake::smtp::server::serve(
                listener,
                context,
                smtp_stopped,
            ))
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let timer_task = tokio::spawn(crate::net::keep_a_timer_pending());
        let posture_task = tokio::spawn(self.posture.clone().run(stopped.clone()));
        let alerts_task = self
            .alerts
            .clone()
            .map(|alerts| tokio::spawn(alerts.run(stopped.clone())));
        let readiness_task = tokio::spawn(crate::watch::readiness::run(
            self.store.clone(),
            self.readiness,
            self.readiness_interval,
            Arc::new(crate::watch::SystemClock),
            stopped.clone(),
        ));
        let intake = server.serve(self.http_listener, self.router, "http", stopped.clone());
        let read = async {
            if let Some((listener, _, router)) = self.read {
                server.serve(listener, router, "read", stopped).await;
            }
        };
        let control = async {
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = reload.recv() => {
                        if let Some((cert, _)) = &self.tls {
                            match cert.reload() {
                                Ok(true) => tracing::info!("TLS certificate reloaded"),
                                Ok(false) => tracing::info!("SIGHUP: self-signed certificate, nothing to reload"),
                                Err(e) => tracing::error!(error = %e, "TLS certificate reload failed; keeping the old one"),
                            }
                        }
                    }
                }
            }
            let _ = stop.send(true);
        };
        // The accept loops end (dropping their listeners) once `stop` is sent.
        tokio::join!(intake, read, control);
        // A check in flight is dropped; its lease lapses and the next pass takes it.
        posture_task.abort();
        timer_task.abort();
        readiness_task.abort();
        if let Some(task) = alerts_task {
            task.abort();
        }
        // SMTP sessions get 421 now; their in-flight deliveries finish first.
        let _ = smtp_stop.send(true);
        tracing::info!(grace = ?self.http.shutdown_grace, "shutting down: finishing in-flight requests");
        let drain = async {
            graceful.shutdown().await;
            if let Some(task) = smtp_task {
                let _ = task.await;
            }
        };
        tokio::select! {
            _ = drain => tracing::info!("all connections closed"),
            _ = tokio::time::sleep(self.http.shutdown_grace) => {
                tracing::warn!("grace period over; closing the remaining connections");
            }
        }
        Ok(())
    }
}

/// What the HTTP accept loops share: the connection builder (HTTP/1.1 and HTTP/2), the
/// connection cap, TLS, and the graceful-shutdown tracker.
struct HttpServer<'a> {
    builder: Arc<auto::Builder<TokioExecutor>>,
    connections: Arc<Semaphore>,
    max_connections: usize,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    graceful: &'a hyper_util::server::graceful::GracefulShutdown,
}

impl HttpServer<'_> {
    /// Accepts connections on `listener` and serves `router` on each until `stop` turns
    /// true; then drops the listener (new clients are refused) and returns.
    async fn serve(
        &self,
        listener: TcpListener,
        router: axum::Router,
        name: &'static str,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let accept = async {
                let permit = match self.connections.clone().try_acquire_owned() {
                    Ok(permit) => Ok(permit),
                    Err(_) => {
                        // At the cap: new clients wait in the kernel's accept queue until
                        // a connection closes, instead of each getting a task and buffers.
                        metrics::counter!("tlsrpt_http_connection_cap_reached_total").increment(1);
                        tracing::warn!(
                            max = self.max_connections,
                            "HTTP connection limit reached; new connections wait"
                        );
                        self.connections.clone().acquire_owned().await
                    }
                };
                (permit, crate::net::accept(&listener, name).await)
            };
            let (permit, accepted) = tokio::select! {
                _ = stop.wait_for(|stopped| *stopped) => break,
                accepted = accept => accepted,
            };
            let Ok(permit) = permit else { break };
            let (stream, peer) = accepted;
            let router = router.clone();
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(request)
                },
            );
            let builder = self.builder.clone();
            let watcher = self.graceful.watcher();
            let acceptor = self.acceptor.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match acceptor {
                    Some(acceptor) => {
                        let Some(tls) =
                            crate::net::tls_handshake(&acceptor, stream, peer, name).await
                        else {
                            return;
                        };
                        let conn = builder
                            .serve_connection(TokioIo::new(tls), service)
                            .into_owned();
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                    None => {
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .into_owned();
                        if let Err(e) = watcher.watch(conn).await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                    }
                }
            });
        }
    }
}

async fn bind_smtp(
    config: &AppConfig,
    pipeline: &Pipeline,
    cert: Option<&Arc<ReloadableCert>>,
) -> Result<(TcpListener, SocketAddr, Arc<SmtpContext>), AppError> {
    let smtp = &config.smtp;
    let listener = TcpListener::bind(smtp.smtp_listen)
        .await
        .map_err(|source| AppError::Bind {
            addr: smtp.smtp_listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AppError::Bind {
        addr: smtp.smtp_listen,
        source,
    })?;
    let recipients = RecipientMatcher::new(&smtp.smtp_recipients)
        .map_err(|e| AppError::Recipients(e.to_string()))?;
    if smtp.smtp_recipients.is_empty() {
        tracing::warn!("no --smtp-recipient configured: every RCPT TO will be refused with 550");
    }
    let mut session = SessionConfig::new(config.http.hostname.clone(), recipients);
    session.max_message_size = smtp.smtp_max_message_bytes;
    session.max_recipients = smtp.smtp_max_recipients;
    session.max_errors = smtp.smtp_max_errors;
    session.require_tls = smtp.smtp_require_tls;
    // STARTTLS reuses the HTTPS certificate (and its SIGHUP reloads); SMTP has no ALPN.
    let tls = match cert {
        Some(cert) => Some(tokio_rustls::TlsAcceptor::from(cert.server_config(&[])?)),
        None => None,
    };
    let dkim_mode = smtp.dkim;
    let dkim = match (dkim_mode, smtp.dkim_nameserver) {
        (DkimMode::Off, _) => None,
        (_, Some(ns)) => {
            Some(DkimVerifier::with_nameserver(ns).map_err(|e| AppError::Dkim(e.to_string()))?)
        }
        (_, None) => Some(DkimVerifier::system().map_err(|e| AppError::Dkim(e.to_string()))?),
    };
    let context = SmtpContext {
        session,
        pipeline: pipeline.clone(),
        tls,
        idle_timeout: smtp.smtp_idle_timeout,
        session_lifetime: smtp.smtp_session_lifetime,
        max_connections: smtp.smtp_max_connections,
        dkim_mode,
        dkim,
    };
    Ok((listener, addr, Arc::new(context)))
}

/// The RFC 8460 intake.
fn intake_routes(pipeline: &Pipeline, http: &HttpArgs) -> axum::Router {
    intake::http::router(pipeline.clone(), &http.intake())
}

/// The read side: the query API, the dashboard, health and metrics.
fn read_routes(
    store: &Store,
    posture: &PostureWatch,
    readiness: ReadinessOptions,
    http: &HttpArgs,
) -> axum::Router {
    axum::Router::new()
        .nest(
            "/api/v1",
            query::api::router(
                store.clone(),
                posture.clone(),
                readiness,
                http.api_token.clone(),
            ),
        )
        .merge(query::dashboard::router(
            store.clone(),
            posture.clone(),
            readiness,
            http.api_token.clone(),
            http.dashboard_session_lifetime,
        ))
        .merge(query::ops::router(store.clone(), http.api_token.clone()))
}

/// Request ids, request logs and request metrics around a listener's routes.
fn with_layers(routes: axum::Router) -> axum::Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    routes
        .layer(axum::middleware::from_fn(crate::telemetry::http_metrics))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(crate::telemetry::trace_layer())
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
}

/// SIGHUP on Unix (certificate reload); never fires elsewhere.
fn reload_signal() -> ReloadSignal {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => ReloadSignal(Some(signal)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; certificate reload disabled");
                ReloadSignal(None)
            }
        }
    }
    #[cfg(not(unix))]
    {
        ReloadSignal(None)
    }
}

struct ReloadSignal(
    #[cfg(unix)] Option<tokio::signal::unix::Signal>,
    #[cfg(not(unix))] Option<()>,
);

impl ReloadSignal {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.0
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
