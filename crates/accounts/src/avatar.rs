//! Profile pictures: the type is decided by the bytes, never by a name or header, and every
//! picture is decoded and re-encoded as PNG, which drops any metadata (EXIF, GPS, comments)
//! and anything hidden after the image data.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

use crate::error::PictureError;

/// The longest side we accept; larger images are refused, not resized.
pub const MAX_SIDE: u32 = 4096;
pub const CONTENT_TYPE: &str = "image/png";

fn limited_reader(bytes: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    reader
}

/// Decodes `bytes` (PNG, JPEG, GIF or WebP, sniffed from content) and re-encodes it as PNG.
pub fn normalize(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let format = image::guess_format(bytes).map_err(|_| PictureError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(PictureError::NotAnImage);
    }
    let (width, height) = limited_reader(bytes, format)
        .into_dimensions()
        .map_err(|_| PictureError::NotAnImage)?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(PictureError::TooManyPixels { max: MAX_SIDE });
    }
    let image = limited_reader(bytes, format)
        .decode()
        .map_err(|_| PictureError::NotAnImage)?;
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|_| PictureError::NotAnImage)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let output = normalize(&input).unwrap();
        assert!(output.starts_with(b"\x89PNG"));
        assert!(!output.windows(b"secret".len()).any(|w| w == b"secret"));
        let decoded = image::load_from_memory(&output).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (3, 2));
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(matches!(
            normalize(b"hello, I am text"),
            Err(PictureError::NotAnImage)
        ));
        // A PNG signature followed by garbage is not an image either.
        assert!(matches!(
            normalize(b"\x89PNG\r\n\x1a\nnot really"),
            Err(PictureError::NotAnImage)
        ));
    }

    #[test]
    fn refuses_huge_dimensions() {
        assert!(normalize(&png(MAX_SIDE + 1, 1)).is_err());
    }
}
