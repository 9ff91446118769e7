//! Profile pictures: the type is decided by the bytes, never by a name or header, and every
//! picture is decoded and re-encoded as PNG, which drops any metadata (EXIF, GPS, comments)
//! and anything hidden after the image data.
//!
//! A picture small on the wire can be huge once decoded (a 130 KB PNG of 4096x4096 pixels at
//! 16 bits a channel is 128 MiB of pixels), so the header is read first and the picture is
//! decoded only when its pixels fit the decode budget; the image crate's own allocation limit
//! backs that up. What is stored is what is served: at most [`SERVED_SIDE`] pixels a side,
//! 8 bits a channel.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::PictureError;

/// The longest side we accept; larger images are refused.
pub const MAX_SIDE: u32 = 4096;
/// The longest side of a stored picture: larger ones are scaled down (keeping the aspect
/// ratio) before they are stored.
pub const SERVED_SIDE: u32 = 1024;
pub const CONTENT_TYPE: &str = "image/png";

fn limited_reader(
    bytes: &[u8],
    format: ImageFormat,
    max_decode_bytes: u64,
) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(max_decode_bytes);
    reader.limits(limits);
    reader
}

/// Decodes `bytes` (PNG, JPEG, GIF or WebP, sniffed from content) when its pixels fit in
/// `max_decode_bytes`, scales it down to at most [`SERVED_SIDE`] a side and re-encodes it as
/// an 8-bit PNG.
pub fn normalize(bytes: &[u8], max_decode_bytes: u64) -> Result<Vec<u8>, PictureError> {
    let format = image::guess_format(bytes).map_err(|_| PictureError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(PictureError::NotAnImage);
    }
    // The header alone: dimensions and the bytes a pixel takes, before any pixel is decoded.
    let decoder = limited_reader(bytes, format, max_decode_bytes)
        .into_decoder()
        .map_err(|_| PictureError::NotAnImage)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(PictureError::TooManyPixels { max: MAX_SIDE });
    }
    let needed = decoder.total_bytes();
    if needed > max_decode_bytes {
        return Err(PictureError::TooBigToDecode {
            needed,
            max: max_decode_bytes,
        });
    }
    let image = DynamicImage::from_decoder(decoder).map_err(|_| PictureError::NotAnImage)?;
    let image = if width > SERVED_SIDE || height > SERVED_SIDE {
        // `thumbnail` averages boxes of source pixels into the small image directly; `resize`
        // would first build a float copy of the size of the source's height.
        image.thumbnail(SERVED_SIDE, SERVED_SIDE)
    } else {
        image
    };
    let image = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8())
    };
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|_| PictureError::NotAnImage)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: u64 = 32 * 1024 * 1024;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([10, 20, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn reencodes_a_png_and_drops_trailing_bytes() {
        let mut input = png(3, 2);
        input.extend_from_slice(b"secret trailing payload");
        let output = normalize(&input, BUDGET).unwrap();
        assert!(output.starts_with(b"\x89PNG"));
        assert!(!output.windows(b"secret".len()).any(|w| w == b"secret"));
        let decoded = image::load_from_memory(&output).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (3, 2));
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(matches!(
            normalize(b"hello, I am text", BUDGET),
            Err(PictureError::NotAnImage)
        ));
        // A PNG signature followed by garbage is not an image either.
        assert!(matches!(
            normalize(b"\x89PNG\r\n\x1a\nnot really", BUDGET),
            Err(PictureError::NotAnImage)
        ));
    }

    #[test]
    fn refuses_huge_dimensions() {
        assert!(normalize(&png(MAX_SIDE + 1, 1), BUDGET).is_err());
    }

    #[test]
    fn a_picture_whose_pixels_pass_the_budget_is_refused_from_its_header() {
        // 2048 x 2048 RGB: 12 MiB of pixels.
        let input = png(2048, 2048);
        assert!(matches!(
            normalize(&input, 8 * 1024 * 1024),
            Err(PictureError::TooBigToDecode { needed, max })
                if needed == 2048 * 2048 * 3 && max == 8 * 1024 * 1024
        ));
    }

    #[test]
    fn a_large_picture_is_stored_at_the_size_it_is_served() {
        let output = normalize(&png(2048, 1024), BUDGET).unwrap();
        let decoded = image::load_from_memory(&output).unwrap();
        assert_eq!(
            (decoded.width(), decoded.height()),
            (SERVED_SIDE, SERVED_SIDE / 2)
        );
    }
}
