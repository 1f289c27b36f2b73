//! Stop strings that may span several tokens and are never emitted.
//!
//! Text is held back while its tail could still be the beginning of a stop string; it is
//! released as soon as that becomes impossible, so streaming stays as live as the stop strings
//! allow.

/// Matches stop strings over a stream of text pieces.
#[derive(Debug, Default, Clone)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Length in bytes of the longest stop string.
    max_len: usize,
    /// Text not yet released because it may be the start of a stop string.
    held: String,
}

impl StopMatcher {
    /// Empty stop strings are ignored (they would match everywhere).
    pub fn new(stops: &[String]) -> Self {
        let stops: Vec<String> = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        let max_len = stops.iter().map(String::len).max().unwrap_or(0);
        Self {
            stops,
            max_len,
            held: String::new(),
        }
    }

    /// Feeds `text`; appends what can safely be emitted to `out`. Returns true when a stop
    /// string matched: `out` then holds the text before it and everything after is dropped.
    pub fn push(&mut self, text: &str, out: &mut String) -> bool {
        if self.stops.is_empty() {
            out.push_str(text);
            return false;
        }
        self.held.push_str(text);
        // `held` never contains a complete stop string before this call, so the earliest match
        // (if any) involves the new text.
        let first = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(pos) = first {
            out.push_str(&self.held[..pos]);
            self.held.clear();
            return true;
        }
        // Keep the longest tail that is a proper prefix of some stop string.
        let window_start = self.held.len().saturating_sub(self.max_len - 1);
        let keep_from = (window_start..self.held.len())
            .filter(|&i| self.held.is_char_boundary(i))
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        out.push_str(&self.held[..keep_from]);
        self.held.drain(..keep_from);
        false
    }

    /// Releases held-back text (generation ended without completing a stop string).
    pub fn flush(&mut self, out: &mut String) {
        out.push_str(&self.held);
        self.held.clear();
    }

    /// True when text is currently held back.
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool, String) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut outs = Vec::new();
        for p in pieces {
            let mut o = String::new();
            if m.push(p, &mut o) {
                outs.push(o);
                return (outs, true, String::new());
            }
            outs.push(o);
        }
        let mut rest = String::new();
        m.flush(&mut rest);
        (outs, false, rest)
    }

    #[test]
    fn no_stops_passes_through() {
        let (outs, stopped, rest) = run(&[], &["a", "b"]);
        assert_eq!(outs, ["a", "b"]);
        assert!(!stopped);
        assert_eq!(rest, "");
    }

    #[test]
    fn stop_spanning_tokens_is_not_emitted() {
        let (outs, stopped, _) = run(&["</end>"], &["Hello <", "/en", "d> tail"]);
        assert!(stopped);
        assert_eq!(outs.concat(), "Hello ");
        // The "<" was held back rather than emitted early.
        assert_eq!(outs[0], "Hello ");
    }

    #[test]
    fn false_prefix_is_released() {
        let (outs, stopped, rest) = run(&["STOP"], &["ST", "ART", " go"]);
        assert!(!stopped);
        assert_eq!(outs, ["", "START", " go"]);
        assert_eq!(rest, "");
    }

    #[test]
    fn held_text_is_flushed_at_the_end() {
        let (outs, stopped, rest) = run(&["\n\n"], &["line", "\n"]);
        assert!(!stopped);
        assert_eq!(outs, ["line", ""]);
        assert_eq!(rest, "\n");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (outs, stopped, _) = run(&["bb", "a"], &["xxbb a"]);
        assert!(stopped);
        assert_eq!(outs.concat(), "xx");
    }

    #[test]
    fn stop_inside_one_piece() {
        let (outs, stopped, _) = run(&["User:"], &["Sure. User: hi"]);
        assert!(stopped);
        assert_eq!(outs.concat(), "Sure. ");
    }

    #[test]
    fn multibyte_stop_strings() {
        let (outs, stopped, _) = run(&["🙂x"], &["ok 🙂", "x"]);
        assert!(stopped);
        assert_eq!(outs.concat(), "ok ");
        let (outs, stopped, rest) = run(&["éé"], &["aé", "b"]);
        assert!(!stopped);
        assert_eq!(outs.concat() + &rest, "aéb");
    }

    #[test]
    fn empty_stop_strings_are_ignored() {
        let (outs, stopped, _) = run(&[""], &["abc"]);
        assert!(!stopped);
        assert_eq!(outs, ["abc"]);
    }
}
