//! Alsid's handlers (login, logout, users, roles, passwords) and their lookups.

use super::*;

/// Resolves `{id}` (a user's public number) to the account. A number that names nobody is
/// 404 for callers who could `need` any user, and 403 otherwise, exactly like an existing
/// user they may not touch (no probing). Something that is not a number is 404.
async fn resolve(
    state: &AppState,
    actor: &Actor,
    raw: &str,
    need: Need,
) -> Result<UserId, AlsidError> {
    let Ok(number) = raw.trim().parse::<i64>() else {
        return Err(AlsidError::not_found());
    };
    let user = state
        .accounts
        .user_as(actor, need, UserRef::Number(number))
        .await?;
    Ok(user.id)
}

async fn role_ids(state: &AppState, user: UserId) -> Result<Vec<RoleId>, AlsidError> {
    Ok(state
        .accounts
        .roles_of(user)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

async fn render(state: &AppState, user: User) -> Result<AlsidUser, AlsidError> {
    Ok(render_all(state, vec![user]).await?.remove(0))
}

/// Users as Alsid shows them, their roles read in one query.
async fn render_all(state: &AppState, users: Vec<User>) -> Result<Vec<AlsidUser>, AlsidError> {
    let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
    let mut roles = state.accounts.role_ids_of(&ids).await?;
    Ok(users
        .into_iter()
        .map(|user| {
            let held = roles.remove(&user.id).unwrap_or_default();
            AlsidUser::new(user, &held)
        })
        .collect())
}

// ------------------------------------------------------------------ handlers

/// `POST /api/login`: a session whose secret is the `authToken` (and works as `x-api-key`).
pub(super) async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<LoginBody>,
) -> Result<Json<AuthToken>, AlsidError> {
    let session = state
        .accounts
        .login(&body.email, Password::for_login(body.password), client)
        .await?;
    Ok(Json(AuthToken {
        auth_token: session.secret.expose().to_owned(),
    }))
}

/// `POST /api/logout`: ends the session used; with an API token nothing ends (tokens are
/// deleted, not logged out) and the answer is the same. The `{}` body is not read.
pub(super) async fn logout(
    State(state): State<AppState>,
    Credential(me, _): ApiKey,
) -> Result<Json<&'static str>, AlsidError> {
    state.accounts.logout(&me).await?;
    Ok(Json("ok"))
}

/// `GET /api/users`: every user the caller may list, up to [`MAX_LISTED_USERS`].
pub(super) async fn list_users(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
) -> Result<Json<Vec<AlsidUser>>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let page = accounts::admin::MAX_PAGE;
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let query = UserQuery {
            after,
            limit: page,
            ..UserQuery::default()
        };
        let batch = state.accounts.list_users(&actor, query).await?;
        let full = batch.len() >= page as usize;
        after = batch.last().map(|u| UserCursor::Id(u.id));
        users.extend(batch);
        if !full || users.len() >= MAX_LISTED_USERS {
            break;
        }
    }
    if users.len() > MAX_LISTED_USERS {
        users.truncate(MAX_LISTED_USERS);
    }
    Ok(Json(render_all(&state, users).await?))
}

/// `POST /api/users`: a JSON array of accounts, created all or none, answered in the same
/// order. Alsid has no username, so one is derived from the e-mail address. The accounts
/// are active and their addresses count as verified (an administrator vouches for them).
/// `active` is not obeyed: the seed client sends `"active": false` whenever the caller did
/// not set it, so obeying it would create unusable accounts; `PATCH` with
/// `{"active": false}` disables one.
pub(super) async fn create_users(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
    Body(body): Body<Vec<NewUserBody>>,
) -> Result<Json<Vec<AlsidUser>>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let mut parsed = Vec::with_capacity(body.len());
    for user in body {
        no_picture(user.picture.as_ref())?;
        parsed.push((email(&user.email)?, user));
    }
    let specs = parsed
        .into_iter()
        .map(|(email, user)| AccountSpec {
            // Alsid has no username: the core derives one from the address (one rule).
            username: NewUsername::FromEmail,
            email,
            password: Some(user.password),
            status: UserStatus::Active,
            email_verified: true,
            roles: Vec::new(),
            profile: ProfileUpdate {
                given_name: Patch::Set(user.name),
                family_name: set(user.surname),
                department: set(user.department),
                biography: set(user.biography),
                ..ProfileUpdate::default()
            },
        })
        .collect();
    let created = state.accounts.create_users(&actor, specs, None).await?;
    // The core answers in the order asked.
    Ok(Json(render_all(&state, created).await?))
}

