//! Pictures, as Mattermost makes them: profile images and team icons (filled to 128x128, PNG),
//! the generated initial avatar, and the thumbnail, preview and mini preview of uploaded image
//! files (JPEG). Every decode is checked from the image's header first (type and size, see
//! [`crate::emoji::sniff_image`]) and then runs under the decoder's own limits, so a hostile image
//! costs at most the memory its allowed size takes. These are CPU work: callers run them on the
//! blocking pool under [`decoding`]'s limit.

use crate::emoji::{sniff_image, ImageInfo};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Rgb, RgbImage, Rgba, RgbaImage};
use std::io::Cursor;

/// Mattermost's profile image and team icon side.
pub const PROFILE_SIDE: u32 = 128;
/// Mattermost's thumbnail box: images are scaled down to fit in it.
pub const THUMBNAIL_WIDTH: u32 = 120;
pub const THUMBNAIL_HEIGHT: u32 = 100;
/// Mattermost's preview width: wider images are scaled down to it.
pub const PREVIEW_WIDTH: u32 = 1920;
/// The mini preview (FileInfo.mini_preview) is a 16x16 JPEG, a few hundred bytes, that clients
/// blur while the real image loads.
pub const MINI_PREVIEW_SIDE: u32 = 16;
const MINI_PREVIEW_QUALITY: u8 = 30;
const JPEG_QUALITY: u8 = 90;
/// What a decoder may allocate beyond the decoded pixels (palettes, rows, metadata).
const DECODER_SLACK_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PictureError {
    #[error("not a PNG, JPEG, GIF or WebP image")]
    NotAnImage,
    #[error("{width}x{height} pixels is over the limit of {max} pixels")]
    TooLarge { width: u32, height: u32, max: u64 },
    #[error("cannot decode the image: {0}")]
    Decode(String),
    #[error("cannot encode the image: {0}")]
    Encode(String),
}

/// The type and size an image's header claims, refused when it is not an image, or when
/// `width * height` is over `max_pixels` (FileSettings.MaxImageResolution).
pub fn check(bytes: &[u8], max_pixels: u64) -> Result<ImageInfo, PictureError> {
    let info = sniff_image(bytes).ok_or(PictureError::NotAnImage)?;
    if info.width == 0 || info.height == 0 {
        return Err(PictureError::NotAnImage);
    }
    if u64::from(info.width) * u64::from(info.height) > max_pixels {
        return Err(PictureError::TooLarge { width: info.width, height: info.height, max: max_pixels });
    }
    Ok(info)
}

/// Decode an image [`check`] accepted, upright (a JPEG's EXIF orientation applied), with the
/// decoder held to the header's size and the memory those pixels take.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, PictureError> {
    let info = check(bytes, max_pixels)?;
    let format = match info.mime {
        "image/png" => ImageFormat::Png,
        "image/gif" => ImageFormat::Gif,
        "image/jpeg" => ImageFormat::Jpeg,
        _ => ImageFormat::WebP,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(info.width.max(info.height));
    limits.max_image_height = Some(info.width.max(info.height));
    // At most 8 bytes a pixel (16-bit RGBA) for the pixels the header claims (at most max_pixels).
    let pixels = u64::from(info.width) * u64::from(info.height);
    limits.max_alloc = Some(pixels.saturating_mul(8).saturating_add(DECODER_SLACK_BYTES));
    reader.limits(limits);
    let decode_err = |e: image::ImageError| PictureError::Decode(e.to_string());
    let mut decoder = reader.into_decoder().map_err(decode_err)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode_err)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// A profile image or team icon: the image filled to [`PROFILE_SIDE`] square (scaled to cover it
/// and cropped at the centre, as Mattermost does), as PNG.
pub fn profile_png(bytes: &[u8], max_pixels: u64) -> Result<Vec<u8>, PictureError> {
    let img = decode(bytes, max_pixels)?;
    let filled = img.resize_to_fill(PROFILE_SIDE, PROFILE_SIDE, FilterType::Lanczos3);
    png(&filled)
}

