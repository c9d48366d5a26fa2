//! A JSON tree for building and mutating payloads as text: numbers stay their literal text
//! (Taobao ids wider than u64 survive), members keep their order and may repeat (duplicate
//! keys), and a string that holds a JSON document (TMC and PDD message `content`) is kept as
//! that document, so mutations reach inside it too.

#![allow(dead_code)]

#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    /// A number literal, written as is: may be anything a JSON number can be, or not quite.
    Num(String),
    Str(String),
    /// Text inserted verbatim (malformed escapes, bare words).
    Raw(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    /// A JSON document carried as a string value.
    Embedded(Box<J>),
}

impl J {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) | J::Raw(n) => out.push_str(n),
            J::Str(s) => out.push_str(&serde_json::to_string(s).expect("a string serializes")),
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("a key serializes"));
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            J::Embedded(doc) => {
                out.push_str(&serde_json::to_string(&doc.render()).expect("a string serializes"))
            }
        }
    }

    /// Parse trusted JSON text (the corpus). Panics on malformed text: the corpus is fixed.
    pub fn parse(text: &str) -> J {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing text in corpus JSON");
        v
    }

    /// Every node, in pre-order, as a path of child indexes from the root.
    pub fn paths(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(at.clone());
        let n = match self {
            J::Arr(items) => items.len(),
            J::Obj(members) => members.len(),
            J::Embedded(_) => 1,
            _ => 0,
        };
        for i in 0..n {
            at.push(i);
            self.child(i).collect(at, out);
            at.pop();
        }
    }

    fn child(&self, i: usize) -> &J {
        match self {
            J::Arr(items) => &items[i],
            J::Obj(members) => &members[i].1,
            J::Embedded(doc) => doc,
            _ => unreachable!("only containers have children"),
        }
    }

    fn child_mut(&mut self, i: usize) -> &mut J {
        match self {
            J::Arr(items) => &mut items[i],
            J::Obj(members) => &mut members[i].1,
            J::Embedded(doc) => doc,
            _ => unreachable!("only containers have children"),
        }
    }

    pub fn at(&self, path: &[usize]) -> &J {
        path.iter().fold(self, |j, &i| j.child(i))
    }

    pub fn at_mut(&mut self, path: &[usize]) -> &mut J {
        path.iter().fold(self, |j, &i| j.child_mut(i))
    }

    /// The member name under which the node at `path` sits, if its parent is an object.
    pub fn key_of(&self, path: &[usize]) -> Option<&str> {
        let (last, parent) = path.split_last()?;
        match self.at(parent) {
            J::Obj(members) => Some(members[*last].0.as_str()),
            _ => None,
        }
    }

    /// Every member name anywhere in the tree (embedded documents included).
    pub fn keys(&self, out: &mut Vec<String>) {
        match self {
            J::Obj(members) => {
                for (k, v) in members {
                    out.push(k.clone());
                    v.keys(out);
                }
            }
            J::Arr(items) => items.iter().for_each(|v| v.keys(out)),
            J::Embedded(doc) => doc.keys(out),
            _ => {}
        }
    }

    /// Every string value anywhere in the tree.
    pub fn strings(&self, out: &mut Vec<String>) {
        match self {
            J::Str(s) => out.push(s.clone()),
            J::Obj(members) => members.iter().for_each(|(_, v)| v.strings(out)),
            J::Arr(items) => items.iter().for_each(|v| v.strings(out)),
            J::Embedded(doc) => doc.strings(out),
            _ => {}
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn value(&mut self) -> J {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b'}' {
                        self.i += 1;
                        break;
                    }
                    let k = self.string();
                    self.ws();
                    assert_eq!(self.s[self.i], b':');
                    self.i += 1;
                    let v = self.value();
                    members.push((k, v));
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
                J::Obj(members)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b']' {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value());
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
                J::Arr(items)
            }
            b'"' => {
                let s = self.string();
                let t = s.trim_start();
                if t.starts_with('{') || t.starts_with('[') {
                    let mut inner = Parser {
                        s: s.as_bytes(),
                        i: 0,
                    };
                    let doc = inner.value();
                    return J::Embedded(Box::new(doc));
                }
                J::Str(s)
            }
            b't' => self.word("true", J::Bool(true)),
            b'f' => self.word("false", J::Bool(false)),
            b'n' => self.word("null", J::Null),
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                assert!(self.i > start, "unexpected byte in corpus JSON at {start}");
                J::Num(String::from_utf8(self.s[start..self.i].to_vec()).unwrap())
            }
        }
    }

    fn word(&mut self, w: &str, v: J) -> J {
        assert!(self.s[self.i..].starts_with(w.as_bytes()));
        self.i += w.len();
        v
    }

    fn string(&mut self) -> String {
        // Find the closing quote (skipping escapes) and let serde_json unescape.
        assert_eq!(self.s[self.i], b'"');
        let start = self.i;
        self.i += 1;
        while self.s[self.i] != b'"' {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        self.i += 1;
        serde_json::from_slice(&self.s[start..self.i]).expect("a corpus string literal")
    }
}
