//! The console's application pages: the list, creation, an app's page with its settings, secrets, keys and logo.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::forms::Form;
use super::views::{self, render, type_label, when, Frame};
use super::*;
use crate::registry::{AppInput, AppView};

fn limit_reason(c: &Console, used: usize) -> Option<String> {
    (used as i64 >= c.registry.max_apps()).then(|| RegistryError::LimitReached(c.registry.max_apps()).to_string())
}

pub(super) async fn list_apps(
    State(c): State<Console>,
    who: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut apps = match c.registry.apps().await {
        Ok(a) => a,
        Err(e) => return who.error(e),
    };
    apps.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
    let rows: Vec<views::AppRow> = apps
        .iter()
        .map(|a| {
            let (created, created_iso) = when(a.created_at);
            views::AppRow {
                client_id: a.client_id.clone(),
                name: a.name.clone(),
                type_label: type_label(a.app_type.as_str()),
                created,
                created_iso,
            }
        })
        .collect();
    let frame = Frame { flash: flash(&q), ..who.frame("OAuth2 Applications", "apps") };
    let page = views::Apps {
        frame,
        csrf: who.csrf(),
        used: rows.len(),
        max: c.registry.max_apps(),
        limit_reason: limit_reason(&c, rows.len()),
        apps: rows,
        create: views::CreateForm::empty(),
    };
    render(StatusCode::OK, &page)
}

fn new_app_page(
    who: &SignedIn,
    status: StatusCode,
    limit_reason: Option<String>,
    form: Option<&Form>,
    errors: HashMap<String, String>,
) -> Response {
    let page = views::NewApp {
        frame: who.frame("Create app integration", "apps"),
        csrf: who.csrf(),
        limit_reason,
        create: views::CreateForm {
            kind: form.map(|f| f.get("type").to_string()).unwrap_or_default(),
            name: form.map(|f| f.get("name").to_string()).unwrap_or_default(),
            errors,
            ..views::CreateForm::empty()
        },
    };
    render(status, &page)
}

pub(super) async fn new_app(State(c): State<Console>, who: SignedIn) -> Response {
    match c.registry.apps().await {
        Ok(apps) => new_app_page(&who, StatusCode::OK, limit_reason(&c, apps.len()), None, HashMap::new()),
        Err(e) => who.error(e),
    }
}

pub(super) async fn create_app(State(c): State<Console>, who: SignedIn, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    if let Some(r) = who.resent(&form, "/console/apps").await {
        return r;
    }
    let mut input = json!({"name": form.get("name")});
    if form.has("type") {
        input["type"] = form.get("type").into();
    }
    let created = match AppInput::from_json(&input) {
        Ok(input) => c.registry.create_app(&input).await,
        Err(e) => Err(e.into()),
    };
    match created {
        Ok((view, secret)) => {
            let id = view.client_id.clone();
            match secret {
                Some(secret) => {
                    let mut page = app_page(&who, &view, None);
                    page.frame.flash = Some("The app is created.");
                    page.new_secret = Some(secret.expose().to_string());
                    render(StatusCode::CREATED, &page)
                }
                None => see_other(&format!("/console/apps/{id}?done=created")),
            }
        }
        Err(RegistryError::Invalid(f)) => {
            let errors = HashMap::from([(f.field.clone(), f.to_string())]);
            new_app_page(&who, StatusCode::UNPROCESSABLE_ENTITY, None, Some(&form), errors)
        }
        Err(e @ RegistryError::LimitReached(_)) => {
            new_app_page(&who, StatusCode::CONFLICT, Some(e.to_string()), Some(&form), HashMap::new())
        }
        Err(e) => who.error(e),
    }
}

