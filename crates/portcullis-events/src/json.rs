//! A small JSON writer for the events built on every invocation (payload 2.0 and the REQUEST 2.0
//! authorizer event). Going through `serde_json` with owned maps cost about 21k instructions per
//! event under callgrind: a `BTreeMap<String, String>` of headers, formatting of the
//! source IP and the time, and `serde_json`'s byte-at-a-time string escaping, which was 40% of
//! it. This writes fields in place; strings that need no escaping (nearly all: header values,
//! paths, ids) are copied whole, and the rest go through `serde_json`, so the bytes are exactly
//! what `serde_json` writes.

use serde::Serialize;

/// Appends `s` as a JSON string.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    if !may_need_escaping(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Whether `bytes` may hold a byte JSON escapes (a control character, `"` or `\\`), eight bytes
/// at a time: the classic "has a byte less than n / equal to c" word tricks, exact as a yes/no
/// for the whole word. A yes only sends the string the slow way, so it could never corrupt output.
fn may_need_escaping(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut array = [0u8; 8];
        array.copy_from_slice(word);
        let x = u64::from_ne_bytes(array);
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if control | has_zero(x ^ QUOTES) | has_zero(x ^ BACKSLASHES) != 0 {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// An object being written: `{` on creation, `,` between members, `}` on [`Object::end`].
pub(crate) struct Object<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Object<'o> {
    pub(crate) fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` and returns the buffer for the value.
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string(self.out, key);
        self.out.push(b':');
        self.out
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) {
        let out = self.key(key);
        string(out, value);
    }

    pub(crate) fn null(&mut self, key: &str) {
        self.key(key).extend_from_slice(b"null");
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) {
        let out = self.key(key);
        out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub(crate) fn u64(&mut self, key: &str, value: u64) {
        let out = self.key(key);
        let mut digits = itoa::Buffer::new();
        out.extend_from_slice(digits.format(value).as_bytes());
    }

    /// A member whose value is serialized by `serde_json` (nested maps of arbitrary JSON).
    pub(crate) fn serialize<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        let out = self.key(key);
        serde_json::to_writer(out, value)
    }

    /// A member whose value is an object of string members, in the order given.
    pub(crate) fn str_map<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        key: &str,
        members: impl IntoIterator<Item = (K, V)>,
    ) {
        let mut map = Object::new(self.key(key));
        for (k, v) in members {
            map.str(k.as_ref(), v.as_ref());
        }
        map.end();
    }

    /// A member whose value is an array of strings.
    pub(crate) fn str_array<S: AsRef<str>>(&mut self, key: &str, items: &[S]) {
        let out = self.key(key);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, item.as_ref());
        }
        out.push(b']');
    }

    pub(crate) fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_match_serde_json_byte_for_byte() {
        let samples = [
            "",
            "plain text/with:slashes",
            "quote \" and backslash \\",
            "controls \n\r\t\u{8}\u{c}\u{0}\u{1f} end",
            "del \u{7f} and unicode é ✓ 😀",
            "</script>",
        ];
        for s in samples {
            let mut ours = Vec::new();
            string(&mut ours, s);
            assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn escaping_is_detected_at_every_position_of_a_word() {
        for len in 0..20 {
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = special;
                    assert!(may_need_escaping(&bytes), "len {len} at {at} byte {special:#x}");
                }
                let mut clean = vec![b'a'; len];
                for (i, b) in [0x20, 0x7f, 0x80, 0xff, b'!', b'#', b'[', b']'].into_iter().enumerate() {
                    clean[(at + i) % len] = b;
                }
                assert!(!may_need_escaping(&clean), "len {len} at {at}: {clean:?}");
            }
        }
    }

    #[test]
    fn objects_nest_and_separate_members() {
        let mut out = Vec::new();
        let mut top = Object::new(&mut out);
        top.str("a", "x");
        {
            let mut inner = Object::new(top.key("b"));
            inner.u64("n", 18_446_744_073_709_551_615);
            inner.bool("t", true);
            inner.end();
        }
        top.str_array("c", &["1", "2"]);
        top.str_map("d", [("k", "v")]);
        top.serialize("e", &serde_json::json!({"z": [1, null]})).unwrap();
        Object::new(top.key("f")).end();
        top.end();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"a":"x","b":{"n":18446744073709551615,"t":true},"c":["1","2"],"d":{"k":"v"},"e":{"z":[1,null]},"f":{}}"#
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }
}
