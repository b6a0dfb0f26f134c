//! A strict string for request bodies and query parameters. poem-openapi's
//! `String` also accepts numbers and booleans (`42` becomes `"42"`); a
//! careful API refuses them, as its schema says `type: string`. Control
//! characters other than tab and line breaks are refused too: PostgreSQL
//! cannot store NUL in text, and the others have no place in a care record.

use std::{borrow::Cow, ops::Deref};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{MaybeUndefined, ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub const CONTROL_CHARACTERS: &str = "must not contain control characters";

/// Whether `s` holds a control character other than tab, line feed and
/// carriage return: the one rule for text the API accepts.
pub fn has_control_characters(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

impl Text {
    /// The string, unless it holds a control character other than tab, line
    /// feed or carriage return.
    pub fn parse(s: String) -> Result<Self, &'static str> {
        if has_control_characters(&s) {
            return Err(CONTROL_CHARACTERS);
        }
        Ok(Self(s))
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Self::parse(s).map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ParseFromParameter for Text {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value.to_owned()).map_err(ParseError::custom)
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_strings_parse() {
        assert_eq!(Text::parse_from_json(Some(Value::from("ok"))).unwrap(), Text("ok".into()));
        for bad in
            [Value::from(42), Value::from(true), Value::Null, serde_json::json!([]), serde_json::json!({})]
        {
            assert!(Text::parse_from_json(Some(bad.clone())).is_err(), "{bad}");
        }
        assert!(Text::parse_from_json(None).is_err());
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_are_not() {
        for bad in ["a\u{0}b", "\u{1b}[31m", "x\u{7f}", "\u{85}"] {
            assert!(Text::parse_from_json(Some(Value::from(bad))).is_err(), "{bad:?}");
            assert!(Text::parse_from_parameter(bad).is_err(), "{bad:?}");
        }
        let note = "line one\r\n\tline two";
        assert_eq!(Text::parse_from_json(Some(Value::from(note))).unwrap().0, note);
    }
}

/// An optional request field that may be absent but not `null`: the schema
/// says `type: string` (or whatever `T` is), not nullable, and a careful API
/// holds clients to it. Fields where `null` means "clear" use
/// `MaybeUndefined` instead, whose schema is nullable.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Opt<T>(pub Option<T>);

impl<T: Type> Type for Opt<T> {
    const IS_REQUIRED: bool = false;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        <Option<T> as Type>::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(T::as_raw_value)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(v) => v.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Opt<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(Self(None)),
            Some(Value::Null) => {
                Err(ParseError::custom("null is not allowed here; leave the field out instead"))
            }
            Some(v) => T::parse_from_json(Some(v)).map(|t| Self(Some(t))).map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Opt<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.as_ref().and_then(T::to_json)
    }
}

impl<T> Deref for Opt<T> {
    type Target = Option<T>;

    fn deref(&self) -> &Option<T> {
        &self.0
    }
}

/// An optional field of a partial update: absent leaves it as it is, `null`
/// clears it, a value sets it. poem-openapi's `MaybeUndefined` parses the
/// same, but its schema does not say `nullable`; this one does, so clients
/// and the request validator know `null` is allowed here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nullable<T>(pub MaybeUndefined<T>);

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = false;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        match T::schema_ref() {
            MetaSchemaRef::Inline(schema) => {
                MetaSchemaRef::Inline(Box::new(MetaSchema { nullable: true, ..*schema }))
            }
            reference => MetaSchemaRef::Inline(Box::new(MetaSchema {
                nullable: true,
                all_of: vec![reference],
                ..MetaSchema::ANY
            })),
        }
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_raw_value()
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        self.0.raw_element_iter()
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        MaybeUndefined::parse_from_json(value).map(Self).map_err(ParseError::propagate)
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        match &self.0 {
            MaybeUndefined::Value(v) => v.to_json(),
            MaybeUndefined::Null => Some(Value::Null),
            MaybeUndefined::Undefined => None,
        }
    }
}

impl<T> Deref for Nullable<T> {
    type Target = MaybeUndefined<T>;

    fn deref(&self) -> &MaybeUndefined<T> {
        &self.0
    }
}
