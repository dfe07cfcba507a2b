//! The words downwave stores and sends for its closed sets (statuses,
//! severities, message kinds): each is an enum in the code, and text only at
//! the SQL row and the JSON edge. [`vocabulary!`] gives an enum its word
//! (`as_str`, `Display`) and the way back (`FromStr`); serde's names must be
//! the same words (each enum's tests check it).
//!
//! Here because the detector's own sets (statuses, severities) use it and
//! the detector imports nothing outside itself; the domain's sets (message
//! kinds, webhook formats) use it from here.

/// A word outside an enum's set (a row written by a newer downwave, or a
/// typo in a test).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{word}' is not a {what}")]
pub struct UnknownWord {
    pub what: &'static str,
    pub word: String,
}

/// `vocabulary!(Type, "what it is", { Variant => "word", ... })`.
macro_rules! vocabulary {
    ($ty:ident, $what:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The word as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::detect::vocabulary::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    _ => Err($crate::detect::vocabulary::UnknownWord {
                        what: $what,
                        word: s.to_owned(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use vocabulary;

/// Checks that serde writes every value of `T` as its word and reads it back.
#[cfg(test)]
pub(crate) fn assert_serde_matches<T>(all: &[T], word: impl Fn(&T) -> &'static str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    for v in all {
        let json = serde_json::to_value(v).unwrap_or_default();
        assert_eq!(json, serde_json::json!(word(v)), "{v:?}");
        let back: T = serde_json::from_value(json).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(&back, v);
    }
}
