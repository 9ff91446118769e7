//! Reading the config file: its values as text, by key; unknown keys refused.

use super::*;

/// The config file's values as text, by key; unknown keys are refused.
pub(super) fn load_file(path: &Path) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| refuse("config", format!("cannot read {}: {e}", path.display())))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        refuse(
            "config",
            format!("{} is not valid TOML: {}", path.display(), e.message()),
        )
    })?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        let Some(s) = SETTINGS.iter().find(|s| s.key == key && s.key != "config") else {
            return Err(refuse(
                "config",
                format!("{}: unknown key `{key}`", path.display()),
            ));
        };
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if matches!(s.kind, Kind::List) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(text) => parts.push(text),
                        other => {
                            return Err(refuse(
                                s.key,
                                format!("{}: {other} is not a string", path.display()),
                            ))
                        }
                    }
                }
                parts.join(",")
            }
            other => {
                return Err(refuse(
                    s.key,
                    format!(
                        "{}: expected {}, found {}",
                        path.display(),
                        s.kind_text(),
                        other.type_str()
                    ),
                ))
            }
        };
        values.insert(s.key, text);
    }
    Ok(values)
}
