//! `peakend user`: dashboard accounts. A new user gets a one-time password, printed
//! alone on stdout so a script can hand it over; only its argon2 hash is stored.

use anyhow::Context;
use clap::Subcommand;
use peakend_core::{OrgNodeId, Role, UserName};
use peakend_store::{CaseStore, Store, User};

use crate::{Format, table};

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user; prints only their one-time password
    Add {
        #[arg(long)]
        name: UserName,
        /// frontline, hall_manager, regional_manager, director or admin
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The org node they see (with everything below it)
        #[arg(long)]
        org: OrgNodeId,
        /// The staff code they serve under at a counter (the device events' `staff`):
        /// cases about visits they served are theirs
        #[arg(long)]
        staff: Option<String>,
    },
    /// Set or clear (`--staff ''`) a user's staff code
    SetStaff {
        #[arg(long)]
        name: UserName,
        #[arg(long)]
        staff: String,
    },
    /// Give a user a new one-time password (ends their sessions); prints only the password
    ResetPassword {
        #[arg(long)]
        name: UserName,
    },
    /// List users
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).map_err(|e| e.to_string())
}

/// A staff code as devices send it: trimmed, at most 64 characters; empty is none.
fn staff_code(s: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if s.chars().count() > 64 || s.chars().any(char::is_control) {
        anyhow::bail!("--staff: at most 64 characters, no control characters");
    }
    Ok(Some(s.to_owned()))
}

/// Hashes a fresh one-time password; returns (password, hash).
pub fn new_password() -> anyhow::Result<(String, String)> {
    let password = peakend_http::auth::one_time_password();
    let hash = peakend_http::auth::hash_password(&password)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    Ok((password, hash))
}

pub async fn run(db: &str, cmd: UserCmd) -> anyhow::Result<()> {
    let store = crate::init(db).await?;
    match cmd {
        UserCmd::Add {
            name,
            role,
            org,
            staff,
        } => {
            let (password, hash) = new_password()?;
            let user = User {
                name: name.clone(),
                role,
                org,
                created_at: chrono::Utc::now().timestamp_millis(),
                staff: staff_code(staff.as_deref())?,
            };
            store
                .create_user(&user, &hash)
                .await
                .with_context(|| format!("adding user `{name}`"))?;
            outln!("{password}");
        }
        UserCmd::SetStaff { name, staff } => {
            let staff = staff_code(Some(&staff))?;
            store
                .set_staff(&name, staff.as_deref())
                .await
                .with_context(|| format!("setting the staff code of `{name}`"))?;
        }
        UserCmd::ResetPassword { name } => {
            let (password, hash) = new_password()?;
            store
                .set_password(&name, &hash)
                .await
                .with_context(|| format!("resetting the password of `{name}`"))?;
            outln!("{password}");
        }
        UserCmd::List { format } => {
            let users = store.users().await?;
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&users)?),
                _ => {
                    let rows: Vec<Vec<String>> = users
                        .iter()
                        .map(|u| {
                            vec![
                                u.name.to_string(),
                                u.role.to_string(),
                                u.org.to_string(),
                                u.staff.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    table::print(&["name", "role", "org", "staff"], &rows);
                }
            }
        }
    }
    Ok(())
}
