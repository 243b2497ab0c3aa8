//! The mutations: a seeded generator that derives new inputs from a corpus.

/// Bytes that parsers treat specially.
const INTERESTING: &[u8] = b"\0\r\n\t :;,=\"'<>/\\{}[]-+.0179afAFxX\x7f\x80\xff";

/// A seeded source of mutated inputs (splitmix64).
pub(crate) struct Mutator {
    state: u64,
    dictionary: &'static [&'static [u8]],
}

impl Mutator {
    pub(crate) fn new(seed: u64, dictionary: &'static [&'static [u8]]) -> Mutator {
        Mutator {
            state: seed,
            dictionary,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (0 when `bound` is 0).
    fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        (self.next_u64() % bound as u64) as usize
    }

    /// A corpus input with one to eight mutations stacked.
    pub(crate) fn next(&mut self, corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut input = corpus[self.below(corpus.len())].clone();
        for _ in 0..1 + self.below(8) {
            self.mutate(&mut input, corpus);
        }
        input
    }

    fn mutate(&mut self, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let len = input.len();
        let at = self.below(len + 1);
        match self.below(8) {
            0 if len > 0 => input[at.min(len - 1)] ^= 1 << self.below(8),
            1 if len > 0 => {
                input[at.min(len - 1)] = INTERESTING[self.below(INTERESTING.len())];
            }
            2 => {
                let byte = (self.next_u64() & 0xff) as u8;
                input.insert(at, byte);
            }
            3 if len > 0 => {
                let end = (at + 1 + self.below(16)).min(len);
                input.drain(at.min(len - 1)..end);
            }
            4 if len > 0 => {
                let start = self.below(len);
                let end = (start + 1 + self.below(64)).min(len);
                let piece = input[start..end].to_vec();
                input.splice(at..at, piece);
            }
            5 => {
                let other = &corpus[self.below(corpus.len())];
                let from = self.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            6 if !self.dictionary.is_empty() => {
                let token = self.dictionary[self.below(self.dictionary.len())];
                input.splice(at..at, token.iter().copied());
            }
            _ => {
                let digits = b"0123456789abcdef";
                let count = 1 + self.below(20);
                let run: Vec<u8> = (0..count).map(|_| digits[self.below(16)]).collect();
                input.splice(at..at, run);
            }
        }
    }
}
