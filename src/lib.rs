//! seowire: one client for the SEMrush, Ahrefs and Moz APIs, with a shared model of API units.
//!
//! Layers: `providers` speak HTTP and units; `ledger` knows costs; `http` is the one call path
//! (reserve, limits, retries, commit); `py` binds it all to Python; `emulator` serves the
//! providers' wire formats on loopback.

pub mod catalog;
pub mod emulator;
pub mod frame;
pub mod error;
pub mod http;
pub mod ledger;
pub mod limits;
pub mod providers;
pub mod py;
pub mod retry;
pub mod runtime;
pub mod secrets;
pub mod tape;
pub mod units;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _seowire(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records to Python `logging` (logger "seowire"), gated and scrubbed.
    py::gate::install_logger(m.py());
    m.add_function(wrap_pyfunction!(py::gate::_close_gate, m)?)?;
    m.add_function(wrap_pyfunction!(py::_selftest_panic, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", if cfg!(debug_assertions) { "debug" } else { "release" })?;
    m.add_class::<py::retry::RetryPolicy>()?;
    m.add_class::<py::ledger::Ledger>()?;
    m.add_class::<py::semrush::SemrushCore>()?;
    m.add_class::<py::semrush_v4::SemrushV4Core>()?;
    m.add_class::<py::semrush_trends::SemrushTrendsCore>()?;
    m.add_class::<py::semrush_projects::SemrushProjectsCore>()?;
    m.add_class::<py::semrush::PageStream>()?;
    m.add_class::<py::moz::MozCore>()?;
    m.add_class::<py::mozapi::MozApiCore>()?;
    m.add_class::<py::ahrefs::AhrefsCore>()?;
    m.add_class::<py::page::JsonPages>()?;
    m.add_class::<py::bulk::BulkStream>()?;
    m.add_class::<py::scim::ScimCore>()?;
    m.add_class::<py::emulator::EmulatorServer>()?;
    m.add_function(wrap_pyfunction!(py::moz::moz_sign_v1, m)?)?;
    m.add_function(wrap_pyfunction!(py::json::loads, m)?)?;
    m.add_function(wrap_pyfunction!(py::catalog::catalog, m)?)?;
    m.add_function(wrap_pyfunction!(py::ahrefs::oauth_pkce, m)?)?;
    m.add_function(wrap_pyfunction!(py::ahrefs::oauth_challenge, m)?)?;
    m.add_function(wrap_pyfunction!(py::ahrefs::oauth_state, m)?)?;
    m.add_function(wrap_pyfunction!(py::ahrefs::oauth_authorize_query, m)?)?;
    m.add_function(wrap_pyfunction!(py::ahrefs::oauth_exchange, m)?)?;
    m.add_function(wrap_pyfunction!(py::ahrefs::oauth_exchange_async, m)?)?;
    m.add_function(wrap_pyfunction!(py::semrush::parse_semrush_csv, m)?)?;
    m.add_function(wrap_pyfunction!(py::frame::rows_table, m)?)?;
    m.add_function(wrap_pyfunction!(py::frame::json_table, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_started, m)?)?;
    Ok(())
}

/// Whether this process has started seowire's runtime (threads) yet.
#[pyfunction]
fn runtime_started() -> bool {
    runtime::runtime_started()
}
