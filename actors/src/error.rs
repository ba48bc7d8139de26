//! The error an actor gets from the node's store (the database behind the small traits the actors
//! declare). The store keeps its own words; an actor only needs to know whether to retry.

/// A store call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now (pool exhausted, connection refused, timeout): worth
    /// retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The call itself failed.
    #[error("store error: {0}")]
    Failed(String),
}

/// What the store traits return.
pub type StoreResult<T> = Result<T, StoreError>;
