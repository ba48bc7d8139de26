//! Mattermost's Audits table: the audit trail's rows (written by [`crate::audit`]'s auditor).

use super::{Store, StoreResult};
use crate::audit::Entry;
use serde::Serialize;

/// Mattermost's Audit, as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditRow {
    pub id: String,
    pub create_at: i64,
    pub user_id: String,
    pub action: String,
    pub extra_info: String,
    pub ip_address: String,
    pub session_id: String,
}

impl Store {
    pub async fn insert_audit(&self, e: &Entry) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.execute(
            "INSERT INTO audits (id, create_at, user_id, action, extra_info, ip_address, session_id, node_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            &[&e.id, &e.create_at, &e.user_id, &e.action, &e.extra_info(), &e.ip_address, &e.session_id, &e.node_id],
        )
        .await?;
        Ok(())
    }

    /// A page of audits, newest first: every user's, or one user's.
    pub async fn audits(&self, user_id: Option<&str>, page: i64, per_page: i64) -> StoreResult<Vec<AuditRow>> {
        let offset = page.saturating_mul(per_page);
        let rows = self
            .read(async |c| {
                let rows = c
                    .query(
                        "SELECT id, create_at, user_id, action, extra_info, ip_address, session_id FROM audits
                         WHERE ($1::text IS NULL OR user_id = $1)
                         ORDER BY create_at DESC, id DESC LIMIT $2 OFFSET $3",
                        &[&user_id, &per_page, &offset],
                    )
                    .await?;
                Ok(rows)
            })
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditRow {
                id: r.get(0),
                create_at: r.get(1),
                user_id: r.get(2),
                action: r.get(3),
                extra_info: r.get(4),
                ip_address: r.get(5),
                session_id: r.get(6),
            })
            .collect())
    }
}
