//! `peakend user`: dashboard accounts. A new user gets a one-time password, printed
//! alone on stdout so a script can hand it over; only its argon2 hash is stored.

use anyhow::Context;
use clap::Subcommand;
use peakend_core::{OrgNodeId, Role, UserName};
use peakend_store::{Store, User};

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
        UserCmd::Add { name, role, org } => {
            let (password, hash) = new_password()?;
            let user = User {
                name: name.clone(),
                role,
                org,
                created_at: chrono::Utc::now().timestamp_millis(),
            };
            store
                .create_user(&user, &hash)
                .await
                .with_context(|| format!("adding user `{name}`"))?;
            outln!("{password}");
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
                        .map(|u| vec![u.name.to_string(), u.role.to_string(), u.org.to_string()])
                        .collect();
                    table::print(&["name", "role", "org"], &rows);
                }
            }
        }
    }
    Ok(())
}
