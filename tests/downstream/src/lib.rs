//! Nothing: the tests and the example are the point of this crate.
