//! The HTML pages: routes, sessions and CSRF checks, rate limits, and one message per outcome.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, RETRY_AFTER,
    SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::account;
use crate::client::{self, Client};
use crate::form::Form;
use crate::html::{self, Message, Viewer};
use crate::limit::{self, Limiter};
use crate::session::{self, Lookup, Sessions, View};
use crate::{Backend, BackendError, Options};

/// The page's shared state.
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) options: Options,
    pub(crate) sessions: Sessions,
    pub(crate) limiter: Limiter,
}

impl App {
    pub(crate) fn new(backend: Arc<dyn Backend>, options: Options) -> Self {
        Self(Arc::new(Inner {
            backend,
            sessions: Sessions::new(options.session_idle, options.max_sessions),
            limiter: Limiter::new(&options),
            options,
        }))
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }
}

/// Every route, with the security headers on every response.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login_post))
        .route("/logout", post(logout))
        .route("/status", get(account::status_page))
        .route(
            "/password",
            get(account::password_page).post(account::password_post),
        )
        .route(
            "/recovery",
            get(account::recovery_page).post(account::recovery_post),
        )
        .route("/recovery/download", post(account::recovery_download))
        .route("/reset", get(reset_page).post(reset_post))
        .route("/style.css", get(style))
        .merge(crate::api::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(app)
}

/// What every handler knows about the request before its body.
pub(crate) struct Ctx {
    pub(crate) client: Client,
    /// The session cookie's value, if sent.
    pub(crate) cookie: Option<String>,
}

impl FromRequestParts<App> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let client = client::client(peer, &parts.headers, &app.inner().options.trusted_proxies);
        Ok(Self {
            client,
            cookie: session_cookie(&parts.headers),
        })
    }
}

/// A session for this request: the live one, or a new anonymous one with its `Set-Cookie`.
pub(crate) struct Visit {
    pub(crate) view: View,
    pub(crate) cookie: Option<HeaderValue>,
    /// The request's cookie named a session that has ended.
    ended: bool,
    /// The request sent no cookie at all.
    missing: bool,
}

impl Visit {
    pub(crate) fn viewer(&self) -> Viewer<'_> {
        Viewer {
            csrf: &self.view.csrf,
            user: self.view.user.as_deref(),
        }
    }
}

impl Inner {
    fn visit(&self, ctx: &Ctx) -> Result<Visit, Response> {
        let now = Instant::now();
        let (ended, missing) = match self.sessions.lookup(ctx.cookie.as_deref(), now) {
            Lookup::Live(view) => {
                return Ok(Visit {
                    view,
                    cookie: None,
                    ended: false,
                    missing: false,
                });
            }
            Lookup::Ended => (true, false),
            Lookup::Missing => (false, true),
        };
        let view = self.sessions.create(None, now).ok_or_else(unavailable)?;
        Ok(Visit {
            cookie: Some(self.set_cookie(&view.id, &ctx.client)),
            view,
            ended,
            missing,
        })
    }

    /// A fresh session for `user` (the old id is dropped: no fixation).
    fn log_in_session(&self, old: &View, user: String, client: &Client) -> Result<Visit, Response> {
        self.sessions.remove(&old.id);
        let view = self
            .sessions
            .create(Some(user), Instant::now())
            .ok_or_else(unavailable)?;
        Ok(Visit {
            cookie: Some(self.set_cookie(&view.id, client)),
            view,
            ended: false,
            missing: false,
        })
    }

