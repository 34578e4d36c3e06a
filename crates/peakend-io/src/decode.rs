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
    /// U+0000 is in no text a person writes (the file is binary or damaged), and
    /// PostgreSQL's text cannot hold it.
    #[error("line {line} holds the character U+0000: the file is not text")]
    Nul { line: usize },
}

/// The text, unless it holds U+0000 (the line that does is named).
fn without_nul<T: AsRef<str>>(
    decoded: (T, &'static str),
) -> Result<(T, &'static str), DecodeError> {
    let text = decoded.0.as_ref();
    // memchr: a survey file decoded whole may be gigabytes.
    match memchr::memchr(0, text.as_bytes()) {
        Some(at) => Err(DecodeError::Nul {
            line: 1 + memchr::memchr_iter(b'\n', &text.as_bytes()[..at]).count(),
        }),
        None => Ok(decoded),
    }
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
    without_nul(decode_any(bytes, forced)?)
}

fn decode_any(
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
            Ok(text) => return without_nul((text, UTF_8.name())),
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

/// `inner`'s bytes in `encoding` read as UTF-8, a chunk at a time: a GB18030 survey
/// file of any size is parsed as it is decoded, never held whole. A byte-order mark is
/// dropped. Bytes that are not text in the encoding end the stream with an
/// [`std::io::ErrorKind::InvalidData`] error naming the encoding and the byte.
pub struct Utf8Reader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    name: &'static str,
    raw: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of `inner` decoded before `raw`'s first.
    offset: usize,
    eof: bool,
    done: bool,
    out: Vec<u8>,
    at: usize,
    /// A malformed byte's offset, reported once what came before it has been read.
    pending: Option<usize>,
}

const CHUNK: usize = 1 << 16;

impl<R: std::io::Read> Utf8Reader<R> {
    pub fn new(inner: R, encoding: &'static Encoding) -> Utf8Reader<R> {
        Utf8Reader {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            name: encoding.name(),
            raw: vec![0; CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            done: false,
            out: Vec::with_capacity(4 * CHUNK),
            at: 0,
            pending: None,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Utf8Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use encoding_rs::DecoderResult;
        loop {
            if self.at < self.out.len() {
                let n = buf.len().min(self.out.len() - self.at);
                buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            if let Some(at) = self.pending.take() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the file is not valid {} text (byte {at})", self.name),
                ));
            }
            if self.done {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                self.offset += self.end;
                self.start = 0;
                self.end = self.inner.read(&mut self.raw)?;
                self.eof = self.end == 0;
            }
            let src = &self.raw[self.start..self.end];
            let room = self
                .decoder
                .max_utf8_buffer_length_without_replacement(src.len())
                .unwrap_or(4 * CHUNK)
                .max(16);
            self.out.clear();
            self.out.resize(room, 0);
            self.at = 0;
            let (result, read, written) =
                self.decoder
                    .decode_to_utf8_without_replacement(src, &mut self.out, self.eof);
            self.out.truncate(written);
            self.start += read;
            match result {
                DecoderResult::InputEmpty if self.eof => self.done = true,
                DecoderResult::InputEmpty | DecoderResult::OutputFull => {}
                DecoderResult::Malformed(bad, after) => {
                    // What was decoded before the bad bytes is still handed on.
                    self.done = true;
                    let at = self.offset + self.start - usize::from(bad) - usize::from(after);
                    self.pending = Some(at);
                }
            }
        }
    }
}

/// Whether `reader` holds text in `encoding` to its end, read a chunk at a time.
pub fn is_text_in(
    reader: impl std::io::Read,
    encoding: &'static Encoding,
) -> std::io::Result<bool> {
    match std::io::copy(&mut Utf8Reader::new(reader, encoding), &mut std::io::sink()) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_with_the_nul_character_is_refused_naming_its_line() {
        let text = "id,name\np,省\nc,城\0市\n";
        for result in [
            decode(text.as_bytes(), None),
            decode_vec(text.as_bytes().to_vec(), None),
        ] {
            assert_eq!(result, Err(DecodeError::Nul { line: 3 }));
        }
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(decode(&gbk, None), Err(DecodeError::Nul { line: 3 }));
        assert_eq!(
            decode_vec(gbk.to_vec(), Some(GB18030)),
            Err(DecodeError::Nul { line: 3 })
        );
        assert_eq!(
            DecodeError::Nul { line: 3 }.to_string(),
            "line 3 holds the character U+0000: the file is not text"
        );
        assert!(decode("id\n\\0\n".as_bytes(), None).is_ok());
    }

    /// A reader that returns a byte at a time: it cuts every character in pieces.
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

    #[test]
    fn utf8_is_told_apart_from_gbk_through_a_cut_reader() {
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
    fn gbk_is_streamed_as_utf8_through_any_cuts() {
        use std::io::Read;
        // Long enough to cross chunks, with characters cut at every chunk edge somewhere.
        let text: String = (0..20_000).map(|i| format!("{i},示范省营业厅\n")).collect();
        let (gbk, _, _) = GB18030.encode(&text);
        let mut out = String::new();
        Utf8Reader::new(&gbk[..], GB18030)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        let mut out = String::new();
        Utf8Reader::new(Dribble(&gbk[..2000]), GB18030)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out.as_bytes(), &text.as_bytes()[..out.len()]);
        assert!(is_text_in(&gbk[..], GB18030).unwrap());
        // A BOM is dropped; bad bytes end the stream with their offset after the text
        // before them.
        let mut bad = gbk[..100].to_vec();
        bad.extend_from_slice(&[0x81, 0x20]);
        let mut r = Utf8Reader::new(&bad[..], GB18030);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            "the file is not valid gb18030 text (byte 100)"
        );
        assert!(!is_text_in(&bad[..], GB18030).unwrap());
        let mut out = String::new();
        Utf8Reader::new(&b"\xEF\xBB\xBFid"[..], UTF_8)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "id");
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
