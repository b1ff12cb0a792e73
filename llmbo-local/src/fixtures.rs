//! Small, valid documents and images that carry text the synthetic model reads: a one-page
//! PDF whose content stream shows each line (`Tj`), and a PNG with the lines in `tEXt`
//! chunks. Any PDF reader opens the PDF; any PNG decoder opens the PNG (a plain gradient).
//!
//! Lines written `name: value` are facts: a structured answer's field of that name holds the
//! value, so a test can tell that each answer came from its own document.
//!
//! ```
//! let pdf = llmbo_local::fixtures::pdf(&["invoice_number: INV-7", "total: 12.5"]);
//! assert!(pdf.starts_with(b"%PDF-1.4"));
//! let png = llmbo_local::fixtures::png(&["invoice_number: INV-8"], 32, 16);
//! assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
//! ```

/// A one-page PDF (1.4, uncompressed) that shows `lines`, one under the other, in Helvetica.
pub fn pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
    for line in lines {
        content.push('(');
        for c in line.chars() {
            match c {
                '(' | ')' | '\\' => {
                    content.push('\\');
                    content.push(c);
                }
                c if c.is_ascii() && !c.is_ascii_control() => content.push(c),
                _ => content.push('?'),
            }
        }
        content.push_str(") Tj T*\n");
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A `width` × `height` grey PNG (8-bit, a horizontal gradient) with each of `lines` in a
/// `tEXt` chunk (keyword `Comment`).
pub fn png(lines: &[&str], width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // 8-bit greyscale, deflate, no filter method, no interlace.
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    for line in lines {
        let mut text = b"Comment\0".to_vec();
        text.extend(
            line.chars()
                .map(|c| if c.is_ascii() { c as u8 } else { b'?' }),
        );
        chunk(&mut out, b"tEXt", &text);
    }
    // Each row: filter byte 0, then the gradient.
    let mut raw = Vec::with_capacity((height as usize) * (width as usize + 1));
    for _ in 0..height {
        raw.push(0);
        raw.extend((0..width).map(|x| (x * 255 / width.max(1)) as u8));
    }
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_checksums_are_right() {
        // The CRC of "IEND" with no data is fixed by the PNG spec.
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        let png = png(&["a: 1"], 4, 2);
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
    }

    #[test]
    fn the_pdf_xref_points_at_each_object() {
        let pdf = pdf(&["x (y)"]);
        let find = |needle: &[u8]| pdf.windows(needle.len()).position(|w| w == needle);
        let xref = find(b"xref\n").unwrap_or_default();
        let table = String::from_utf8_lossy(&pdf[xref..]).into_owned();
        for (i, line) in table.lines().skip(3).take(5).enumerate() {
            let offset: usize = line
                .get(..10)
                .and_then(|o| o.parse().ok())
                .unwrap_or_default();
            let object = format!("{} 0 obj", i + 1);
            assert!(pdf[offset..].starts_with(object.as_bytes()), "{line}");
        }
    }
}
