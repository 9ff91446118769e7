//! Cloudsmith's handlers: the user, sign-in tokens and API keys.

use super::*;

/// `GET /user/self/`: the caller, or `authenticated: false` for anonymous callers.
pub(super) async fn user_self(
    State(state): State<AppState>,
    matched: MatchedPath,
    MaybeCaller(caller): MaybeCaller,
) -> Result<Json<UserBrief>, CloudsmithError> {
    let Some(caller) = caller else {
        return Ok(Json(UserBrief::default()));
    };
    let user = state.accounts.get_user(&caller.actor, caller.user).await?;
    let prefix = prefix_of(&matched, "/user/self/");
    let name = user
        .profile
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.username.to_string());
    Ok(Json(UserBrief {
        authenticated: true,
        email: Some(user.email.to_string()),
        name: Some(name),
        profile_url: user.profile.profile.clone().filter(|u| !u.is_empty()),
        self_url: Some(public_url(&state, prefix, "/user/self/")),
        slug: Some(user.username.to_string()),
        slug_perm: Some(user.id.0.simple().to_string()),
    }))
}

/// `POST /user/token/`: e-mail (or username) and password, in the body or as HTTP basic,
/// for a new API token. An account with a second factor is answered 422 with a challenge
/// (`two_factor_token`); the code then comes back with it (`totp_token`). A `totp_token`
/// sent with the password does both steps in one request.
pub(super) async fn user_token_create(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    request: TokenRequest,
) -> Result<Response, CloudsmithError> {
    let session = if let Some(challenge) = request.two_factor_token {
        let code = request
            .totp_token
            .ok_or_else(|| CloudsmithError::field("totp_token", "This field is required."))?;
        state
            .accounts
            .login_second_factor(&challenge, &code, client.clone())
            .await?
    } else {
        let (login, password) = login_of(request.email, request.password, &headers)?;
        let first = state
            .accounts
            .login(&login, Password::for_login(password), client.clone())
            .await;
        match (first, request.totp_token) {
            (Ok(session), _) => session,
            (Err(LoginError::SecondFactorRequired(Some(challenge))), Some(code)) => {
                state
                    .accounts
                    .login_second_factor(&challenge.token, &code, client.clone())
                    .await?
            }
            (Err(LoginError::SecondFactorRequired(Some(challenge))), None) => {
                let body = TwoFactorRequired {
                    detail: "Two-factor authentication is required: send totp_token with \
                             this two_factor_token.",
                    two_factor_required: true,
                    two_factor_token: challenge.token,
                };
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
            }
            (Err(e), _) => return Err(e.into()),
        }
    };
    let token = key_for_session(&state, session, &client).await?;
    Ok(Json(UserAuthToken { token }).into_response())
}

/// The login and password of `POST /user/token/`: from the body when it names either,
/// else from HTTP basic.
fn login_of(
    email: Option<String>,
    password: Option<String>,
    headers: &HeaderMap,
) -> Result<(String, String), CloudsmithError> {
    match (email, password) {
        (Some(email), Some(password)) => Ok((email, password)),
        (None, None) => match basic(headers) {
            Some(Some(pair)) => Ok(pair),
            Some(None) => Err(CloudsmithError::unauthorized(
                "Invalid basic header: the credentials are not base64-encoded `login:password`.",
            )),
            None => Err(CloudsmithError::no_credentials()),
        },
        (email, _) => {
            let missing = if email.is_none() { "email" } else { "password" };
            Err(CloudsmithError::field(missing, "This field is required."))
        }
    }
}

/// Turns a login that just succeeded into a new API token named [`KEY_NAME`] (what the CLI
/// stores as its key): the session the login made is ended either way.
async fn key_for_session(
    state: &AppState,
    session: LoginSession,
    client: &ClientInfo,
) -> Result<String, CloudsmithError> {
    crate::http::access::note_user(session.user.id);
    let (_, secret) = state
        .accounts
        .trade_session_for_token(session, KEY_NAME, client)
        .await?;
    Ok(secret.expose().to_owned())
}

