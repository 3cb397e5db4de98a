//! The payload of the `Unknown` variant that response enums carry.

/// An enum value KSeF sent that this version of the model does not know.
///
/// KSeF adds enum values between releases; a response that carries one still deserializes, with
/// the value kept verbatim (and serialized back unchanged). The field is private: code cannot
/// invent unknown values, so everything a caller *builds* stays within the spec's enums.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnknownEnumValue(String);

impl UnknownEnumValue {
    /// The value as KSeF sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Display for UnknownEnumValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}
