//! Uploaded logos: PNG, JPEG, GIF or WebP whose bytes match the declared type, at most 256 KiB; served back with
//! their content type; a refused upload keeps the previous logo.

use reqwest::Method;
use serde_json::Value;

use crate::support::admin::*;

fn id(v: &Value) -> String {
    v["client_id"].as_str().unwrap_or_else(|| panic!("no client_id in {v}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_image_type_is_stored_and_served_back() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let cid = id(&app);
    let path = format!("/admin/v1/apps/{cid}/logo");
    for (ct, bytes) in [
        ("image/png", PNG.to_vec()),
        ("image/jpeg", JPEG.to_vec()),
        ("image/gif", GIF.to_vec()),
        ("image/webp", webp()),
    ] {
        let r = t.api.raw(Method::PUT, &path, ct, bytes.clone()).await.expect(200);
        assert_eq!(r.json()["client_id"], cid.as_str(), "\n{r}");
        assert_eq!(r.json()["type"], "web", "\n{r}");
        assert_eq!(r.json()["logo_url"], format!("/oauth2/logo/{cid}"), "\n{r}");
        let got = t.api.get(&path).await.expect(200);
        assert_eq!(got.header("content-type"), Some(ct), "\n{got}");
        assert_eq!(got.bytes, bytes, "{ct} logo bytes differ");
    }
    assert_eq!(t.api.app(&cid).await["logo_url"], format!("/oauth2/logo/{cid}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_page_app_takes_a_logo_too() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(spa("s")).await;
    let cid = id(&app);
    let r = t.api.raw(Method::PUT, &format!("/admin/v1/apps/{cid}/logo"), "image/gif", GIF.to_vec()).await.expect(200);
    assert_eq!(r.json()["logo_url"], format!("/oauth2/logo/{cid}"), "\n{r}");
    assert!(r.json().get("developer_name").is_some(), "not the spa view:\n{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_logo_uploaded_is_not_found() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    t.api.get(&format!("/admin/v1/apps/{}/logo", id(&app))).await.refused(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_content_types_and_mismatched_bytes_are_refused() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(spa("s")).await;
    let cid = id(&app);
    let path = format!("/admin/v1/apps/{cid}/logo");
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let cases: Vec<(&'static str, Vec<u8>)> = vec![
        ("image/svg+xml", svg.clone()),
        ("text/html", b"<html></html>".to_vec()),
        ("application/octet-stream", PNG.to_vec()),
        ("image/bmp", b"BM\x00\x00\x00\x00".to_vec()),
        ("text/plain", PNG.to_vec()),
        ("image/png", GIF.to_vec()),
        ("image/png", JPEG.to_vec()),
        ("image/png", svg.clone()),
        ("image/jpeg", PNG.to_vec()),
        ("image/gif", webp()),
        ("image/webp", PNG.to_vec()),
        ("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt ".to_vec()),
        ("image/png", Vec::new()),
        ("image/png", PNG[..4].to_vec()),
    ];
    for (ct, bytes) in cases {
        t.api.raw(Method::PUT, &path, ct, bytes).await.invalid_field("logo");
    }
    t.api.get(&path).await.refused(404, "not_found");
    assert_eq!(t.api.app(&cid).await["logo_url"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_256_kib_is_taken() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let path = format!("/admin/v1/apps/{}/logo", id(&app));
    let mut exact = PNG.to_vec();
    exact.resize(256 * 1024, 0);
    let r = t.api.raw(Method::PUT, &path, "image/png", exact.clone()).await;
    r.expect(200);
    assert_eq!(t.api.get(&path).await.expect(200).bytes.len(), 256 * 1024);

    let mut big = GIF.to_vec();
    big.resize(256 * 1024 + 1, 0);
    let r = t.api.fresh().raw(Method::PUT, &path, "image/gif", big).await;
    too_large(&r);
    // The refused uploads kept the previous logo.
    let got = t.api.get(&path).await.expect(200);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.bytes, exact);
}

/// A refusal of a too-large logo: 422 naming `logo`, or 413, which is still an error answer of this API.
#[track_caller]
fn too_large(r: &Reply) {
    if r.status == 413 {
        assert!(r.json()["error"].is_string(), "a 413 without a JSON error body:\n{r}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "\n{r}");
    } else {
        r.invalid_field("logo");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_too_large_logo_gets_an_error_answer_and_changes_nothing() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(spa("s")).await;
    let path = format!("/admin/v1/apps/{}/logo", id(&app));
    t.api.raw(Method::PUT, &path, "image/png", PNG.to_vec()).await.expect(200);
    let mut big = PNG.to_vec();
    big.resize(1024 * 1024, 0);
    // A connection of its own: a server may close it after refusing a body it did not read.
    let r = t.api.fresh().raw(Method::PUT, &path, "image/png", big).await;
    let got = t.api.fresh().get(&path).await.expect(200);
    assert_eq!(got.bytes, PNG);
    too_large(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_keeps_the_previous_logo() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let cid = id(&app);
    let path = format!("/admin/v1/apps/{cid}/logo");
    t.api.raw(Method::PUT, &path, "image/png", PNG.to_vec()).await.expect(200);
    t.api.raw(Method::PUT, &path, "image/jpeg", GIF.to_vec()).await.invalid_field("logo");
    t.api.raw(Method::PUT, &path, "text/plain", b"hello".to_vec()).await.invalid_field("logo");
    let got = t.api.get(&path).await.expect(200);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.bytes, PNG);
    assert_eq!(t.api.app(&cid).await["logo_url"], format!("/oauth2/logo/{cid}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_app_deletes_its_logo() {
    let t = TestAdmin::start().await;
    let app = t.api.create_app(web("w")).await;
    let cid = id(&app);
    t.api.raw(Method::PUT, &format!("/admin/v1/apps/{cid}/logo"), "image/png", PNG.to_vec()).await.expect(200);
    t.api.delete(&format!("/admin/v1/apps/{cid}")).await.expect(204);
    t.api.get(&format!("/admin/v1/apps/{cid}/logo")).await.refused(404, "not_found");
    t.api
        .raw(Method::PUT, &format!("/admin/v1/apps/{cid}/logo"), "image/png", PNG.to_vec())
        .await
        .refused(404, "not_found");
}
