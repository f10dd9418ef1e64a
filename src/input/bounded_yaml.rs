//! YAML documents read with a bound on what they expand to. An alias (`*a`) is replayed
//! each time it is used, so a few hundred bytes of nested aliases ("billion laughs") make
//! millions of nodes: 200 KB of them took 1 GB and a second to read, 2 MB took 8.6 GB.
//! serde_yaml's own repetition limit grows with the document, so it does not stop that.
//! Here every node the parser hands over is counted as it arrives, and reading stops at
//! the bound, before the expansion is ever built.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Number, Value};

/// The most nodes a document of `bytes` bytes may expand to: plainly written YAML needs at
/// least two bytes a node, so this allows aliases a generous share and nothing explosive.
pub fn node_budget(bytes: usize) -> usize {
    10_000 + 2 * bytes
}

/// `serde_yaml::from_str::<Value>` with at most [`node_budget`] nodes.
pub fn from_str(doc: &str) -> Result<Value, String> {
    let budget = node_budget(doc.len());
    let left = Cell::new(budget);
    let de = serde_yaml::Deserializer::from_str(doc);
    match (Counted { left: &left }).deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) if left.get() == 0 => Err(format!(
            "the document expands to more than {budget} nodes (YAML aliases replayed over \
             and over): refused ({e})"
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Clone, Copy)]
struct Counted<'a> {
    left: &'a Cell<usize>,
}

impl Counted<'_> {
    fn take<E: de::Error>(self) -> Result<(), E> {
        match self.left.get() {
            0 => Err(E::custom("node budget exhausted")),
            n => {
                self.left.set(n - 1);
                Ok(())
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counted<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Number(Number::from(n)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.take()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Sequence(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.take()?;
        let mut out = Mapping::new();
        while let Some(k) = map.next_key_seed(self)? {
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Mapping(out))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A custom tag (`!thing value`): kept as serde_yaml keeps it.
        use de::VariantAccess;
        self.take()?;
        let (tag, variant): (String, _) = data.variant()?;
        let value = variant.newtype_variant_seed(self)?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laughs(levels: usize, pad: usize) -> String {
        let mut s = format!("pad: [{}]\n", vec!["1"; pad].join(","));
        s.push_str("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            let refs: Vec<String> = (0..9).map(|_| format!("*a{}", i - 1)).collect();
            s.push_str(&format!("a{i}: &a{i} [{}]\n", refs.join(", ")));
        }
        s
    }

    #[test]
    fn reads_what_serde_yaml_reads() {
        let docs = [
            "a: 1\nb: [x, 2.5, true, null, ~]\nc: {d: -3, e: '7'}\n",
            "base: &b {x: 1}\nuse: *b\nmerged:\n  <<: *b\n  y: 2\n",
            "tagged: !thing {k: v}\nlist: !!str 123\n",
            "",
        ];
        for doc in docs {
            let want: Value = serde_yaml::from_str(doc).unwrap();
            assert_eq!(from_str(doc).unwrap(), want, "{doc}");
        }
    }

    #[test]
    fn an_exploding_document_is_refused_before_it_expands() {
        // 200 KB that expands to 6 million nodes (1 GB in memory with plain serde_yaml).
        let doc = laughs(7, 100_000);
        let t = std::time::Instant::now();
        let err = from_str(&doc).unwrap_err();
        assert!(err.contains("expands to more than"), "{err}");
        eprintln!("{} bytes refused in {:?}", doc.len(), t.elapsed());
        // Modest aliasing stays readable.
        assert!(from_str(&laughs(3, 10)).is_ok());
    }

    #[test]
    fn syntax_errors_keep_their_message() {
        let err = from_str("a: [1, 2\n").unwrap_err();
        assert!(!err.contains("expands"), "{err}");
    }
}
