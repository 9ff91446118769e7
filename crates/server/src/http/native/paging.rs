//! How every list of the native API pages: `limit` (1 to [`MAX_LIMIT`], default
//! [`DEFAULT_LIMIT`]), opaque `after` / `before` cursors, and an answer with `next` and
//! `prev` (a cursor or `null`) beside the items, and `total` where it is cheap to know.
//!
//! A cursor is base64url (no padding) of `<list>|<sort key>`: the list's name keeps a
//! cursor of one list from being read by another, and the key is the position, so a page
//! holds what follows it even when items came or went in between. Anything that does not
//! decode to a key of this list is a 400 `invalid_query` naming the parameter, never a 500.
//! This module never decides what a list holds or who may read it (the core does).

use axum::http::StatusCode;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::ApiError;

/// Items on a page when the caller names no `limit`.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most items one page holds; a larger `limit` is refused.
pub const MAX_LIMIT: u32 = 200;

/// The paging parameters of a list without filters of its own.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next` of a page, unchanged: the page that follows it.
    pub after: Option<String>,
    /// `prev` of a page, unchanged: the page that precedes it.
    pub before: Option<String>,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From<K> {
    Start,
    /// Just after this key (in the list's order).
    After(K),
    /// Just before this key.
    Before(K),
}

/// A checked page request: the limit and where to start, its cursor decoded.
#[derive(Debug, Clone)]
pub struct PageRequest<K> {
    pub limit: u32,
    pub from: From<K>,
}

/// A sort key that round-trips through a cursor's text.
pub trait CursorKey: Sized {
    fn to_text(&self) -> String;
    fn from_text(text: &str) -> Option<Self>;
}

impl CursorKey for i64 {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl CursorKey for Uuid {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok()
    }
}

/// Creation time (to the nanosecond) then id: the key of lists kept newest first.
impl CursorKey for (DateTime<Utc>, Uuid) {
    fn to_text(&self) -> String {
        format!(
            "{}_{}",
            self.0.to_rfc3339_opts(SecondsFormat::Nanos, true),
            self.1
        )
    }
    fn from_text(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('_')?;
        let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        Some((at, Uuid::parse_str(id).ok()?))
    }
}

/// Key text the list keeps as it is (the core's own cursor forms).
impl CursorKey for String {
    fn to_text(&self) -> String {
        self.clone()
    }
    fn from_text(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

/// The cursor of `key` in the list named `list`.
pub fn encode<K: CursorKey>(list: &str, key: &K) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{list}|{}", key.to_text()))
}

/// The key a cursor of `list` holds; `None` for anything else.
fn decode<K: CursorKey>(list: &str, raw: &str) -> Option<K> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, key) = text.split_once('|')?;
    (name == list).then(|| K::from_text(key)).flatten()
}

/// A 400 `invalid_query` naming the parameter.
pub fn invalid_query(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError {
        field: Some(field.to_owned()),
        ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", detail)
    }
}

/// Checks the limit and decodes the cursor of a page of `list`.
pub fn request<K: CursorKey>(
    list: &str,
    limit: Option<u32>,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<PageRequest<K>, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid_query(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let cursor = |field: &str, raw: &str| {
        decode(list, raw).ok_or_else(|| {
            invalid_query(
                field,
                format!(
                    "`{field}` is not a cursor of this list; pass `next` as `after` and \
                     `prev` as `before`, unchanged"
                ),
            )
        })
    };
    let from = match (after, before) {
        (Some(_), Some(_)) => {
            return Err(invalid_query(
                "before",
                "give `after` or `before`, not both",
            ))
        }
        (Some(raw), None) => From::After(cursor("after", raw)?),
        (None, Some(raw)) => From::Before(cursor("before", raw)?),
        (None, None) => From::Start,
    };
    Ok(PageRequest { limit, from })
}

impl PageQuery {
    pub fn request<K: CursorKey>(&self, list: &str) -> Result<PageRequest<K>, ApiError> {
        request(
            list,
            self.limit,
            self.after.as_deref(),
            self.before.as_deref(),
        )
    }
}

/// One page: its items in the list's order and whether the list goes on either side.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub has_prev: bool,
}

impl<T> Page<T> {
    /// Cuts what a source read for `request` (at most `limit + 1` items in the list's
    /// order, the extra one only telling that the list goes on in the direction of travel)
    /// down to the page.
    pub fn cut<K>(mut items: Vec<T>, request: &PageRequest<K>) -> Self {
        let limit = request.limit as usize;
        let more = items.len() > limit;
        match request.from {
            From::Before(_) => {
                if more {
                    items.drain(..items.len() - limit);
                }
                let has_next = !items.is_empty();
                Self {
                    items,
                    has_next,
                    has_prev: more,
                }
            }
            From::Start | From::After(_) => {
                items.truncate(limit);
                let has_prev = matches!(request.from, From::After(_)) && !items.is_empty();
                Self {
                    items,
                    has_next: more,
                    has_prev,
                }
            }
        }
    }

