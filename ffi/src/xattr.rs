//! Extended attributes ("xattrs") of backed-up entries, through both ABIs.
//!
//! A plugin returns the attributes of the entry it just delivered from
//! [`FdPlugin::backup_xattrs`](crate::FdPlugin::backup_xattrs); the daemon stores them with
//! the file (stream 1988, "plugin xattr", in both daemons) and hands them back at restore, where
//! the SDK calls [`FdPlugin::restore_xattr`](crate::FdPlugin::restore_xattr) once per
//! attribute. What the daemons do, as read in their sources and checked where noted:
//!
//! # Bareos (interface 10; `core/src/filed/fd_plugins.cc`, `backup.cc`, `restore.cc`,
//! `core/src/findlib/xattr.cc`, 23.x–25.1)
//!
//! * Backup: `getXattr` is called only when the Include block's Options have
//!   `xattrsupport = yes` (bit `FO_XATTR` of the find flags; `PluginSave` copies all option bits
//!   into `sp->flags` before `startBackupFile`, so [`SavePacket::xattrs_requested`](crate::SavePacket::xattrs_requested) can tell),
//!   after IO_CLOSE of an entry whose open succeeded (also after a read error), never for
//!   unchanged (`FT_NOCHG`) entries. It is called again while it answers `bRC_More`; the packet
//!   of the final `bRC_OK` call **is** used too, and a packet with `name_length == 0` (or a
//!   NULL name) is simply no attribute — so "no xattrs" is one call answered `bRC_OK` with an
//!   empty packet. Any other answer drops all attributes of the entry and makes the core send
//!   an `M_ERROR` with whatever text its error buffer last held.
//! * The core takes ownership of `name` (always `free()`d) and of `value` (`free()`d only when
//!   `value_length > 0`): both come from `malloc`, an empty value is sent as NULL/0 (a non-NULL
//!   empty value would leak). A name must not be empty (it would be skipped at backup and is
//!   "illegal" at restore).
//! * Size: the core sums 12 + name + value bytes per attribute and gives up as soon as the sum
//!   reaches `MAX_XATTR_STREAM` (1 MiB): it then sends an `M_ERROR` "Xattr stream on file …
//!   exceeds maximum size" and saves the file without any attribute. The SDK applies the same
//!   rule before handing anything over and sends its own `M_ERROR` naming the file and the size
//!   instead (same outcome, clearer message).
//! * Restore: the recorded attributes are applied only to a file being extracted
//!   (`createFile` answered `CF_EXTRACT`), after its data: `setFileAttributes`, IO_CLOSE, then
//!   one `setXattr` per attribute (name NUL-terminated, value NULL when empty), then
//!   `endRestoreFile`. A non-OK answer stops the file's remaining attributes.
//!
//! # Bacula 9.6 (interface 14; `src/filed/fd_plugins.c`, `backup.c`, `bxattr.c`, `restore.c`)
//!
//! * Backup: `handleXACLdata` is called for **every** plugin file, `xattrsupport` or not (the
//!   plugin branch comes before the option check, and `sp->flags` is always 0, so
//!   [`SavePacket::xattrs_requested`](crate::SavePacket::xattrs_requested) is `Some(true)`): first with `BACL_BACKUP`, then with
//!   `BXATTR_BACKUP`, after IO_CLOSE (also after a read error; not after a failed open, not for
//!   unchanged entries). **Each kind is called in a loop while `count > 0`**, every non-empty
//!   answer becoming one stream record, so the SDK answers the first `BXATTR_BACKUP` with one
//!   record holding all attributes and the next with `count = 0`. A non-OK answer makes the
//!   core send an `M_WARNING` ("No OS XATTR configured." or a stale error text).
//! * The record travels as one network message: the storage daemon hangs up on messages over
//!   1,000,000 bytes, so the SDK refuses larger records (`M_ERROR` naming the file; saved
//!   without attributes).
//! * Restore: each stored record is kept aside until the file's data is complete, then —
//!   only for a file being extracted (`CF_EXTRACT`) — the order is `setFileAttributes`,
//!   IO_CLOSE, one `handleXACLdata(BXATTR_RESTORE)` per record (`count` = its length, the
//!   content a copy in the daemon's buffer), then `endRestoreFile`. A non-OK answer gives an
//!   `M_WARNING` with a stale error text.
//!
//! Observed on the Debian 9.6.7 daemons (a C probe plugin returning a 15-byte record, FileSet
//! `Options { signature = MD5 }` without xattrsupport; then this SDK through the test plugin
//! `tests/fault-plugin`, whose 305 attributes of 4 files came back byte-exact):
//!
//! ```text
//! backup:  pluginIO(OPEN) READ… CLOSE → handleXACLdata(BACL_BACKUP) → handleXACLdata(BXATTR_BACKUP)
//!          [record] → handleXACLdata(BXATTR_BACKUP) [count 0] → endBackupFile
//! restore: createFile → pluginIO(OPEN) WRITE… → setFileAttributes → pluginIO(CLOSE)
//!          → handleXACLdata(BXATTR_RESTORE, count = record length) → endRestoreFile
//! ```
//!
//! # The record format (Bacula)
//!
//! Bacula stores what the plugin gives it as opaque bytes, so the SDK defines its own record,
//! all integers big-endian:
//!
//! ```text
//! magic    8 bytes  "fdxattr" followed by the format version, 0x01
//! count    u32      number of attributes
//! count × { name_len u32, name bytes (≥ 1), value_len u32, value bytes }
//! ```
//!
//! Nothing may follow the last attribute. A record that does not parse is reported as an
//! `M_ERROR` naming the file and the problem; its attributes are not restored.

