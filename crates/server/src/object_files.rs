//! `FileStore` on an S3-compatible object store (AWS S3, MinIO, Ceph, R2, ...), so several
//! replicas share uploaded files. One object per file, keyed `<prefix>/<file id>`; a `put`
//! is one PUT request, so a reader never sees half a file. It touches only keys under its
//! prefix, never lists or creates buckets, and never takes credentials from its URL.
//!
//! # The setting
//!
//! `files_url` (`GATEHOUSE_FILES_URL`); unset means files stay on the local disk
//! (`DiskFileStore`). The form is
//!
//! ```text
//! s3://<bucket>[/<prefix>][?<option>=<value>&...]
//! s3://pictures/gatehouse?endpoint=http://127.0.0.1:9000&region=us-east-1&allow_http=true
//! ```
//!
//! - `<bucket>` must exist already; Gatehouse never creates buckets.
//! - `<prefix>` (optional, may contain `/`) is prepended to every key: with the URL above
//!   the file `<uuid>` is stored as `gatehouse/<uuid>`. Without a prefix keys are bare ids.
//!   Replicas that share files use the same bucket and prefix.
//! - Options are `object_store`'s S3 settings, by their short names: `endpoint` (anything
//!   but AWS itself), `region` (default `us-east-1`), `allow_http` (needed for an `http://`
//!   endpoint), `virtual_hosted_style_request` (default: path style), `timeout`,
//!   `connect_timeout`, `proxy_url`, `checksum_algorithm`, ... An unknown option is refused.
//!   Values may be percent-encoded.
//! - Credentials are not accepted in the URL (it is printed in errors and logs). They come
//!   from the environment, as for the AWS tools: `AWS_ACCESS_KEY_ID` and
//!   `AWS_SECRET_ACCESS_KEY` (plus `AWS_SESSION_TOKEN` for temporary keys), or a web
//!   identity (`AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN`, as on EKS), or a container
//!   credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, as on
//!   ECS). Other `AWS_*` variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...) apply too; the
//!   URL's options win over them. When none of those credentials is set, the store refuses
//!   to start rather than silently asking an EC2 instance-metadata address on every
//!   request; to use an instance role, name the metadata endpoint explicitly
//!   (`?metadata_endpoint=http://169.254.169.254`). For a public bucket, `skip_signature=true`
//!   sends unsigned requests.
//!
//! A failed request is retried at most 3 times within 10 s (`object_store`'s default is 10
//! times within 3 min, too long for a request a person is waiting on); the time limits per
//! attempt are `object_store`'s (connect 5 s, whole request 30 s) unless the URL's
//! `connect_timeout` / `timeout` say otherwise.
//!
//! S3 answers a read of a missing bucket like a read of a missing key (404), so a wrong
//! bucket name shows as missing pictures until the first upload fails with `NoSuchBucket`.

use std::time::Duration;

use accounts::files::{FileId, FileStore, FileStoreError};
use async_trait::async_trait;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload, RetryConfig};

/// The setting's name in errors: the config key and its environment variable.
const SETTING: &str = "setting `files_url` (GATEHOUSE_FILES_URL)";

/// Keys that would put a secret in the URL.
const SECRET_KEYS: &[AmazonS3ConfigKey] = &[
    AmazonS3ConfigKey::AccessKeyId,
    AmazonS3ConfigKey::SecretAccessKey,
    AmazonS3ConfigKey::Token,
];

/// Uploaded files in one bucket, under one prefix.
#[derive(Clone)]
pub struct ObjectFileStore {
    store: AmazonS3,
    bucket: String,
    /// Empty: keys are bare file ids.
    prefix: Path,
}

impl std::fmt::Debug for ObjectFileStore {
    // Not derived: the client's configuration is long and says nothing a reader needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectFileStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix.as_ref())
            .finish()
    }
}