    /// A page of a list held whole (a user's tokens, the roles): `all` in the list's order,
    /// `key` increasing along it (`descending`: decreasing) and unique.
    pub fn of_all<K: Ord>(
        all: Vec<T>,
        key: impl Fn(&T) -> K,
        descending: bool,
        request: &PageRequest<K>,
    ) -> Self {
        let follows = |item: &T, cursor: &K| {
            let order = key(item).cmp(cursor);
            if descending {
                order.reverse()
            } else {
                order
            }
        };
        let limit = request.limit as usize;
        let window: Vec<T> = match &request.from {
            From::Start => all.into_iter().take(limit + 1).collect(),
            From::After(cursor) => all
                .into_iter()
                .skip_while(|item| follows(item, cursor).is_le())
                .take(limit + 1)
                .collect(),
            From::Before(cursor) => {
                let mut before: Vec<T> = all
                    .into_iter()
                    .take_while(|item| follows(item, cursor).is_lt())
                    .collect();
                let start = before.len().saturating_sub(limit + 1);
                before.drain(..start);
                before
            }
        };
        Self::cut(window, request)
    }

    /// `next` and `prev`: the cursors of the page's last and first items, when the list
    /// goes on that way.
    pub fn cursors(
        &self,
        list: &str,
        key: impl Fn(&T) -> String,
    ) -> (Option<String>, Option<String>) {
        let wrap = |item: Option<&T>| {
            item.map(|item| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(format!("{list}|{}", key(item)))
            })
        };
        (
            wrap(self.items.last().filter(|_| self.has_next)),
            wrap(self.items.first().filter(|_| self.has_prev)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(all: &[i64], limit: u32, descending: bool) {
        let list = "numbers";
        let mut seen = Vec::new();
        let mut request = request::<i64>(list, Some(limit), None, None).unwrap();
        let mut last_prev;
        loop {
            let page = Page::of_all(all.to_vec(), |n| *n, descending, &request);
            let (next, prev) = page.cursors(list, |n| n.to_text());
            seen.extend(page.items);
            last_prev = prev;
            match next {
                Some(next) => {
                    request = super::request(list, Some(limit), Some(&next), None).unwrap()
                }
                None => break,
            }
        }
        assert_eq!(seen, all, "forward");
        let mut back: Vec<i64> = Vec::new();
        let mut prev = last_prev;
        while let Some(cursor) = prev {
            let request = super::request(list, Some(limit), None, Some(&cursor)).unwrap();
            let page = Page::of_all(all.to_vec(), |n| *n, descending, &request);
            prev = page.cursors(list, |n| n.to_text()).1;
            let mut items = page.items;
            items.append(&mut back);
            back = items;
        }
        let last_page = all.len() - (all.len() - 1) % limit as usize - 1;
        assert_eq!(back, all[..last_page.min(all.len())], "backward");
    }

    #[test]
    fn lists_held_whole_walk_both_ways_without_gaps_or_repeats() {
        let up: Vec<i64> = (1..=11).collect();
        let down: Vec<i64> = (1..=11).rev().collect();
        for limit in [1, 2, 3, 5, 10, 11, 12] {
            walk(&up, limit, false);
            walk(&down, limit, true);
        }
    }

    #[test]
    fn a_cursor_of_another_list_or_a_tampered_one_is_refused() {
        let cursor = encode("tokens", &7_i64);
        assert!(request::<i64>("tokens", None, Some(&cursor), None).is_ok());
        for bad in [
            encode("sessions", &7_i64),
            format!("{cursor}!"),
            format!("{cursor}xx"), // a length base64 never has
            "!!".to_owned(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("tokens|seven"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
        ] {
            let error = request::<i64>("tokens", None, None, Some(&bad)).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        for limit in [0, MAX_LIMIT + 1] {
            assert!(request::<i64>("tokens", Some(limit), None, None).is_err());
        }
    }

    #[test]
    fn time_and_id_keys_round_trip_to_the_nanosecond() {
        let at = DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap();
        let key = (at, Uuid::now_v7());
        assert_eq!(
            <(DateTime<Utc>, Uuid)>::from_text(&key.to_text()),
            Some(key)
        );
    }
}
