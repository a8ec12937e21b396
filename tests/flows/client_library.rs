//! A client library written by others, the `oauth2` crate, against the authorization server: the code flow with PKCE,
//! the exchange, a refresh, introspection and revocation, each done its way; the login and consent as a browser.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, IntrospectionUrl,
    PkceCodeChallenge, RedirectUrl, RevocationUrl, Scope, StandardRevocableToken, TokenIntrospectionResponse,
    TokenResponse, TokenUrl,
};

use crate::support::authz::*;

/// The crate's async HTTP client interface over the project's reqwest. The crate insists on https for revocation
/// (RFC 7009 2.1); the test server speaks plain http on loopback, so `https://127.0.0.1` is sent as `http://`.
fn http_client(
) -> impl Fn(HttpRequest) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, reqwest::Error>> + Send>>
{
    let http = client();
    move |mut request: HttpRequest| {
        let http = http.clone();
        let uri = request.uri().to_string();
        if let Some(rest) = uri.strip_prefix("https://127.0.0.1:") {
            *request.uri_mut() = format!("http://127.0.0.1:{rest}").parse().expect("a URI");
        }
        Box::pin(async move {
            let response = http.execute(reqwest::Request::try_from(request)?).await?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await?.to_vec();
            Ok(builder.body(body).expect("a response"))
        })
    }
}

/// Plays the browser on the URL the crate built: sign alice in, allow, and return the query of the redirect back.
async fn browse(az: &TestAuthz, auth_url: &url::Url) -> std::collections::HashMap<String, String> {
    let path = format!("{}?{}", auth_url.path(), auth_url.query().unwrap_or_default());
    let browser = az.browser();
    let login = browser.get(&path).await.expect(200);
    let consent = browser.login(&login, "alice", ALICE_PASSWORD).await.expect(200);
    browser.decide(&consent, "allow").await.redirect_params(REDIRECT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth2_crate_runs_the_code_flow_with_pkce_and_refreshes_for_a_single_page_app() {
    let az = TestAuthz::start().await;
    let app = az.spa_app("Spa").await;
    let client = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth2/authorize", az.url)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", az.url)).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("api:read".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let back = browse(&az, &auth_url).await;
    assert_eq!(back.get("state").map(String::as_str), Some(state.secret().as_str()), "{back:?}");
    assert_eq!(back.get("iss").map(String::as_str), Some(ISSUER));
    let code = back.get("code").unwrap_or_else(|| panic!("no code: {back:?}")).clone();

    let http = http_client();
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("the code exchange failed: {e:?}"));
    let scopes: Vec<String> = token.scopes().expect("scope in the answer").iter().map(|s| s.to_string()).collect();
    assert_eq!(scopes, ["api:read", "offline_access"]);
    assert!(token.expires_in().is_some_and(|d| d.as_secs() > 0));
    az.api(token.access_token().secret()).await.expect(200);
    assert_eq!(az.upstream.last().unwrap().header("x-auth-subject"), Some("alice"));

    let first_refresh = token.refresh_token().expect("a refresh token for offline_access").clone();
    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("the refresh failed: {e:?}"));
    az.api(refreshed.access_token().secret()).await.expect(200);
    let second_refresh = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(second_refresh.secret(), first_refresh.secret());

    // The crate sees the reuse refused as the RFC 6749 error it is.
    let reused = client.exchange_refresh_token(&first_refresh).request_async(&http).await;
    match reused {
        Err(oauth2::RequestTokenError::ServerResponse(e)) => {
            assert_eq!(e.error(), &oauth2::basic::BasicErrorResponseType::InvalidGrant)
        }
        other => panic!("a reused refresh token was not refused with invalid_grant: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth2_crate_authenticates_a_web_app_with_its_secret_then_introspects_and_revokes() {
    let az = TestAuthz::start().await;
    let app = az.web_app("Web").await;
    let client = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_client_secret(ClientSecret::new(app.secret().to_string()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth2/authorize", az.url)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", az.url)).unwrap())
        .set_introspection_url(IntrospectionUrl::new(format!("{}/oauth2/introspect", az.url)).unwrap())
        .set_revocation_url(RevocationUrl::new(format!("{}/oauth2/revoke", az.url.replace("http:", "https:"))).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("api:read".into()))
        .add_scope(Scope::new("api:write".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = browse(&az, &auth_url).await;
    assert_eq!(back.get("state").map(String::as_str), Some(state.secret().as_str()));
    let http = http_client();
    let token = client
        .exchange_code(AuthorizationCode::new(back["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("the code exchange failed: {e:?}"));
    assert!(token.refresh_token().is_none());
    let access = token.access_token().clone();
    az.api(access.secret()).await.expect(200);

    let info = client.introspect(&access).request_async(&http).await.expect("introspection");
    assert!(info.active());
    assert_eq!(info.sub(), Some("alice"));
    assert_eq!(info.client_id().map(|c| c.as_str()), Some(app.client_id.as_str()));

    client
        .revoke_token(StandardRevocableToken::AccessToken(access.clone()))
        .expect("a revocation URL")
        .request_async(&http)
        .await
        .expect("revocation");
    az.api(access.secret()).await.expect(401);
    let info = client.introspect(&access).request_async(&http).await.expect("introspection");
    assert!(!info.active());
}