/// Mattermost's custom emoji box: larger emoji are scaled down to fit in it.
pub const EMOJI_SIDE: u32 = 128;

/// Whether a custom emoji's image is stored as uploaded (no decoding needed).
pub fn emoji_kept_as_is(info: &ImageInfo) -> bool {
    (info.width <= EMOJI_SIDE && info.height <= EMOJI_SIDE) || info.mime == "image/gif"
}

/// A custom emoji's image as stored: unchanged when it fits in [`EMOJI_SIDE`] square or is a GIF
/// (kept whole, so an animated emoji stays animated; GIFs are bounded by the upload limit),
/// otherwise scaled down to fit, keeping its proportions, as PNG.
pub fn emoji_image(bytes: Vec<u8>, max_pixels: u64) -> Result<Vec<u8>, PictureError> {
    let info = check(&bytes, max_pixels)?;
    if emoji_kept_as_is(&info) {
        return Ok(bytes);
    }
    let img = decode(&bytes, max_pixels)?;
    png(&img.resize(EMOJI_SIDE, EMOJI_SIDE, FilterType::Lanczos3))
}

/// What an uploaded image file gets: its upright size, and the JPEGs stored beside it.
#[derive(Debug)]
pub struct FilePictures {
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
    pub preview: Vec<u8>,
    pub mini_preview: Vec<u8>,
}

/// The thumbnail (fit in [`THUMBNAIL_WIDTH`]x[`THUMBNAIL_HEIGHT`]), preview (at most
/// [`PREVIEW_WIDTH`] wide) and mini preview of an image file. Smaller images are not enlarged.
pub fn file_pictures(bytes: &[u8], max_pixels: u64) -> Result<FilePictures, PictureError> {
    let img = flatten(decode(bytes, max_pixels)?);
    let (width, height) = (img.width(), img.height());
    let thumb = if width > THUMBNAIL_WIDTH || height > THUMBNAIL_HEIGHT {
        img.resize(THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT, FilterType::Lanczos3)
    } else {
        img.clone()
    };
    let preview = if width > PREVIEW_WIDTH {
        let h = (u64::from(height) * u64::from(PREVIEW_WIDTH) / u64::from(width)).max(1) as u32;
        img.resize_exact(PREVIEW_WIDTH, h, FilterType::Lanczos3)
    } else {
        img.clone()
    };
    let mini = img.resize_to_fill(MINI_PREVIEW_SIDE, MINI_PREVIEW_SIDE, FilterType::Triangle);
    Ok(FilePictures {
        width,
        height,
        thumbnail: jpeg(&thumb, JPEG_QUALITY)?,
        preview: jpeg(&preview, JPEG_QUALITY)?,
        mini_preview: jpeg(&mini, MINI_PREVIEW_QUALITY)?,
    })
}

/// The image as RGB, transparent parts over white (JPEG has no alpha).
fn flatten(img: DynamicImage) -> DynamicImage {
    if !img.color().has_alpha() {
        return DynamicImage::ImageRgb8(img.to_rgb8());
    }
    let rgba = img.to_rgba8();
    let rgb = RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let Rgba([r, g, b, a]) = *rgba.get_pixel(x, y);
        let over_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        Rgb([over_white(r), over_white(g), over_white(b)])
    });
    DynamicImage::ImageRgb8(rgb)
}

fn jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, PictureError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&DynamicImage::ImageRgb8(img.to_rgb8()))
        .map_err(|e| PictureError::Encode(e.to_string()))?;
    Ok(out)
}

fn png(img: &DynamicImage) -> Result<Vec<u8>, PictureError> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).map_err(|e| PictureError::Encode(e.to_string()))?;
    Ok(out.into_inner())
}

