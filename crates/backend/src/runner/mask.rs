//! Masks a job's secrets in its log before any byte of it is stored or pushed: each value
//! of six bytes or more, its base64 forms (at the three offsets a value can start at in a
//! longer base64 text) and its JSON-escaped form become `***`. Output is streamed: only
//! bytes that could still become the start of a secret are held back, so a log without
//! secrets comes out byte for byte, at once.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

/// What a secret is replaced by.
pub const MASK: &[u8] = b"***";

/// Shorter values (and forms) are not masked: they would hide ordinary words of the log.
pub const MIN_MASKED: usize = 6;

/// The most bytes of secret values one job's log is masked for: the automaton grows with
/// them (a value's forms take some seven times its size).
pub const MAX_MASKED_BYTES: usize = 16 * 1024;

/// Patterns of at most this many bytes in all may be searched with a DFA (a few MB at most).
const DFA_PATTERN_BYTES: usize = 4096;

/// Replaces a set of byte strings in a stream; see the module's doc.
pub struct Masker {
    find: AhoCorasick,
    prefixes: Prefixes,
    /// The stream's last bytes, not passed on yet: they could start a secret.
    held: Vec<u8>,
    /// How many of `held`'s first bytes belong to a secret already passed on as `***`.
    covered: usize,
}

impl Masker {
    /// A masker for `values`, or `None` when none is long enough to mask.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Masker> {
        let mut patterns: Vec<Vec<u8>> = values.into_iter().flat_map(forms).collect();
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return None;
        }
        // Every occurrence, overlapping ones too: two secrets that overlap in the log are
        // masked as one stretch. A few small secrets (the usual case) get the crate's
        // choice, a DFA, the fastest; more get a contiguous NFA, which stays about the size
        // of the patterns where a DFA could take hundreds of MB.
        let total: usize = patterns.iter().map(Vec::len).sum();
        let kind = (total > DFA_PATTERN_BYTES).then_some(AhoCorasickKind::ContiguousNFA);
        let find = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(kind)
            .build(&patterns)
            .expect("secrets of at most a few KiB build an automaton");
        Some(Masker {
            find,
            prefixes: Prefixes::new(&patterns),
            held: Vec::new(),
            covered: 0,
        })
    }

    /// Takes the next bytes of the stream; answers those that can go on now.
    pub fn feed(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(data);
        if data.len() < self.prefixes.longest {
            self.prefixes.advance(data);
        } else {
            self.prefixes.look_at(&buf);
        }
        // Where the longest tail that could still grow into a secret starts.
        let hold_from = buf.len() - self.prefixes.open_tail(buf.len());
        self.pass(buf, hold_from)
    }

    /// The stream ended: what was held goes, masked where it holds a whole secret.
    pub fn finish(&mut self) -> Vec<u8> {
        let buf = std::mem::take(&mut self.held);
        let end = buf.len();
        self.pass(buf, end)
    }

    /// Passes on `buf` up to `hold_from`, each stretch of secrets in it as one `***`, and
    /// holds the rest. Every secret that starts before `hold_from` ends inside `buf` (one
    /// that did not would make its start part of the open tail), so none is cut in two.
    fn pass(&mut self, mut buf: Vec<u8>, hold_from: usize) -> Vec<u8> {
        let mut ranges: Vec<(usize, usize)> = self
            .find
            .find_overlapping_iter(&buf)
            .filter(|m| m.start() < hold_from)
            .map(|m| (m.start(), m.end()))
            .collect();
        if self.covered > 0 {
            ranges.push((0, self.covered));
        }
        ranges.sort_unstable();
        let mut out = Vec::with_capacity(buf.len());
        let mut at = 0;
        let mut covered = 0;
        let mut ranges = ranges.into_iter().peekable();
        while let Some((start, mut end)) = ranges.next() {
            while let Some(&(next, next_end)) = ranges.peek() {
                if next >= end {
                    break;
                }
                end = end.max(next_end);
                ranges.next();
            }
            out.extend_from_slice(&buf[at..start]);
            // A stretch that begins with what was passed on as `***` already is not
            // masked twice.
            if !(start == 0 && self.covered > 0) {
                out.extend_from_slice(MASK);
            }
            at = end;
            covered = end.saturating_sub(hold_from);
        }
        if at < hold_from {
            out.extend_from_slice(&buf[at..hold_from]);
        }
        self.covered = covered;
        self.held = buf.split_off(hold_from);
        out
    }
}

