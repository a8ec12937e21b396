//! Who may use the console: admins only, with their usual password; the session cookie's properties; a new session
//! id at each sign-in; sign-out; idle and absolute expiry on the process's clock; a disabled or demoted admin's
//! session ends at once; CSRF on the sign-in form.

use serde_json::json;

use super::{start, Visitor, ROOT, ROOT_PASSWORD};
use crate::support::authz::{capture_logs, ALICE_PASSWORD};

const IDLE_SECS: i64 = 30 * 60;
const ABSOLUTE_SECS: i64 = 8 * 3600;

#[tokio::test]
async fn an_admin_signs_in_with_a_strict_http_only_cookie_and_signs_out() {
    let az = start().await;
    let v = Visitor::new(&az);
    assert_eq!(v.get("/console/apps").await.redirect(), "/console/sign-in", "signed out: to the sign-in page");

    let form = v.get("/console/sign-in").await.expect(200);
    let pre = form.set_cookies().join(" | ");
    assert!(pre.contains("tg_console_signin=") && pre.contains("HttpOnly") && pre.contains("SameSite=Strict"), "{pre}");

    let csrf = form.csrf();
    let signed = v.post("/console/sign-in", &[("csrf", &csrf), ("username", ROOT), ("password", ROOT_PASSWORD)]).await;
    assert_eq!(signed.redirect(), "/console/apps");
    let cookie = signed.set_cookies().into_iter().find(|c| c.starts_with("tg_console=")).expect("session cookie");
    assert!(cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict") && cookie.contains("Path=/console"));
    let sid = v.cookie("tg_console").unwrap();
    assert!(sid.len() >= 43, "a 256-bit session id: {sid}");

    let list = v.get("/console/apps").await.expect(200);
    assert!(list.body.contains("OAuth2 Applications") && list.body.contains(ROOT), "{list}");
    assert_eq!(v.get("/console/sign-in").await.redirect(), "/console/apps", "already signed in");

    // Sign-out needs the session's CSRF token, then the session id is dead even if replayed.
    v.post("/console/sign-out", &[("csrf", "wrong")]).await.expect(403);
    let out = v.post("/console/sign-out", &[("csrf", &list.csrf())]).await;
    assert_eq!(out.redirect(), "/console/sign-in");
    assert!(v.cookie("tg_console").is_none(), "the cookie is cleared");
    v.set_cookie("tg_console", &sid);
    assert_eq!(v.get("/console/apps").await.redirect(), "/console/sign-in", "a signed-out id is dead");
}

#[tokio::test]
async fn only_admins_get_in_and_failures_are_refused_clearly() {
    let az = start().await;
    let v = Visitor::new(&az);
    let refused = v.sign_in("alice", ALICE_PASSWORD).await.expect(403);
    assert!(refused.text().contains("Only administrators may sign in to the console"), "{refused}");
    assert!(v.cookie("tg_console").is_none(), "no session for a non-admin");
    assert_eq!(v.get("/console/apps").await.redirect(), "/console/sign-in");

    let wrong = v.sign_in(ROOT, "not-the-password").await.expect(401);
    assert!(wrong.text().contains("The username or password is not right."), "{wrong}");
    assert!(!wrong.body.contains("not-the-password"), "the password is not echoed");
    assert!(wrong.body.contains(&format!("value=\"{ROOT}\"")), "the username is kept");
    v.sign_in("nobody", "whatever-password").await.expect(401);

    // A disabled admin cannot sign in either.
    az.registry.add_user("carol", "carol-password", true).await.unwrap();
    az.registry.update_user("carol", &json!({"disabled": true})).await.unwrap();
    v.sign_in("carol", "carol-password").await.expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_trying_again_is_refused_at_once_like_a_wrong_password_and_no_password_is_logged() {
    let logs = capture_logs();
    let az = start().await;
    let v = Visitor::new(&az);
    for _ in 0..5 {
        v.sign_in("alice", ALICE_PASSWORD).await.expect(403);
    }
    let refused = v.sign_in("alice", ALICE_PASSWORD).await.expect(429);
    let retry: i64 = refused.header("retry-after").unwrap_or_default().parse().expect("Retry-After");
    assert!(refused.text().contains("Too many failed sign-ins"), "{refused}");
    // Wrong passwords count the same.
    let v2 = Visitor::new(&az);
    for _ in 0..5 {
        v2.sign_in(ROOT, "not-the-password").await.expect(401);
    }
    v2.sign_in(ROOT, ROOT_PASSWORD).await.expect(429);
    // Failures count per user and address: another user from the same address is not locked out by them.
    az.registry.add_user("gina", "gina-password", true).await.unwrap();
    assert_eq!(v.sign_in("gina", "gina-password").await.redirect(), "/console/apps");
    az.clock.advance(retry);
    assert_eq!(v2.sign_in(ROOT, ROOT_PASSWORD).await.redirect(), "/console/apps");

    let text = logs.text();
    assert!(text.contains("console: sign-in refused to a user who is not an administrator"), "not logged");
    assert!(text.contains("console: signed in"));
    assert!(!text.contains(ALICE_PASSWORD) && !text.contains(ROOT_PASSWORD), "a password reached the logs");
    let sid = v.cookie("tg_console").unwrap();
    assert!(!text.contains(&sid), "a session id reached the logs");
}

#[tokio::test]
async fn the_sign_in_form_needs_its_csrf_token() {
    let az = start().await;
    let v = Visitor::new(&az);
    let form = v.get("/console/sign-in").await.expect(200);
    let no_token = v.post("/console/sign-in", &[("username", ROOT), ("password", ROOT_PASSWORD)]).await.expect(403);
    assert!(no_token.text().contains("The sign-in form expired"), "{no_token}");
    let other = Visitor::new(&az);
    // A token from another browser's form (the cookie does not match).
    let csrf = form.csrf();
    other
        .post("/console/sign-in", &[("csrf", &csrf), ("username", ROOT), ("password", ROOT_PASSWORD)])
        .await
        .expect(403);
    assert!(other.cookie("tg_console").is_none());
}

#[tokio::test]
async fn sign_in_makes_a_new_session_id_and_ends_the_old_one() {
    let az = start().await;
    let v = Visitor::new(&az);
    v.set_cookie("tg_console", "planted-by-an-attacker");
    v.sign_in(ROOT, ROOT_PASSWORD).await.redirect();
    let first = v.cookie("tg_console").unwrap();
    assert_ne!(first, "planted-by-an-attacker");
    // Signing in again while holding a live session (a second tab's form) rotates the id; the old one dies.
    let second_tab = Visitor::new(&az);
    let form = second_tab.get("/console/sign-in").await.expect(200);
    v.set_cookie("tg_console_signin", &second_tab.cookie("tg_console_signin").unwrap());
    let csrf = form.csrf();
    let again = v.post("/console/sign-in", &[("csrf", &csrf), ("username", ROOT), ("password", ROOT_PASSWORD)]).await;
    assert_eq!(again.redirect(), "/console/apps");
    let second = v.cookie("tg_console").unwrap();
    assert_ne!(first, second);
    v.get("/console/apps").await.expect(200);
    let old = Visitor::new(&az);
    old.set_cookie("tg_console", &first);
    assert_eq!(old.get("/console/apps").await.redirect(), "/console/sign-in");
}

#[tokio::test]
async fn sessions_expire_when_idle_and_after_eight_hours_by_the_process_clock() {
    let az = start().await;
    let (v, _) = Visitor::signed_in(&az).await;
    az.clock.advance(IDLE_SECS - 5);
    v.get("/console/apps").await.expect(200);
    az.clock.advance(IDLE_SECS);
    assert_eq!(v.get("/console/apps").await.redirect(), "/console/sign-in", "idle for 30 minutes");

    let (v, _) = Visitor::signed_in(&az).await;
    let mut elapsed = 0;
    while elapsed + IDLE_SECS - 60 < ABSOLUTE_SECS {
        az.clock.advance(IDLE_SECS - 60);
        elapsed += IDLE_SECS - 60;
        v.get("/console/users").await.expect(200);
    }
    az.clock.advance(IDLE_SECS - 60);
    assert_eq!(v.get("/console/users").await.redirect(), "/console/sign-in", "8 hours after sign-in");
}

#[tokio::test]
async fn a_disabled_or_demoted_admin_is_signed_out_at_once() {
    let az = start().await;
    az.registry.add_user("carol", "carol-password", true).await.unwrap();
    let carol = Visitor::new(&az);
    carol.sign_in("carol", "carol-password").await.redirect();
    carol.get("/console/apps").await.expect(200);
    let (root, _) = Visitor::signed_in(&az).await;

    // root demotes carol in the console: her next request leads to the sign-in page.
    let users = root.get("/console/users").await.expect(200);
    root.post("/console/users/carol", &[("csrf", &users.csrf()), ("action", "remove-admin")]).await.redirect();
    assert_eq!(carol.get("/console/apps").await.redirect(), "/console/sign-in");

    // And a disabled admin's session dies too, even if made admin again afterwards.
    az.registry.update_user("carol", &json!({"is_admin": true})).await.unwrap();
    carol.sign_in("carol", "carol-password").await.redirect();
    carol.get("/console/apps").await.expect(200);
    az.registry.update_user("carol", &json!({"disabled": true})).await.unwrap();
    az.registry.update_user("carol", &json!({"disabled": false})).await.unwrap();
    assert_eq!(carol.get("/console/apps").await.redirect(), "/console/sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_form_posted_from_another_site_is_refused_and_its_own_forms_work() {
    let az = start().await;
    let (v, list) = Visitor::signed_in(&az).await;
    let csrf = list.csrf();
    let http = crate::support::http::client();
    let cookie = format!("tg_console={}", v.cookie("tg_console").unwrap());
    let form = [("csrf", csrf.as_str()), ("username", "mallory"), ("password", "mallory-password"), ("is_admin", "on")];
    let own = az.admin_url.clone();
    let cases: [(&str, &str, u16); 5] = [
        ("origin", "https://evil.example", 403),
        ("sec-fetch-site", "cross-site", 403),
        ("sec-fetch-site", "same-site", 403),
        ("origin", own.as_str(), 303),
        ("sec-fetch-site", "same-origin", 303),
    ];
    for (i, (header, value, status)) in cases.into_iter().enumerate() {
        let name = format!("user{i}");
        let mut form = form.to_vec();
        form[1] = ("username", &name);
        let r = http
            .post(format!("{own}/console/users"))
            .header("cookie", &cookie)
            .header(header, value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{header}: {value}");
    }
    let users = az.registry.users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert!(!names.contains(&"user0") && !names.contains(&"user1") && !names.contains(&"user2"), "{names:?}");
    assert!(names.contains(&"user3") && names.contains(&"user4"), "{names:?}");
    // The sign-in form is a POST too.
    let r = http.post(format!("{own}/console/sign-in")).header("origin", "https://evil.example").form(&[("x", "y")]);
    assert_eq!(r.send().await.unwrap().status(), 403);
    // A link from another site still opens the console (GET).
    let r = http.get(format!("{own}/console/sign-in")).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(r.status(), 200);
}
