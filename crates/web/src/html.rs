//! The pages. Every value from outside (addresses, messages, key ids, the recovery code) goes
//! through [`escape`]; the markup around them is fixed text. No scripts, no inline styles (the
//! Content-Security-Policy forbids both), every input has a `<label>`.

use std::fmt::Write as _;

use crate::Status;

/// A line above the form: an error (`role="alert"`) or a notice (`role="status"`).
#[derive(Clone, Debug)]
pub(crate) enum Message {
    /// Something went wrong; what to do is in the text.
    Error(String),
    /// Something worked.
    Notice(String),
}

/// Who is looking: the CSRF token of their forms and, when logged in, their address.
pub(crate) struct Viewer<'a> {
    pub(crate) csrf: &'a str,
    pub(crate) user: Option<&'a str>,
}

/// `s` with `&`, `<`, `>`, `"` and `'` as character references: safe in text and in quoted
/// attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The login form.
pub(crate) fn login(v: &Viewer<'_>, address: &str, message: Option<&Message>) -> String {
    let mut body = form_open("/login", v.csrf);
    body.push_str(&field(
        "address",
        "Mail address",
        "email",
        "username",
        address,
    ));
    body.push_str(&field(
        "password",
        "Password",
        "password",
        "current-password",
        "",
    ));
    body.push_str("<button type=\"submit\">Log in</button>\n</form>\n");
    body.push_str(
        "<p><a href=\"/reset\">Forgot your password? Reset it with a recovery code.</a></p>\n",
    );
    page("Log in", v, message, &body)
}

/// The status page.
pub(crate) fn status(v: &Viewer<'_>, s: &Status, message: Option<&Message>) -> String {
    let mut body = String::from("<dl>\n");
    let _ = write!(
        body,
        "<dt>Mail address</dt><dd id=\"address\">{}</dd>\n<dt>Encryption</dt><dd id=\"encryption\">{}</dd>\n<dt>Recovery codes</dt><dd id=\"recovery-codes\">{}</dd>\n</dl>\n",
        escape(&s.address),
        if s.encrypted {
            "on: new mail is stored encrypted with your key"
        } else {
            "off: your mail is stored unencrypted"
        },
        match s.recovery_codes {
            0 => "none: make one, in case you forget your password".to_string(),
            1 => "1 unused code".to_string(),
            n => format!("{n} unused codes"),
        }
    );
    if s.keys.is_empty() {
        body.push_str("<p>You have no encryption keys.</p>\n");
    } else {
        body.push_str(
            "<table>\n<caption>Your encryption keys</caption>\n<thead><tr><th scope=\"col\">Key fingerprint (SHA-256)</th><th scope=\"col\">Curve</th><th scope=\"col\">In use for new mail</th></tr></thead>\n<tbody>\n",
        );
        for k in &s.keys {
            let _ = writeln!(
                body,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&k.id),
                escape(&k.curve),
                if k.active { "yes" } else { "no" }
            );
        }
        body.push_str("</tbody>\n</table>\n");
    }
    body.push_str("<ul class=\"actions\">\n<li><a href=\"/password\">Change your password</a></li>\n<li><a href=\"/recovery\">Make a recovery code</a></li>\n</ul>\n");
    page("Your account", v, message, &body)
}

/// The change-password form.
pub(crate) fn password(v: &Viewer<'_>, message: Option<&Message>) -> String {
    let mut body = String::from(
        "<p>Your password also unlocks your encrypted mail; both change together.</p>\n",
    );
    body.push_str(&form_open("/password", v.csrf));
    body.push_str(&field(
        "old",
        "Current password",
        "password",
        "current-password",
        "",
    ));
    body.push_str(&field(
        "new",
        "New password",
        "password",
        "new-password",
        "",
    ));
    body.push_str(&field(
        "confirm",
        "New password again",
        "password",
        "new-password",
        "",
    ));
    body.push_str("<button type=\"submit\">Change password</button>\n</form>\n");
    page("Change password", v, message, &body)
}

/// The form that makes a recovery code.
pub(crate) fn recovery_form(v: &Viewer<'_>, message: Option<&Message>) -> String {
    let mut body = String::from(
        "<p>A recovery code lets you set a new password if you forget yours, without losing your encrypted mail. It is shown once; keep it somewhere safe, away from this computer. Each code works once.</p>\n",
    );
    body.push_str(&form_open("/recovery", v.csrf));
    body.push_str(&field(
        "password",
        "Your password",
        "password",
        "current-password",
        "",
    ));
    body.push_str("<button type=\"submit\">Make a recovery code</button>\n</form>\n");
    page("Recovery code", v, message, &body)
}

/// A just-made recovery code, shown once, with its download button.
pub(crate) fn recovery_code(v: &Viewer<'_>, code: &str) -> String {
    let mut body = String::from(
        "<p>This is your recovery code. It is shown only this once: write it down or download it now, and keep it somewhere safe.</p>\n",
    );
    let _ = writeln!(
        body,
        "<p class=\"code\"><output id=\"recovery-code\" aria-label=\"Recovery code\">{}</output></p>",
        escape(code)
    );
    body.push_str(&form_open("/recovery/download", v.csrf));
    body.push_str("<button type=\"submit\">Download as a text file</button>\n</form>\n");
    body.push_str("<p><a href=\"/status\">Back to your account</a></p>\n");
    page(
        "Your recovery code",
        v,
        Some(&Message::Notice(
            "A new recovery code was made.".to_string(),
        )),
        &body,
    )
}

