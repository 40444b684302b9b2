//! The model written once: the [`model!`] macro declares a struct of the extension model together
//! with the two things every tool needs of each field, so a new field needs nothing else.
//!
//! - [`Bake`]: the value written back as Rust, `::quarry_core::Download { name: "rg", ... }`.
//!   `codegen` emits an extension crate's registration this way, so the code it writes and the
//!   value it reads at run time (a project extension) are one value.
//! - [`Record::set`]: a field set from a plain value of `extension.toml` (a string, a list of
//!   strings, a boolean, an integer) by its key, so codegen's reader fills every plain key the
//!   schema declares without code of its own for it.
//!
//! [`vocabulary!`] declares a closed list of words (archive kinds, architectures, checksum
//! formats, host values): the enum, its one list of keys, and both directions of the mapping.

use std::fmt::Write;

/// A value written as the Rust expression that builds it, with paths from `::quarry_core`.
pub trait Bake {
    /// Appends the expression to `out`.
    fn bake(&self, out: &mut String);

    /// A slice of these, `&[a, b]`; bytes write a byte string instead.
    fn bake_slice(items: &[Self], out: &mut String)
    where
        Self: Sized,
    {
        out.push_str("&[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            item.bake(out);
        }
        out.push(']');
    }
}

/// The expression that builds `value`.
pub fn bake<T: Bake + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    value.bake(&mut out);
    out
}

impl Bake for &'static str {
    fn bake(&self, out: &mut String) {
        // `Debug` of a `str` is valid Rust literal syntax.
        let _ = write!(out, "{self:?}");
    }
}

impl Bake for bool {
    fn bake(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Bake for u8 {
    fn bake(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }

    fn bake_slice(items: &[u8], out: &mut String) {
        out.push_str("b\"");
        for &b in items {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\t' => out.push_str("\\t"),
                0x20..=0x7e => out.push(char::from(b)),
                _ => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
        out.push('"');
    }
}

impl<T: Bake> Bake for &'static [T] {
    fn bake(&self, out: &mut String) {
        T::bake_slice(self, out);
    }
}

impl<T: Bake> Bake for Option<T> {
    fn bake(&self, out: &mut String) {
        match self {
            Some(v) => {
                out.push_str("::core::option::Option::Some(");
                v.bake(out);
                out.push(')');
            }
            None => out.push_str("::core::option::Option::None"),
        }
    }
}

/// A plain value of `extension.toml`, as codegen's reader hands it to [`Record::set`]; strings
/// are `'static` like the model's (a registration is a static, a project extension is leaked).
#[derive(Debug, Clone, Copy)]
pub enum Plain {
    /// A string.
    Str(&'static str),
    /// An array of strings.
    Strs(&'static [&'static str]),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
}

/// A field's type, as far as plain values go: `Ok(None)` for the types a reader builds itself
/// (templates, tables, rules), an error (the diagnostic's rule and message) when the value does
/// not fit.
pub trait FromPlain: Sized {
    /// The field's value from `plain`.
    fn from_plain(_plain: Plain) -> Result<Option<Self>, (&'static str, String)> {
        Ok(None)
    }
}

fn mismatch(plain: Plain, expected: &str) -> (&'static str, String) {
    ("type", format!("the model holds {expected} here, but the schema gives {plain:?}: make the two agree"))
}

impl FromPlain for &'static str {
    fn from_plain(plain: Plain) -> Result<Option<Self>, (&'static str, String)> {
        match plain {
            Plain::Str(s) => Ok(Some(s)),
            other => Err(mismatch(other, "a string")),
        }
    }
}

impl FromPlain for Option<&'static str> {
    fn from_plain(plain: Plain) -> Result<Option<Self>, (&'static str, String)> {
        <&'static str>::from_plain(plain).map(|s| s.map(Some))
    }
}

impl FromPlain for &'static [&'static str] {
    fn from_plain(plain: Plain) -> Result<Option<Self>, (&'static str, String)> {
        match plain {
            Plain::Strs(s) => Ok(Some(s)),
            other => Err(mismatch(other, "a list of strings")),
        }
    }
}

impl FromPlain for bool {
    fn from_plain(plain: Plain) -> Result<Option<Self>, (&'static str, String)> {
        match plain {
            Plain::Bool(b) => Ok(Some(b)),
            other => Err(mismatch(other, "a boolean")),
        }
    }
}

