//! Bindings of the Bareos (interface 10) and Bacula 9.6 (interface 14) file-daemon plugin ABIs,
//! and a safe SDK on top of them.
//!
//! A plugin implements [`FdPlugin`] with flavour-neutral Rust types; the two shims
//! ([`bareos`], [`bacula`]) own the C tables, translate packets and events, and keep every
//! callback behind one boundary ([`boundary`]): no panic unwinds into the daemon, core
//! functions are only called on the thread the daemon called in on, and `log` records reach
//! the daemon's debug output.
//!
//! Extended attributes: [`FdPlugin::backup_xattrs`] / [`FdPlugin::restore_xattr`] carry
//! per-file metadata through Bareos' `getXattr`/`setXattr` and Bacula's `handleXACLdata`; when
//! each daemon calls them, their limits, the order at restore (observed on the real Bacula
//! daemons) and the record format are in [`xattr`].
#![deny(unsafe_op_in_unsafe_fn)]

pub mod sys;

pub mod bacula;
pub mod bareos;
pub mod block_pool;
mod boundary;
mod cancel;
mod host;
mod job;
mod logger;
mod packets;
mod plugin;
mod shim;
pub mod xattr;

pub use cancel::CancelToken;
pub use host::{Flavour, Host};
pub use packets::{FileAttributes, FileKind, IoFailure, IoRequest, RestoreFile, SavePacket};
pub use plugin::{
    CreateStatus, Event, FdPlugin, MessageLevel, NextFile, PluginError, PluginInfo, PluginResult,
};
pub use xattr::Xattr;