/// The forms of `value` that are masked, each at least [`MIN_MASKED`] bytes.
fn forms(value: &str) -> Vec<Vec<u8>> {
    if value.len() < MIN_MASKED {
        return Vec::new();
    }
    let mut forms = vec![value.as_bytes().to_vec()];
    let json = serde_json::to_string(value).expect("a string serializes");
    let escaped = &json[1..json.len() - 1];
    if escaped != value {
        forms.push(escaped.as_bytes().to_vec());
    }
    // As encoders that keep to ASCII write it (Python's json.dumps): \uXXXX for the rest.
    if !value.is_ascii() {
        let mut ascii = String::with_capacity(escaped.len() * 2);
        for c in escaped.chars() {
            match c.is_ascii() {
                true => ascii.push(c),
                false => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        ascii.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
        }
        forms.push(ascii.into_bytes());
    }
    // Encoded alone (`printf %s "$X" | base64`) it is caught whole, padding and all; inside
    // a longer text, all but the characters it shares with its neighbours.
    forms.push(BASE64.encode(value).into_bytes());
    for offset in 0..3 {
        forms.push(base64_at(value.as_bytes(), offset));
    }
    forms.retain(|f| f.len() >= MIN_MASKED);
    forms
}

/// The characters of `bytes`' base64 that do not depend on what comes before or after it,
/// when it starts `offset` bytes into a group of three.
fn base64_at(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(bytes);
    let text = BASE64.encode(&padded);
    // The first characters mix in the bytes before it: 0, 2 or 3 of them go.
    let skip = [0, 2, 3][offset];
    // The last group mixes in the bytes after it, unless it ends on a group's end.
    let drop = match padded.len() % 3 {
        0 => 0,
        1 => 3,
        _ => 2,
    };
    let end = text.len().saturating_sub(drop).max(skip);
    text.as_bytes()[skip..end].to_vec()
}

/// A trie of the patterns with failure links (an Aho-Corasick automaton kept by hand, as
/// the crate's does not say how deep its states are): it tells how long the stream's tail
/// is that is the start of a pattern and not yet a whole one.
struct Prefixes {
    nodes: Vec<Node>,
    /// The node of the longest tail of the stream that is a path of the trie.
    state: usize,
    /// The longest pattern's length.
    longest: usize,
}

struct Node {
    /// Children by byte, sorted.
    next: Vec<(u8, usize)>,
    fail: usize,
    depth: usize,
}

impl Prefixes {
    fn new(patterns: &[Vec<u8>]) -> Self {
        let mut nodes = vec![Node {
            next: Vec::new(),
            fail: 0,
            depth: 0,
        }];
        for p in patterns {
            let mut at = 0;
            for &b in p {
                at = match nodes[at].next.binary_search_by_key(&b, |&(c, _)| c) {
                    Ok(i) => nodes[at].next[i].1,
                    Err(i) => {
                        let child = nodes.len();
                        let depth = nodes[at].depth + 1;
                        nodes.push(Node {
                            next: Vec::new(),
                            fail: 0,
                            depth,
                        });
                        nodes[at].next.insert(i, (b, child));
                        child
                    }
                };
            }
        }
        // Failure links, breadth first: a node's fail is the longest proper suffix of its
        // path that is also a path.
        let mut queue =
            std::collections::VecDeque::from_iter(nodes[0].next.iter().map(|&(_, child)| child));
        while let Some(node) = queue.pop_front() {
            let children = nodes[node].next.clone();
            for (b, child) in children {
                // The node below `node`'s own fail by `b` (never `child` itself: a fail is
                // shallower than its node).
                nodes[child].fail = goto(&nodes, nodes[node].fail, b);
                queue.push_back(child);
            }
        }
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        Prefixes {
            nodes,
            state: 0,
            longest,
        }
    }

    /// Finds the state for the tail of `buf`. A path of the trie is never longer than the
    /// longest pattern, so only that many last bytes can matter: the walk starts afresh
    /// there, and costs the same whatever the size of `buf`.
    fn look_at(&mut self, buf: &[u8]) {
        let from = buf.len().saturating_sub(self.longest);
        self.state = 0;
        self.advance(&buf[from..]);
    }

    fn advance(&mut self, data: &[u8]) {
        self.state = data
            .iter()
            .fold(self.state, |s, &b| goto(&self.nodes, s, b));
    }

    /// How many of the stream's last bytes (at most `within`) could still grow into a
    /// pattern: the deepest tail that is a path and goes on.
    fn open_tail(&self, within: usize) -> usize {
        let mut s = self.state;
        while s != 0 {
            let node = &self.nodes[s];
            if node.depth <= within && !node.next.is_empty() {
                return node.depth;
            }
            s = node.fail;
        }
        0
    }
}

/// Where the automaton goes from `at` on byte `b`: down the trie, else through the fail
/// links, else to the root.
fn goto(nodes: &[Node], mut at: usize, b: u8) -> usize {
    loop {
        if let Some(to) = step(nodes, at, b) {
            return to;
        }
        if at == 0 {
            return 0;
        }
        at = nodes[at].fail;
    }
}

fn step(nodes: &[Node], at: usize, b: u8) -> Option<usize> {
    let next = &nodes[at].next;
    next.binary_search_by_key(&b, |&(c, _)| c)
        .ok()
        .map(|i| next[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_in_pieces(masker: &mut Masker, pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            out.extend(masker.feed(p));
        }
        out.extend(masker.finish());
        out
    }

    #[test]
    fn a_value_and_its_forms_become_stars() {
        let secret = "s3cr3t-P@ss";
        let b64 = BASE64.encode(secret);
        let json = serde_json::to_string("quote\"d\\secret").unwrap();
        let mut m = Masker::new([secret, "quote\"d\\secret"]).unwrap();
        let text = format!("a {secret} b {b64} c {json} d\n");
        let out = mask_in_pieces(&mut m, &[text.as_bytes()]);
        assert_eq!(String::from_utf8(out).unwrap(), "a *** b *** c \"***\" d\n");
    }

    #[test]
    fn base64_is_caught_at_every_offset_inside_longer_text() {
        let secret = "correct horse battery";
        let mut m = Masker::new([secret]).unwrap();
        for before in ["", "x", "xy", "xyz", "wxyz"] {
            for after in ["", "!", "!!", "!!!"] {
                let encoded = BASE64.encode(format!("{before}{secret}{after}"));
                let out = mask_in_pieces(&mut m, &[encoded.as_bytes()]);
                let out = String::from_utf8(out).unwrap();
                assert!(out.contains("***"), "{before:?} {after:?}: {out}");
                // What stays around the stars is the neighbours' characters and those
                // shared with them: nothing more of the secret.
                let most = 3 + before.len() * 4 / 3 + 2 + 7;
                assert!(out.len() <= most, "{before:?} {after:?}: {out}");
            }
        }
    }

    #[test]
    fn a_secret_split_at_any_offset_is_still_caught() {
        let secret = "hunter2-is-my-password";
        let mut m = Masker::new([secret]).unwrap();
        let text = format!("before {secret} between {secret}{secret} after");
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let b = text.as_bytes();
                let out = mask_in_pieces(&mut m, &[&b[..i], &b[i..j], &b[j..]]);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    "before *** between ****** after",
                    "cut at {i} and {j}"
                );
            }
        }
    }

    #[test]
    fn bytes_that_are_no_secret_pass_exactly_and_at_once() {
        let mut m = Masker::new(["abcdef", "abcxyz123"]).unwrap();
        // Arbitrary bytes, including near misses and invalid UTF-8, in uneven pieces.
        let mut data = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..200_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            data.push(b"abcdexyz\xff\n"[(x >> 16) as usize % 10]);
        }
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let n = 1 + (at * 7919) % 97;
            let end = (at + n).min(data.len());
            let got = m.feed(&data[at..end]);
            // All but a tail that could start a secret goes on at once.
            assert!(out.len() + got.len() + 9 >= end, "held too much at {end}");
            out.extend(got);
            at = end;
        }
        out.extend(m.finish());
        assert_eq!(out, data);
    }

    #[test]
    fn a_secret_inside_a_longer_one_is_masked_whole() {
        let mut m = Masker::new(["pass12", "pass12_long_secret"]).unwrap();
        let out = mask_in_pieces(&mut m, &[b"x pass12", b"_long_secret y pass12 z"]);
        assert_eq!(String::from_utf8(out).unwrap(), "x *** y *** z");
    }

    #[test]
    fn secrets_that_overlap_in_the_log_are_masked_as_one_stretch_at_any_split() {
        let (a, b) = ("tokenABC123", "ABC123-and-more-secret");
        let text = b"x tokenABC123-and-more-secret y";
        for i in 0..=text.len() {
            let mut m = Masker::new([a, b]).unwrap();
            let out = mask_in_pieces(&mut m, &[&text[..i], &text[i..]]);
            assert_eq!(String::from_utf8(out).unwrap(), "x *** y", "cut at {i}");
        }
    }

    #[test]
    fn json_written_in_ascii_alone_is_caught() {
        let secret = "pässwörd-ünïcode";
        let mut m = Masker::new([secret]).unwrap();
        let encoded = "\"p\\u00e4ssw\\u00f6rd-\\u00fcn\\u00efcode\"";
        let out = mask_in_pieces(&mut m, &[encoded.as_bytes()]);
        assert_eq!(String::from_utf8(out).unwrap(), "\"***\"");
    }

    #[test]
    fn short_values_are_left_alone() {
        assert!(Masker::new(["12345"]).is_none());
        assert!(Masker::new(Vec::<&str>::new()).is_none());
    }
}
