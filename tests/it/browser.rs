//! A real browser walks the authorization-code flow: Debian's headless Chromium, driven over
//! WebDriver (chromedriver + the `thirtyfour` client), signs in, picks a patient, unchecks one
//! resource on the consent page and lands on the app's redirect URI (SMART-17, SMART-18). The
//! code is then exchanged and the granted scopes checked.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (`scripts/ensure-deps --browser`, which
//! `scripts/test` runs). Without them the test fails, unless `UDAP_SKIP_BROWSER_TESTS=1`.
//! `UDAP_KEEP_BROWSER_ARTIFACTS=1` keeps the temporary directory (screenshots, chromedriver log)
//! and prints its path; a failing run keeps it too.

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use thirtyfour::prelude::*;
use udap_server::store::ClientRecord;

use crate::authcode::flow::{add_user, authorize_url, PASSWORD};
use crate::common::browser::{
    browser_available, finish, query_of, runtime, s256, session, wait_for, Artifacts, Callback,
    ChromeDriver, POLL, WAIT,
};
use crate::common::{now, TestServer};

/// Bound on the whole browser walk.
const WALK: std::time::Duration = std::time::Duration::from_secs(120);

/// A public administrator-registered SMART app whose redirect URI is `redirect_uri` (as
/// `authcode::flow::add_app`, with an http loopback redirect).
fn add_public_app(s: &TestServer, client_id: &str, redirect_uri: &str, scope: &str) {
    let mut client = ClientRecord::admin(
        client_id,
        "Browser Test App",
        "none",
        &["authorization_code", "refresh_token"],
        scope,
        now(),
    );
    client.metadata.response_types = vec!["code".into()];
    client.metadata.redirect_uris = vec![redirect_uri.into()];
    s.store.clients().put(&client).unwrap();
}

