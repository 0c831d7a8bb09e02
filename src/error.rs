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
    /// A bug in seowire (a panic caught at the boundary): never a silent wrong answer.
    Internal,
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
            Kind::Internal => "InternalError",
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
    /// Units the provider charged for a request that still failed (booked in the ledger).
    pub charged: Option<u64>,
}

impl Error {
    /// Every message passes the scrubber: it may quote a server, and a server may echo a key.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: crate::secrets::scrub(&message.into()),
            provider: None,
            status: None,
            code: None,
            retryable: false,
            retry_after: None,
            before_send: false,
            charged: None,
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

/// A caught panic as an error naming where it happened.
pub fn panicked(payload: Box<dyn std::any::Any + Send>, provider: Option<&'static str>, call: &str) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let mut e = Error::new(
        Kind::Internal,
        format!("internal error in seowire during {}{call} (a bug, please report it): {what}", provider.map(|p| format!("{p} ")).unwrap_or_default()),
    );
    e.provider = provider;
    e
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
