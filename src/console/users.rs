//! The console's users page: listing, adding, and changing a user (administrator, disabled, password).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::forms::Form;
use super::views::{self, render, when, Frame};
use super::*;

async fn users_page(
    c: &Console,
    who: &SignedIn,
    status: StatusCode,
    flash: Option<&'static str>,
    error: Option<String>,
    add: Option<(&Form, Option<String>, Option<String>)>,
) -> Response {
    let users = match c.registry.users().await {
        Ok(u) => u,
        Err(e) => return who.error(e),
    };
    let rows = users
        .into_iter()
        .map(|u| views::UserRow {
            is_me: u.username == who.user.username,
            created: when(u.created_at).0,
            username: u.username,
            is_admin: u.is_admin,
            disabled: u.disabled,
        })
        .collect();
    let (add_username, add_admin, username_error, password_error) = match add {
        Some((f, ue, pe)) => (f.get("username").to_string(), f.has("is_admin"), ue, pe),
        None => (String::new(), false, None, None),
    };
    let frame = Frame { flash, error, ..who.frame("Users", "users") };
    let page =
        views::Users { frame, csrf: who.csrf(), users: rows, add_username, add_admin, username_error, password_error };
    render(status, &page)
}

pub(super) async fn list_users(
    State(c): State<Console>,
    who: SignedIn,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    users_page(&c, &who, StatusCode::OK, flash(&q), None, None).await
}

pub(super) async fn add_user(State(c): State<Console>, who: SignedIn, body: Bytes) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    let result = c.registry.add_user(form.get("username"), form.get("password"), form.has("is_admin")).await;
    match result {
        Ok(_) => see_other("/console/users?done=user-added"),
        Err(RegistryError::Invalid(f)) => {
            let msg = Some(f.to_string());
            let (ue, pe) = if f.field == "password" { (None, msg) } else { (msg, None) };
            users_page(&c, &who, StatusCode::UNPROCESSABLE_ENTITY, None, None, Some((&form, ue, pe))).await
        }
        Err(e @ RegistryError::Conflict(_)) => {
            let add = Some((&form, Some(e.to_string()), None));
            users_page(&c, &who, StatusCode::CONFLICT, None, None, add).await
        }
        Err(e) => who.error(e),
    }
}

pub(super) async fn change_user(
    State(c): State<Console>,
    who: SignedIn,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::urlencoded(&body);
    if let Some(r) = who.refusal(&form) {
        return r;
    }
    let change = match form.get("action") {
        "disable" => json!({"disabled": true}),
        "enable" => json!({"disabled": false}),
        "make-admin" => json!({"is_admin": true}),
        "remove-admin" => json!({"is_admin": false}),
        other => {
            let error = format!("`{other}` is not an action on a user");
            return users_page(&c, &who, StatusCode::BAD_REQUEST, None, Some(error), None).await;
        }
    };
    // Never lock yourself out: there is always at least one administrator, the one signed in.
    if name == who.user.username && (change["disabled"] == true || change["is_admin"] == false) {
        let error = "You cannot disable yourself or remove your own administrator role: ask another administrator.";
        return users_page(&c, &who, StatusCode::CONFLICT, None, Some(error.into()), None).await;
    }
    match c.registry.update_user(&name, &change).await {
        Ok(_) => {
            tracing::info!(username = %name, by = %who.user.username, change = %change, "console: user changed");
            see_other("/console/users?done=user-changed")
        }
        Err(e) => who.error(e),
    }
}
