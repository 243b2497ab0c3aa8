//! The variants of a persisted enum, as its serde derive lists them, so the samples can be
//! checked to cover every one (a new variant without a sample fails a test).

use std::collections::BTreeSet;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserializer, Serialize};

/// Every variant name of the enum `T`, in declaration order (the order of postcard's
/// variant indexes).
fn names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut capture = Capture(None);
    // The capture refuses to deserialize anything; it only records the names it is shown.
    let _refused = T::deserialize(&mut capture);
    capture.0.expect("a persisted enum with a serde derive")
}

/// The name of `value`'s variant: postcard writes the variant index first.
pub(super) fn name_of<T: Serialize + DeserializeOwned>(value: &T) -> &'static str {
    let bytes = postcard::to_stdvec(value).expect("encoding a sample cannot fail");
    assert!(
        bytes[0] < 0x80,
        "more than 127 variants need a longer index"
    );
    names::<T>()[usize::from(bytes[0])]
}

/// A message per variant of `T` that no sample has, and per variant sampled twice.
pub(super) fn uncovered<T: Serialize + DeserializeOwned>(
    type_name: &str,
    samples: &[T],
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for sample in samples {
        let name = name_of(sample);
        if !seen.insert(name) {
            failures.push(format!(
                "{type_name}::{name} has two samples: keep one, their fixtures share a name"
            ));
        }
    }
    for name in names::<T>() {
        if !seen.contains(name) {
            failures.push(format!(
                "{type_name}::{name} has no sample, so its persisted layout is not pinned: \
                 append one to its list in src/tests/samples.rs, then write its fixture with \
                 UPDATE_FIXTURES=1 cargo test -p cmdb formats"
            ));
        }
    }
    failures
}

/// A deserializer that only records the variant names an enum's `Deserialize` passes it.
struct Capture(Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for &mut Capture {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not an enum"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(variants);
        Err(de::Error::custom("variant names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}
