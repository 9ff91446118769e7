//! The API tokens page: one's own tokens listed, created, disabled, enabled, rotated and deleted.

use super::*;

#[derive(Debug)]
struct TokenRow {
    id: String,
    name: String,
    mask: String,
    created: String,
    expires: String,
    last_used: String,
    disabled: bool,
    usable: bool,
}

/// A token secret shown once, right after it was made.
#[derive(Debug)]
struct NewSecret {
    name: String,
    secret: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/account_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    created: Option<NewSecret>,
    name: String,
    note: &'static str,
    errors: Errors,
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    name: String,
    /// Days until it expires; empty or 0 for never.
    #[serde(default)]
    expiry_days: String,
}

/// What the tokens page shows besides the list.
#[derive(Debug)]
struct TokensShown {
    status: StatusCode,
    created: Option<NewSecret>,
    /// The name typed into the form, when it comes back with an error.
    name: String,
    note: &'static str,
    errors: Errors,
}

impl Default for TokensShown {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            created: None,
            name: String::new(),
            note: "",
            errors: Errors::default(),
        }
    }
}

async fn tokens_page_with(
    state: &AppState,
    signed: &SignedIn,
    csrf: Csrf,
    shown: TokensShown,
) -> Response {
    let now = state.accounts.now();
    let tokens = match state
        .accounts
        .list_tokens(&(&signed.principal).into(), signed.principal.user_id)
        .await
    {
        Ok(tokens) => tokens,
        Err(e) => return refused(e),
    };
    let tokens = tokens
        .into_iter()
        .map(|t: ApiToken| TokenRow {
            id: t.id.to_string(),
            usable: t.is_usable(now),
            name: t.name,
            mask: t.mask,
            created: when(t.created_at),
            expires: t.expires_at.map_or_else(|| "never".to_owned(), when),
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), when),
            disabled: t.disabled,
        })
        .collect();
    render(
        shown.status,
        &TokensPage {
            chrome: signed.chrome(csrf),
            tokens,
            created: shown.created,
            name: shown.name,
            note: shown.note,
            errors: shown.errors,
        },
    )
}

pub(super) async fn tokens_page(
    State(state): State<AppState>,
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    let shown = TokensShown {
        note: note_text(q.done.as_deref()),
        ..TokensShown::default()
    };
    tokens_page_with(&state, &signed, csrf, shown).await
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<TokenForm>,
) -> Response {
    let days = match form.expiry_days.trim() {
        "" | "0" => Ok(None),
        d => match d.parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => Ok(Some(days * 86_400)),
            _ => Err("Choose a number of days from 1 to 3650, or never."),
        },
    };
    let expires_in = match days {
        Ok(d) => d,
        Err(message) => {
            let mut errors = Errors::default();
            errors.set("expiry_days", message);
            let shown = TokensShown {
                status: StatusCode::BAD_REQUEST,
                name: form.name,
                errors,
                ..TokensShown::default()
            };
            return tokens_page_with(&state, &signed, csrf, shown).await;
        }
    };
    let name = Some(form.name.trim().to_owned()).filter(|n| !n.is_empty());
    match state
        .accounts
        .create_token(
            &signed.principal.actor(&client),
            signed.principal.user_id,
            name,
            expires_in,
        )
        .await
    {
        Ok((token, secret)) => {
            let created = NewSecret {
                name: token.name,
                secret: secret.expose().to_owned(),
            };
            let shown = TokensShown {
                status: StatusCode::CREATED,
                created: Some(created),
                ..TokensShown::default()
            };
            tokens_page_with(&state, &signed, csrf, shown).await
        }
        Err(e) => {
            let error = ApiError::from(e);
            let shown = TokensShown {
                status: error.status,
                name: form.name,
                errors: Errors::from_api(&error, &[]),
                ..TokensShown::default()
            };
            tokens_page_with(&state, &signed, csrf, shown).await
        }
    }
}

pub(super) async fn token_action(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let Some(by) = TokenRef::parse(&id) else {
        return refused(ApiError::new(
            StatusCode::NOT_FOUND,
            "token_not_found",
            "There is no such token.",
        ));
    };
    let (actor, user) = (signed.principal.actor(&client), signed.principal.user_id);
    let accounts = &state.accounts;
    let result = match action.as_str() {
        "disable" => accounts
            .set_token_disabled(&actor, user, &by, true)
            .await
            .map(|_| "token-disabled"),
        "enable" => accounts
            .set_token_disabled(&actor, user, &by, false)
            .await
            .map(|_| "token-enabled"),
        "delete" => accounts
            .delete_token(&actor, user, &by)
            .await
            .map(|_| "token-deleted"),
        "rotate" => {
            return match accounts.rotate_token(&actor, user, &by).await {
                Ok((token, secret)) => {
                    let created = NewSecret {
                        name: token.name,
                        secret: secret.expose().to_owned(),
                    };
                    let shown = TokensShown {
                        created: Some(created),
                        ..TokensShown::default()
                    };
                    tokens_page_with(&state, &signed, csrf, shown).await
                }
                Err(e) => refused(e),
            }
        }
        _ => {
            return refused(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "There is no such page.",
            ))
        }
    };
    match result {
        Ok(note) => done("/account/tokens", note),
        Err(e) => refused(e),
    }
}
