//! Why a grant, revocation or query was rejected before sending.

use ksef_model::IdError;

/// A request this crate refused to build, with the field and the rule it broke.
///
/// The `Display` text names the field (with its wire name, e.g. `subjectIdentifier.value`) and
/// states the rule in words, so it can be shown to a user as is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A text field's length is outside the spec's bounds.
    #[error("`{field}` must be {min}..={max} characters long, got {actual}")]
    Length {
        /// Wire name of the field.
        field: &'static str,
        /// Smallest allowed length (characters).
        min: usize,
        /// Largest allowed length (characters).
        max: usize,
        /// The length given.
        actual: usize,
    },
    /// An identifier failed its format or checksum check.
    #[error("`{field}` is not a valid {}", .source.kind())]
    Identifier {
        /// Wire name of the field.
        field: &'static str,
        /// What was wrong with it.
        #[source]
        source: IdError,
    },
    /// A required field (or list) was not given or is empty.
    #[error("`{field}` is required: {why}")]
    Missing {
        /// Wire name of the field.
        field: &'static str,
        /// Why it is needed.
        why: &'static str,
    },
    /// A combination the spec does not allow for this kind of request.
    #[error("`{field}`: {rule}")]
    NotAllowed {
        /// Wire name of the field.
        field: &'static str,
        /// The rule, in words.
        rule: String,
    },
    /// A value the generated model refused (a backstop for the checks above).
    #[error("`{field}` was refused by the model: {reason}")]
    Model {
        /// Wire name of the field.
        field: &'static str,
        /// The model's reason.
        reason: String,
    },
}

impl ValidationError {
    /// Wire name of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Length { field, .. }
            | Self::Identifier { field, .. }
            | Self::Missing { field, .. }
            | Self::NotAllowed { field, .. }
            | Self::Model { field, .. } => field,
        }
    }

    pub(crate) fn not_allowed(field: &'static str, rule: impl Into<String>) -> Self {
        Self::NotAllowed { field, rule: rule.into() }
    }
}

/// Checks a length in characters against inclusive bounds.
pub(crate) fn check_len(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let actual = value.chars().count();
    if actual < min || actual > max {
        return Err(ValidationError::Length { field, min, max, actual });
    }
    Ok(())
}

/// Converts text into a constrained model newtype after checking its length.
pub(crate) fn text<T>(field: &'static str, value: &str, min: usize, max: usize) -> Result<T, ValidationError>
where
    T: TryFrom<String>,
    T::Error: core::fmt::Display,
{
    check_len(field, value, min, max)?;
    model(field, value)
}

/// Converts text into a model newtype, mapping its refusal.
pub(crate) fn model<T>(field: &'static str, value: &str) -> Result<T, ValidationError>
where
    T: TryFrom<String>,
    T::Error: core::fmt::Display,
{
    T::try_from(value.to_owned()).map_err(|e| ValidationError::Model { field, reason: e.to_string() })
}

/// Parses an identifier, naming the field on failure.
pub(crate) fn parse_id<T>(field: &'static str, value: &str) -> Result<T, ValidationError>
where
    T: core::str::FromStr<Err = IdError>,
{
    value.parse().map_err(|source| ValidationError::Identifier { field, source })
}
