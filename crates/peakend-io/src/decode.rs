//! Text decoding. Spreadsheets saved by Excel in China are GB18030/GBK, elsewhere
//! UTF-8 (often with a BOM); both are detected without being told.

use encoding_rs::{Encoding, GB18030, UTF_8};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown encoding `{0}` (try utf-8 or gb18030)")]
    UnknownEncoding(String),
    #[error("the file is not valid {0} text")]
    Malformed(&'static str),
    #[error(
        "the file is neither UTF-8 nor GB18030/GBK text (byte {offset} cannot be decoded); re-save it as UTF-8 or pass --encoding"
    )]
    Undetected { offset: usize },
}

/// Resolves an `--encoding` label such as `utf-8`, `gbk` or `gb18030`.
pub fn encoding_for(label: &str) -> Result<&'static Encoding, DecodeError> {
    Encoding::for_label(label.trim().as_bytes())
        .ok_or_else(|| DecodeError::UnknownEncoding(label.to_owned()))
}

/// Decodes `bytes` with the forced encoding, or detects one: a byte-order mark
/// wins; otherwise valid UTF-8 is UTF-8 and anything else is tried as GB18030
/// (a superset of GBK and GB2312). Returns the text and the encoding's name.
pub fn decode(
    bytes: &[u8],
    forced: Option<&'static Encoding>,
) -> Result<(String, &'static str), DecodeError> {
    if let Some(enc) = forced {
        let (text, had_errors) = enc.decode_with_bom_removal(bytes);
        if had_errors {
            return Err(DecodeError::Malformed(enc.name()));
        }
        return Ok((text.into_owned(), enc.name()));
    }
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        return enc
            .decode_without_bom_handling_and_without_replacement(&bytes[bom_len..])
            .map(|t| (t.into_owned(), enc.name()))
            .ok_or(DecodeError::Malformed(enc.name()));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((text.to_owned(), UTF_8.name())),
        Err(utf8_error) => GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|t| (t.into_owned(), GB18030.name()))
            .ok_or(DecodeError::Undetected {
                offset: utf8_error.valid_up_to(),
            }),
    }
}

/// [`decode`] for bytes the caller owns: plain UTF-8 (no BOM) becomes the `String`
/// without a copy, which matters for survey files of gigabytes.
pub fn decode_vec(
    bytes: Vec<u8>,
    forced: Option<&'static Encoding>,
) -> Result<(String, &'static str), DecodeError> {
    let utf8_wanted = forced.is_none_or(|enc| enc == UTF_8);
    if utf8_wanted && Encoding::for_bom(&bytes).is_none() {
        match String::from_utf8(bytes) {
            Ok(text) => return Ok((text, UTF_8.name())),
            Err(e) => return decode(e.as_bytes(), forced),
        }
    }
    decode(&bytes, forced)
}

/// Whether what `reader` holds is UTF-8 text (a UTF-8 byte-order mark allowed), read
/// a megabyte at a time: a file of any size can be checked before it is streamed.
pub fn is_utf8(mut reader: impl std::io::Read) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 1 << 20];
    // Bytes of a character cut by the end of the last read.
    let mut carry = 0;
    let mut first = true;
    loop {
        let n = reader.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let end = carry + n;
        let mut start = 0;
        if first {
            first = false;
            match Encoding::for_bom(&buf[..end]) {
                Some((enc, len)) if enc == UTF_8 => start = len,
                Some(_) => return Ok(false),
                None => {}
            }
        }
        match std::str::from_utf8(&buf[start..end]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_none() => {
                let valid = start + e.valid_up_to();
                buf.copy_within(valid..end, 0);
                carry = end - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_told_apart_from_gbk_through_a_cut_reader() {
        // A reader that returns a byte at a time cuts every character in pieces.
        struct Dribble<'a>(&'a [u8]);
        impl std::io::Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((&b, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = b;
                self.0 = rest;
                Ok(1)
            }
        }
        let text = "id,name\ngd,示范省\n";
        assert!(is_utf8(Dribble(text.as_bytes())).unwrap());
        assert!(is_utf8(format!("\u{feff}{text}").as_bytes()).unwrap());
        let (gbk, _, _) = GB18030.encode(text);
        assert!(!is_utf8(Dribble(&gbk)).unwrap());
        // A character cut off at the end is not whole text.
        assert!(!is_utf8(&text.as_bytes()[..text.len() - 2]).unwrap());
        assert!(is_utf8(&b""[..]).unwrap());
    }

    #[test]
    fn detects_utf8_bom_and_gbk() {
        let text = "id,name\ngd,示范省\n";
        assert_eq!(
            decode(text.as_bytes(), None).unwrap(),
            (text.to_owned(), "UTF-8")
        );
        let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert_eq!(decode(&bom, None).unwrap().0, text);
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(decode(&gbk, None).unwrap(), (text.to_owned(), "gb18030"));
        for bytes in [text.as_bytes().to_vec(), bom.clone(), gbk.to_vec()] {
            assert_eq!(decode_vec(bytes.clone(), None), decode(&bytes, None));
        }
        assert_eq!(
            decode_vec(gbk.to_vec(), Some(UTF_8)),
            Err(DecodeError::Malformed("UTF-8"))
        );
    }

    #[test]
    fn forced_encoding_is_obeyed_and_checked() {
        let (gbk, _, _) = encoding_rs::GBK.encode("营业厅");
        assert_eq!(
            decode(&gbk, Some(encoding_for("gbk").unwrap())).unwrap().0,
            "营业厅"
        );
        assert_eq!(
            decode(&gbk, Some(encoding_for("utf-8").unwrap())),
            Err(DecodeError::Malformed("UTF-8"))
        );
        assert!(matches!(
            encoding_for("klingon"),
            Err(DecodeError::UnknownEncoding(_))
        ));
    }
}