/// An app's page from its view; the settings form shows `submitted` instead when given (after a refusal).
fn app_page(who: &SignedIn, view: &AppView, submitted: Option<&Form>) -> views::AppPage {
    let id = view.client_id.clone();
    let kind = view.app_type.as_str().to_string();
    let (created, created_iso) = when(view.created_at);
    let (updated, updated_iso) = when(view.updated_at);
    let secrets = view
        .secrets
        .iter()
        .flatten()
        .map(|s| views::SecretRow {
            id: s.id.clone(),
            created: when(s.created_at).0,
            last_used: s.last_used_at.map(|t| when(t).0).unwrap_or_else(|| "never".into()),
            note: s.note.clone(),
        })
        .collect();
    let keys = view
        .public_keys
        .iter()
        .flatten()
        .map(|k| views::KeyRow {
            id: k.id.clone(),
            alg: k.alg.to_string(),
            created: when(k.created_at).0,
            note: k.note.clone(),
        })
        .collect();
    let code_flow = view.code_flow();
    views::AppPage {
        frame: who.frame(&view.name, "apps"),
        csrf: who.csrf(),
        has_logo: code_flow.and_then(|c| c.logo_url.as_deref()) == Some(format!("/oauth2/logo/{id}").as_str()),
        fields: forms::settings_fields(&kind, &view.to_json(), submitted),
        rotation: submitted
            .map(|f| f.has("refresh_token_rotation"))
            .unwrap_or(code_flow.is_some_and(|c| c.refresh_token_rotation)),
        rotation_error: None,
        type_label: type_label(&kind),
        name: view.name.clone(),
        client_id: id,
        kind,
        created,
        created_iso,
        updated,
        updated_iso,
        secrets,
        keys,
        new_secret: None,
        new_key: None,
        secret_note: String::new(),
        secret_note_error: None,
        key_text: String::new(),
        key_error: None,
        generate_error: None,
        logo_error: None,
    }
}

