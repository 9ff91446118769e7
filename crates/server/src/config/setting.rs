//! What a setting declares (`Setting`: key, kind, default, help, secrecy) and the flag and
//! variable names made from its key.

/// What a setting holds, for validation and for the docs table.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A filesystem path.
    Path,
    /// A URL; its password is never printed.
    Url,
    /// A socket address such as `127.0.0.1:8080`.
    Address,
    /// Free text.
    Text,
    /// A whole number within an inclusive range.
    Count { min: u64, max: u64 },
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A comma-separated list (an array in the config file).
    List,
}

/// Whether a value may be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    Public,
    /// A URL that may carry a password: printed with the password replaced.
    UrlPassword,
    /// Never printed.
    Secret,
}

/// One setting: everything an operator sees of it comes from here.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The config-file key; the flag is `--` + key with dashes, the variable `GATEHOUSE_` +
    /// key in capitals.
    pub key: &'static str,
    pub kind: Kind,
    /// The placeholder shown in `--help`.
    pub value_name: &'static str,
    /// The default as documented (some are computed: see [`Settings::resolve`]).
    pub default: &'static str,
    pub help: &'static str,
    pub secrecy: Secrecy,
    /// A value every command refuses (the tests walk each setting through `serve` and
    /// `check-config` with it).
    pub bad_example: &'static str,
}

impl Setting {
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }

    pub fn env(&self) -> String {
        format!("GATEHOUSE_{}", self.key.to_uppercase())
    }

    /// The type as the docs table and `--help` name it.
    pub fn kind_text(&self) -> String {
        match self.kind {
            Kind::Path => "path".into(),
            Kind::Url => "URL".into(),
            Kind::Address => "address".into(),
            Kind::Text => "text".into(),
            Kind::Count { min, max } if max == u64::MAX => format!("number, at least {min}"),
            Kind::Count { min, max } => format!("number, {min} to {max}"),
            Kind::Choice(words) => words.join(" or "),
            Kind::List => "list".into(),
        }
    }
}
