//! File infos: the rows that describe stored files. The bytes live in the file store.

use super::{Store, StoreResult};
use serde::Serialize;
use tokio_postgres::Row;

#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub id: String,
    #[serde(rename = "user_id")]
    pub creator_id: String,
    pub post_id: String,
    pub channel_id: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    /// Where the bytes are in the file store; never shown to clients.
    #[serde(skip)]
    pub path: String,
    pub name: String,
    pub extension: String,
    pub size: i64,
    pub mime_type: String,
    pub width: i32,
    pub height: i32,
    pub has_preview_image: bool,
    /// Where the thumbnail and preview are in the file store (empty: none); never shown.
    #[serde(skip)]
    pub thumbnail_path: String,
    #[serde(skip)]
    pub preview_path: String,
    /// A tiny JPEG of an image, base64 in JSON as Mattermost's `[]byte`; `null` for other files.
    #[serde(serialize_with = "base64_or_null")]
    pub mini_preview: Option<Vec<u8>>,
    pub remote_id: String,
    pub archived: bool,
}

pub(super) const FILE_COLS: &str = "id, creator_id, post_id, channel_id, create_at, update_at, delete_at, path, name, \
    extension, size, mime_type, width, height, has_preview_image, thumbnail_path, preview_path, mini_preview";

fn base64_or_null<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    match v {
        Some(bytes) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes)),
        None => s.serialize_none(),
    }
}

impl FileInfo {
    pub(super) fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            creator_id: r.get("creator_id"),
            post_id: r.get("post_id"),
            channel_id: r.get("channel_id"),
            create_at: r.get("create_at"),
            update_at: r.get("update_at"),
            delete_at: r.get("delete_at"),
            path: r.get("path"),
            name: r.get("name"),
            extension: r.get("extension"),
            size: r.get("size"),
            mime_type: r.get("mime_type"),
            width: r.get("width"),
            height: r.get("height"),
            has_preview_image: r.get("has_preview_image"),
            thumbnail_path: r.get("thumbnail_path"),
            preview_path: r.get("preview_path"),
            mini_preview: r.get("mini_preview"),
            remote_id: String::new(),
            archived: false,
        }
    }
}

impl Store {
    pub async fn file_info(&self, id: &str) -> StoreResult<Option<FileInfo>> {
        self.read(async |c| {
            let row = c.query_opt(&format!("SELECT {FILE_COLS} FROM fileinfo WHERE id = $1"), &[&id]).await?;
            Ok(row.as_ref().map(FileInfo::from_row))
        })
        .await
    }

    pub async fn file_infos_for_post(&self, post_id: &str) -> StoreResult<Vec<FileInfo>> {
        self.read(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {FILE_COLS} FROM fileinfo WHERE post_id = $1 AND delete_at = 0 ORDER BY create_at, id"
                    ),
                    &[&post_id],
                )
                .await?;
            Ok(rows.iter().map(FileInfo::from_row).collect())
        })
        .await
    }
}

impl Store {
    /// Insert the rows of one upload together: all or none.
    pub async fn insert_file_infos(&self, infos: &[FileInfo]) -> StoreResult<()> {
        let mut c = self.master.get().await?;
        let tx = c.transaction().await?;
        for f in infos {
            tx.execute(
                &format!("INSERT INTO fileinfo ({FILE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"),
                &[
                    &f.id,
                    &f.creator_id,
                    &f.post_id,
                    &f.channel_id,
                    &f.create_at,
                    &f.update_at,
                    &f.delete_at,
                    &f.path,
                    &f.name,
                    &f.extension,
                    &f.size,
                    &f.mime_type,
                    &f.width,
                    &f.height,
                    &f.has_preview_image,
                    &f.thumbnail_path,
                    &f.preview_path,
                    &f.mini_preview,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
