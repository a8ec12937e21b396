//! Rows to records: the two records whose columns need converting (flags stored as integers, JSON lists, the app
//! type); the others derive `sqlx::FromRow` where they are defined.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::store::{AppRecord, AppType, UserRecord};

/// Decodes a JSON column.
fn json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

impl FromRow<'_, AnyRow> for UserRecord {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(UserRecord {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            password_hash: r.try_get("password_hash")?,
            is_admin: r.try_get::<i64, _>("is_admin")? != 0,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

impl FromRow<'_, AnyRow> for AppRecord {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let app_type: String = r.try_get("app_type")?;
        Ok(AppRecord {
            client_id: r.try_get("client_id")?,
            app_type: AppType::parse(&app_type).ok_or_else(|| sqlx::Error::Decode("unknown app_type".into()))?,
            name: r.try_get("name")?,
            description: r.try_get("description")?,
            redirect_urls: json(&r.try_get::<String, _>("redirect_urls")?)?,
            refresh_token_rotation: r.try_get::<i64, _>("refresh_token_rotation")? != 0,
            refresh_token_absolute_expiry_secs: r.try_get("refresh_token_absolute_expiry_secs")?,
            refresh_token_inactivity_expiry_secs: r.try_get("refresh_token_inactivity_expiry_secs")?,
            logo_url: r.try_get("logo_url")?,
            app_description_url: r.try_get("app_description_url")?,
            developer_name: r.try_get("developer_name")?,
            developer_email: r.try_get("developer_email")?,
            privacy_policy_url: r.try_get("privacy_policy_url")?,
            jwt_subjects: json(&r.try_get::<String, _>("jwt_subjects")?)?,
            introspect_any: r.try_get::<i64, _>("introspect_any")? != 0,
            scopes: r.try_get::<Option<String>, _>("scopes")?.map(|s| json(&s)).transpose()?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}
