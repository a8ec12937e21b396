//! `/oauth2/logo/{client_id}`: the uploaded logo, 404 when there is none, 503 when the store fails.

use crate::support::admin::PNG;
use crate::support::authz::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_logo_is_404_and_a_store_failure_is_503() {
    use sqlx::Connection;
    let az = TestAuthz::start().await;
    let with = az.web_app("With a logo").await;
    let without = az.web_app("Without").await;
    az.registry.set_logo(&with.client_id, "image/png", PNG).await.expect("upload");

    let r = az.get(&format!("/oauth2/logo/{}", with.client_id)).await.expect(200);
    assert_eq!(r.header("content-type"), Some("image/png"), "{r:?}");
    for id in [without.client_id.as_str(), "no-such-app"] {
        let r = az.get(&format!("/oauth2/logo/{id}")).await;
        assert_eq!(r.status, 404, "{r:?}");
        assert_eq!(r.error(), "not_found", "{r:?}");
    }

    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", az.db.display())).await.unwrap();
    sqlx::query("ALTER TABLE app_logos RENAME TO app_logos_away").execute(&mut c).await.unwrap();
    let r = az.get(&format!("/oauth2/logo/{}", with.client_id)).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.error(), "temporarily_unavailable", "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r:?}");
    sqlx::query("ALTER TABLE app_logos_away RENAME TO app_logos").execute(&mut c).await.unwrap();
    az.get(&format!("/oauth2/logo/{}", with.client_id)).await.expect(200);
}
