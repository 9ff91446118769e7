//! Usernames for new accounts: the one rule that picks a free name, for every surface and
//! every way an account is made (sign-up, administrators' creation, Alsid's and Glowmarkt's
//! names derived from an address). It only reads: the insert that creates the account
//! settles the choice in its own transaction, and a unique violation there (another request
//! took the name meanwhile) makes the caller pick again.

use std::collections::HashSet;

use rand::Rng;

use crate::domain::{EmailAddress, Username};
use crate::service::Accounts;
use crate::store::StoreError;

/// Where a new account's username comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewUsername {
    /// The name the person (sign-up) or the administrator chose.
    Chosen(Username),
    /// Derived from the account's address, for surfaces whose accounts have no username
    /// (Alsid) or use the address as one (Glowmarkt): see [`NewUsername::candidates`].
    FromEmail,
}

/// Random suffixes tried after the numbered names (and after a chosen name at sign-up).
const RANDOM_TRIES: usize = 5;
/// The numbered names a derived name tries: `stem2` ..= `stem20`.
const NUMBERED: std::ops::RangeInclusive<u32> = 2..=20;

impl NewUsername {
    /// The name a mail greets before the account exists: the chosen name, or the address's
    /// stem. Never the name picked, which would tell whoever reads the mail whether the
    /// stem or the chosen name was taken.
    pub fn greeting(&self, email: &EmailAddress) -> Username {
        match self {
            Self::Chosen(name) => name.clone(),
            Self::FromEmail => stem(email),
        }
    }

    /// The names to try, best first (the rule):
    /// - derived from the address: the stem ([`Username::stem_of`]), then `stem2` ..
    ///   `stem20`, then the stem with a random suffix (`stem-k3x9q2`), five times;
    /// - chosen: the name itself and, only where a taken name must not be refused
    ///   (`rename_chosen`: sign-up, whose answer may not say the name exists), the name
    ///   with a random suffix, five times. An administrator's taken name is refused.
    pub fn candidates(&self, email: &EmailAddress, rename_chosen: bool) -> Vec<Username> {
        match self {
            Self::Chosen(name) if !rename_chosen => vec![name.clone()],
            Self::Chosen(name) => std::iter::once(name.clone())
                .chain((0..RANDOM_TRIES).map(|_| suffixed(name)))
                .collect(),
            Self::FromEmail => {
                let stem = stem(email);
                let numbered = NUMBERED.map(|n| {
                    Username::parse(&format!("{stem}{n}")).expect("a stem leaves room for 2 digits")
                });
                std::iter::once(stem.clone())
                    .chain(numbered)
                    .chain((0..RANDOM_TRIES).map(|_| suffixed(&stem)))
                    .collect()
            }
        }
    }
}

fn stem(email: &EmailAddress) -> Username {
    Username::parse(&Username::stem_of(email)).expect("a stem is always a valid username")
}

/// `name` with a random suffix of six letters and digits (`alice-k3x9q2`; no `0 1 l o`),
/// shortened to fit.
pub(crate) fn suffixed(name: &Username) -> Username {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let suffix: String = (0..6)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    let keep = Username::MAX_LEN - suffix.len() - 1;
    let base: String = name.as_str().chars().take(keep).collect();
    Username::parse(&format!("{base}-{suffix}"))
        .unwrap_or_else(|_| Username::parse(&format!("user-{suffix}")).expect("a valid name"))
}

/// The choice, given what is known to be held: for each new account, in order, the first
/// of its candidates that `held` does not hold and no earlier account of the batch took;
/// the last candidate when every one is (its insert then fails as taken).
pub fn choose(wanted: &[Vec<Username>], held: impl Fn(&Username) -> bool) -> Vec<Username> {
    let mut taken: HashSet<&str> = HashSet::new();
    let mut chosen = Vec::with_capacity(wanted.len());
    for candidates in wanted {
        let pick = candidates
            .iter()
            .find(|c| !taken.contains(c.as_str()) && !held(c))
            .or(candidates.last())
            .expect("every account has at least one candidate");
        taken.insert(pick.as_str());
        chosen.push(pick.clone());
    }
    chosen
}

