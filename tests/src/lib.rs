pub mod harness;
pub mod servers;
