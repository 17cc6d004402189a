//! One code per authorization (issue 8 item 8): concurrent consent submissions of one
//! interaction issue exactly one code.

use std::sync::{Arc, Barrier};

use super::flow::{
    add_app, add_user, authorize_url, checkbox_values, hidden, location, Browser, PASSWORD,
};
use crate::common::TestServer;

const SCOPE: &str = "openid fhirUser user/Observation.rs";
const COPIES: usize = 8;

#[test]
fn concurrent_consent_submissions_issue_one_code() {
    let s = TestServer::start();
    add_app(&s, "app", "none", None, SCOPE);
    add_user(&s, "dr", Some("Practitioner/pr1"), &[]);
    let b = Browser::new();
    let login = location(&b.get(&authorize_url(&s, "app", SCOPE, &[])));
    let html = b.get(&login).text().unwrap();
    let form = [
        ("username", "dr"),
        ("password", PASSWORD),
        ("csrf", &hidden(&html, "csrf")),
        ("interaction", &hidden(&html, "interaction")),
    ];
    let consent = location(&b.post(&format!("{}/login", s.base), &form));
    let page = b.get(&consent).text().unwrap();
    let (csrf, interaction) = (hidden(&page, "csrf"), hidden(&page, "interaction"));
    let scopes: Vec<String> = checkbox_values(&page).into_iter().map(|(v, _)| v).collect();
    let url = format!("{}/authorize/consent", s.base);
    let barrier = Arc::new(Barrier::new(COPIES));
    let handles: Vec<_> = (0..COPIES)
        .map(|_| {
            let (http, barrier, url) = (b.http.clone(), barrier.clone(), url.clone());
            let mut form: Vec<(String, String)> = vec![
                ("csrf".into(), csrf.clone()),
                ("interaction".into(), interaction.clone()),
                ("decision".into(), "approve".into()),
            ];
            form.extend(scopes.iter().map(|v| ("scope".to_string(), v.clone())));
            std::thread::spawn(move || {
                barrier.wait();
                let res = http.post(&url).form(&form).send().unwrap();
                (
                    res.status().as_u16(),
                    res.headers()
                        .get("location")
                        .map(|l| l.to_str().unwrap().to_string()),
                )
            })
        })
        .collect();
    let results: Vec<(u16, Option<String>)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let with_code = results
        .iter()
        .filter(|(_, l)| l.as_deref().is_some_and(|l| l.contains("code=")))
        .count();
    assert_eq!(with_code, 1, "{results:?}");
    // Every other submission got an error page (400), never a redirect.
    assert!(
        results
            .iter()
            .filter(|(st, _)| *st != 302)
            .all(|(st, l)| *st == 400 && l.is_none()),
        "{results:?}"
    );
}
