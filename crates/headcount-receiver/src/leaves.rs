//! A serde serializer that writes a report's leaves straight out as (dotted path, value text),
//! without building a `serde_json::Value` tree first: this runs once per accepted report, and the
//! tree cost more than validating the report. Anything it does not handle (maps, tuples, raw
//! bytes) is an error, and the caller falls back to the general `serde_json::Value` walk.

use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize};

/// Why the fast path gave up.
#[derive(Debug)]
pub struct Unsupported;

impl Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("shape not supported by the leaf serializer")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: Display>(_: T) -> Self {
        Unsupported
    }
}

/// Collects leaves; `path` is the current dotted path, reused across fields, and `text` the
/// current number's digits: a leaf is handed out borrowed, nothing is allocated per leaf.
pub struct Leaves<'a, F: FnMut(&str, &str)> {
    path: String,
    text: String,
    emit: &'a mut F,
}

impl<'a, F: FnMut(&str, &str)> Leaves<'a, F> {
    /// Calls `emit(path, value)` for every leaf of `value`, in serialization order.
    pub fn walk<T: Serialize + ?Sized>(value: &T, emit: &'a mut F) -> Result<(), Unsupported> {
        let mut l = Leaves {
            path: String::new(),
            text: String::new(),
            emit,
        };
        value.serialize(&mut l)
    }

    fn leaf(&mut self, v: &str) -> Result<(), Unsupported> {
        if self.path.is_empty() {
            return Err(Unsupported);
        }
        (self.emit)(&self.path, v);
        Ok(())
    }

    /// A leaf written with `Display` (numbers, booleans, characters).
    fn shown(&mut self, v: impl Display) -> Result<(), Unsupported> {
        use std::fmt::Write;
        if self.path.is_empty() {
            return Err(Unsupported);
        }
        self.text.clear();
        write!(self.text, "{v}").map_err(|_| Unsupported)?;
        (self.emit)(&self.path, &self.text);
        Ok(())
    }
}

type R = Result<(), Unsupported>;

impl<'a, 'b, F: FnMut(&str, &str)> ser::Serializer for &'b mut Leaves<'a, F> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Self;
    type SerializeTuple = Impossible<(), Unsupported>;
    type SerializeTupleStruct = Impossible<(), Unsupported>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Impossible<(), Unsupported>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> R {
        self.shown(v)
    }
    fn serialize_i8(self, v: i8) -> R {
        self.shown(v)
    }
    fn serialize_i16(self, v: i16) -> R {
        self.shown(v)
    }
    fn serialize_i32(self, v: i32) -> R {
        self.shown(v)
    }
    fn serialize_i64(self, v: i64) -> R {
        self.shown(v)
    }
    fn serialize_u8(self, v: u8) -> R {
        self.shown(v)
    }
    fn serialize_u16(self, v: u16) -> R {
        self.shown(v)
    }
    fn serialize_u32(self, v: u32) -> R {
        self.shown(v)
    }
    fn serialize_u64(self, v: u64) -> R {
        self.shown(v)
    }
    // Floats print differently here than in serde_json; let the general path handle them.
    fn serialize_f32(self, _: f32) -> R {
        Err(Unsupported)
    }
    fn serialize_f64(self, _: f64) -> R {
        Err(Unsupported)
    }
    fn serialize_char(self, v: char) -> R {
        self.shown(v)
    }
    fn serialize_str(self, v: &str) -> R {
        self.leaf(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> R {
        Err(Unsupported)
    }
    // Absent: no leaf, as with JSON null.
    fn serialize_none(self) -> R {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> R {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> R {
        self.leaf(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> R {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> R {
        Err(Unsupported)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Unsupported> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Unsupported> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

impl<'a, 'b, F: FnMut(&str, &str)> ser::SerializeStruct for &'b mut Leaves<'a, F> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> R {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        let r = v.serialize(&mut **self);
        self.path.truncate(len);
        r
    }

    fn end(self) -> R {
        Ok(())
    }
}

/// An array counts each element under the array's own path.
impl<'a, 'b, F: FnMut(&str, &str)> ser::SerializeSeq for &'b mut Leaves<'a, F> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> R {
        v.serialize(&mut **self)
    }

    fn end(self) -> R {
        Ok(())
    }
}
