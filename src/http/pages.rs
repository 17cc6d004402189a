//! The HTML pages of the authorization-code flow: login, patient picker, consent (SMART-17,
//! SMART-18, HTI1-6) and the error page shown when the server must not redirect (UDAP-23,
//! SMART-13).
//!
//! Complete HTML5 documents as strings: inline CSS, no JavaScript, every dynamic value passed
//! through `escape`. Serve them with `html_response` and `session::page_headers`.
//!
//! Stable element ids and names (browser tests drive them):
//! - login: form fields `username` (`#username`), `password` (`#password`), hidden `csrf` and
//!   `interaction`; submit button `#login`; an error message `#error` (role=alert).
//! - patient picker: radios `name=patient`, `value=<id>`, `id=patient-<id>`; hidden `csrf`,
//!   `interaction`; submit button `#continue`.
//! - logout confirmation: hidden `csrf` and the logout parameters; submit button `#logout`;
//!   the signed-out page: `#signed-out`.
//! - consent: checkboxes `name=scope`, `value=<scope>`, `id=scope-<n>` where n counts every item
//!   from 0 in page order (each item, then its category children); required (launch context)
//!   boxes are checked and disabled; hidden `csrf`, `interaction`; submit buttons
//!   `name=decision` with `value=approve` (`#approve`) and `value=deny` (`#deny`).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::oauth::consent::ConsentItem;

/// Escapes text for HTML element content and quoted attribute values: `& < > " '`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
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

/// A page response: `text/html; charset=utf-8` with the given headers (from
/// `session::page_headers`).
pub fn html_response(
    status: StatusCode,
    body: String,
    headers: Vec<(&'static str, String)>,
) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.content_type("text/html; charset=utf-8");
    for h in headers {
        res.insert_header(h);
    }
    res.body(body)
}