    pub(crate) fn set_cookie(&self, id: &str, client: &Client) -> HeaderValue {
        let secure = self.options.cookie_secure || client.https;
        let value = if secure {
            format!("{SECURE_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Secure")
        } else {
            format!("{PLAIN_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict")
        };
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn clear_cookie(&self, client: &Client) -> HeaderValue {
        let secure = self.options.cookie_secure || client.https;
        HeaderValue::from_static(if secure {
            "__Host-tresor=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0"
        } else {
            "tresor=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        })
    }

    /// Counts a password or recovery-code check for `address` from `client`; `Err(wait)`
    /// when either is over the limit (refuse without checking).
    pub(crate) fn begin_attempt(
        &self,
        address: &str,
        client: &Client,
    ) -> Result<Attempt, Duration> {
        let keys = [limit::address_key(address), limit::client_key(client.ip)];
        let count = self.limiter.begin(&keys, Instant::now())?;
        Ok(Attempt { keys, count })
    }

    /// Settles a counted attempt: a success clears it, a wrong password or code waits the
    /// growing delay, any other error takes it back.
    pub(crate) async fn finish_attempt(&self, attempt: Attempt, error: Option<&BackendError>) {
        let [address, client] = &attempt.keys;
        match error {
            None => self.limiter.succeeded(address, client),
            Some(BackendError::WrongPassword | BackendError::WrongRecoveryCode) => {
                tokio::time::sleep(self.limiter.delay(attempt.count)).await;
            }
            Some(_) => self.limiter.undo(&attempt.keys),
        }
    }

    /// The new-password rules; `Some(message)` when `new`/`confirm` break one.
    pub(crate) fn new_password_problem(&self, new: &str, confirm: &str) -> Option<String> {
        if new != confirm {
            return Some("The new passwords do not match. Nothing was changed.".into());
        }
        let min = self.options.min_password_length.max(1);
        if new.chars().count() < min {
            return Some(format!(
                "The new password must have at least {min} characters. Nothing was changed."
            ));
        }
        None
    }
}

/// A counted password or recovery-code check (see [`Inner::begin_attempt`]).
pub(crate) struct Attempt {
    keys: [String; 2],
    count: u32,
}

/// Runs a backend call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or(Err(BackendError::Unavailable))
}

/// What the user reads for a backend error, per operation, and the HTTP status.
pub(crate) fn reply_for(e: &BackendError, op: Op) -> (StatusCode, String) {
    let text = match (e, op) {
        (BackendError::WrongPassword, Op::LogIn) => "The mail address or password is wrong.",
        (BackendError::WrongPassword, Op::ChangePassword) => {
            "Your current password is wrong. Nothing was changed."
        }
        (BackendError::WrongPassword, _) => "The password is wrong. Nothing was changed.",
        (BackendError::WrongRecoveryCode, _) => {
            "The mail address or recovery code is wrong, or the code was already used. Nothing was changed."
        }
        (BackendError::EmptyPassword, _) => "The new password may not be empty.",
        (BackendError::NotEncrypted, _) => {
            "Your mail is not encrypted, so there is nothing a recovery code could unlock."
        }
        (BackendError::KeysOutOfSync, _) => {
            "Your password is right, but it does not unlock your encrypted mail. Please ask your mail administrator to bring the two back in step."
        }
        (BackendError::Busy, _) => {
            "Another change to your account is running. Please try again in a minute."
        }
        (BackendError::Unavailable, _) => {
            "The service is temporarily unavailable. Please try again later."
        }
    };
    let status = match e {
        BackendError::WrongPassword | BackendError::WrongRecoveryCode => StatusCode::UNAUTHORIZED,
        BackendError::EmptyPassword | BackendError::NotEncrypted => StatusCode::BAD_REQUEST,
        BackendError::KeysOutOfSync => StatusCode::FORBIDDEN,
        BackendError::Busy => StatusCode::CONFLICT,
        BackendError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, text.to_string())
}

/// Which operation failed (the messages differ).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    LogIn,
    ChangePassword,
    CreateRecovery,
    Reset,
}

/// The text of a rate-limit refusal.
pub(crate) fn too_many(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    format!(
        "Too many failed attempts. Please wait {minutes} minute{} and try again.",
        if minutes == 1 { "" } else { "s" }
    )
}

/// `GET /`: the status page when logged in, else the login page.
async fn root(State(app): State<App>, ctx: Ctx) -> Response {
    let a = app.inner();
    match a.sessions.lookup(ctx.cookie.as_deref(), Instant::now()) {
        Lookup::Live(View { user: Some(_), .. }) => redirect("/status"),
        _ => redirect("/login"),
    }
}

/// `GET /login`: the login form (with an anonymous session for its CSRF token).
async fn login_page(State(app): State<App>, ctx: Ctx) -> Response {
    let a = app.inner();
    let visit = match a.visit(&ctx) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if visit.view.user.is_some() {
        return redirect("/status");
    }
    page(
        StatusCode::OK,
        visit.cookie.clone(),
        html::login(&visit.viewer(), "", None),
    )
}

/// `POST /login`: address and password → a new logged-in session.
async fn login_post(State(app): State<App>, ctx: Ctx, body: Bytes) -> Response {
    let a = app.inner();
    let form = Form::parse(Zeroizing::new(Vec::from(body)));
    let address = form.get("address").trim().to_string();
    let visit = match checked_form(a, &ctx, &form) {
        Ok(v) => v,
        Err(Refusal {
            status,
            visit,
            text,
        }) => {
            return page(
                status,
                visit.cookie.clone(),
                html::login(&visit.viewer(), &address, Some(&Message::Error(text))),
            );
        }
    };
    let refuse = |status, text: String| {
        page(
            status,
            visit.cookie.clone(),
            html::login(&visit.viewer(), &address, Some(&Message::Error(text))),
        )
    };
    if address.is_empty() || form.get("password").is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Please enter your mail address and password.".into(),
        );
    }
    let attempt = match a.begin_attempt(&address, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            info!(client = %ctx.client.ip, user = %address.escape_debug(), "web login refused: too many failures");
            return with_retry_after(refuse(StatusCode::TOO_MANY_REQUESTS, too_many(wait)), wait);
        }
    };
    let password = Zeroizing::new(form.get("password").as_bytes().to_vec());
    let backend = Arc::clone(&a.backend);
    let who = address.clone();
    let result = blocking(move || backend.log_in(&who, &password)).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(user) => {
            info!(client = %ctx.client.ip, user = %user, "web login");
            match a.log_in_session(&visit.view, user, &ctx.client) {
                Ok(v) => {
                    let mut r = redirect("/status");
                    if let Some(c) = v.cookie {
                        r.headers_mut().append(SET_COOKIE, c);
                    }
                    r
                }
                Err(r) => r,
            }
        }
        Err(e) => {
            if matches!(e, BackendError::WrongPassword) {
                info!(client = %ctx.client.ip, user = %address.escape_debug(), "web login failed");
            }
            let (status, text) = reply_for(&e, Op::LogIn);
            refuse(status, text)
        }
    }
}

