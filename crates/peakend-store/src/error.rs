use peakend_core::{GovernanceError, JourneyError, OrgError};

/// The class of a storage error; the HTTP layer maps it to a status and the CLI to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Invalid,
    Conflict,
    /// What was asked for existed and is no more (a used or expired invitation link).
    Gone,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Journey(#[from] JourneyError),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Org(Vec<OrgError>),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    /// Rows of an import that give a respondent given earlier in it (found by the
    /// store's unique index, for a reader that remembers none): `count` rows, the
    /// first few respondents named.
    #[error(
        "{count} rows give a respondent given earlier in the import: {}{}",
        respondents.join(", "),
        if *count > respondents.len() { ", …" } else { "" }
    )]
    Repeated {
        count: usize,
        respondents: Vec<String>,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("invalid database URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// From SQLite's event writer, which has a connection of its own.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database cannot do the work now (the writer stopped, a commit failed): the
    /// request was not applied and may be sent again.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Assignment(#[from] peakend_core::assignment::AssignmentError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // PostgreSQL's text cannot hold U+0000 (SQLite's can): a request that carries
        // it is the client's to change, never a retry of the same (a 503 would have a
        // device send it for ever). The server's own wording is not passed on.
        if let sqlx::Error::Database(d) = &e
            && matches!(d.code().as_deref(), Some("22021" | "22P05"))
        {
            return StoreError::Invalid(
                "a text holds the character U+0000 or bytes that are not UTF-8, which the \
                 database cannot store"
                    .into(),
            );
        }
        StoreError::Database(e)
    }
}

impl From<Box<GovernanceError>> for StoreError {
    fn from(e: Box<GovernanceError>) -> Self {
        StoreError::Journey(JourneyError::Governance(e))
    }
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Journey(_)
            | StoreError::Org(_)
            | StoreError::Url { .. }
            | StoreError::Assignment(_)
            | StoreError::Invalid(_)
            | StoreError::Repeated { .. } => ErrorKind::Invalid,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Gone(_) => ErrorKind::Gone,
            // A database error in a request is the storage's, never the client's: the
            // work was rolled back and a retry is safe (ingest is idempotent by id).
            StoreError::Connect { .. }
            | StoreError::Unavailable(_)
            | StoreError::Database(_)
            | StoreError::Sqlite(_) => ErrorKind::Unavailable,
            StoreError::Migrate(_) | StoreError::Corrupt(_) => ErrorKind::Internal,
        }
    }
}