const CSS: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;background:#f3f4f6}\
main{max-width:36rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}\
h1{font-size:1.5rem;margin:0 0 1rem}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input[type=text],input[type=password]{width:100%;padding:.6rem;font-size:1rem;border:1px solid #767676;border-radius:4px}\
input:focus,button:focus{outline:3px solid #1a73e8;outline-offset:2px}\
button{font-size:1rem;padding:.6rem 1.4rem;border-radius:4px;border:1px solid #0b57d0;background:#0b57d0;color:#fff;cursor:pointer;margin:1rem .5rem 0 0}\
button.secondary{background:#fff;color:#0b57d0}\
.error{color:#b3261e;background:#fce8e6;padding:.5rem .75rem;border-radius:4px}\
fieldset{border:0;padding:0;margin:1rem 0}\
legend{font-weight:600;margin-bottom:.5rem}\
ul.scopes,ul.children{list-style:none;padding:0;margin:0}\
ul.children{margin:.25rem 0 .5rem 2rem}\
.choice{display:flex;gap:.6rem;align-items:flex-start;margin:.45rem 0}\
.choice input{margin-top:.3rem;width:1.1rem;height:1.1rem;flex:none}\
.choice label{font-weight:400;margin:0}\
.scope{display:block;font-size:.8rem;color:#555;word-break:break-all}\
.hint,.note{font-size:.9rem;color:#444}\
.note{border-left:4px solid #0b57d0;padding:.25rem .75rem;background:#eef3fd}\
.logo{max-height:48px;max-width:160px;display:block;margin-bottom:.75rem}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n\
         <body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n",
        escape(value)
    )
}

/// What the login page shows.
#[derive(Debug, Clone, Copy)]
pub struct LoginView<'a> {
    /// Where the form posts.
    pub action: &'a str,
    pub interaction: &'a str,
    pub client_name: &'a str,
    pub csrf: &'a str,
    /// Shown above the form (e.g. "The username or password is incorrect.").
    pub error: Option<&'a str>,
    /// Pre-filled after a failed attempt.
    pub username: Option<&'a str>,
}

/// The login form (fields `username`, `password`, hidden `csrf`, `interaction`; button `#login`).
pub fn login_page(v: &LoginView<'_>) -> String {
    let (error, described) = match v.error {
        Some(e) => (
            format!(
                "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>\n",
                escape(e)
            ),
            " aria-describedby=\"error\"",
        ),
        None => (String::new(), ""),
    };
    let body = format!(
        "<h1>Sign in</h1>\n\
         <p><strong>{client}</strong> wants to access your health records. Sign in to continue.</p>\n\
         {error}\
         <form method=\"post\" action=\"{action}\">\n\
         {csrf}{interaction}\
         <label for=\"username\">Username</label>\n\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" \
         autocapitalize=\"none\" spellcheck=\"false\" required autofocus{described}>\n\
         <label for=\"password\">Password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required{described}>\n\
         <button type=\"submit\" id=\"login\">Sign in</button>\n\
         </form>\n",
        client = escape(v.client_name),
        action = escape(v.action),
        csrf = hidden("csrf", v.csrf),
        interaction = hidden("interaction", v.interaction),
        username = escape(v.username.unwrap_or("")),
    );
    layout("Sign in", &body)
}

/// What the patient picker shows.
#[derive(Debug, Clone, Copy)]
pub struct PickerView<'a> {
    pub action: &'a str,
    pub interaction: &'a str,
    pub client_name: &'a str,
    pub csrf: &'a str,
    /// `(patient id, label shown)` in display order.
    pub patients: &'a [(String, String)],
}

/// The standalone-launch patient picker (SMART-17): radios `patient` (`#patient-<id>`), button
/// `#continue`. With no patients it says so and shows no form.
pub fn patient_picker_page(v: &PickerView<'_>) -> String {
    let client = escape(v.client_name);
    if v.patients.is_empty() {
        let body = format!(
            "<h1>No patient to choose</h1>\n\
             <p><strong>{client}</strong> needs a patient, but your account may not act for any patient. \
             Ask your administrator to add the patients you care for to your account.</p>\n"
        );
        return layout("No patient to choose", &body);
    }
    let mut choices = String::new();
    for (i, (id, label)) in v.patients.iter().enumerate() {
        let id = escape(id);
        choices.push_str(&format!(
            "<div class=\"choice\"><input type=\"radio\" name=\"patient\" id=\"patient-{id}\" value=\"{id}\"{req}>\
             <label for=\"patient-{id}\">{label}</label></div>\n",
            req = if i == 0 { " required" } else { "" },
            label = escape(label),
        ));
    }
    let body = format!(
        "<h1>Choose a patient</h1>\n\
         <p><strong>{client}</strong> will get access to the records of the patient you choose.</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         {csrf}{interaction}\
         <fieldset>\n<legend>Patient</legend>\n{choices}</fieldset>\n\
         <button type=\"submit\" id=\"continue\">Continue</button>\n\
         </form>\n",
        action = escape(v.action),
        csrf = hidden("csrf", v.csrf),
        interaction = hidden("interaction", v.interaction),
    );
    layout("Choose a patient", &body)
}

/// What the consent page shows.
#[derive(Debug, Clone, Copy)]
pub struct ConsentView<'a> {
    pub action: &'a str,
    pub interaction: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    /// Shown only for `https:` and `data:image/` URIs (what the page's CSP allows).
    pub logo_uri: Option<&'a str>,
    pub username: &'a str,
    /// The patient in context, as a label for the user.
    pub patient: Option<&'a str>,
    pub items: &'a [ConsentItem],
}

fn consent_checkbox(item: &ConsentItem, n: usize) -> String {
    let checked = if item.checked || item.required {
        " checked"
    } else {
        ""
    };
    let disabled = if item.required { " disabled" } else { "" };
    let note = if item.required {
        " <em>(needed for the app to work)</em>"
    } else {
        ""
    };
    format!(
        "<div class=\"choice\"><input type=\"checkbox\" name=\"scope\" id=\"scope-{n}\" value=\"{value}\"{checked}{disabled}>\
         <label for=\"scope-{n}\">{label}{note}<code class=\"scope\">{value}</code></label></div>\n",
        value = escape(&item.value),
        label = escape(&item.label),
    )
}

/// The consent form (SMART-18, HTI1-6): one checkbox `scope` per item, category children indented
/// under their resource, `offline_access` explained, buttons `#approve` / `#deny`.
pub fn consent_page(v: &ConsentView<'_>) -> String {
    let client = escape(v.client_name);
    let logo = match v.logo_uri {
        Some(uri) if uri.starts_with("https://") || uri.starts_with("data:image/") => {
            format!("<img class=\"logo\" src=\"{}\" alt=\"\">\n", escape(uri))
        }
        _ => String::new(),
    };
    let patient = match v.patient {
        Some(p) => format!(" Patient: <strong>{}</strong>.", escape(p)),
        None => String::new(),
    };
    let mut list = String::new();
    let mut n = 0usize;
    for item in v.items {
        list.push_str("<li>");
        list.push_str(&consent_checkbox(item, n));
        n += 1;
        if !item.children.is_empty() {
            list.push_str("<p class=\"hint\">Or uncheck the line above and share only these kinds:</p>\n<ul class=\"children\">\n");
            for child in &item.children {
                list.push_str("<li>");
                list.push_str(&consent_checkbox(child, n));
                list.push_str("</li>\n");
                n += 1;
            }
            list.push_str("</ul>\n");
        }
        list.push_str("</li>\n");
    }
    let offline = if v.items.iter().any(|i| i.value == "offline_access") {
        "<p class=\"note\" id=\"offline-note\"><strong>Offline access:</strong> if you leave it checked, the app \
         receives a long-lived refresh token and can keep getting the data you allow here for months, even when \
         you are not using it, until you revoke its access. Uncheck it to allow access only for now.</p>\n"
    } else {
        ""
    };
    let body = format!(
        "{logo}<h1>Allow {client} to access your data?</h1>\n\
         <p>Signed in as <strong>{username}</strong>.{patient}</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         {csrf}{interaction}\
         <fieldset>\n<legend>{client} asks to:</legend>\n\
         <p class=\"hint\">Uncheck anything you do not want to share.</p>\n\
         <ul class=\"scopes\">\n{list}</ul>\n</fieldset>\n\
         {offline}\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\" class=\"secondary\">Deny</button>\n\
         </form>\n",
        username = escape(v.username),
        action = escape(v.action),
        csrf = hidden("csrf", v.csrf),
        interaction = hidden("interaction", v.interaction),
    );
    layout(&format!("Allow {} access?", v.client_name), &body)
}

/// What the logout confirmation shows; the OIDC parameters travel on as hidden fields and are
/// checked again when the form is posted.
#[derive(Debug, Clone, Copy)]
pub struct LogoutView<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    /// `(name, value)` of the request's logout parameters to carry over.
    pub carry: &'a [(&'a str, &'a str)],
}

/// The logout confirmation (`GET /logout` with a session): button `#logout`.
pub fn logout_confirm_page(v: &LogoutView<'_>) -> String {
    let carried: String = v.carry.iter().map(|(k, val)| hidden(k, val)).collect();
    let body = format!(
        "<h1>Sign out?</h1>\n\
         <p>You will be signed out of this server. Apps that may use your data only while you are signed in \
         lose that access.</p>\n\
         <form method=\"post\" action=\"{action}\">\n\
         {csrf}{carried}\
         <button type=\"submit\" id=\"logout\">Sign out</button>\n\
         </form>\n",
        action = escape(v.action),
        csrf = hidden("csrf", v.csrf),
    );
    layout("Sign out?", &body)
}

/// Shown after logout when there is no registered place to send the browser back to.
pub fn signed_out_page() -> String {
    layout("Signed out", "<h1>Signed out</h1>\n<p id=\"signed-out\">You are signed out. You can close this window.</p>\n")
}

/// A page for errors that must not be redirected to the client (unknown client, unregistered
/// redirect URI: UDAP-23, SMART-13), or that end the flow in the browser.
pub fn error_page(title: &str, message: &str) -> String {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n",
        escape(title),
        escape(message)
    );
    layout(title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::consent::consent_items;

    const EVIL: &str = "<script>alert('x')</script>\"&";

    #[test]
    fn escape_covers_the_five() {
        assert_eq!(escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
        assert_eq!(escape("plain été"), "plain été");
        assert_eq!(escape(""), "");
    }

    fn assert_no_injection(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("'x'"), "{html}");
        assert!(html.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn login_page_fields_and_escaping() {
        let html = login_page(&LoginView {
            action: "/authorize/login",
            interaction: EVIL,
            client_name: EVIL,
            csrf: EVIL,
            error: Some(EVIL),
            username: Some(EVIL),
        });
        assert_no_injection(&html);
        for needle in [
            "id=\"username\"",
            "name=\"username\"",
            "autocomplete=\"username\"",
            "id=\"password\"",
            "autocomplete=\"current-password\"",
            "type=\"submit\" id=\"login\"",
            "name=\"csrf\"",
            "name=\"interaction\"",
            "id=\"error\" role=\"alert\"",
            "action=\"/authorize/login\"",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
        let clean = login_page(&LoginView {
            action: "/a",
            interaction: "i",
            client_name: "App",
            csrf: "c",
            error: None,
            username: None,
        });
        assert!(!clean.contains("role=\"alert\"") && clean.contains("value=\"\""));
    }

    #[test]
    fn picker_page() {
        let patients = vec![
            ("p1".to_string(), "Jane Doe (1980-01-01)".to_string()),
            ("\"><b".to_string(), EVIL.to_string()),
        ];
        let html = patient_picker_page(&PickerView {
            action: "/a",
            interaction: "i",
            client_name: "App",
            csrf: "c",
            patients: &patients,
        });
        assert_no_injection(&html);
        assert!(html.contains("id=\"patient-p1\" value=\"p1\" required"));
        assert!(html.contains("id=\"patient-&quot;&gt;&lt;b\""));
        assert!(html.contains("id=\"continue\""));
        let none = patient_picker_page(&PickerView {
            action: "/a",
            interaction: "i",
            client_name: "App",
            csrf: "c",
            patients: &[],
        });
        assert!(!none.contains("<form"));
    }

    #[test]
    fn consent_page_ids_and_disclosure() {
        let items = consent_items(&[
            "launch/patient".to_string(),
            "patient/Observation.rs".to_string(),
            "offline_access".to_string(),
        ]);
        let html = consent_page(&ConsentView {
            action: "/a",
            interaction: "i",
            csrf: "c",
            client_name: EVIL,
            logo_uri: Some("javascript:alert('x')"),
            username: EVIL,
            patient: Some(EVIL),
            items: &items,
        });
        assert_no_injection(&html);
        assert!(!html.contains("<img"), "only https/data logos");
        assert!(html.contains("id=\"scope-0\" value=\"launch/patient\" checked disabled"));
        assert!(html.contains("id=\"scope-1\" value=\"patient/Observation.rs\" checked>"));
        // Six category children, unchecked, then offline_access at 8.
        assert!(html.contains("id=\"scope-2\" value=\"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory\">"));
        assert!(html.contains("id=\"scope-8\" value=\"offline_access\" checked>"));
        assert!(html.contains("id=\"offline-note\""));
        assert!(html.contains("name=\"decision\" value=\"approve\" id=\"approve\""));
        assert!(html.contains("name=\"decision\" value=\"deny\" id=\"deny\""));
        let with_logo = consent_page(&ConsentView {
            action: "/a",
            interaction: "i",
            csrf: "c",
            client_name: "App",
            logo_uri: Some("https://app.example/logo.png"),
            username: "u",
            patient: None,
            items: &[],
        });
        assert!(with_logo
            .contains("<img class=\"logo\" src=\"https://app.example/logo.png\" alt=\"\">"));
        assert!(!with_logo.contains("offline-note"));
    }

    #[test]
    fn logout_pages() {
        let html = logout_confirm_page(&LogoutView {
            action: "/logout",
            csrf: EVIL,
            carry: &[("client_id", EVIL), ("state", "s")],
        });
        assert_no_injection(&html);
        assert!(
            html.contains("id=\"logout\"")
                && html.contains("name=\"client_id\"")
                && html.contains("name=\"state\" value=\"s\"")
        );
        assert!(signed_out_page().contains("id=\"signed-out\""));
    }

    #[test]
    fn error_page_escapes() {
        let html = error_page(EVIL, EVIL);
        assert_no_injection(&html);
        assert!(html.contains("<h1>&lt;script&gt;"));
    }

    #[test]
    fn response_carries_headers() {
        let res = html_response(
            StatusCode::BAD_REQUEST,
            error_page("t", "m"),
            crate::http::session::page_headers(&[], None),
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            res.headers().get("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(res.headers().get("x-frame-options").unwrap(), "DENY");
        assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    }
}
