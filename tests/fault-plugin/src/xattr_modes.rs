//! The extended attributes the test plugin gives its files, per `xattrs=<mode>`: included by
//! the plugin and, with `#[path]`, by `tests/tests/xattr_sdk.rs`, which expects them back.

use fd_ffi::Xattr;

/// One attribute.
pub fn x(name: &[u8], value: &[u8]) -> Xattr {
    Xattr {
        name: name.to_vec(),
        value: value.to_vec(),
    }
}

/// The attributes file number `i` (1-based, name `/fault/f<i>`) gets in `mode`; the tests
/// expect the same back.
pub fn xattrs_for(mode: &str, i: u32) -> Vec<Xattr> {
    let name = format!("/fault/f{i}");
    let mixed = || match i % 4 {
        1 => Vec::new(),
        2 => vec![
            x(b"user.name", name.as_bytes()),
            x(b"user.empty", b""),
            x(b"user.bin", &(0..=255u8).collect::<Vec<_>>()),
        ],
        3 => (0..300u32)
            .map(|j| {
                x(
                    format!("user.k{j}").as_bytes(),
                    &vec![j as u8; (j % 7) as usize],
                )
            })
            .collect(),
        _ => vec![
            x(b"s3.content-type", b"text/plain; charset=utf-8"),
            x(b"bin\0\xff\x01name", b"\0"),
        ],
    };
    match mode {
        "mixed" => mixed(),
        "big" if i == 2 => vec![
            x(b"user.small", b"1"),
            x(b"user.big", &vec![b'b'; 1536 * 1024]),
        ],
        "big" => mixed(),
        "emptyname" if i == 2 => vec![x(b"user.a", b"1"), x(b"", b"2")],
        "emptyname" => mixed(),
        _ => Vec::new(),
    }
}
