use pyo3::prelude::*;

use crate::emulator::{Config, Server};
use crate::runtime::runtime;

/// The emulator's server, running on seowire's runtime in this process.
#[pyclass(module = "seowire._seowire")]
pub struct EmulatorServer {
    server: Option<Server>,
    port: u16,
}

#[pymethods]
impl EmulatorServer {
    #[new]
    #[pyo3(signature = (port=0, config=None))]
    fn new(py: Python<'_>, port: u16, config: Option<String>) -> PyResult<Self> {
        let config: Config = match config {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("bad emulator config: {e}")))?,
            None => Config::default(),
        };
        let rt = runtime();
        let server = py
            .detach(|| rt.block_on(Server::start(port, config)))
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot start the emulator: {e}")))?;
        let port = server.addr.port();
        Ok(EmulatorServer { server: Some(server), port })
    }

    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
    }
}
