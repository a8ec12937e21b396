//! What a username may hold: letters and digits of one script (and `.` `_` `-` `@`), stored in NFC, never a name
//! that looks like another user's.

use serde_json::json;

use crate::support::admin::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_name_like_zoe_is_created_in_nfc_and_signs_in_however_it_is_spelt() {
    let t = TestAdmin::start().await;
    // Sent decomposed (e + combining diaeresis), stored composed.
    let r =
        t.api.post("/admin/v1/users", json!({"username": "zoe\u{308}", "password": "zoe-password", "is_admin": true}));
    let r = r.await.expect(201);
    assert_eq!(r.json()["username"], "zo\u{eb}", "\n{r}");
    for spelling in ["zo\u{eb}", "zoe\u{308}"] {
        t.as_(Auth::basic(spelling, "zoe-password")).get("/admin/v1/apps").await.expect(200);
    }
    // The same name in the other form is the same user.
    let again =
        t.api.post("/admin/v1/users", json!({"username": "zo\u{eb}", "password": "zoe-password", "is_admin": false}));
    again.await.refused(409, "conflict");
    // `zoe` is another name.
    t.api
        .post("/admin/v1/users", json!({"username": "zoe", "password": "zoe-password", "is_admin": false}))
        .await
        .expect(201);
    // The CLI takes the same names.
    let cli = t.env.add_user("山田", "yamada-password", false);
    assert_eq!(cli["username"], "山田", "{cli}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confusable_or_mixed_script_name_is_refused_with_a_field_error() {
    let t = TestAdmin::start_with(|env| {
        env.add_user("admin", "admin-password", true);
        env.add_user("ape", "ape-password", false);
    })
    .await;
    let cases = [
        // A Cyrillic а among Latin letters.
        ("\u{430}dmin", "mixes"),
        // All Cyrillic, and it reads "ape".
        ("\u{430}\u{440}\u{435}", "looks like"),
        // Only the case differs.
        ("Admin", "looks like"),
        ("R00T", "looks like"),
    ];
    t.api
        .post("/admin/v1/users", json!({"username": "root2", "password": "root2-password", "is_admin": false}))
        .await
        .expect(201);
    for (name, why) in cases {
        let r =
            t.api.post("/admin/v1/users", json!({"username": name, "password": "mallory-password", "is_admin": true}));
        let r = r.await;
        r.invalid_field("username");
        assert!(r.json()["error_description"].as_str().unwrap().contains(why), "{name}:\n{r}");
    }
    // And the CLI refuses it too.
    let out = t.env.cli(&["users", "add", "\u{430}\u{440}\u{435}", "--password-stdin"], Some("mallory-password"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("looks like"), "{}", String::from_utf8_lossy(&out.stderr));
    let users = t.api.users().await;
    assert_eq!(users.len(), 4, "{users:?}");
}
