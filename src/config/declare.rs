//! What one setting's declaration turns into: the `settings!` macro that
//! writes the command-line and TOML type ([`super::ConfigArgs`]), the merge of
//! two of them, the resolution into [`super::Settings`], and the table
//! ([`Setting`]) that `--help` and the documentation are checked against.
//!
//! It is separate from the declarations so that `mod.rs` reads as the list of
//! settings and nothing else: a setting's name, type, default, rule and
//! paragraph are written there once, and everything here follows from them.

use super::{Location, SyncMode};
use crate::ingest::ForwardedHeader;
use clap::ValueEnum;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One setting as the documentation shows it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The key in the TOML file, which the flag and the variable are spelt from.
    pub key: &'static str,
    /// `--key-with-dashes`.
    pub flag: &'static str,
    /// `DOWNWAVE_KEY_IN_CAPITALS`.
    pub env: &'static str,
    /// The default, as text.
    pub default: DefaultText,
    /// The paragraph of the declaration's doc comment, with its line breaks.
    pub doc: &'static str,
}

/// How a setting's default is shown.
#[derive(Debug, Clone, Copy)]
pub enum DefaultText {
    /// The default expression itself, evaluated and shown.
    Value(fn() -> String),
    /// A default computed from the machine or from another setting, shown
    /// as words that say how ("one per core").
    Computed(&'static str),
}

impl Setting {
    /// The default as `--help` and the docs show it.
    pub fn default_text(&self) -> String {
        match self.default {
            DefaultText::Value(show) => show(),
            DefaultText::Computed(words) => words.to_owned(),
        }
    }

    /// The documentation as one line.
    pub fn doc_line(&self) -> String {
        self.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The flag without its dashes, as clap's `long` takes it.
    pub fn long(&self) -> &'static str {
        self.flag.trim_start_matches('-')
    }

    /// The `--help` text: the paragraph and the default.
    pub fn help(&self) -> String {
        let doc = self.doc_line();
        format!(
            "{} [default: {}]",
            doc.strip_suffix('.').unwrap_or(&doc),
            self.default_text()
        )
    }
}

/// A value as `--help` and the docs show it when it is a default: an empty
/// text or list is shown as what it means.
pub trait ShowDefault {
    fn show(&self) -> String;
}

macro_rules! show_by_display {
    ($($t:ty),*) => {
        $(impl ShowDefault for $t {
            fn show(&self) -> String {
                self.to_string()
            }
        })*
    };
}
show_by_display!(u32, u64, usize, f64, bool, SocketAddr, Location);

impl ShowDefault for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl ShowDefault for String {
    fn show(&self) -> String {
        if self.is_empty() {
            "unset".to_owned()
        } else {
            self.clone()
        }
    }
}

impl ShowDefault for Vec<IpNet> {
    fn show(&self) -> String {
        if self.is_empty() {
            "none".to_owned()
        } else {
            let nets: Vec<String> = self.iter().map(IpNet::to_string).collect();
            nets.join(",")
        }
    }
}

impl ShowDefault for ForwardedHeader {
    fn show(&self) -> String {
        self.name().to_owned()
    }
}

impl ShowDefault for SyncMode {
    fn show(&self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned())
    }
}

/// `prefix` and then `name`, with each `_` of the name written `sep` and,
/// if `upper`, in capitals: how a flag and a variable are spelt from a
/// setting's name, at compile time. `N` is the length of the two.
pub const fn spell<const N: usize>(prefix: &str, name: &str, sep: u8, upper: bool) -> [u8; N] {
    let (prefix, name) = (prefix.as_bytes(), name.as_bytes());
    assert!(prefix.len() + name.len() == N, "N is the length of the two");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < prefix.len() {
        out[i] = prefix[i];
        i += 1;
    }
    let mut j = 0;
    while j < name.len() {
        out[i + j] = match name[j] {
            b'_' => sep,
            b if upper => b.to_ascii_uppercase(),
            b => b,
        };
        j += 1;
    }
    out
}

/// A setting's name spelt with a prefix (see [`spell`]), as a `&'static str`.
macro_rules! spelled {
    ($prefix:literal, $name:ident, $sep:literal, $upper:literal) => {{
        const NAME: &str = stringify!($name);
        const BYTES: [u8; $prefix.len() + NAME.len()] =
            $crate::config::declare::spell($prefix, NAME, $sep, $upper);
        match ::std::str::from_utf8(&BYTES) {
            Ok(spelt) => spelt,
            Err(_) => panic!("a setting's name is ASCII"),
        }
    }};
}

/// The [`DefaultText`] of a declaration: its display words if it has them,
/// else its default expression, evaluated when shown.
macro_rules! default_text {
    ([$words:literal] $ty:ty, $default:expr) => {
        $crate::config::declare::DefaultText::Computed($words)
    };
    ([] $ty:ty, $default:expr) => {
        $crate::config::declare::DefaultText::Value(|| {
            let value: $ty = $default;
            $crate::config::declare::ShowDefault::show(&value)
        })
    };
}

