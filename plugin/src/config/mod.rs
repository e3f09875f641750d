//! What a job is asked to do: the plugin string's options, and how a key becomes a file name.

pub mod naming;
pub mod options;
pub mod size;