/// The text file a recovery code downloads as.
pub(crate) fn recovery_file(address: &str, code: &str) -> String {
    format!(
        "tresor recovery code for {address}\r\n\r\n{code}\r\n\r\nWith this code you can set a new password on the mail account page\r\n(\"Forgot your password?\") without losing your encrypted mail.\r\nIt works once. Keep it somewhere safe.\r\n"
    )
}

/// The form that resets a forgotten password with a recovery code.
pub(crate) fn reset(v: &Viewer<'_>, address: &str, message: Option<&Message>) -> String {
    let mut body = String::from(
        "<p>Forgot your password? Enter your mail address, a recovery code and a new password. The code is used up.</p>\n",
    );
    body.push_str(&form_open("/reset", v.csrf));
    body.push_str(&field(
        "address",
        "Mail address",
        "email",
        "username",
        address,
    ));
    body.push_str(&field("code", "Recovery code", "text", "off", ""));
    body.push_str(&field(
        "new",
        "New password",
        "password",
        "new-password",
        "",
    ));
    body.push_str(&field(
        "confirm",
        "New password again",
        "password",
        "new-password",
        "",
    ));
    body.push_str("<button type=\"submit\">Set the new password</button>\n</form>\n");
    body.push_str("<p><a href=\"/login\">Back to log in</a></p>\n");
    page("Reset your password", v, message, &body)
}

/// A page that is only a message (an error without a form to show again).
pub(crate) fn message_page(v: &Viewer<'_>, title: &str, message: &Message) -> String {
    let back = if v.user.is_some() {
        "/status"
    } else {
        "/login"
    };
    page(
        title,
        v,
        Some(message),
        &format!("<p><a href=\"{back}\">Continue</a></p>\n"),
    )
}

/// The stylesheet (served from `/style.css`: the CSP allows no inline styles).
pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:42rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1b1b1b;background:#fff}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;border-bottom:1px solid #ccc}
nav ul{list-style:none;display:flex;gap:1rem;padding:0;margin:0}
nav{display:flex;gap:1rem;align-items:center}
label{display:block;margin-top:1rem;font-weight:600}
input{display:block;width:100%;max-width:24rem;padding:.4rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1rem;padding:.4rem 1rem;font-size:1rem}
nav form button{margin-top:0}
.error{color:#8b0000;border:2px solid #8b0000;padding:.5rem}
.notice{color:#004d00;border:2px solid #004d00;padding:.5rem}
.code output{font-family:monospace;font-size:1.4rem;letter-spacing:.05em;word-break:break-all}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
code{word-break:break-all}
";

fn page(title: &str, v: &Viewer<'_>, message: Option<&Message>, body: &str) -> String {
    let mut out = String::with_capacity(2048 + body.len());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} – tresor mail</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n<header>\n<p><strong>tresor mail</strong></p>\n",
        escape(title)
    );
    match v.user {
        Some(user) => {
            let _ = write!(
                out,
                "<nav aria-label=\"Account\">\n<span>{}</span>\n<ul>\n<li><a href=\"/status\">Status</a></li>\n<li><a href=\"/password\">Change password</a></li>\n<li><a href=\"/recovery\">Recovery code</a></li>\n</ul>\n{}<button type=\"submit\">Log out</button>\n</form>\n</nav>\n",
                escape(user),
                form_open("/logout", v.csrf)
            );
        }
        None => out.push_str(
            "<nav aria-label=\"Account\">\n<ul>\n<li><a href=\"/login\">Log in</a></li>\n<li><a href=\"/reset\">Forgot password</a></li>\n</ul>\n</nav>\n",
        ),
    }
    let _ = writeln!(out, "</header>\n<main>\n<h1>{}</h1>", escape(title));
    match message {
        Some(Message::Error(text)) => {
            let _ = writeln!(
                out,
                "<p class=\"error\" role=\"alert\" id=\"message\">{}</p>",
                escape(text)
            );
        }
        Some(Message::Notice(text)) => {
            let _ = writeln!(
                out,
                "<p class=\"notice\" role=\"status\" id=\"message\">{}</p>",
                escape(text)
            );
        }
        None => {}
    }
    out.push_str(body);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn form_open(action: &str, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n",
        escape(csrf)
    )
}

fn field(name: &str, label: &str, kind: &str, autocomplete: &str, value: &str) -> String {
    format!(
        "<label for=\"{name}\">{label}</label>\n<input id=\"{name}\" name=\"{name}\" type=\"{kind}\" autocomplete=\"{autocomplete}\" value=\"{}\" required>\n",
        escape(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_text_and_attribute_contexts() {
        assert_eq!(
            escape("<a href=\"x\" onclick='y'>&amp;</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn pages_escape_every_outside_value() {
        let v = Viewer {
            csrf: "t\"ok",
            user: Some("<script>@example.org"),
        };
        let mut s = Status::new("<b>@x".into(), true, vec![], 0);
        s.keys
            .push(crate::KeyInfo::new("<id>".into(), "c&".into(), true));
        let html = status(&v, &s, Some(&Message::Error("<i>".into())));
        for raw in ["<script>", "<b>", "<id>", "<i>", "t\"ok", "c&<"] {
            assert!(!html.contains(raw), "{raw} unescaped");
        }
        assert!(html.contains("&lt;script&gt;@example.org"));
        let html = login(&v, "\"><script>", None);
        assert!(!html.contains("\"><script>"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn every_input_has_a_label() {
        let v = Viewer {
            csrf: "t",
            user: None,
        };
        for html in [
            login(&v, "", None),
            reset(&v, "", None),
            password(&v, None),
            recovery_form(&v, None),
        ] {
            for part in html.split("<input id=\"").skip(1) {
                let id = part.split('"').next().unwrap();
                assert!(html.contains(&format!("<label for=\"{id}\">")), "{id}");
            }
        }
    }
}