/// The person's part: sign in, choose patient p2, uncheck Condition, allow. Returns the URL the
/// browser lands on.
async fn walk(
    driver: &WebDriver,
    authorize: &str,
    callback: &str,
    dir: &Path,
) -> anyhow::Result<String> {
    use anyhow::ensure;
    driver.goto(authorize).await?;

    // Login.
    wait_for(driver, "#username")
        .await?
        .send_keys("alice")
        .await?;
    driver
        .find(By::Css("#password"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    driver.find(By::Css("#login")).await?.click().await?;

    // Patient picker: both of alice's patients are offered.
    wait_for(driver, "#continue").await?;
    let mut offered = Vec::new();
    for radio in driver.find_all(By::Css("input[name=patient]")).await? {
        offered.push(radio.value().await?.unwrap_or_default());
    }
    ensure!(
        offered == ["p1", "p2"],
        "the picker offers alice's patients, not {offered:?}"
    );
    let p2 = driver.find(By::Css("#patient-p2")).await?;
    p2.click().await?;
    ensure!(p2.is_selected().await?, "p2 is chosen");
    driver.find(By::Css("#continue")).await?.click().await?;

    // Consent: launch/patient required, both resources offered checked; uncheck Condition.
    wait_for(driver, "#approve").await?;
    let title = driver.title().await?;
    ensure!(
        title.contains("Browser Test App"),
        "consent page title: {title}"
    );
    let text = driver.find(By::Css("main")).await?.text().await?;
    ensure!(
        text.contains("Signed in as alice") && text.contains("p2"),
        "the consent page names the user and the chosen patient: {text}"
    );
    let scope_box = |value: &str| By::Css(format!(r#"input[name=scope][value="{value}"]"#));
    let launch = driver.find(scope_box("launch/patient")).await?;
    ensure!(
        launch.is_selected().await? && !launch.is_enabled().await?,
        "launch/patient is required: checked and disabled"
    );
    ensure!(
        driver
            .find(scope_box("patient/Observation.rs"))
            .await?
            .is_selected()
            .await?,
        "Observation is offered checked"
    );
    let condition = driver.find(scope_box("patient/Condition.rs")).await?;
    ensure!(
        condition.is_selected().await?,
        "Condition is offered checked"
    );
    condition.scroll_into_view().await?;
    condition.click().await?;
    ensure!(
        !condition.is_selected().await?,
        "Condition is unchecked after the click"
    );
    driver.screenshot(&dir.join("consent.png")).await?;
    driver.find(By::Css("#approve")).await?.click().await?;

    // The app's redirect URI.
    let deadline = Instant::now() + WAIT;
    loop {
        let url = driver.current_url().await?.to_string();
        if url.starts_with(callback) {
            wait_for(driver, "#ok").await?;
            return Ok(url);
        }
        ensure!(
            Instant::now() < deadline,
            "the browser did not reach {callback} within {WAIT:?}; it is at {url}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Starts a session on `chromedriver`, walks, and always quits the session (a screenshot of
/// where it stopped on failure).
async fn drive(
    chromedriver: &str,
    profile: &Path,
    authorize: &str,
    callback: &str,
    dir: &Path,
) -> Result<String, String> {
    let driver = session(chromedriver, profile).await?;
    let result = match tokio::time::timeout(WALK, walk(&driver, authorize, callback, dir)).await {
        Ok(Ok(url)) => Ok(url),
        Ok(Err(e)) => Err(format!("browser step failed: {e:#}")),
        Err(_) => Err(format!("the browser walk took longer than {WALK:?}")),
    };
    finish(driver, result, dir).await
}

#[test]
fn a_person_logs_in_picks_a_patient_and_deselects_a_resource_in_chromium() {
    if !browser_available() {
        return;
    }
    let started = Instant::now();
    let artifacts = Artifacts::new();
    let dir = artifacts.path.clone();
    let profile = artifacts.profile("profile");

    let chromedriver = ChromeDriver::start(&dir);
    let callback = Callback::start();
    let s = TestServer::start();
    add_user(&s, "alice", Some("Patient/p1"), &["p1", "p2"]);
    let scope =
        "launch/patient patient/Observation.rs patient/Condition.rs openid fhirUser offline_access";
    add_public_app(&s, "browser-app", &callback.url, scope);
    let verifier = udap_server::oauth::random_token(32);
    let state = format!("browser-{}", udap_server::oauth::random_token(8));
    let authorize = authorize_url(
        &s,
        "browser-app",
        scope,
        &[
            ("redirect_uri", &callback.url),
            ("state", &state),
            ("code_challenge", &s256(&verifier)),
        ],
    );

    let rt = runtime();
    let landed = rt.block_on(drive(
        &chromedriver.url,
        &profile,
        &authorize,
        &callback.url,
        &dir,
    ));
    drop(rt);
    let landed =
        landed.unwrap_or_else(|e| panic!("{e}\nchromedriver log:\n{}", chromedriver.log_text()));
    let walked = started.elapsed();

    // The consent screenshot is a real PNG.
    let png = std::fs::read(dir.join("consent.png")).expect("consent screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
        "consent screenshot is a PNG ({} bytes)",
        png.len()
    );

    // What the app received: the same code and state the browser shows.
    let request = callback.callback_request();
    let target = request.split(' ').nth(1).expect("request target");
    let received = query_of(&format!("http://127.0.0.1{target}"));
    let shown = query_of(&landed);
    assert_eq!(
        received, shown,
        "request line {request} vs browser URL {landed}"
    );
    assert!(
        !received.contains_key("error"),
        "the flow ended in an error: {received:?}"
    );
    assert_eq!(
        received.get("state"),
        Some(&state),
        "state comes back exactly"
    );
    let code = received.get("code").expect("a code");

    // The app exchanges the code (public client, PKCE).
    let res = s.post_form(
        &s.ep.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &callback.url),
            ("client_id", "browser-app"),
            ("code_verifier", &verifier),
        ],
    );
    let status = res.status().as_u16();
    let token: Value = res.json().expect("token json");
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["patient"], "p2", "{token}");
    let granted: Vec<&str> = token["scope"].as_str().expect("scope").split(' ').collect();
    assert!(granted.contains(&"patient/Observation.rs"), "{granted:?}");
    assert!(
        !granted.iter().any(|g| g.starts_with("patient/Condition")),
        "Condition was unchecked: {granted:?}"
    );
    assert!(granted.contains(&"launch/patient"), "{granted:?}");
    assert!(
        granted.contains(&"openid") && granted.contains(&"fhirUser"),
        "{granted:?}"
    );
    assert!(
        token["access_token"].is_string() && token["id_token"].is_string(),
        "{token}"
    );
    eprintln!(
        "browser walk took {walked:?}; consent screenshot {} ({} bytes)",
        dir.join("consent.png").display(),
        png.len()
    );
}