impl ObjectFileStore {
    /// The store `GATEHOUSE_FILES_URL` names, with credentials from the process
    /// environment (see the module documentation). Builds the client only: no request is
    /// made until the first file is read or written.
    pub fn from_url(url: &str) -> Result<Self, String> {
        // `vars()` would panic on a variable that is not UTF-8; such a variable cannot be
        // one of the AWS settings anyway.
        let env = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)));
        Self::from_url_and_env(url, env)
    }

    /// `from_url` with the environment given instead of read from the process (tests, or a
    /// caller that has read it already). Only `AWS_*` variables are looked at.
    pub fn from_url_and_env(
        url: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        let parsed = ParsedUrl::parse(url)?;

        let mut builder = AmazonS3Builder::new();
        let mut has_credentials = CredentialSources::default();
        for (key, value) in env {
            let Some(name) = key.strip_prefix("AWS_") else {
                continue;
            };
            has_credentials.saw(name);
            // Variables object_store does not know (AWS_PROFILE, ...) are not ours to refuse.
            if let Ok(config_key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(config_key, value);
            }
        }
        for (name, value) in &parsed.options {
            let key: AmazonS3ConfigKey = name.parse().map_err(|_| {
                format!(
                    "{SETTING}: unknown option `{name}` in {}; options are object_store's S3 \
                     settings such as endpoint, region, allow_http, virtual_hosted_style_request, \
                     timeout",
                    parsed.shown
                )
            })?;
            if SECRET_KEYS.contains(&key) {
                return Err(format!(
                    "{SETTING}: option `{name}` would put a credential in the URL, which is \
                     printed in logs; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
                     AWS_SESSION_TOKEN) in the environment instead"
                ));
            }
            if key == AmazonS3ConfigKey::Bucket {
                return Err(format!(
                    "{SETTING}: option `{name}` is not allowed; the bucket is the URL's host \
                     (s3://<bucket>/<prefix>)"
                ));
            }
            match key {
                AmazonS3ConfigKey::SkipSignature | AmazonS3ConfigKey::MetadataEndpoint => {
                    has_credentials.explicit = true;
                }
                _ => {}
            }
            builder = builder.with_config(key, value);
        }
        if !has_credentials.any() {
            return Err(format!(
                "{SETTING}: no credentials for {}; set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY in the environment (or AWS_WEB_IDENTITY_TOKEN_FILE with \
                 AWS_ROLE_ARN, or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI); for an EC2 instance \
                 role add `metadata_endpoint=http://169.254.169.254` to the URL, for a public \
                 bucket `skip_signature=true`",
                parsed.shown
            ));
        }

        let store = builder
            .with_bucket_name(&parsed.bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| format!("{SETTING}: {}: {e}", parsed.shown))?;
        Ok(Self {
            store,
            bucket: parsed.bucket,
            prefix: parsed.prefix,
        })
    }

    /// The object key of a file: `<prefix>/<uuid>`, or `<uuid>` without a prefix.
    pub fn key(&self, id: FileId) -> Path {
        // A UUID's hyphenated text is a valid path segment; no user input reaches the key.
        self.prefix.child(id.0.hyphenated().to_string())
    }
}

fn failed(e: object_store::Error) -> FileStoreError {
    FileStoreError(Box::new(e))
}

#[async_trait]
impl FileStore for ObjectFileStore {
    async fn put(&self, id: FileId, bytes: Vec<u8>) -> Result<(), FileStoreError> {
        self.store
            .put(&self.key(id), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(failed)
    }

    async fn get(&self, id: FileId) -> Result<Option<Vec<u8>>, FileStoreError> {
        let found = match self.store.get(&self.key(id)).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        // The body can still fail (or the object vanish) after the headers arrived.
        match found.bytes().await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(failed(e)),
        }
    }

    async fn delete(&self, id: FileId) -> Result<(), FileStoreError> {
        // S3 answers a DELETE of a missing key with success; other stores may say 404.
        match self.store.delete(&self.key(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed(e)),
        }
    }
}

/// Which kinds of credentials the `AWS_*` variables provide.
#[derive(Debug, Default)]
struct CredentialSources {
    access_key: bool,
    secret_key: bool,
    web_identity: bool,
    role_arn: bool,
    container: bool,
    /// The URL chose unsigned requests or the instance-metadata endpoint.
    explicit: bool,
}

impl CredentialSources {
    fn saw(&mut self, name: &str) {
        match name {
            "ACCESS_KEY_ID" => self.access_key = true,
            "SECRET_ACCESS_KEY" => self.secret_key = true,
            "WEB_IDENTITY_TOKEN_FILE" => self.web_identity = true,
            "ROLE_ARN" => self.role_arn = true,
            "CONTAINER_CREDENTIALS_RELATIVE_URI" | "CONTAINER_CREDENTIALS_FULL_URI" => {
                self.container = true;
            }
            "SKIP_SIGNATURE" | "METADATA_ENDPOINT" => self.explicit = true,
            _ => {}
        }
    }

    /// Half a key pair counts: object_store then names the missing half in its error.
    fn any(&self) -> bool {
        self.access_key
            || self.secret_key
            || (self.web_identity && self.role_arn)
            || self.container
            || self.explicit
    }
}

/// `s3://<bucket>[/<prefix>][?options]`, taken apart.
#[derive(Debug)]
struct ParsedUrl {
    bucket: String,
    prefix: Path,
    /// Decoded `(name, value)` pairs, in order.
    options: Vec<(String, String)>,
    /// The URL without its query, for messages.
    shown: String,
}

