//! The one error type of the core. Bindings map `Kind` onto `seowire.exceptions`.
//! Messages are built from redacted data only: no key, token or secret ever enters one.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Authentication,
    InvalidRequest,
    BudgetExceeded,
    UnitsExhausted,
    RateLimited,
    Provider,
    Transport,
    ResponseFormat,
    Ledger,
    /// The shared ledger cannot be reached: fail fast, never spend uncounted units.
    LedgerUnavailable,
    NotSupported,
}

impl Kind {
    /// Class name in `seowire.exceptions`.
    pub fn class_name(self) -> &'static str {
        match self {
            Kind::Authentication => "AuthenticationError",
            Kind::InvalidRequest => "InvalidRequest",
            Kind::BudgetExceeded => "BudgetExceeded",
            Kind::UnitsExhausted => "UnitsExhausted",
            Kind::RateLimited => "RateLimited",
            Kind::Provider => "ProviderError",
            Kind::Transport => "TransportError",
            Kind::ResponseFormat => "ResponseFormatError",
            Kind::Ledger => "LedgerError",
            Kind::LedgerUnavailable => "LedgerUnavailable",
            Kind::NotSupported => "NotSupported",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub provider: Option<&'static str>,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub retryable: bool,
    /// Server-directed wait (`Retry-After`), if any.
    pub retry_after: Option<Duration>,
    /// True when the failure happened before any byte of the request was sent.
    pub before_send: bool,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            provider: None,
            status: None,
            code: None,
            retryable: false,
            retry_after: None,
            before_send: false,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidRequest, message)
    }
    pub fn ledger(message: impl Into<String>) -> Self {
        Self::new(Kind::Ledger, message)
    }
    pub fn format(message: impl Into<String>) -> Self {
        Self::new(Kind::ResponseFormat, message)
    }
    pub fn provider(mut self, p: &'static str) -> Self {
        self.provider = Some(p);
        self
    }
    pub fn status(mut self, s: u16) -> Self {
        self.status = Some(s);
        self
    }
    pub fn code(mut self, c: impl Into<String>) -> Self {
        self.code = Some(c.into());
        self
    }
    pub fn retryable(mut self, r: bool) -> Self {
        self.retryable = r;
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::ledger(format!("ledger database error: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;
