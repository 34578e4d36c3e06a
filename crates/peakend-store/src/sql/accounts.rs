//! Users, sessions and the device-token listing: the SQL behind the dashboard's
//! accounts. A child module of `sql`, so it shares the pool without exposing it; also the
//! hall devices' tokens.

use peakend_core::{HallId, OrgNodeId, Role, UserName};

use super::*;
use crate::{Result, Session, SignIn, StoreError, User};

/// How long sign-in records (with the caller's address) are kept.
const SIGN_IN_RETENTION_MS: i64 = 90 * 86_400_000;

type UserRow = (String, String, String, i64, Option<String>);

fn user_of(row: UserRow) -> Result<User> {
    let (name, role, org, created_at, staff) = row;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("user `{name}` {what}: {e}"))
    };
    Ok(User {
        role: Role::parse(&role).map_err(|e| corrupt("role", &e))?,
        org: OrgNodeId::parse(org.as_str()).map_err(|e| corrupt("org node", &e))?,
        name: UserName::parse(name.as_str()).map_err(|e| corrupt("name", &e))?,
        created_at,
        staff,
    })
}

impl SqlStore {
    pub(super) async fn accounts_record_sign_in(&self, s: &SignIn) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            sqlx::query("DELETE FROM sign_in WHERE at < $1")
                .bind(s.at - SIGN_IN_RETENTION_MS)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO sign_in (at, user_name, address, outcome) VALUES ($1, $2, $3, $4)")
                .bind(s.at)
                .bind(&s.name)
                .bind(s.address.as_deref())
                .bind(&s.outcome)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub(super) async fn accounts_sign_ins(&self, limit: i64) -> Result<Vec<SignIn>> {
        let rows: Vec<(i64, String, Option<String>, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT at, user_name, address, outcome FROM sign_in ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(at, name, address, outcome)| SignIn {
                at,
                name,
                address,
                outcome,
            })
            .collect())
    }

    pub(super) async fn accounts_device_tokens(
        &self,
        halls: Option<&[HallId]>,
    ) -> Result<Vec<(HallId, i64)>> {
        let rows: Vec<(String, i64)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT hall_id, created_at FROM device_token ORDER BY hall_id, created_at")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .filter(|(h, _)| halls.is_none_or(|hs| hs.iter().any(|x| x.as_str() == h)))
            .map(|(h, at)| {
                HallId::parse(h.as_str())
                    .map(|h| (h, at))
                    .map_err(|e| StoreError::Corrupt(format!("device token hall `{h}`: {e}")))
            })
            .collect()
    }

    pub(super) async fn accounts_create_user(&self, user: &User, hash: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            let node: Option<(String,)> = sqlx::query_as("SELECT id FROM org_node WHERE id = $1")
                .bind(user.org.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if node.is_none() {
                return Err(StoreError::NotFound(format!("org node `{}` not found", user.org)));
            }
            let taken: Option<(String,)> = sqlx::query_as("SELECT name FROM app_user WHERE name = $1")
                .bind(user.name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(format!("user `{}` already exists", user.name)));
            }
            sqlx::query(
                "INSERT INTO app_user (name, role, org_id, password_hash, created_at, staff) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(user.name.as_str()).bind(user.role.as_str()).bind(user.org.as_str())
            .bind(hash).bind(user.created_at).bind(user.staff.as_deref())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub(super) async fn accounts_set_password(&self, name: &UserName, hash: &str) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(write_begin(&self.pool)).await?;
            let done = sqlx::query("UPDATE app_user SET password_hash = $1 WHERE name = $2")
                .bind(hash).bind(name.as_str())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("user `{name}` not found")));
            }
            // A new password ends every session opened with the old one.
            sqlx::query("DELETE FROM user_session WHERE user_name = $1")
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub(super) async fn accounts_credentials(
        &self,
        name: &UserName,
    ) -> Result<Option<(User, String)>> {
        let row: Option<(String, String, String, i64, Option<String>, String)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT name, role, org_id, created_at, staff, password_hash FROM app_user WHERE name = $1",
            )
            .bind(name.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.map(|(n, r, o, c, st, h)| Ok((user_of((n, r, o, c, st))?, h)))
            .transpose()
    }

    pub(super) async fn accounts_users(&self) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT name, role, org_id, created_at, staff FROM app_user ORDER BY org_id, name")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(user_of).collect()
    }

    pub(super) async fn accounts_create_session(
        &self,
        user: &UserName,
        expires_at: i64,
    ) -> Result<(String, String)> {
        let token = random_hex();
        let csrf = random_hex();
        let now = now_ms();
        on_pool!(self, pool => {
            // Expired sessions are swept here rather than by a timer: logins are rare.
            sqlx::query("DELETE FROM user_session WHERE expires_at < $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO user_session (token_sha256, user_name, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(sha256_hex(&token)).bind(user.as_str()).bind(&csrf).bind(now).bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok((token, csrf))
    }

    pub(super) async fn accounts_session(&self, token: &str, now: i64) -> Result<Option<Session>> {
        type SessionRow = (String, String, String, i64, Option<String>, String, i64);
        let row: Option<SessionRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT u.name, u.role, u.org_id, u.created_at, u.staff, s.csrf, s.expires_at
                 FROM user_session s JOIN app_user u ON u.name = s.user_name
                 WHERE s.token_sha256 = $1 AND s.expires_at > $2",
            )
            .bind(sha256_hex(token.trim())).bind(now)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(n, r, o, c, st, csrf, expires_at)| {
            Ok(Session {
                user: user_of((n, r, o, c, st))?,
                csrf,
                expires_at,
            })
        })
        .transpose()
    }

    pub(super) async fn accounts_end_session(&self, token: &str) -> Result<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM user_session WHERE token_sha256 = $1")
                .bind(sha256_hex(token.trim()))
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

pub(super) async fn create_device_token(store: &SqlStore, hall: &HallId) -> Result<String> {
    let token = random_hex();
    let hash = sha256_hex(&token);
    on_pool!(store, pool => {
        let mut tx = pool.begin_with(write_begin(&store.pool)).await?;
        let is_hall: Option<(String,)> =
            sqlx::query_as("SELECT id FROM org_node WHERE id = $1 AND level = 'hall'")
                .bind(hall.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if is_hall.is_none() {
            return Err(StoreError::NotFound(format!("hall `{hall}` not found")));
        }
        sqlx::query("INSERT INTO device_token (token_sha256, hall_id, created_at) VALUES ($1, $2, $3)")
            .bind(&hash).bind(hall.as_str()).bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(token)
}

pub(super) async fn device_token_hall(store: &SqlStore, token: &str) -> Result<Option<HallId>> {
    let hash = sha256_hex(token.trim());
    let row: Option<(String,)> = on_pool!(store, pool => {
        sqlx::query_as("SELECT hall_id FROM device_token WHERE token_sha256 = $1")
            .bind(&hash)
            .fetch_optional(pool)
            .await?
    });
    row.map(|(h,)| {
        HallId::parse(h.as_str())
            .map_err(|e| StoreError::Corrupt(format!("device token hall `{h}`: {e}")))
    })
    .transpose()
}