use std::collections::VecDeque;

/// One extended attribute of a backed-up entry, stored by the daemon with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xattr {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// Bareos `MAX_XATTR_STREAM`: the serialized attributes of one file must stay below this.
pub const BAREOS_MAX_XATTR_STREAM: usize = 1024 * 1024;

/// Bareos' per-attribute overhead in that sum (magic, name length, value length: 3 × u32).
const BAREOS_OVERHEAD: usize = 12;

/// Bacula 9.6: the largest message the storage daemon accepts; one record is one message.
pub const BACULA_MAX_RECORD: usize = 1_000_000;

/// Start of a record: "fdxattr" and the format version.
pub const RECORD_MAGIC: [u8; 8] = *b"fdxattr\x01";

/// Bytes of Bareos' serialized form of `xattrs` (what it compares with `MAX_XATTR_STREAM`).
pub fn bareos_stream_len(xattrs: &[Xattr]) -> usize {
    xattrs
        .iter()
        .map(|x| BAREOS_OVERHEAD + x.name.len() + x.value.len())
        .sum()
}

/// The Bacula record of `xattrs` (see the module docs).
pub fn encode_record(xattrs: &[Xattr]) -> Vec<u8> {
    let len = RECORD_MAGIC.len()
        + 4
        + xattrs
            .iter()
            .map(|x| 8 + x.name.len() + x.value.len())
            .sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&(xattrs.len() as u32).to_be_bytes());
    for x in xattrs {
        out.extend_from_slice(&(x.name.len() as u32).to_be_bytes());
        out.extend_from_slice(&x.name);
        out.extend_from_slice(&(x.value.len() as u32).to_be_bytes());
        out.extend_from_slice(&x.value);
    }
    out
}

/// Parses a Bacula record; the error says what is wrong with it.
pub fn decode_record(bytes: &[u8]) -> Result<Vec<Xattr>, String> {
    let Some(rest) = bytes.strip_prefix(&RECORD_MAGIC[..]) else {
        if bytes.starts_with(&RECORD_MAGIC[..7]) && bytes.len() >= 8 {
            return Err(format!(
                "the record has format version {}, this plugin reads version {}",
                bytes[7], RECORD_MAGIC[7]
            ));
        }
        return Err(format!(
            "the record ({} bytes) does not start with the xattr record magic",
            bytes.len()
        ));
    };
    let mut r = Reader { rest, at: 8 };
    let count = r.u32("the attribute count")?;
    let mut out = Vec::with_capacity((count as usize).min(r.rest.len() / 9 + 1));
    for i in 0..count {
        let name_len = r.u32("a name length")?;
        if name_len == 0 {
            return Err(format!(
                "attribute {i} has an empty name (at byte {})",
                r.at - 4
            ));
        }
        let name = r.bytes(name_len, "a name")?;
        let value_len = r.u32("a value length")?;
        let value = r.bytes(value_len, "a value")?;
        out.push(Xattr {
            name: name.to_vec(),
            value: value.to_vec(),
        });
    }
    if !r.rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the last of {count} attributes",
            r.rest.len()
        ));
    }
    Ok(out)
}

