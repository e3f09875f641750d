pub mod harness;
pub mod servers;
pub mod scenario;
