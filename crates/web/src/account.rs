//! The pages behind the login: status, change password, make and download a recovery code.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::info;
use zeroize::Zeroizing;

use crate::BackendError;
use crate::form::Form;
use crate::handlers::{
    App, Ctx, Inner, Op, Visit, blocking, checked_logged_in_form, logged_in, page, reply_for,
    too_many, with_retry_after,
};
use crate::html::{self, Message};

/// `GET /status`: the account overview.
pub(crate) async fn status_page(State(app): State<App>, ctx: Ctx) -> Response {
    let a = app.inner();
    let visit = match logged_in(a, &ctx) {
        Ok(v) => v,
        Err(r) => return r,
    };
    status_reply(a, &visit, StatusCode::OK, None).await
}

/// `GET /password`: the change-password form.
pub(crate) async fn password_page(State(app): State<App>, ctx: Ctx) -> Response {
    let a = app.inner();
    match logged_in(a, &ctx) {
        Ok(visit) => page(StatusCode::OK, None, html::password(&visit.viewer(), None)),
        Err(r) => r,
    }
}

/// `POST /password`: current, new and again → the lifecycle password change.
pub(crate) async fn password_post(State(app): State<App>, ctx: Ctx, body: Bytes) -> Response {
    let a = app.inner();
    let form = Form::parse(Zeroizing::new(Vec::from(body)));
    let visit = match checked_logged_in_form(a, &ctx, &form, html::password) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = visit.view.user.clone().unwrap_or_default();
    let refuse = |status, text: String| {
        page(
            status,
            None,
            html::password(&visit.viewer(), Some(&Message::Error(text))),
        )
    };
    if form.get("old").is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Please enter your current password.".into(),
        );
    }
    if let Some(text) = a.new_password_problem(form.get("new"), form.get("confirm")) {
        return refuse(StatusCode::BAD_REQUEST, text);
    }
    let attempt = match a.begin_attempt(&user, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            return with_retry_after(refuse(StatusCode::TOO_MANY_REQUESTS, too_many(wait)), wait);
        }
    };
    let old = Zeroizing::new(form.get("old").as_bytes().to_vec());
    let new = Zeroizing::new(form.get("new").as_bytes().to_vec());
    let backend = Arc::clone(&a.backend);
    let who = user.clone();
    let result = blocking(move || backend.change_password(&who, &old, &new)).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(()) => {
            info!(client = %ctx.client.ip, user = %user, "web: password changed");
            a.sessions.end_user(&user, Some(&visit.view.id));
            status_reply(
                a,
                &visit,
                StatusCode::OK,
                Some(Message::Notice(
                    "Your password was changed. Use the new one in your mail program too.".into(),
                )),
            )
            .await
        }
        Err(e) => {
            if matches!(e, BackendError::WrongPassword) {
                info!(client = %ctx.client.ip, user = %user, "web: password change with a wrong password");
            }
            let (status, text) = reply_for(&e, Op::ChangePassword);
            refuse(status, text)
        }
    }
}

/// `GET /recovery`: the form that makes a recovery code.
pub(crate) async fn recovery_page(State(app): State<App>, ctx: Ctx) -> Response {
    let a = app.inner();
    match logged_in(a, &ctx) {
        Ok(visit) => page(
            StatusCode::OK,
            None,
            html::recovery_form(&visit.viewer(), None),
        ),
        Err(r) => r,
    }
}

/// `POST /recovery`: the password → a new code, shown once and kept for one download.
pub(crate) async fn recovery_post(State(app): State<App>, ctx: Ctx, body: Bytes) -> Response {
    let a = app.inner();
    let form = Form::parse(Zeroizing::new(Vec::from(body)));
    let visit = match checked_logged_in_form(a, &ctx, &form, html::recovery_form) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = visit.view.user.clone().unwrap_or_default();
    let refuse = |status, text: String| {
        page(
            status,
            None,
            html::recovery_form(&visit.viewer(), Some(&Message::Error(text))),
        )
    };
    if form.get("password").is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Please enter your password.".into(),
        );
    }
    let attempt = match a.begin_attempt(&user, &ctx.client) {
        Ok(t) => t,
        Err(wait) => {
            return with_retry_after(refuse(StatusCode::TOO_MANY_REQUESTS, too_many(wait)), wait);
        }
    };
    let password = Zeroizing::new(form.get("password").as_bytes().to_vec());
    let backend = Arc::clone(&a.backend);
    let who = user.clone();
    let result = blocking(move || backend.create_recovery_code(&who, &password)).await;
    a.finish_attempt(attempt, result.as_ref().err()).await;
    match result {
        Ok(code) => {
            info!(client = %ctx.client.ip, user = %user, "web: recovery code made");
            let html = html::recovery_code(&visit.viewer(), &code);
            a.sessions.keep_code(&visit.view.id, code);
            page(StatusCode::OK, None, html)
        }
        Err(e) => {
            if matches!(e, BackendError::WrongPassword) {
                info!(client = %ctx.client.ip, user = %user, "web: recovery code asked with a wrong password");
            }
            let (status, text) = reply_for(&e, Op::CreateRecovery);
            refuse(status, text)
        }
    }
}

/// `POST /recovery/download`: the kept code as a text file, once.
pub(crate) async fn recovery_download(State(app): State<App>, ctx: Ctx, body: Bytes) -> Response {
    let a = app.inner();
    let form = Form::parse(Zeroizing::new(Vec::from(body)));
    let visit = match checked_logged_in_form(a, &ctx, &form, html::recovery_form) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = visit.view.user.clone().unwrap_or_default();
    match a.sessions.take_code(&visit.view.id) {
        Some(code) => {
            let file = Zeroizing::new(html::recovery_file(&user, &code));
            let mut r = (StatusCode::OK, file.as_bytes().to_vec()).into_response();
            let h = r.headers_mut();
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            h.insert(
                CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"tresor-recovery-code.txt\""),
            );
            r
        }
        None => page(
            StatusCode::GONE,
            None,
            html::recovery_form(
                &visit.viewer(),
                Some(&Message::Error(
                    "A recovery code can be downloaded only once, right after it was made. Make a new one if you need it.".into(),
                )),
            ),
        ),
    }
}

async fn status_reply(
    a: &Inner,
    visit: &Visit,
    ok: StatusCode,
    message: Option<Message>,
) -> Response {
    let user = visit.view.user.clone().unwrap_or_default();
    let backend = Arc::clone(&a.backend);
    match blocking(move || backend.status(&user)).await {
        Ok(status) => page(
            ok,
            visit.cookie.clone(),
            html::status(&visit.viewer(), &status, message.as_ref()),
        ),
        Err(e) => {
            let (code, text) = reply_for(&e, Op::LogIn);
            let mut shown = text;
            if let Some(Message::Notice(n)) = message {
                shown = format!("{n} {shown}");
            }
            page(
                code,
                visit.cookie.clone(),
                html::message_page(&visit.viewer(), "Your account", &Message::Error(shown)),
            )
        }
    }
}
