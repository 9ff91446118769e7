//! Which HTTP surfaces one server answers: the native API always, the pages (sign-in,
//! account, admin console) and each vendor dialect as the `surfaces` setting says. A dialect
//! whose Cargo feature is off is not compiled at all, so it can be neither named nor mounted;
//! a surface left out at run time is not mounted, and its paths answer 404 like any unknown
//! path. Never decides anything about a request.

use std::fmt;

use axum::Router;

use super::{dialects, ui, AppState};

/// One surface, as the `surfaces` setting names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/auth/v1`: always served (the API a new user is pointed at, with its OpenAPI document).
    Native,
    /// The web pages and the admin console (`/`, `/signin`, `/admin`, `/setup`, ...).
    Pages,
    FreeChat,
    Alsid,
    Glowmarkt,
    Cloudsmith,
    Trieve,
}

impl Surface {
    /// Every surface Gatehouse knows, built in or not, in the order lists are printed.
    pub const ALL: [Self; 7] = [
        Self::Native,
        Self::Pages,
        Self::FreeChat,
        Self::Alsid,
        Self::Glowmarkt,
        Self::Cloudsmith,
        Self::Trieve,
    ];

    /// The name in the setting, which is also the dialect's Cargo feature.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Pages => "pages",
            Self::FreeChat => "freechat",
            Self::Alsid => "alsid",
            Self::Glowmarkt => "glowmarkt",
            Self::Cloudsmith => "cloudsmith",
            Self::Trieve => "trieve",
        }
    }

    /// Whether this binary was built with it (a dialect's Cargo feature).
    pub fn built_in(self) -> bool {
        match self {
            Self::Native | Self::Pages => true,
            Self::FreeChat => cfg!(feature = "freechat"),
            Self::Alsid => cfg!(feature = "alsid"),
            Self::Glowmarkt => cfg!(feature = "glowmarkt"),
            Self::Cloudsmith => cfg!(feature = "cloudsmith"),
            Self::Trieve => cfg!(feature = "trieve"),
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of surfaces. The default is every surface built into this binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surfaces(u8);

impl Default for Surfaces {
    fn default() -> Self {
        Self::built_in()
    }
}

impl Surfaces {
    /// Every surface this binary was built with.
    pub fn built_in() -> Self {
        Self::of(Surface::ALL.into_iter().filter(|s| s.built_in()))
    }

    /// Exactly `surfaces`.
    pub fn of(surfaces: impl IntoIterator<Item = Surface>) -> Self {
        Self(surfaces.into_iter().fold(0, |bits, s| bits | s.bit()))
    }

    pub fn serves(self, surface: Surface) -> bool {
        self.0 & surface.bit() != 0
    }

    /// The setting's value (comma-separated names) checked against what this binary has.
    pub fn parse(list: &str) -> Result<Self, String> {
        Self::parse_against(list, Self::built_in())
    }

    /// [`Self::parse`] for a binary built with `built_in` (tests name builds they are not).
    pub fn parse_against(list: &str, built_in: Self) -> Result<Self, String> {
        let mut chosen = Self(0);
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let word = word.to_ascii_lowercase();
            let Some(surface) = Surface::ALL.into_iter().find(|s| s.name() == word) else {
                return Err(format!(
                    "{word:?} is not a surface; the surfaces are {}",
                    Self::of(Surface::ALL)
                ));
            };
            if !built_in.serves(surface) {
                return Err(format!(
                    "{word:?} is not built into this binary (it was built without the Cargo \
                     feature `{word}`); this binary has {built_in}"
                ));
            }
            chosen.0 |= surface.bit();
        }
        if !chosen.serves(Surface::Native) {
            return Err(format!(
                "\"native\" must be listed: the native API (/auth/v1) is always served; list it \
                 with the surfaces to serve beside it, e.g. \"native,pages\" (this binary has \
                 {built_in})"
            ));
        }
        Ok(chosen)
    }
}

/// The names, comma-separated, in [`Surface::ALL`]'s order.
impl fmt::Display for Surfaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Surface::ALL
            .into_iter()
            .filter(|s| self.serves(*s))
            .map(Surface::name)
            .collect();
        f.write_str(&names.join(","))
    }
}

/// The routes of the pages and the dialects `state.surfaces` serves (the native API is
/// mounted beside them by [`super::router`]).
pub fn routes(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    if state.surfaces.serves(Surface::Pages) {
        router = router.merge(ui::routes(state));
    }
    router.merge(dialects::routes(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_in_any_order_and_case_and_printed_in_one_order() {
        let all = Surfaces::of(Surface::ALL);
        let s = Surfaces::parse_against(" Trieve,native ,pages,,trieve", all).unwrap();
        assert_eq!(s.to_string(), "native,pages,trieve");
        assert!(!s.serves(Surface::Glowmarkt));
    }

    #[test]
    fn unknown_names_missing_native_and_names_not_built_in_are_refused() {
        let all = Surfaces::of(Surface::ALL);
        let e = Surfaces::parse_against("native,ftp", all).unwrap_err();
        assert!(
            e.contains("\"ftp\" is not a surface") && e.contains("glowmarkt"),
            "{e}"
        );
        let e = Surfaces::parse_against("glowmarkt", all).unwrap_err();
        assert!(e.contains("\"native\" must be listed"), "{e}");
        let e = Surfaces::parse_against("", all).unwrap_err();
        assert!(e.contains("\"native\" must be listed"), "{e}");
        let native_only = Surfaces::of([Surface::Native, Surface::Pages]);
        let e = Surfaces::parse_against("native,glowmarkt", native_only).unwrap_err();
        assert!(
            e.contains("\"glowmarkt\" is not built into this binary")
                && e.contains("feature `glowmarkt`")
                && e.contains("this binary has native,pages"),
            "{e}"
        );
    }

    #[test]
    fn the_default_is_every_surface_built_in() {
        let s = Surfaces::default();
        for surface in Surface::ALL {
            assert_eq!(s.serves(surface), surface.built_in(), "{surface:?}");
        }
        assert!(s.serves(Surface::Native) && s.serves(Surface::Pages));
    }
}