struct Reader<'a> {
    rest: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: u32, what: &str) -> Result<&'a [u8], String> {
        let n = n as usize;
        if self.rest.len() < n {
            return Err(format!(
                "truncated: {what} of {n} bytes at byte {} but only {} left",
                self.at,
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        self.at += n;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Why a plugin's attributes cannot be stored with the file by `flavour`'s daemon.
pub(crate) fn refuse(flavour: crate::Flavour, xattrs: &[Xattr]) -> Option<String> {
    if let Some(i) = xattrs.iter().position(|x| x.name.is_empty()) {
        return Some(format!("attribute {i} has an empty name"));
    }
    match flavour {
        crate::Flavour::Bareos => {
            let len = bareos_stream_len(xattrs);
            (len >= BAREOS_MAX_XATTR_STREAM).then(|| {
                format!(
                    "{} attributes take {len} bytes, the daemon's limit is {} \
                     (Bareos MAX_XATTR_STREAM)",
                    xattrs.len(),
                    BAREOS_MAX_XATTR_STREAM - 1
                )
            })
        }
        crate::Flavour::Bacula => {
            let len = encode_record(xattrs).len();
            (len > BACULA_MAX_RECORD).then(|| {
                format!(
                    "{} attributes take {len} bytes, the daemon's limit is {BACULA_MAX_RECORD} \
                     (Bacula's largest network message)",
                    xattrs.len()
                )
            })
        }
    }
}

/// Where the SDK is in handing the current entry's attributes to the daemon. Reset by every
/// `startBackupFile`.
#[derive(Debug, Default)]
pub(crate) enum Pending {
    /// The plugin was not asked yet for this entry.
    #[default]
    NotAsked,
    /// Bareos: attributes still to hand out, one per `getXattr` call.
    Queue(VecDeque<Xattr>),
    /// Bacula: the record of the last `BXATTR_BACKUP` answer (the daemon copies it after we
    /// return, so it lives until the next call).
    Record(Vec<u8>),
    /// All handed over for this entry.
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Flavour;

    fn x(name: &[u8], value: &[u8]) -> Xattr {
        Xattr {
            name: name.to_vec(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn records_round_trip() {
        let sets = [
            vec![],
            vec![x(b"user.a", b"")],
            vec![
                x(b"user.a", b"1"),
                x(b"\0\xff", b"\0\x01\xfe"),
                x(b"n", &[7; 300]),
            ],
        ];
        for set in sets {
            let rec = encode_record(&set);
            assert!(rec.starts_with(b"fdxattr\x01"));
            assert_eq!(decode_record(&rec).unwrap(), set);
        }
        assert_eq!(
            encode_record(&[x(b"ab", b"c")]),
            b"fdxattr\x01\0\0\0\x01\0\0\0\x02ab\0\0\0\x01c"
        );
    }

    #[test]
    fn garbage_is_named() {
        let good = encode_record(&[x(b"user.a", b"v"), x(b"user.b", b"")]);
        let err = |b: &[u8]| decode_record(b).unwrap_err();
        assert!(err(b"").contains("magic"));
        assert!(err(b"hello world").contains("magic"));
        assert!(err(b"fdxattr\x02\0\0\0\0").contains("version 2"));
        assert!(err(&good[..good.len() - 1]).contains("truncated"));
        assert!(err(&good[..10]).contains("truncated: the attribute count"));
        let mut extra = good.clone();
        extra.push(0);
        assert!(err(&extra).contains("1 unexpected bytes"));
        assert!(err(b"fdxattr\x01\0\0\0\x01\0\0\0\0\0\0\0\0").contains("empty name"));
        // A huge count with no data is an error, not a huge allocation.
        assert!(err(b"fdxattr\x01\xff\xff\xff\xff").contains("truncated"));
    }

    #[test]
    fn limits_follow_each_daemon() {
        // Bareos: 12 + name + value per attribute must stay below 1 MiB.
        let just = vec![x(b"n", &vec![0; BAREOS_MAX_XATTR_STREAM - 14])];
        assert_eq!(bareos_stream_len(&just), BAREOS_MAX_XATTR_STREAM - 1);
        assert!(refuse(Flavour::Bareos, &just).is_none());
        let over = vec![x(b"n", &vec![0; BAREOS_MAX_XATTR_STREAM - 13])];
        assert!(refuse(Flavour::Bareos, &over)
            .unwrap()
            .contains("MAX_XATTR_STREAM"));
        // Bacula: the whole record at most 1,000,000 bytes.
        let fits = vec![x(b"n", &vec![0; BACULA_MAX_RECORD - 21])];
        assert_eq!(encode_record(&fits).len(), BACULA_MAX_RECORD);
        assert!(refuse(Flavour::Bacula, &fits).is_none());
        let over = vec![x(b"n", &vec![0; BACULA_MAX_RECORD - 20])];
        assert!(refuse(Flavour::Bacula, &over).is_some());
        for f in [Flavour::Bareos, Flavour::Bacula] {
            assert!(refuse(f, &[x(b"a", b""), x(b"", b"v")])
                .unwrap()
                .contains("attribute 1 has an empty name"));
            assert!(refuse(f, &[]).is_none());
        }
    }
}