/// An app's page changed by `edit` (a secret or key shown this once, a refusal at its form), with `status`.
async fn app_page_with(
    c: &Console,
    who: &SignedIn,
    id: &str,
    status: StatusCode,
    edit: impl FnOnce(&mut views::AppPage),
) -> Response {
    match c.registry.app(id).await {
        Ok(view) => {
            let mut page = app_page(who, &view, None);
            edit(&mut page);
            render(status, &page)
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn show_app(
    State(c): State<Console>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    app_page_with(&c, &who, &id, StatusCode::OK, |page| {
        page.frame.flash = flash(&q);
    })
    .await
}

pub(super) async fn save_app(State(c): State<Console>, who: SignedIn, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    let view = match c.registry.app(&id).await {
        Ok(v) => v,
        Err(e) => return who.error(e),
    };
    let kind = view.app_type.as_str();
    let saved = match forms::settings_input(kind, &form, &view.to_json()) {
        Ok(input) => c.registry.update_app(&id, &input).await,
        Err(f) => Err(RegistryError::Invalid(f)),
    };
    match saved {
        Ok(_) => see_other(&format!("/console/apps/{id}?done=saved")),
        Err(RegistryError::Invalid(f)) => {
            let mut page = app_page(&who, &view, Some(&form));
            let message = f.to_string();
            if let Some(field) = page.fields.iter_mut().find(|x| x.name == f.field) {
                field.error = Some(message);
            } else if f.field == "refresh_token_rotation" && kind == "web" {
                page.rotation_error = Some(message);
            } else {
                page.frame.error = Some(message);
            }
            if page.frame.error.is_none() {
                page.frame.error = Some("The settings are not saved: see the field marked below.".into());
            }
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn confirm_delete(State(c): State<Console>, who: SignedIn, Path(id): Path<String>) -> Response {
    match c.registry.app(&id).await {
        Ok(v) => {
            let name = v.name;
            let frame = who.frame(&format!("Delete {name}"), "apps");
            render(StatusCode::OK, &views::DeleteApp { frame, csrf: who.csrf(), client_id: id, name })
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn delete_app(
    State(c): State<Console>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = who.refusal(&Form::urlencoded(&body)) {
        return r;
    }
    match c.registry.delete_app(&id).await {
        Ok(()) => {
            tracing::info!(client_id = %id, username = %who.user.username, "console: app deleted");
            see_other("/console/apps?done=deleted")
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn add_secret(
    State(c): State<Console>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    if let Some(r) = who.resent(&form, &format!("/console/apps/{id}")).await {
        return r;
    }
    let note = Some(form.get("note")).filter(|n| !n.is_empty());
    match c.registry.add_secret(&id, note).await {
        Ok((_, secret)) => {
            app_page_with(&c, &who, &id, StatusCode::CREATED, |page| {
                page.frame.flash = Some("A client secret is added.");
                page.new_secret = Some(secret.expose().to_string());
            })
            .await
        }
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.secret_note = form.get("note").to_string();
                page.secret_note_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn delete_secret(
    State(c): State<Console>,
    who: SignedIn,
    Path((id, sid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(r) = who.refusal(&Form::urlencoded(&body)) {
        return r;
    }
    match c.registry.delete_secret(&id, &sid).await {
        Ok(()) => see_other(&format!("/console/apps/{id}?done=secret-deleted")),
        Err(e) => who.error(e),
    }
}

async fn multipart_form(who: &SignedIn, mp: Multipart) -> Result<Form, Response> {
    let form = Form::multipart(mp)
        .await
        .map_err(|e| message(StatusCode::BAD_REQUEST, "Upload refused", Some(who.nav("apps")), e, "/console/apps"))?;
    match who.refusal(&form) {
        Some(r) => Err(r),
        None => Ok(form),
    }
}

pub(super) async fn add_key(
    State(c): State<Console>,
    who: SignedIn,
    Path(id): Path<String>,
    mp: Multipart,
) -> Response {
    let form = match multipart_form(&who, mp).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let pasted = form.get("public_key").trim().to_string();
    let key = match form.file("public_key_file") {
        Some((_, bytes)) => String::from_utf8_lossy(bytes).trim().to_string(),
        None => pasted.clone(),
    };
    let mut input = json!({});
    if !key.is_empty() {
        input["public_key"] = key.into();
    }
    if !form.get("note").is_empty() {
        input["note"] = form.get("note").into();
    }
    match c.registry.add_key(&id, &input).await {
        Ok(_) => see_other(&format!("/console/apps/{id}?done=key-added")),
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.key_text = pasted;
                page.key_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn generate_key(
    State(c): State<Console>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    if let Some(r) = who.resent(&form, &format!("/console/apps/{id}")).await {
        return r;
    }
    let alg = Some(form.get("alg")).filter(|a| !a.is_empty());
    match c.registry.generate_key(&id, alg, None).await {
        Ok((view, private)) => {
            app_page_with(&c, &who, &id, StatusCode::CREATED, |page| {
                let kid = view.id.clone();
                page.frame.flash = Some("A key pair is generated.");
                page.new_key = Some(views::NewKey {
                    filename: format!("tokengate-{kid}.pem"),
                    kid,
                    pem: private.expose().to_string(),
                });
            })
            .await
        }
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.generate_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn delete_key(
    State(c): State<Console>,
    who: SignedIn,
    Path((id, kid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(r) = who.refusal(&Form::urlencoded(&body)) {
        return r;
    }
    match c.registry.delete_key(&id, &kid).await {
        Ok(()) => see_other(&format!("/console/apps/{id}?done=key-deleted")),
        Err(e) => who.error(e),
    }
}

pub(super) async fn logo(State(c): State<Console>, who: SignedIn, Path(id): Path<String>) -> Response {
    match c.registry.logo(&id).await {
        Ok((ct, data)) => (
            [
                (CONTENT_TYPE, ct),
                (CACHE_CONTROL, "no-store".to_string()),
                (X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            ],
            data,
        )
            .into_response(),
        Err(e) => who.error(e),
    }
}

pub(super) async fn upload_logo(
    State(c): State<Console>,
    who: SignedIn,
    Path(id): Path<String>,
    mp: Multipart,
) -> Response {
    let form = match multipart_form(&who, mp).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let result = match form.file("logo") {
        Some((ct, bytes)) => c.registry.set_logo(&id, ct, bytes).await,
        None => Err(crate::registry::FieldError::new("logo", "choose an image file to upload").into()),
    };
    match result {
        Ok(_) => see_other(&format!("/console/apps/{id}?done=logo")),
        Err(RegistryError::Invalid(f)) => {
            app_page_with(&c, &who, &id, StatusCode::UNPROCESSABLE_ENTITY, |page| {
                page.logo_error = Some(f.to_string());
            })
            .await
        }
        Err(e) => who.error(e),
    }
}
