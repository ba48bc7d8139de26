//! Ids as Mattermost makes them: 16 random bytes in base32 with the alphabet
//! `ybndrfg8ejkmcpqxot1uwisza345h769`, no padding, 26 characters.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;

const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// The length of every id and session token.
pub const ID_LEN: usize = 26;

/// A fresh random id.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    encode(&bytes)
}

fn encode(bytes: &[u8; 16]) -> String {
    let mut out = String::with_capacity(ID_LEN);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Whether `s` has the shape of an id: 26 ASCII letters or digits, as Mattermost checks it (ids
/// made elsewhere need not use our alphabet).
pub fn is_valid_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(new_id())
            }
            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A node of the cluster.
    NodeId
);
id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A team.
    TeamId
);
id_type!(
    /// A channel.
    ChannelId
);
id_type!(
    /// A post.
    PostId
);
id_type!(
    /// An uploaded file.
    FileId
);
id_type!(
    /// A login session (not its token).
    SessionId
);
id_type!(
    /// A websocket connection, stable across resumes.
    ConnectionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_chars_of_the_alphabet() {
        for _ in 0..1000 {
            let id = new_id();
            assert!(is_valid_id(&id), "{id}");
        }
    }

    #[test]
    fn ids_differ() {
        let a: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(a.len(), 1000);
    }

    #[test]
    fn encoding_is_base32_with_the_alphabet() {
        assert_eq!(encode(&[0u8; 16]), "yyyyyyyyyyyyyyyyyyyyyyyyyy");
        let mut b = [0u8; 16];
        b[0] = 0b0000_1000; // first 5-bit group is 1, the second 0
        assert_eq!(&encode(&b)[..2], "by");
        assert!(!is_valid_id("short"));
        assert!(is_valid_id("YYYYYYYYYYYYYYYYYYYYYYYYY0"));
        assert!(!is_valid_id("yyyyyyyyyyyyyyyyyyyyyyyyy-"));
    }
}