impl ParsedUrl {
    fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let (location, query) = match url.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (url, None),
        };
        // Messages show the URL without its query and without a password, if one was
        // (wrongly) written in.
        let shown = crate::redact::redact_url(location);
        let Some(rest) = location.strip_prefix("s3://") else {
            return Err(format!(
                "{SETTING}: {shown} is not an s3:// URL; expected \
                 s3://<bucket>[/<prefix>][?endpoint=...&region=...&allow_http=true]"
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "{SETTING}: {shown} names no bucket; expected s3://<bucket>[/<prefix>]"
            ));
        }
        if bucket.contains(['@', ':']) {
            return Err(format!(
                "{SETTING}: {shown} does not start with a bucket name; credentials and ports \
                 do not belong there (the server goes in ?endpoint=..., credentials in \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            ));
        }
        let prefix = Path::parse(prefix.trim_matches('/')).map_err(|e| {
            format!("{SETTING}: the prefix in {shown} is not a valid object key prefix: {e}")
        })?;

        let mut options = Vec::new();
        for pair in query.unwrap_or_default().split('&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                format!("{SETTING}: option `{pair}` in {shown} has no value (name=value)")
            })?;
            let decode = |text: &str| {
                percent_decode(text).ok_or_else(|| {
                    format!("{SETTING}: option `{name}` in {shown} is badly percent-encoded")
                })
            };
            options.push((decode(name)?, decode(value)?));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
            options,
            shown,
        })
    }
}

/// Decodes `%XX` escapes and `+` (a space, as in form-encoded queries). `None` for a
/// malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ]
    }

    fn refused(url: &str, env: Vec<(String, String)>) -> String {
        let e = ObjectFileStore::from_url_and_env(url, env).unwrap_err();
        assert!(e.contains("GATEHOUSE_FILES_URL"), "{e}");
        e
    }

    #[test]
    fn a_full_url_gives_bucket_prefix_and_keys() {
        let store = ObjectFileStore::from_url_and_env(
            "s3://pictures/gatehouse/prod/?endpoint=http%3A%2F%2F127.0.0.1%3A9000\
             &region=us-east-1&allow_http=true",
            keys(),
        )
        .unwrap();
        let id = FileId::new();
        assert_eq!(store.bucket, "pictures");
        assert_eq!(
            store.key(id).as_ref(),
            format!("gatehouse/prod/{}", id.0.hyphenated())
        );
        let debug = format!("{store:?}");
        assert!(
            debug.contains("pictures") && !debug.contains("test"),
            "{debug}"
        );
    }

    #[test]
    fn without_a_prefix_keys_are_bare_ids() {
        let store = ObjectFileStore::from_url_and_env("s3://pictures", keys()).unwrap();
        let id = FileId::new();
        assert_eq!(store.key(id).as_ref(), id.0.hyphenated().to_string());
    }

    #[test]
    fn urls_that_are_not_s3_or_name_no_bucket_are_refused() {
        assert!(refused("https://example.com/bucket", keys()).contains("not an s3:// URL"));
        assert!(refused("s3:///prefix", keys()).contains("names no bucket"));
        let e = refused("s3://key:secret@bucket/p", keys());
        assert!(e.contains("bucket name") && !e.contains("secret@"), "{e}");
        assert!(refused("s3://bucket/a/../b", keys()).contains("prefix"));
    }

    #[test]
    fn unknown_options_and_credentials_in_the_url_are_refused() {
        assert!(refused("s3://b?endpiont=http://x", keys()).contains("unknown option `endpiont`"));
        let e = refused("s3://b?secret_access_key=hunter2", keys());
        assert!(
            e.contains("AWS_SECRET_ACCESS_KEY") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(refused("s3://b?bucket=other", keys()).contains("URL's host"));
        assert!(refused("s3://b?allow_http", keys()).contains("has no value"));
        assert!(refused("s3://b?region=%zz", keys()).contains("percent-encoded"));
    }

    #[test]
    fn without_credentials_the_store_refuses_to_start_unless_told_how() {
        let e = refused("s3://b/p?region=eu-west-1", vec![]);
        assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
        let half = vec![("AWS_ACCESS_KEY_ID".into(), "test".into())];
        refused("s3://b", half);
        ObjectFileStore::from_url_and_env("s3://b?skip_signature=true", vec![]).unwrap();
        ObjectFileStore::from_url_and_env(
            "s3://b?metadata_endpoint=http://169.254.169.254",
            vec![],
        )
        .unwrap();
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