/// `GET /user/tokens/`: the caller's usable API tokens from every surface, keys masked.
/// The newest [`KEY_NAME`] token comes first (the CLI refreshes "the first" when told the
/// user already has a key), then the rest, newest first.
pub(super) async fn user_tokens_list(
    State(state): State<AppState>,
    matched: MatchedPath,
    caller: Caller,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<TokenPage>, CloudsmithError> {
    let Query(query) = query.map_err(|r| CloudsmithError::bad_request(r.body_text()))?;
    let page = match query.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|&p| p >= 1)
            .ok_or_else(invalid_page)?,
    };
    let page_size = query
        .page_size
        .as_deref()
        .and_then(|raw| raw.trim().parse::<usize>().ok())
        .filter(|&n| n >= 1)
        .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE));

    let now = state.accounts.now();
    let mut tokens: Vec<ApiToken> = state
        .accounts
        .list_tokens(&caller.actor, caller.user)
        .await?
        .into_iter()
        .filter(|t| t.is_usable(now))
        .collect();
    tokens.sort_by_key(|t| t.name != KEY_NAME); // stable: newest first within each group

    let count = tokens.len();
    let pages = count.div_ceil(page_size).max(1);
    if page > pages {
        return Err(invalid_page());
    }
    let prefix = prefix_of(&matched, "/user/tokens/");
    let link = |n: usize| {
        public_url(
            &state,
            prefix,
            &format!("/user/tokens/?page={n}&page_size={page_size}"),
        )
    };
    let results = tokens
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|t| UserAuthenticationToken::new(t, t.mask.clone()))
        .collect();
    Ok(Json(TokenPage {
        count,
        next: (page < pages).then(|| link(page + 1)),
        previous: (page > 1).then(|| link(page - 1)),
        results,
    }))
}

fn invalid_page() -> CloudsmithError {
    CloudsmithError::new(StatusCode::NOT_FOUND, "Invalid page.")
}

/// `POST /user/tokens/`: a new API token named [`KEY_NAME`], full key shown once (201).
/// While the user holds a usable one already: 400 [`ALREADY_CREATED`], on which the CLI
/// offers to refresh the first listed token instead.
pub(super) async fn user_tokens_create(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    _body: Ignored,
) -> Result<Response, CloudsmithError> {
    let actor = caller.actor.clone().with_client(&client);
    let now = state.accounts.now();
    let tokens = state.accounts.list_tokens(&actor, caller.user).await?;
    if tokens
        .iter()
        .any(|t| t.name == KEY_NAME && t.is_usable(now))
    {
        return Err(CloudsmithError::bad_request(ALREADY_CREATED));
    }
    let (token, secret) = state
        .accounts
        .create_token(&actor, caller.user, Some(KEY_NAME.into()), None)
        .await?;
    let body = UserAuthenticationToken::new(&token, secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `PUT /user/tokens/{slug_perm}/refresh/`: a new secret for one of the caller's usable
/// tokens (any surface's; named by `slug_perm`, the dashed id or the masked key); the old
/// secret stops working at once.
pub(super) async fn user_tokens_refresh(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    Path(slug_perm): Path<String>,
    _body: Ignored,
) -> Result<Json<UserAuthenticationToken>, CloudsmithError> {
    let actor = caller.actor.clone().with_client(&client);
    let by = TokenRef::parse(slug_perm.trim()).ok_or_else(CloudsmithError::not_found)?;
    let token = state.accounts.token(&actor, caller.user, &by).await?;
    if !token.is_usable(state.accounts.now()) {
        return Err(CloudsmithError::not_found());
    }
    let (token, secret) = state
        .accounts
        .rotate_token(&actor, caller.user, &TokenRef::Id(token.id))
        .await?;
    Ok(Json(UserAuthenticationToken::new(
        &token,
        secret.expose().to_owned(),
    )))
}
