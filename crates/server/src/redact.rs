//! Redaction of URLs before they are printed or logged (`check-config`, error messages,
//! start-up lines): every URL setting may carry a password (database, SMTP) or a key in its
//! query. Never decides anything; errs towards hiding too much.

/// Query parameters whose values are hidden: any name containing one of these.
const SECRET_PARAMETERS: &[&str] = &[
    "pass",
    "secret",
    "token",
    "key",
    "sig",
    "credential",
    "auth",
];

/// `url` with its password and any secret-looking query value replaced by `***`.
///
/// The user information ends at the *last* `@` before the query, so a password that
/// itself holds `@` or `/` (unencoded, as people do write them) is hidden whole rather than
/// split at its first `@` and shown in part. Only the user name before the first `:` stays.
pub fn redact_url(url: &str) -> String {
    redact(url, true)
}

/// [`redact_url`] without any user information at all (`smtp://host:587`); text that is
/// not a URL is shown as "the value", since it may be a mistyped secret.
pub fn without_userinfo(url: &str) -> String {
    if !url.contains("://") {
        return "the value".to_owned();
    }
    redact(url, false)
}

fn redact(url: &str, keep_user: bool) -> String {
    let url = url.trim();
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((before, _)) => (before, "#***"),
        None => (url, ""),
    };
    let (location, query) = match before_fragment.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (before_fragment, None),
    };
    let location = match location.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) if !keep_user => format!("{scheme}://{}", &rest[at + 1..]),
            Some(at) => {
                let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
                match userinfo.split_once(':') {
                    Some((user, _)) if !user.contains('/') => {
                        format!("{scheme}://{user}:***@{host}")
                    }
                    Some(_) => format!("{scheme}://***@{host}"),
                    None if userinfo.contains('/') => format!("{scheme}://***@{host}"),
                    None => format!("{scheme}://{userinfo}@{host}"),
                }
            }
            None => location.to_owned(),
        },
        None => location.to_owned(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_parameter(name) => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) => format!("{location}?{q}{fragment}"),
        None => format!("{location}{fragment}"),
    }
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_holding_at_signs_is_hidden_whole() {
        for (url, shown) in [
            (
                "postgres://gate:p@ss@w0rd@db.internal:5432/gatehouse",
                "postgres://gate:***@db.internal:5432/gatehouse",
            ),
            (
                "smtp://mailer:se/cr@t@smtp.example.com:587?tls=required",
                "smtp://mailer:***@smtp.example.com:587?tls=required",
            ),
            (
                "postgres://gatehouse@db/gatehouse",
                "postgres://gatehouse@db/gatehouse",
            ),
            (
                "postgres://db/gatehouse?user=gate&password=hunter2",
                "postgres://db/gatehouse?user=gate&password=***",
            ),
            (
                "s3://bucket/prefix?endpoint=http://minio:9000&secret_access_key=abc",
                "s3://bucket/prefix?endpoint=http://minio:9000&secret_access_key=***",
            ),
            (
                "sqlite://gatehouse-data/gatehouse.db",
                "sqlite://gatehouse-data/gatehouse.db",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        for secret in ["p@ss@w0rd", "w0rd", "se/cr@t", "hunter2", "abc"] {
            for url in [
                "postgres://gate:p@ss@w0rd@db/x",
                "smtp://mailer:se/cr@t@smtp.example.com",
                "postgres://db/x?password=hunter2",
            ] {
                let shown = redact_url(url);
                assert!(
                    !shown.contains(secret) || !url.contains(secret),
                    "{shown} shows {secret}"
                );
            }
        }
    }
}
