//! Empty: this crate only holds the loom test `../tests/loom_handoff.rs` (run it with
//! `make loom`), which includes `../src/engine/handoff.rs` as it is.