/// Background colours of generated avatars; white letters read on each.
const AVATAR_COLOURS: &[[u8; 3]] = &[
    [0x1e, 0x88, 0xe5],
    [0x43, 0xa0, 0x47],
    [0xe5, 0x39, 0x35],
    [0x8e, 0x24, 0xaa],
    [0xfb, 0x8c, 0x00],
    [0x00, 0x89, 0x7b],
    [0x5e, 0x35, 0xb1],
    [0x6d, 0x4c, 0x41],
    [0xd8, 0x1b, 0x60],
    [0x39, 0x49, 0xab],
];

/// 5x7 glyphs, one row a byte (bit 4 is the left column): `A`-`Z`, then `0`-`9`, then `?`.
const GLYPHS: [[u8; 7]; 37] = [
    [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
    [0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e],
    [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
    [0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e],
    [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
    [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
    [0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f],
    [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
    [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
    [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c],
    [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
    [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f],
    [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
    [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
    [0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
    [0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10],
    [0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d],
    [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
    [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
    [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
    [0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04],
    [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a],
    [0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11],
    [0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04],
    [0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f],
    [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
    [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
    [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
    [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
    [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
    [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
    [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
    [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
    [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
    [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
    [0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
];

fn glyph(c: char) -> &'static [u8; 7] {
    let c = c.to_ascii_uppercase();
    let i = match c {
        'A'..='Z' => c as usize - 'A' as usize,
        '0'..='9' => 26 + c as usize - '0' as usize,
        _ => 36,
    };
    &GLYPHS[i]
}

/// The avatar of a user without a picture, as Mattermost draws one: the first letter of the
/// username, white, on a colour picked by the user id, [`PROFILE_SIDE`] square, PNG.
pub fn initial_avatar(user_id: &str, username: &str) -> Result<Vec<u8>, PictureError> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(user_id.as_bytes());
    let [r, g, b] = AVATAR_COLOURS[usize::from(digest[0]) % AVATAR_COLOURS.len()];
    let rows = glyph(username.chars().next().unwrap_or('?'));
    // Each glyph cell is a 10 px square: the letter is 50x70, centred.
    const CELL: u32 = 10;
    let (left, top) = ((PROFILE_SIDE - 5 * CELL) / 2, (PROFILE_SIDE - 7 * CELL) / 2);
    let img = RgbaImage::from_fn(PROFILE_SIDE, PROFILE_SIDE, |x, y| {
        let inside = (left..left + 5 * CELL).contains(&x) && (top..top + 7 * CELL).contains(&y);
        let on = inside && {
            let (col, row) = ((x - left) / CELL, (y - top) / CELL);
            rows[row as usize] & (0x10 >> col) != 0
        };
        if on {
            Rgba([255, 255, 255, 255])
        } else {
            Rgba([r, g, b, 255])
        }
    });
    png(&DynamicImage::ImageRgba8(img))
}

/// The limit on images decoded at once (FileSettings.MaxImageDecoderConcurrency, read when the
/// first image is decoded; -1: one per CPU): each decode may take the memory of the largest
/// image allowed, so the limit bounds the node's memory, not just its CPU.
pub fn decoding(concurrency: i64) -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let n = if concurrency > 0 {
            concurrency as usize
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        };
        tokio::sync::Semaphore::new(n.clamp(1, 64))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn the_initial_avatar_is_a_png_of_the_profile_size() {
        let bytes = initial_avatar("abcdefghijklmnopqrstuvwxyz", "zoe").unwrap();
        let img = image::load_from_memory_with_format(&bytes, ImageFormat::Png).unwrap();
        assert_eq!((img.width(), img.height()), (PROFILE_SIDE, PROFILE_SIDE));
        let rgba = img.to_rgba8();
        assert_ne!(rgba.get_pixel(0, 0), &Rgba([255, 255, 255, 255]), "a coloured background");
        // The top bar of a Z is white.
        assert_eq!(rgba.get_pixel(PROFILE_SIDE / 2, (PROFILE_SIDE - 70) / 2 + 5), &Rgba([255, 255, 255, 255]));
        assert_ne!(initial_avatar("a", "amy").unwrap(), initial_avatar("a", "bob").unwrap());
    }

    #[test]
    fn profile_images_are_filled_to_128_square() {
        let src = encoded(DynamicImage::ImageRgb8(RgbImage::new(300, 200)), ImageFormat::Png);
        let out = profile_png(&src, 1_000_000).unwrap();
        let img = image::load_from_memory(&out).unwrap();
        assert_eq!((img.width(), img.height()), (128, 128));
    }

    #[test]
    fn huge_headers_and_non_images_are_refused_before_decoding() {
        assert_eq!(check(b"plain text", 100).unwrap_err(), PictureError::NotAnImage);
        let mut huge = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        huge.extend_from_slice(&100_000u32.to_be_bytes());
        huge.extend_from_slice(&100_000u32.to_be_bytes());
        assert!(matches!(decode(&huge, 33_177_600), Err(PictureError::TooLarge { .. })));
        // A header within the limit whose body is garbage fails to decode, it does not panic.
        let mut lying = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        lying.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 10, 8, 6, 0, 0, 0, 1, 2, 3, 4]);
        assert!(matches!(decode(&lying, 1000), Err(PictureError::Decode(_))));
    }

    /// A JPEG of `w` by `h` with an EXIF APP1 segment saying `orientation`.
    fn jpeg_with_orientation(w: u32, h: u32, orientation: u8) -> Vec<u8> {
        let plain = encoded(DynamicImage::ImageRgb8(RgbImage::new(w, h)), ImageFormat::Jpeg);
        // "Exif\0\0", a little-endian TIFF header, one IFD entry: 0x0112 SHORT 1 = orientation.
        let mut exif = b"Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
        exif.extend_from_slice(&[orientation, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = vec![0xff, 0xd8, 0xff, 0xe1];
        out.extend_from_slice(&u16::try_from(exif.len() + 2).unwrap().to_be_bytes());
        out.extend_from_slice(&exif);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn jpegs_are_turned_upright_by_their_exif_orientation() {
        let rotated = jpeg_with_orientation(40, 20, 6);
        assert_eq!(sniff_image(&rotated).map(|i| (i.width, i.height)), Some((40, 20)), "as stored");
        let img = decode(&rotated, 1_000_000).unwrap();
        assert_eq!((img.width(), img.height()), (20, 40), "as seen");
        let p = file_pictures(&rotated, 1_000_000).unwrap();
        assert_eq!((p.width, p.height), (20, 40));
        let upright = decode(&jpeg_with_orientation(40, 20, 1), 1_000_000).unwrap();
        assert_eq!((upright.width(), upright.height()), (40, 20));
    }

    #[test]
    fn file_pictures_fit_their_boxes() {
        let src = encoded(DynamicImage::ImageRgba8(RgbaImage::new(2400, 600)), ImageFormat::Png);
        let p = file_pictures(&src, 33_177_600).unwrap();
        assert_eq!((p.width, p.height), (2400, 600));
        let thumb = image::load_from_memory_with_format(&p.thumbnail, ImageFormat::Jpeg).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (120, 30));
        let preview = image::load_from_memory_with_format(&p.preview, ImageFormat::Jpeg).unwrap();
        assert_eq!((preview.width(), preview.height()), (1920, 480));
        let mini = image::load_from_memory_with_format(&p.mini_preview, ImageFormat::Jpeg).unwrap();
        assert_eq!((mini.width(), mini.height()), (16, 16));
        let small = encoded(DynamicImage::ImageRgb8(RgbImage::new(40, 30)), ImageFormat::Png);
        let p = file_pictures(&small, 33_177_600).unwrap();
        let thumb = image::load_from_memory(&p.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (40, 30), "small images are not enlarged");
    }
}
