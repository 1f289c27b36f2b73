//! The host-memory prompt cache (llama-server's `--cache-ram`): when a slot is about to give
//! up KV cells that a new prompt does not share, its sequence state is copied to RAM first;
//! a later prompt that starts with those tokens gets them back with one state restore instead
//! of a prefill. Slots alone keep at most `n_parallel` prompts; a service that cycles through
//! more (a dozen meeting-notes templates, a few long system prompts, the turns of several
//! conversations) otherwise recomputes them every time.
//!
//! Bounded by bytes; the least recently used entry goes first. An entry whose tokens are a
//! prefix of a newer one is dropped (the newer one serves every prompt the older one served).

use llama_cpp_2::token::LlamaToken;

/// Shortest prompt worth keeping: below this a prefill costs about what the copy costs.
pub(super) const MIN_CACHED_TOKENS: usize = 32;

struct Entry<S> {
    tokens: Vec<LlamaToken>,
    state: S,
    bytes: usize,
    used: u64,
}

/// Saved sequence states (`S`: llama.cpp's `SeqState`; anything in the unit tests), keyed by
/// the tokens their cells hold.
pub(super) struct PromptCache<S> {
    entries: Vec<Entry<S>>,
    used_bytes: usize,
    limit_bytes: usize,
    clock: u64,
    /// Restores served (a counter for the logs and tests).
    pub hits: u64,
}

impl<S> PromptCache<S> {
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            entries: Vec::new(),
            used_bytes: 0,
            limit_bytes,
            clock: 0,
            hits: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.limit_bytes > 0
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry sharing the longest prefix with `tokens`: (its index, that length).
    pub fn best(&self, tokens: &[LlamaToken]) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(k, e)| (k, common_prefix(&e.tokens, tokens)))
            .filter(|&(_, n)| n > 0)
            .max_by_key(|&(_, n)| n)
    }

    /// Entry `k`'s state, marked as just used.
    pub fn get(&mut self, k: usize) -> &S {
        self.clock += 1;
        self.hits += 1;
        let e = &mut self.entries[k];
        e.used = self.clock;
        &e.state
    }

    /// Entry `k`'s state, without marking it used.
    pub fn peek(&self, k: usize) -> &S {
        &self.entries[k].state
    }

    /// Whether saving `tokens` would add anything: not when an entry already holds them or
    /// more (the same prefix and beyond).
    pub fn covers(&self, tokens: &[LlamaToken]) -> bool {
        self.entries
            .iter()
            .any(|e| e.tokens.len() >= tokens.len() && e.tokens.starts_with(tokens))
    }

    /// Keeps `state` (the cells of `tokens`), evicting least recently used entries to fit.
    /// A state larger than the whole cache is not kept.
    pub fn insert(&mut self, tokens: Vec<LlamaToken>, state: S, bytes: usize) {
        if bytes > self.limit_bytes || self.covers(&tokens) {
            return;
        }
        // Entries the new one extends are redundant now.
        let mut freed = 0;
        self.entries.retain(|e| {
            let keep = !tokens.starts_with(&e.tokens);
            if !keep {
                freed += e.bytes;
            }
            keep
        });
        self.used_bytes -= freed;
        while self.used_bytes + bytes > self.limit_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k)
            else {
                break;
            };
            self.used_bytes -= self.entries.swap_remove(oldest).bytes;
        }
        self.clock += 1;
        self.used_bytes += bytes;
        self.entries.push(Entry {
            tokens,
            state,
            bytes,
            used: self.clock,
        });
    }

    /// Entry `k`'s tokens.
    pub fn tokens(&self, k: usize) -> &[LlamaToken] {
        &self.entries[k].tokens
    }

    #[cfg(test)]
    fn used_bytes(&self) -> usize {
        self.used_bytes
    }
}

pub(super) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[i32]) -> Vec<LlamaToken> {
        v.iter().map(|&x| LlamaToken(x)).collect()
    }

    #[test]
    fn the_longest_shared_prefix_wins() {
        let mut c = PromptCache::new(1000);
        c.insert(t(&[1, 2, 3, 4]), "a", 10);
        c.insert(t(&[1, 2, 9, 9, 9]), "b", 10);
        assert_eq!(c.best(&t(&[1, 2, 3, 7])), Some((0, 3)));
        assert_eq!(c.best(&t(&[1, 2, 9, 9])), Some((1, 4)));
        assert_eq!(c.best(&t(&[5])), None);
        assert_eq!(*c.get(1), "b");
        assert_eq!(c.hits, 1);
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_to_fit_the_bound() {
        let mut c = PromptCache::new(30);
        c.insert(t(&[1]), 1, 10);
        c.insert(t(&[2]), 2, 10);
        c.insert(t(&[3]), 3, 10);
        c.get(0); // [1] is now the most recently used; [2] the least.
        c.insert(t(&[4]), 4, 10);
        assert_eq!(c.len(), 3);
        assert!(c.used_bytes() <= 30);
        assert!(c.best(&t(&[2])).is_none(), "the LRU entry went");
        assert!(c.best(&t(&[1])).is_some() && c.best(&t(&[4])).is_some());
        // Larger than the whole cache: not kept, nothing evicted for it.
        c.insert(t(&[5]), 5, 31);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn an_entry_extended_by_a_newer_one_is_dropped_and_covered_ones_are_not_added() {
        let mut c = PromptCache::new(100);
        c.insert(t(&[1, 2]), "short", 10);
        c.insert(t(&[1, 2, 3]), "long", 15);
        assert_eq!(c.len(), 1);
        assert_eq!(c.used_bytes(), 15);
        assert!(c.covers(&t(&[1, 2])));
        c.insert(t(&[1, 2]), "again", 10);
        assert_eq!((c.len(), c.used_bytes()), (1, 15));
        assert_eq!(c.tokens(0), &t(&[1, 2, 3])[..]);
    }
}
