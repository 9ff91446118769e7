//! The settings as documentation: the docs table and the example config file.

use super::*;

/// The settings table of docs/operations.md, made from the declaration.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| setting | flag | environment | type | default | what it does |\n\
         |---|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let secret = match s.secrecy {
            Secrecy::Public => "",
            Secrecy::UrlPassword => " Its password is never printed.",
            Secrecy::Secret => " Secret: never printed.",
        };
        out.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} | {} | {}{} |\n",
            s.key,
            s.flag(),
            s.env(),
            s.kind_text(),
            s.default.replace('<', "&lt;").replace('>', "&gt;"),
            s.help.replace('|', "\\|"),
            secret
        ));
    }
    out
}

/// A config file with every setting a file takes, each commented out with its help, type,
/// default, flag and variable: the packaged `/etc/gatehouse/gatehouse.toml`
/// (`gatehouse check-config --example-config`). Uncommenting a line whose value is the
/// default changes nothing; a placeholder (`"URL"`) is to be replaced.
pub fn example_config() -> String {
    let mut out = String::from(
        "# Gatehouse configuration (TOML). Every setting is commented out: the value shown is\n\
         # its default, or a placeholder in capitals where the default is computed or absent.\n\
         # The environment (GATEHOUSE_*) and command-line flags override this file.\n\
         # Written by `gatehouse check-config --example-config`; check a change with\n\
         # `gatehouse check-config --config FILE`.\n",
    );
    for s in SETTINGS.iter().filter(|s| s.key != "config") {
        out.push('\n');
        for line in wrap(s.help, 88) {
            out.push_str(&format!("# {line}\n"));
        }
        let secret = match s.secrecy {
            Secrecy::Public => "",
            Secrecy::UrlPassword | Secrecy::Secret => "; secret: keep this file 0640",
        };
        out.push_str(&format!(
            "# ({}; default: {}; {} or {}{secret})\n",
            s.kind_text(),
            s.default,
            s.flag(),
            s.env()
        ));
        out.push_str(&format!("# {} = {}\n", s.key, example_value(s)));
    }
    out
}

/// The default as a TOML value when it is a literal one, else the placeholder as a string.
fn example_value(s: &Setting) -> String {
    let literal = !(s.default.contains('<')
        || s.default.starts_with("none")
        || s.default.contains(' ')
        || s.default == "any");
    match s.kind {
        Kind::Count { .. } if s.default.parse::<u64>().is_ok() => s.default.to_owned(),
        Kind::List => format!(
            "[{:?}]",
            s.value_name.split(['[', ',']).next().unwrap_or("")
        ),
        _ if literal => format!("{:?}", s.default),
        _ => format!("{:?}", s.value_name),
    }
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}
