//! Session writes of the chat API: the device a session runs on, and its roles.

use super::{Store, StoreResult};

impl Store {
    /// Remember the device (push token) a session runs on.
    pub async fn set_session_device(&self, session_id: &str, device_id: &str) -> StoreResult<()> {
        let c = self.master.get().await?;
        c.execute("UPDATE sessions SET device_id = $2 WHERE id = $1", &[&session_id, &device_id]).await?;
        Ok(())
    }
}
