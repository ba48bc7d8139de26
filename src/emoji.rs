//! Emoji names and images, as Mattermost checks them: a name is 1 to 64 of `a-z A-Z 0-9 - + _`,
//! and a custom emoji may not take a system emoji's name; an image is a PNG, GIF, JPEG or WebP
//! whose size is read from its header alone, so a hostile upload costs no decoding memory.

/// Mattermost's `EmojiNameMaxLength`.
pub const NAME_MAX_LEN: usize = 64;
/// Mattermost's `MaxEmojiFileSize`: 512 KiB.
pub const MAX_IMAGE_BYTES: usize = 1 << 19;
/// Mattermost's `MaxEmojiOriginalWidth` / `MaxEmojiOriginalHeight`.
pub const MAX_IMAGE_SIDE: u32 = 1028;

/// A character an emoji name may hold.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '+' || c == '_'
}

/// Whether `name` has the shape of an emoji name (system or custom).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= NAME_MAX_LEN && name.chars().all(is_name_char)
}

/// Whether `name` names a system emoji (the Unicode emoji's shortcodes, as gemoji spells them,
/// which are the names Mattermost's own table uses for them).
pub fn is_system_emoji(name: &str) -> bool {
    emojis::get_by_shortcode(name).is_some()
        // Skin-tone variants are named `<name>_skin_tone_<n>` in Mattermost.
        || name.rsplit_once("_skin_tone_").is_some_and(|(base, _)| emojis::get_by_shortcode(base).is_some())
}

/// What an image's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

/// The type and size of a PNG, GIF, JPEG or WebP image, from its first bytes; `None` for
/// anything else (or a truncated header).
pub fn sniff_image(b: &[u8]) -> Option<ImageInfo> {
    let info = |mime, width, height| Some(ImageInfo { mime, width, height });
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        let w = u32::from_be_bytes(b.get(16..20)?.try_into().ok()?);
        let h = u32::from_be_bytes(b.get(20..24)?.try_into().ok()?);
        return info("image/png", w, h);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return info("image/gif", le16(b, 6)?, le16(b, 8)?);
    }
    if b.starts_with(b"\xff\xd8") {
        return jpeg_size(b).and_then(|(w, h)| info("image/jpeg", w, h));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8X" => info("image/webp", le24(b, 24)? + 1, le24(b, 27)? + 1),
            b"VP8L" if b.get(20) == Some(&0x2f) => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                info("image/webp", (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
            }
            b"VP8 " if b.get(23..26) == Some(b"\x9d\x01\x2a") => {
                info("image/webp", le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff)
            }
            _ => None,
        };
    }
    None
}

/// A JPEG's size from its first start-of-frame segment.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        // Markers may be padded with 0xff bytes.
        while *b.get(i)? == 0xff && *b.get(i + 1)? == 0xff {
            i += 1;
        }
        if *b.get(i)? != 0xff {
            return None;
        }
        let marker = *b.get(i + 1)?;
        match marker {
            0xd8 | 0x01 | 0xd0..=0xd7 => i += 2,
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                return Some((be16(b, i + 7)?, be16(b, i + 5)?));
            }
            0xd9 | 0xda => return None,
            _ => i += 2 + be16(b, i + 2)? as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_mattermost_does() {
        assert!(is_valid_name("party_parrot"));
        assert!(is_valid_name("+1"));
        assert!(is_valid_name("a-b"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("with space"));
        assert!(!is_valid_name("colon:"));
        assert!(!is_valid_name(&"a".repeat(65)));
        assert!(is_valid_name(&"a".repeat(64)));
    }

    #[test]
    fn system_names_are_known() {
        for n in ["smile", "+1", "thumbsup", "tada", "white_check_mark", "thumbsup_skin_tone_3"] {
            assert!(is_system_emoji(n), "{n}");
        }
        assert!(!is_system_emoji("party_parrot_starling"));
    }

    #[test]
    fn image_headers_give_type_and_size() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&40u32.to_be_bytes());
        png.extend_from_slice(&30u32.to_be_bytes());
        assert_eq!(sniff_image(&png), Some(ImageInfo { mime: "image/png", width: 40, height: 30 }));
        let gif = b"GIF89a\x10\x00\x20\x00rest";
        assert_eq!(sniff_image(gif), Some(ImageInfo { mime: "image/gif", width: 16, height: 32 }));
        // SOI, an APP0 segment of 16 bytes, then SOF0 with height 5 and width 7.
        let mut jpg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16];
        jpg.extend_from_slice(&[0; 14]);
        jpg.extend_from_slice(&[0xff, 0xc0, 0, 17, 8, 0, 5, 0, 7]);
        assert_eq!(sniff_image(&jpg), Some(ImageInfo { mime: "image/jpeg", width: 7, height: 5 }));
        assert_eq!(sniff_image(b"hello, not an image"), None);
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n"), None, "truncated");
        assert_eq!(sniff_image(&[0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff]), None, "a segment past the end");
    }

    #[test]
    fn text_emoji_are_found_without_overlaps() {
        let found: Vec<String> = crate::store::emoji_names_in("hi :smile: and :a:b: : x: :party-parrot:").collect();
        assert_eq!(found, ["smile", "a", "party-parrot"]);
    }
}
