//! Images → 8-bit grayscale, `floor((R + G + B) / 3)` per pixel.

use std::io::Cursor;

/// Largest image accepted, in pixels (guards against decompression bombs).
const MAX_PIXELS: u64 = 100_000_000;

/// Decodes any supported image and returns its grayscale pixels, width and height.
pub(super) fn to_gray(bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("unrecognised image format".into());
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!("{w}×{h} is above the {MAX_PIXELS}-pixel limit"));
    }
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    let rgb = img.to_rgb8();
    let gray = rgb
        .pixels()
        .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8)
        .collect();
    Ok((gray, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_is_floor_of_mean() {
        let mut img = image::RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([255, 0, 1]));
        img.put_pixel(1, 0, image::Rgb([10, 20, 31]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let (g, w, h) = to_gray(&png).unwrap();
        assert_eq!((w, h), (2, 1));
        assert_eq!(g, vec![85, 20]);
    }
}