/// `POST /logout`: ends the session.
async fn logout(State(app): State<App>, ctx: Ctx, body: Bytes) -> Response {
    let a = app.inner();
    let form = Form::parse(Zeroizing::new(Vec::from(body)));
    match checked_form(a, &ctx, &form) {
        Ok(visit) => {
            a.sessions.remove(&visit.view.id);
            let mut r = redirect("/login");
            r.headers_mut()
                .append(SET_COOKIE, a.clear_cookie(&ctx.client));
            r
        }
        Err(Refusal {
            status,
            visit,
            text,
        }) => page(
            status,
            visit.cookie.clone(),
            html::message_page(&visit.viewer(), "Log out", &Message::Error(text)),
        ),
    }
}

/// `GET /reset`: the forgot-password form.
async fn reset_page(State(app): State<App>, ctx: Ctx) -> Response {
    let a = app.inner();
    match a.visit(&ctx) {
        Ok(visit) => page(
            StatusCode::OK,
            visit.cookie.clone(),
            html::reset(&visit.viewer(), "", None),
        ),
        Err(r) => r,
    }
}

/// `POST /reset`: address, recovery code, new password twice → the lifecycle reset.
async fn reset_post(State(app): State<App>, ctx: Ctx, body: Bytes) -> Response {
    let a = app.inner();
    let form = Form::parse(Zeroizing::new(Vec::from(body)));
    let address = form.get("address").trim().to_string();
    let visit = match checked_form(a, &ctx, &form) {
        Ok(v) => v,
        Err(Refusal {
            status,
            visit,
            text,
        }) => {
            return page(
                status,
                visit.cookie.clone(),
                html::reset(&visit.viewer(), &address, Some(&Message::Error(text))),
            );
        }
    };
    let refuse = |status, text: String| {
        page(
            status,
            visit.cookie.clone(),
            html::reset(&visit.viewer(), &address, Some(&Message::Error(text))),
        )
    };
    if address.is_empty() || form.get("code").trim().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Please enter your mail address and a recovery code.".into(),
        );
    }
    if let Some(text) = a.new_password_problem(form.get("new"), form.get("confirm")) {
        return refuse(StatusCode::BAD_REQUEST, text);
    }
    let attempt = match a.begin_attempt(&address, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            info!(client = %ctx.client.ip, user = %address.escape_debug(), "web reset refused: too many failures");
            return with_retry_after(refuse(StatusCode::TOO_MANY_REQUESTS, too_many(wait)), wait);
        }
    };
    let code = Zeroizing::new(form.get("code").as_bytes().to_vec());
    let new = Zeroizing::new(form.get("new").as_bytes().to_vec());
    let backend = Arc::clone(&a.backend);
    let who = address.clone();
    let result = blocking(move || backend.reset_password(&who, &code, &new)).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(()) => {
            info!(client = %ctx.client.ip, user = %address.escape_debug(), "web: password reset with a recovery code");
            a.sessions.end_user(&address, Some(&visit.view.id));
            page(
                StatusCode::OK,
                visit.cookie.clone(),
                html::login(
                    &visit.viewer(),
                    &address,
                    Some(&Message::Notice(
                        "Your new password is set and the recovery code is used up. Log in with the new password.".into(),
                    )),
                ),
            )
        }
        Err(e) => {
            if matches!(e, BackendError::WrongRecoveryCode) {
                info!(client = %ctx.client.ip, user = %address.escape_debug(), "web: reset with a wrong recovery code");
            }
            let (status, text) = reply_for(&e, Op::Reset);
            refuse(status, text)
        }
    }
}

/// `GET /style.css`.
async fn style() -> Response {
    let mut r = html::STYLE.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r
}

/// Any other path.
async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Html(NOT_FOUND)).into_response()
}

/// Why a form was not accepted, with the session to show the form again in.
pub(crate) struct Refusal {
    status: StatusCode,
    visit: Visit,
    text: String,
}

