//! The same operations as JSON under `/api/`, for scripts. Requests must be
//! `Content-Type: application/json` (a cross-site form cannot send that without a CORS
//! preflight, which is never granted); calls after login also need the session's CSRF token in
//! `X-CSRF-Token`, as returned by `/api/login`. Errors are `{"error": "…"}` with the status the
//! pages use; the same rate limits apply.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use tracing::info;
use zeroize::Zeroizing;

use crate::BackendError;
use crate::handlers::{App, Ctx, Inner, Op, blocking, reply_for, too_many, with_retry_after};
use crate::session::{Lookup, View};

/// The `/api/` routes.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/status", get(status))
        .route("/api/password", post(password))
        .route("/api/recovery", post(recovery))
        .route("/api/reset", post(reset))
}

#[derive(Deserialize)]
struct LoginRequest {
    address: String,
    password: String,
}

#[derive(Deserialize)]
struct PasswordRequest {
    old: String,
    new: String,
}

#[derive(Deserialize)]
struct RecoveryRequest {
    password: String,
}

#[derive(Deserialize)]
struct ResetRequest {
    address: String,
    code: String,
    new: String,
}

async fn login(State(app): State<App>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let a = app.inner();
    let req: LoginRequest = match parse(&headers, body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let password = Zeroizing::new(req.password.into_bytes());
    let address = req.address.trim().to_string();
    let attempt = match a.begin_attempt(&address, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            return with_retry_after(error(StatusCode::TOO_MANY_REQUESTS, &too_many(wait)), wait);
        }
    };
    let backend = Arc::clone(&a.backend);
    let who = address.clone();
    let result = blocking(move || backend.log_in(&who, &password)).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(user) => {
            info!(client = %ctx.client.ip, user = %user, "web API login");
            let Some(view) = a.sessions.create(Some(user.clone()), Instant::now()) else {
                return error(StatusCode::SERVICE_UNAVAILABLE, "no randomness");
            };
            if let Some(old) = &ctx.cookie {
                a.sessions.remove(old);
            }
            let mut r = axum::Json(json!({ "address": user, "csrf": view.csrf })).into_response();
            r.headers_mut()
                .append(SET_COOKIE, a.set_cookie(&view.id, &ctx.client));
            r
        }
        Err(e) => fail(&e, Op::LogIn),
    }
}

async fn logout(State(app): State<App>, ctx: Ctx, headers: HeaderMap) -> Response {
    let a = app.inner();
    match session(a, &ctx, &headers, true) {
        Ok(view) => {
            a.sessions.remove(&view.id);
            axum::Json(json!({})).into_response()
        }
        Err(r) => r,
    }
}

async fn status(State(app): State<App>, ctx: Ctx, headers: HeaderMap) -> Response {
    let a = app.inner();
    let view = match session(a, &ctx, &headers, false) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let backend = Arc::clone(&a.backend);
    let user = view.user.unwrap_or_default();
    match blocking(move || backend.status(&user)).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => {
            let (code, text) = reply_for(&e, Op::LogIn);
            error(code, &text)
        }
    }
}

async fn password(State(app): State<App>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let a = app.inner();
    let view = match session(a, &ctx, &headers, true) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let req: PasswordRequest = match parse(&headers, body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let old = Zeroizing::new(req.old.into_bytes());
    let new = Zeroizing::new(req.new);
    if let Some(text) = a.new_password_problem(&new, &new) {
        return error(StatusCode::BAD_REQUEST, &text);
    }
    let user = view.user.unwrap_or_default();
    let attempt = match a.begin_attempt(&user, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            return with_retry_after(error(StatusCode::TOO_MANY_REQUESTS, &too_many(wait)), wait);
        }
    };
    let backend = Arc::clone(&a.backend);
    let who = user.clone();
    let result = blocking(move || backend.change_password(&who, &old, new.as_bytes())).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(()) => {
            a.sessions.end_user(&user, Some(&view.id));
            axum::Json(json!({})).into_response()
        }
        Err(e) => fail(&e, Op::ChangePassword),
    }
}

async fn recovery(State(app): State<App>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let a = app.inner();
    let view = match session(a, &ctx, &headers, true) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let req: RecoveryRequest = match parse(&headers, body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let password = Zeroizing::new(req.password.into_bytes());
    let user = view.user.unwrap_or_default();
    let attempt = match a.begin_attempt(&user, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            return with_retry_after(error(StatusCode::TOO_MANY_REQUESTS, &too_many(wait)), wait);
        }
    };
    let backend = Arc::clone(&a.backend);
    let result = blocking(move || backend.create_recovery_code(&user, &password)).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(code) => axum::Json(json!({ "code": code.as_str() })).into_response(),
        Err(e) => fail(&e, Op::CreateRecovery),
    }
}

async fn reset(State(app): State<App>, ctx: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let a = app.inner();
    let req: ResetRequest = match parse(&headers, body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let code = Zeroizing::new(req.code.into_bytes());
    let new = Zeroizing::new(req.new);
    if let Some(text) = a.new_password_problem(&new, &new) {
        return error(StatusCode::BAD_REQUEST, &text);
    }
    let address = req.address.trim().to_string();
    let attempt = match a.begin_attempt(&address, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            return with_retry_after(error(StatusCode::TOO_MANY_REQUESTS, &too_many(wait)), wait);
        }
    };
    let backend = Arc::clone(&a.backend);
    let who = address.clone();
    let result = blocking(move || backend.reset_password(&who, &code, new.as_bytes())).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(()) => {
            a.sessions.end_user(&address, None);
            axum::Json(json!({})).into_response()
        }
        Err(e) => fail(&e, Op::Reset),
    }
}

/// A failed call (the attempt was settled, and its delay waited, by the caller).
fn fail(e: &BackendError, op: Op) -> Response {
    let (code, text) = reply_for(e, op);
    error(code, &text)
}

/// The logged-in session; with `csrf`, the `X-CSRF-Token` header must match it.
fn session(a: &Inner, ctx: &Ctx, headers: &HeaderMap, csrf: bool) -> Result<View, Response> {
    let view = match a.sessions.lookup(ctx.cookie.as_deref(), Instant::now()) {
        Lookup::Live(v @ View { user: Some(_), .. }) => v,
        Lookup::Ended => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "Your session has expired. Please log in again.",
            ));
        }
        _ => return Err(error(StatusCode::UNAUTHORIZED, "Please log in first.")),
    };
    if csrf {
        let sent = headers
            .get("x-csrf-token")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if sent.is_empty() || !bool::from(view.csrf.as_bytes().ct_eq(sent)) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Missing or wrong X-CSRF-Token header.",
            ));
        }
    }
    Ok(view)
}

/// A JSON body; anything but `Content-Type: application/json` is refused.
fn parse<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: Bytes) -> Result<T, Response> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send Content-Type: application/json.",
        ));
    }
    let body = Zeroizing::new(Vec::from(body));
    serde_json::from_slice(&body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "The request is not the expected JSON.",
        )
    })
}

fn error(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "error": text }))).into_response()
}
