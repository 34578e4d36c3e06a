//! Administration: users (admins) and hall device tokens (admins and hall managers),
//! always within the acting user's own node. A new password or token is shown once and
//! never stored in the clear.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Router};
use peakend_core::{Action, HallId, OrgNodeId, Role, UserName};
use peakend_store::User;
use serde::Deserialize;

use crate::auth::{Viewer, one_time_password};
use crate::view::{Lang, Nav, PageError, render};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_page))
        .route("/admin/users", post(add_user))
        .route("/admin/tokens", post(add_token))
        .route("/api/v1/admin/sign-ins", get(sign_ins))
}

/// The latest sign-ins and failed attempts (`?limit=`, default 200, at most 1,000) an
/// administrator may see: those of users in their scope, and, for an administrator of a
/// whole province (a root), also attempts with names that are no user's.
async fn sign_ins(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<axum::Json<Vec<peakend_store::SignIn>>, ApiError> {
    viewer.require(Action::ManageUsers)?;
    let limit = match q.get("limit") {
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit: a number from 1 to 1000"))?,
        None => 200,
    };
    let tree = state.store.org_tree().await?;
    let users = state.store.users().await?;
    let root = tree
        .get(&viewer.user.org)
        .is_some_and(|n| n.parent.is_none());
    let in_scope: std::collections::HashMap<String, bool> = users
        .iter()
        .map(|u| {
            (
                u.name.as_str().to_lowercase(),
                viewer.scope.covers(&tree, &u.org),
            )
        })
        .collect();
    let rows = state.store.sign_ins(limit).await?;
    Ok(axum::Json(
        rows.into_iter()
            .filter(|r| in_scope.get(&r.name).copied().unwrap_or(root))
            .collect(),
    ))
}

struct UserRow {
    name: String,
    role: String,
    org: String,
}

struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    lang: Lang,
    nav: Nav,
    manage_users: bool,
    users: Vec<UserRow>,
    roles: Vec<Choice>,
    nodes: Vec<Choice>,
    halls: Vec<Choice>,
    tokens: Vec<(String, String)>,
    /// What was just created: shown once.
    created: String,
    secret: String,
    error: String,
}

fn require_admin_page(viewer: &Viewer) -> Result<(), ApiError> {
    if viewer.user.role.may(Action::ManageUsers) {
        Ok(())
    } else {
        viewer.require(Action::ManageDevices)
    }
}

async fn page(
    state: &AppState,
    viewer: &Viewer,
    lang: Lang,
    uri: &Uri,
    created: String,
    secret: String,
    error: String,
) -> Result<Html<String>, PageError> {
    require_admin_page(viewer)?;
    let tree = state.store.org_tree().await?;
    let mine = tree.subtree(&viewer.user.org);
    let name_of = |id: &OrgNodeId| {
        tree.get(id)
            .map_or_else(|| id.to_string(), |n| n.name.clone())
    };
    let manage_users = viewer.user.role.may(Action::ManageUsers);
    let users = if manage_users {
        state
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| viewer.scope.covers(&tree, &u.org))
            .map(|u| {
                let (zh, en) = u.role.name();
                UserRow {
                    name: u.name.to_string(),
                    role: lang.t(zh, en).into(),
                    org: name_of(&u.org),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let halls: Vec<HallId> = mine.iter().filter_map(|n| n.hall_id()).collect();
    let tokens = state
        .store
        .device_tokens(Some(&halls))
        .await?
        .into_iter()
        .map(|(h, at)| {
            let when = tree.zone_of_hall(&h).minute_text(at);
            (
                name_of(&OrgNodeId::parse(h.as_str()).expect("hall ids are node ids")),
                when,
            )
        })
        .collect();
    render(&AdminPage {
        nav: Nav::of(viewer, &tree, &lang, uri),
        manage_users,
        users,
        roles: Role::ALL
            .iter()
            .map(|r| {
                let (zh, en) = r.name();
                Choice {
                    value: r.as_str().into(),
                    label: lang.t(zh, en).into(),
                }
            })
            .collect(),
        nodes: mine
            .iter()
            .map(|n| Choice {
                value: n.id.to_string(),
                label: format!("{} ({})", n.name, n.id),
            })
            .collect(),
        halls: mine
            .iter()
            .filter(|n| n.hall_id().is_some())
            .map(|n| Choice {
                value: n.id.to_string(),
                label: format!("{} ({})", n.name, n.id),
            })
            .collect(),
        tokens,
        created,
        secret,
        error,
        lang,
    })
    .map_err(Into::into)
}

async fn admin_page(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
) -> Result<Html<String>, PageError> {
    page(
        &state,
        &viewer,
        lang,
        &uri,
        String::new(),
        String::new(),
        String::new(),
    )
    .await
}

#[derive(Deserialize)]
struct NewUser {
    csrf: Option<String>,
    name: String,
    role: String,
    org: String,
}

/// Adds a user in the admin's own subtree, with a one-time password shown once.
async fn add_user(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Form(f): Form<NewUser>,
) -> Result<Html<String>, PageError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    viewer.require(Action::ManageUsers)?;
    let tree = state.store.org_tree().await?;
    let parsed = (|| {
        let name = UserName::parse(f.name.trim()).map_err(|e| format!("name: {e}"))?;
        let role = Role::parse(&f.role).map_err(|e| format!("role: {e}"))?;
        let org = OrgNodeId::parse(f.org.trim()).map_err(|e| format!("org: {e}"))?;
        Ok::<_, String>((name, role, org))
    })();
    let (name, role, org) = match parsed {
        Ok(x) => x,
        Err(e) => return page(&state, &viewer, lang, &uri, String::new(), String::new(), e).await,
    };
    viewer.ensure_covers(&tree, &org)?;
    let password = one_time_password();
    let hash = crate::auth::hash_password_blocking(password.clone()).await?;
    let user = User {
        name: name.clone(),
        role,
        org,
        created_at: chrono::Utc::now().timestamp_millis(),
        staff: None,
    };
    match state.store.create_user(&user, &hash).await {
        Ok(()) => {
            let created = format!("{} {name}", lang.t("新用户", "New user"));
            page(
                &state,
                &viewer,
                lang,
                &uri,
                created,
                password,
                String::new(),
            )
            .await
        }
        Err(e) if e.kind() != peakend_store::ErrorKind::Internal => {
            page(
                &state,
                &viewer,
                lang,
                &uri,
                String::new(),
                String::new(),
                e.to_string(),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct NewToken {
    csrf: Option<String>,
    hall: String,
}

async fn add_token(
    State(state): State<AppState>,
    viewer: Viewer,
    lang: Lang,
    uri: Uri,
    Form(f): Form<NewToken>,
) -> Result<Html<String>, PageError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    viewer.require(Action::ManageDevices)?;
    let tree = state.store.org_tree().await?;
    let hall =
        HallId::parse(f.hall.trim()).map_err(|e| ApiError::bad_request(format!("hall: {e}")))?;
    let node = OrgNodeId::parse(hall.as_str()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    viewer.ensure_covers(&tree, &node)?;
    let token = state.store.create_device_token(&hall).await?;
    let created = format!(
        "{} {hall}",
        lang.t("设备令牌：营业厅", "Device token for hall")
    );
    page(&state, &viewer, lang, &uri, created, token, String::new()).await
}