/// [`SETTINGS`](super::SETTINGS), and one [`Setting`] per declaration in a
/// module `entries` under the setting's name, for the clap attributes.
macro_rules! setting_table {
    ($({[$($doc:literal)+] $name:ident [$ty:ty] [$default:expr] [$($shown:literal)?]})*) => {
        /// Every setting, in the order declared.
        pub static SETTINGS: &[$crate::config::declare::Setting] = &[$(entries::$name),*];

        /// One [`Setting`](declare::Setting) per declaration, under its name.
        #[allow(non_upper_case_globals)]
        mod entries {
            use super::*;
            $(
                pub const $name: $crate::config::declare::Setting = $crate::config::declare::Setting {
                    key: stringify!($name),
                    flag: spelled!("--", $name, b'-', false),
                    env: spelled!("DOWNWAVE_", $name, b'_', true),
                    default: default_text!([$($shown)?] $ty, $default),
                    doc: concat!($($doc, "\n"),+),
                };
            )*
        }
    };
}

/// Every setting, declared once. Each declaration is
///
/// ```text
/// /// The paragraph `--help` and the docs show.
/// #[arg(more clap attributes)]                      (optional)
/// name: Type = default expression
///     , shown "words"                               (optional: a computed default)
///     , check rule, check rule                      (optional, in order)
///     => settings_field: SettingsType = conversion  (optional)
///     ;
/// ```
///
/// The flag is `--name` with `-` for `_`, the variable `DOWNWAVE_NAME`, the
/// TOML key `name`. A default expression may use a setting declared before
/// it by its name. A rule is a function of `&Type` that returns the rule in
/// words when the value breaks it; the conversion, a function of `Type`,
/// gives the value [`super::Settings`] holds (the value itself without one).
macro_rules! settings {
    // Each declaration is brought to one shape, then all are written out.
    (@norm [$($done:tt)*]) => { settings!(@emit $($done)*); };
    (@norm [$($done:tt)*]
        $(#[doc = $doc:literal])+
        $(#[arg($($clap:tt)*)])?
        $name:ident: $ty:ty = $default:expr
        $(, shown $shown:literal)?
        $(, check $check:expr)*
        => $field:ident: $fty:ty = $conv:expr;
        $($rest:tt)*
    ) => {
        settings!(@norm [$($done)* {
            [$($doc)+] [$($($clap)*)?] $name [$ty] [$default] [$($shown)?] [$($check),*]
            $field [$fty] [$conv]
        }] $($rest)*);
    };
    (@norm [$($done:tt)*]
        $(#[doc = $doc:literal])+
        $(#[arg($($clap:tt)*)])?
        $name:ident: $ty:ty = $default:expr
        $(, shown $shown:literal)?
        $(, check $check:expr)*;
        $($rest:tt)*
    ) => {
        settings!(@norm [$($done)* {
            [$($doc)+] [$($($clap)*)?] $name [$ty] [$default] [$($shown)?] [$($check),*]
            $name [$ty] [::std::convert::identity]
        }] $($rest)*);
    };
    (@emit $({
        [$($doc:literal)+] [$($clap:tt)*] $name:ident [$ty:ty] [$default:expr]
        [$($shown:literal)?] [$($check:expr),*] $field:ident [$fty:ty] [$conv:expr]
    })*) => {
        /// Every setting, as given on the command line, in the environment or
        /// in the TOML file; unset fields take their defaults in
        /// [`ConfigArgs::resolve`].
        #[derive(Debug, Clone, Default, ::clap::Args, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ConfigArgs {
            /// TOML file with settings (keys as the long flags, with `_` for `-`).
            #[arg(long, env = "DOWNWAVE_CONFIG", global = true)]
            #[serde(skip)]
            pub config: Option<PathBuf>,
            $(
                $(#[doc = $doc])+
                #[arg(
                    long = entries::$name.long(),
                    env = entries::$name.env,
                    global = true,
                    help = entries::$name.help(),
                    $($clap)*
                )]
                pub $name: Option<$ty>,
            )*
        }

        /// The settings in force: every value present.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $(
                #[doc = concat!("From [`ConfigArgs::", stringify!($name), "`].")]
                pub $field: $fty,
            )*
        }

        /// Every setting, checked, before the conversions into [`Settings`].
        struct Values {
            $($name: $ty,)*
        }

        setting_table!($({[$($doc)+] $name [$ty] [$default] [$($shown)?]})*);

        impl ConfigArgs {
            /// Each field from `self` if set, else from `other`.
            fn or(self, other: ConfigArgs) -> ConfigArgs {
                ConfigArgs {
                    config: self.config.or(other.config),
                    $($name: self.$name.or(other.$name),)*
                }
            }

            /// Each setting as given or else its default, checked by its rules.
            fn values(self) -> Result<Values, ConfigError> {
                $(
                    let $name: $ty = match self.$name {
                        Some(given) => given,
                        None => $default,
                    };
                    $(
                        $check(&$name).map_err(|rule| ConfigError::Invalid {
                            name: stringify!($name),
                            rule,
                        })?;
                    )*
                )*
                Ok(Values { $($name,)* })
            }
        }

        impl Values {
            fn into_settings(self) -> Settings {
                Settings { $($field: ($conv)(self.$name),)* }
            }

            /// Each value as a default is shown, by key.
            #[cfg(test)]
            fn shown(&self) -> Vec<(&'static str, String)> {
                vec![$((
                    stringify!($name),
                    $crate::config::declare::ShowDefault::show(&self.$name),
                ),)*]
            }
        }
    };
    ($($declarations:tt)*) => { settings!(@norm [] $($declarations)*); };
}