impl FromPlain for u8 {
    fn from_plain(plain: Plain) -> Result<Option<Self>, (&'static str, String)> {
        match plain {
            Plain::Int(i) => u8::try_from(i)
                .map(Some)
                .map_err(|_| ("type", format!("{i} is out of range: use a whole number from 0 to 255"))),
            other => Err(mismatch(other, "an integer")),
        }
    }
}

impl FromPlain for &'static [u8] {}

/// A struct of the model whose fields a reader may set by key.
pub trait Record {
    /// Sets the field named `key` from `plain`: `Ok(true)` when set, `Ok(false)` when no plain
    /// field has that name (a key the reader handles itself), an error (rule and message) when
    /// the value does not fit the field.
    fn set(&mut self, key: &str, plain: Plain) -> Result<bool, (&'static str, String)>;
}

/// Declares model structs: each one as written, with [`Bake`] and [`Record`] over its fields
/// and a plain-free [`FromPlain`] for it, its slices and its `Option`.
macro_rules! model {
    ($(
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl $crate::bake::Bake for $name {
            fn bake(&self, out: &mut String) {
                out.push_str(concat!("::quarry_core::", stringify!($name), " {"));
                let mut _first = true;
                $(
                    out.push_str(if _first { " " } else { ", " });
                    _first = false;
                    out.push_str(concat!(stringify!($field), ": "));
                    $crate::bake::Bake::bake(&self.$field, out);
                )*
                out.push_str(" }");
            }
        }

        impl $crate::bake::Record for $name {
            fn set(&mut self, key: &str, plain: $crate::bake::Plain) -> Result<bool, (&'static str, String)> {
                match key {
                    $(
                        stringify!($field) => {
                            match <$ty as $crate::bake::FromPlain>::from_plain(plain)? {
                                Some(value) => {
                                    self.$field = value;
                                    Ok(true)
                                }
                                None => Ok(false),
                            }
                        }
                    )*
                    _ => Ok(false),
                }
            }
        }

        impl $crate::bake::FromPlain for $name {}
        impl $crate::bake::FromPlain for &'static [$name] {}
        impl $crate::bake::FromPlain for Option<$name> {}
    )*};
}
pub(crate) use model;

/// Declares a closed list of words: the enum, `ALL` and `KEYS` in documentation order, `key`,
/// `from_key`, and [`Bake`].
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $key:literal
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $(
                $(#[$variant_meta])*
                $variant,
            )*
        }

        impl $name {
            /// Every value, in documentation order: the one list.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// Every value's key, as metadata writes it, in the order of [`Self::ALL`].
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// The name used in metadata files.
            pub const fn key(self) -> &'static str {
                match self {
                    $($name::$variant => $key,)*
                }
            }

            /// The value written `key` in metadata.
            pub fn from_key(key: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.key() == key)
            }
        }

        impl $crate::bake::Bake for $name {
            fn bake(&self, out: &mut String) {
                let variant = match self {
                    $($name::$variant => stringify!($variant),)*
                };
                out.push_str(concat!("::quarry_core::", stringify!($name), "::"));
                out.push_str(variant);
            }
        }

        impl $crate::bake::FromPlain for $name {}
        impl $crate::bake::FromPlain for Option<$name> {}
    };
}
pub(crate) use vocabulary;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_a_byte_string_and_text_a_literal() {
        let bytes: &'static [u8] = b"a\"\\\n\t\x01\xff";
        assert_eq!(bake(&bytes), r#"b"a\"\\\n\t\x01\xff""#);
        let text: &'static [&'static str] = &["a\"b", "\u{1}"];
        assert_eq!(bake(&text), r#"&["a\"b", "\u{1}"]"#);
        assert_eq!(bake(&Some("x")), "::core::option::Option::Some(\"x\")");
    }

    #[test]
    fn a_value_that_does_not_fit_is_an_error() {
        assert_eq!(
            u8::from_plain(Plain::Int(300)).unwrap_err(),
            ("type", "300 is out of range: use a whole number from 0 to 255".to_owned())
        );
        assert!(bool::from_plain(Plain::Str("x")).unwrap_err().1.contains("make the two agree"));
        let priority = crate::model::CachePriority::from_plain(Plain::Int(101)).unwrap_err();
        assert_eq!(priority.0, "priority-range");
        assert_eq!(
            crate::model::CachePriority::from_plain(Plain::Int(100)).unwrap().map(|p| p.get()),
            Some(100)
        );
        assert_eq!(<&'static [u8]>::from_plain(Plain::Str("x")).unwrap(), None);
    }
}