impl Accounts {
    /// One free username per new account (`wanted`: each one's [`NewUsername::candidates`]),
    /// by [`choose`], looking up only the names it is about to give. A list of one name is
    /// given as it is (its insert refuses it if taken).
    pub(crate) async fn pick_usernames(
        &self,
        wanted: &[Vec<Username>],
    ) -> Result<Vec<Username>, StoreError> {
        let mut checked: HashSet<Username> = HashSet::new();
        let mut held: HashSet<Username> = HashSet::new();
        loop {
            let chosen = choose(wanted, |name| held.contains(name));
            let unchecked: Vec<&Username> = chosen
                .iter()
                .zip(wanted)
                .filter(|(name, candidates)| candidates.len() > 1 && !checked.contains(*name))
                .map(|(name, _)| name)
                .collect();
            if unchecked.is_empty() {
                return Ok(chosen);
            }
            for name in unchecked {
                checked.insert(name.clone());
                if self.store.user_by_username(name).await?.is_some() {
                    held.insert(name.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(raw: &str) -> EmailAddress {
        EmailAddress::parse(raw).unwrap()
    }

    fn name(raw: &str) -> Username {
        Username::parse(raw).unwrap()
    }

    fn names(list: &[Username]) -> Vec<&str> {
        list.iter().map(Username::as_str).collect()
    }

    #[test]
    fn a_derived_name_tries_the_stem_then_numbers_then_random_suffixes() {
        let list = NewUsername::FromEmail.candidates(&email("Carol.J+x@example.com"), false);
        assert_eq!(list.len(), 1 + 19 + RANDOM_TRIES);
        assert_eq!(names(&list[..3]), ["carol.j-x", "carol.j-x2", "carol.j-x3"]);
        assert_eq!(list[19].as_str(), "carol.j-x20");
        for random in &list[20..] {
            let suffix = random.as_str().strip_prefix("carol.j-x-").unwrap();
            assert_eq!(suffix.len(), 6, "{random}");
        }
        // The longest stem still has room for every suffix.
        let long = email(&format!("{}@example.com", "a".repeat(64)));
        let list = NewUsername::FromEmail.candidates(&long, false);
        assert!(list.iter().all(|n| n.as_str().len() <= Username::MAX_LEN));
    }

    #[test]
    fn a_chosen_name_is_renamed_only_where_a_taken_name_may_not_be_refused() {
        let alice = NewUsername::Chosen(name("alice"));
        let at = email("a@example.com");
        assert_eq!(names(&alice.candidates(&at, false)), ["alice"]);
        let renamed = alice.candidates(&at, true);
        assert_eq!(renamed[0].as_str(), "alice");
        assert_eq!(renamed.len(), 1 + RANDOM_TRIES);
        assert!(renamed[1..]
            .iter()
            .all(|n| n.as_str().starts_with("alice-")));
    }

    #[test]
    fn mails_greet_the_stem_or_the_chosen_name_never_the_pick() {
        let at = email("Dana@example.org");
        assert_eq!(NewUsername::FromEmail.greeting(&at).as_str(), "dana");
        assert_eq!(
            NewUsername::Chosen(name("fox.mulder"))
                .greeting(&at)
                .as_str(),
            "fox.mulder"
        );
    }

    #[test]
    fn the_first_free_candidate_wins_and_a_batch_never_picks_one_name_twice() {
        let carol = |at: &str| NewUsername::FromEmail.candidates(&email(at), false);
        let wanted = vec![
            carol("carol@a.org"),
            carol("Carol@b.org"),
            carol("dave@c.org"),
            vec![name("carol4")],
        ];
        let held = |n: &Username| n.as_str() == "carol";
        assert_eq!(
            names(&choose(&wanted, held)),
            ["carol2", "carol3", "dave", "carol4"]
        );
    }

    #[test]
    fn when_every_candidate_is_held_the_last_is_given_and_its_insert_refuses_it() {
        let wanted = vec![vec![name("alice")], vec![name("bob"), name("bob2")]];
        assert_eq!(names(&choose(&wanted, |_| true)), ["alice", "bob2"]);
        // A chosen name twice in one batch: both get it, and the insert refuses the batch.
        let twice = vec![vec![name("eve")], vec![name("eve")]];
        assert_eq!(names(&choose(&twice, |_| false)), ["eve", "eve"]);
    }
}
