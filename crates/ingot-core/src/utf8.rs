//! Incremental UTF-8 decoding of token bytes.
//!
//! A BPE token is a byte sequence, not a string: a multi-byte character (emoji, accented letters
//! in byte-fallback vocabularies, CJK) is often split over two or more tokens. Streaming each
//! token's bytes through `String::from_utf8_lossy` would turn those halves into U+FFFD, so the
//! decoder keeps an incomplete trailing sequence until the next token completes it.

/// Buffers raw token bytes and releases only complete UTF-8.
#[derive(Debug, Default, Clone)]
pub struct Utf8Decoder {
    /// Bytes of an incomplete trailing sequence (at most 3 bytes between calls).
    pending: Vec<u8>,
}

impl Utf8Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` and pushes every complete character onto `out`. Bytes that can never
    /// become valid UTF-8 are replaced by U+FFFD (so a malformed token cannot stall the stream);
    /// an incomplete sequence at the end is kept for the next call.
    pub fn push(&mut self, bytes: &[u8], out: &mut String) {
        // Fast path: nothing pending and the piece is complete UTF-8 (the common case), no copy
        // into `pending`.
        if self.pending.is_empty() {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    out.push_str(s);
                    return;
                }
                Err(_) => self.pending.extend_from_slice(bytes),
            }
        } else {
            self.pending.extend_from_slice(bytes);
        }
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY-free: `valid_up_to` guarantees this prefix is valid UTF-8.
                    out.push_str(
                        std::str::from_utf8(&self.pending[start..start + valid])
                            .expect("prefix reported valid"),
                    );
                    start += valid;
                    match e.error_len() {
                        // Invalid bytes: replace them and go on with the rest.
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start += n;
                        }
                        // Incomplete sequence at the end: wait for more bytes.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..start);
    }

    /// True when an incomplete sequence is buffered.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Ends the stream: an incomplete trailing sequence becomes U+FFFD.
    pub fn finish(&mut self, out: &mut String) {
        if !self.pending.is_empty() {
            out.push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&[u8]]) -> Vec<String> {
        let mut d = Utf8Decoder::new();
        let mut outs = Vec::new();
        for c in chunks {
            let mut s = String::new();
            d.push(c, &mut s);
            outs.push(s);
        }
        let mut s = String::new();
        d.finish(&mut s);
        outs.push(s);
        outs
    }

    #[test]
    fn ascii_passes_through() {
        assert_eq!(feed(&[b"Hello", b" world"]), ["Hello", " world", ""]);
    }

    #[test]
    fn emoji_split_over_tokens_is_held_until_complete() {
        // 🙂 = F0 9F 99 82, split 1 + 2 + 1 across three tokens, followed by text.
        let outs = feed(&[b"Hi \xF0", b"\x9F\x99", b"\x82!", b" ok"]);
        assert_eq!(outs, ["Hi ", "", "🙂!", " ok", ""]);
    }

    #[test]
    fn accent_split_in_two() {
        // é = C3 A9
        let outs = feed(&[b"caf\xC3", b"\xA9"]);
        assert_eq!(outs, ["caf", "é", ""]);
    }

    #[test]
    fn every_split_point_of_a_mixed_string_reassembles_exactly() {
        let text = "añ🙂中ß€x".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let outs = feed(&[&text[..i], &text[i..j], &text[j..]]);
                let joined: String = outs.concat();
                assert_eq!(joined.as_bytes(), text, "split at {i},{j}");
                for o in &outs {
                    assert!(!o.contains('\u{FFFD}'), "split at {i},{j} produced {o:?}");
                }
            }
        }
    }

    #[test]
    fn invalid_bytes_become_replacement_and_do_not_stall() {
        let outs = feed(&[b"a\xFFb", b"c"]);
        assert_eq!(outs, ["a\u{FFFD}b", "c", ""]);
        // A lone continuation byte is invalid, not incomplete.
        let outs = feed(&[b"\x80", b"z"]);
        assert_eq!(outs, ["\u{FFFD}", "z", ""]);
    }

    #[test]
    fn truncated_sequence_at_end_is_flushed_lossily() {
        let outs = feed(&[b"ok\xE2\x82"]);
        assert_eq!(outs, ["ok", "\u{FFFD}"]);
    }
}