/// The session of a form post, its CSRF token checked.
pub(crate) fn checked_form(a: &Inner, ctx: &Ctx, form: &Form) -> Result<Visit, Refusal> {
    let visit = a.visit(ctx).map_err(|_| Refusal {
        status: StatusCode::SERVICE_UNAVAILABLE,
        visit: Visit {
            view: View {
                id: String::new(),
                csrf: String::new(),
                user: None,
            },
            cookie: None,
            ended: false,
            missing: true,
        },
        text: "The service is temporarily unavailable. Please try again later.".into(),
    })?;
    if visit.ended {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            visit,
            text: "Your session has expired. Please try again.".into(),
        });
    }
    if visit.missing {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            visit,
            text: "This form needs a cookie to be checked; please allow cookies for this site and try again.".into(),
        });
    }
    if !session::csrf_matches(&visit.view, form.get("csrf")) {
        warn!(client = %ctx.client.ip, "web: form with a wrong CSRF token refused");
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            visit,
            text: "This form is out of date or did not come from this site. Nothing was changed; please try again.".into(),
        });
    }
    Ok(visit)
}

/// A logged-in session for a page, or the response that sends the visitor to log in.
pub(crate) fn logged_in(a: &Inner, ctx: &Ctx) -> Result<Visit, Response> {
    let visit = a.visit(ctx)?;
    if visit.view.user.is_some() {
        return Ok(visit);
    }
    if visit.ended {
        return Err(page(
            StatusCode::UNAUTHORIZED,
            visit.cookie.clone(),
            html::login(
                &visit.viewer(),
                "",
                Some(&Message::Error(
                    "Your session has expired. Please log in again.".into(),
                )),
            ),
        ));
    }
    let mut r = redirect("/login");
    if let Some(c) = visit.cookie {
        r.headers_mut().append(SET_COOKIE, c);
    }
    Err(r)
}

/// A logged-in form post with its CSRF token checked; a wrong token shows `form_page` again.
pub(crate) fn checked_logged_in_form(
    a: &Inner,
    ctx: &Ctx,
    form: &Form,
    form_page: fn(&Viewer<'_>, Option<&Message>) -> String,
) -> Result<Visit, Response> {
    match checked_form(a, ctx, form) {
        Ok(visit) if visit.view.user.is_some() => Ok(visit),
        Ok(visit) => Err(page(
            StatusCode::UNAUTHORIZED,
            visit.cookie.clone(),
            html::login(
                &visit.viewer(),
                "",
                Some(&Message::Error("Please log in first.".into())),
            ),
        )),
        Err(Refusal {
            status,
            visit,
            text,
        }) if visit.view.user.is_some() => Err(page(
            status,
            visit.cookie.clone(),
            form_page(&visit.viewer(), Some(&Message::Error(text))),
        )),
        Err(Refusal { status, visit, .. }) => Err(page(
            if status == StatusCode::FORBIDDEN && !visit.missing {
                StatusCode::UNAUTHORIZED
            } else {
                status
            },
            visit.cookie.clone(),
            html::login(
                &visit.viewer(),
                "",
                Some(&Message::Error(
                    "Your session has expired. Please log in again.".into(),
                )),
            ),
        )),
    }
}

/// The session cookie's value from the request's `Cookie` headers.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let mut plain = None;
    for value in headers.get_all(axum::http::header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((name, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if v.is_empty() || v.len() > 128 {
                continue;
            }
            if name == SECURE_COOKIE {
                return Some(v.to_string());
            }
            if name == PLAIN_COOKIE {
                plain = Some(v.to_string());
            }
        }
    }
    plain
}

pub(crate) fn page(status: StatusCode, cookie: Option<HeaderValue>, body: String) -> Response {
    let mut r = (status, Html(body)).into_response();
    if let Some(c) = cookie {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}

pub(crate) fn redirect(to: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    r
}

pub(crate) fn with_retry_after(mut r: Response, wait: Duration) -> Response {
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        r.headers_mut().insert(RETRY_AFTER, v);
    }
    r
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable. Please try again later.\n",
    )
        .into_response()
}

/// The headers every response carries.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// The Content-Security-Policy: no scripts at all, styles from this site only, forms post only
/// here, never framed.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The session cookie over HTTPS (the `__Host-` prefix pins it to this host and path `/`).
const SECURE_COOKIE: &str = "__Host-tresor";
/// The session cookie when `cookie_secure` is off (plain-HTTP loopback).
const PLAIN_COOKIE: &str = "tresor";
/// Largest request body: the forms are small.
const MAX_BODY: usize = 16 * 1024;
const NOT_FOUND: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found – tresor mail</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body><main><h1>Not found</h1><p><a href=\"/login\">Go to the start page</a></p></main></body></html>\n";
