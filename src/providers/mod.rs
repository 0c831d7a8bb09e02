//! One module per provider. Each speaks HTTP and units, never Python.
pub mod csv;
pub mod semrush;
