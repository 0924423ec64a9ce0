//! The parts of the `vigil` command that other tools reuse: tables read from files.

pub mod tables;