/// `GET /api/users/whoami`: the caller, with their roles and permissions.
pub(super) async fn whoami(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
) -> Result<Json<WhoAmI>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let user = state.accounts.get_user(&actor, me.user_id).await?;
    let roles = state.accounts.roles_of(user.id).await?;
    let name = display_name(&user);
    Ok(Json(WhoAmI {
        id: user.number,
        name,
        email: user.email.to_string(),
        provider: PROVIDER,
        department: user.profile.department,
        roles: roles.into_iter().map(Into::into).collect(),
        eula_version: EULA_VERSION,
        internal: false,
        active: user.status == UserStatus::Active,
    }))
}

/// `GET /api/users/{id}`.
pub(super) async fn get_user(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
    Path(id): Path<String>,
) -> Result<Json<UserById>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let id = resolve(&state, &actor, &id, READ_USER).await?;
    let user = state.accounts.get_user(&actor, id).await?;
    let roles = role_ids(&state, user.id).await?;
    Ok(Json(UserById::new(user, &roles)))
}

/// `PATCH /api/users/{id}`: only the fields sent change. `name` and `surname` are the
/// given and family names, `active` is the account's status (active or disabled).
pub(super) async fn update_user(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
    Path(id): Path<String>,
    Body(body): Body<UserPatchBody>,
) -> Result<Json<AlsidUser>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    no_picture(body.picture.as_ref())?;
    let email = body.email.as_deref().map(email).transpose()?;
    let id = resolve(&state, &actor, &id, UPDATE_USER).await?;
    let update = AccountUpdate {
        email,
        status: body.active.map(|active| {
            if active {
                UserStatus::Active
            } else {
                UserStatus::Disabled
            }
        }),
        password: body.password,
        profile: ProfileUpdate {
            given_name: set(body.name),
            family_name: Patch::from_option(body.surname),
            department: Patch::from_option(body.department),
            biography: Patch::from_option(body.biography),
            ..ProfileUpdate::default()
        },
        ..AccountUpdate::default()
    };
    let user = state.accounts.update_user(&actor, id, update).await?;
    Ok(Json(render(&state, user).await?))
}

/// `DELETE /api/users/{id}`: answers `{}` (the `{}` the client sends is not read).
pub(super) async fn delete_user(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let id = resolve(&state, &actor, &id, DELETE_USER).await?;
    state.accounts.delete_user(&actor, id).await?;
    Ok(Json(serde_json::json!({})))
}

/// `PUT /api/users/{id}/roles`: replaces the user's roles; answers the roles they now hold.
pub(super) async fn set_user_roles(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
    Path(id): Path<String>,
    Body(body): Body<RolesBody>,
) -> Result<Json<RolesBody>, AlsidError> {
    let actor = Actor::from(&me).with_client(&client);
    let id = resolve(&state, &actor, &id, UPDATE_USER).await?;
    let roles = body.roles.into_iter().map(RoleId).collect();
    let held = state.accounts.set_user_roles(&actor, id, roles).await?;
    Ok(Json(RolesBody {
        roles: held.into_iter().map(|r| r.0).collect(),
    }))
}

/// `PATCH /api/users/password`: the caller's own password, after checking the current one;
/// their other sessions and tokens keep working.
pub(super) async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Credential(me, _): ApiKey,
    Body(body): Body<PasswordChangeBody>,
) -> Result<Json<()>, AlsidError> {
    state
        .accounts
        .change_password(
            &me,
            Password::for_login(body.old_password),
            body.new_password,
            false,
            client,
        )
        .await?;
    Ok(null())
}

/// `POST /api/users/forgotten-password`: mails a reset link (and code) when the address
/// belongs to an account; the answer is the same either way.
pub(super) async fn forgotten_password(
    State(state): State<AppState>,
    Client(client): Client,
    headers: axum::http::HeaderMap,
    Body(body): Body<ForgottenPasswordBody>,
) -> Result<Json<()>, AlsidError> {
    // A cross-site form must not make us mail someone (`crate::http::declares_json`).
    if !crate::http::declares_json(&headers) {
        return Err(AlsidError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    state
        .accounts
        .request_password_reset(&body.email, client, accounts::CodeScope::Native)
        .await?;
    Ok(null())
}

/// `POST /api/users/retrieve-password`: `token` is the link token from the reset e-mail;
/// every session of the account ends.
pub(super) async fn retrieve_password(
    State(state): State<AppState>,
    Client(client): Client,
    Body(body): Body<RetrievePasswordBody>,
) -> Result<Json<()>, AlsidError> {
    state
        .accounts
        .reset_password_with_link(&body.token, body.new_password, client)
        .await?;
    Ok(null())
}
