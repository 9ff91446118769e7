//! Trieve's handlers (API keys, the user, files, chunks) and their lookups.

use super::*;

/// `user` as `SlimUser`, with the organisations the caller may see them in (the core's
/// `memberships_seen_by`: all of one's own; another user's only in the TR-Organization).
async fn slim_user(state: &AppState, caller: &Caller, user: User) -> Result<SlimUser, TrieveError> {
    let within = caller.org.as_ref().map(|o| o.id);
    let seen = state
        .accounts
        .memberships_seen_by(&caller.actor(), user.id, within)
        .await?;
    let mut out_orgs = Vec::new();
    let mut user_orgs = Vec::new();
    for (org, membership) in seen {
        user_orgs.push(UserOrganization {
            id: membership_id(org.id, user.id),
            user_id: user.id.to_string(),
            organization_id: org.id.to_string(),
            role: role_number(membership.role),
            created_at: naive(membership.created_at),
            // The core keeps when a membership began, not when its role last changed.
            updated_at: naive(membership.created_at),
        });
        out_orgs.push(OrganizationOut::from(&org));
    }
    Ok(SlimUser {
        id: user.id.to_string(),
        // `SlimUser.email` is a required string: a hidden address is the empty one.
        email: shown_email(&user, caller.principal.user_id).unwrap_or_default(),
        name: user.profile.name,
        username: Some(user.username.to_string()),
        website: user.profile.website,
        visible_email: user.email_visible,
        orgs: out_orgs,
        user_orgs,
    })
}

/// A profile field from `UpdateUserData`: missing or `null` keeps it (Trieve's "if not
/// provided, the current value will be used"), a blank string clears it, anything else
/// sets it.
fn set(value: Option<String>) -> Patch<String> {
    match value {
        None => Patch::Keep,
        Some(v) if v.trim().is_empty() => Patch::Clear,
        Some(v) => Patch::Set(v),
    }
}

// ------------------------------------------------------------------ handlers

/// `POST /api/user/set_api_key`: a new key without expiry, named `name`; the key itself
/// is in the answer, once.
pub(super) async fn set_api_key(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    Body(body): Body<SetApiKeyRequest>,
) -> Result<Json<SetApiKeyResponse>, TrieveError> {
    let me = &caller.principal;
    let (_, secret) = state
        .accounts
        .create_token(&me.actor(&client), me.user_id, Some(body.name), None)
        .await?;
    Ok(Json(SetApiKeyResponse {
        api_key: secret.expose().to_owned(),
    }))
}

/// `DELETE /api/user/delete_api_key`: deletes one of the caller's keys, named by id,
/// masked form or the key itself; answers the keys that remain.
pub(super) async fn delete_api_key(
    State(state): State<AppState>,
    Client(client): Client,
    caller: Caller,
    Body(body): Body<DeleteApiKeyRequest>,
) -> Result<Json<Vec<ApiKeyDto>>, TrieveError> {
    let me = &caller.principal;
    let by = TokenRef::parse(body.api_key_id.trim()).ok_or_else(|| {
        TrieveError::bad("api_key_id must be an API key's id, its masked form or the key")
    })?;
    state
        .accounts
        .delete_token(&me.actor(&client), me.user_id, &by)
        .await?;
    let remaining = state.accounts.list_tokens(&me.into(), me.user_id).await?;
    Ok(Json(remaining.into_iter().map(Into::into).collect()))
}

/// `PUT /api/user`: changes the caller (or, with `user_id`, another user) and answers the
/// user as `SlimUser`. `role` sets the user's role in the TR-Organization, which must then
/// be sent and which the user must already belong to. One core use case changes both
/// (`update_member_and_account`); inputs are checked before either.
pub(super) async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<UpdateUserData>,
) -> Result<Json<SlimUser>, TrieveError> {
    let actor = caller.actor();
    let me = caller.principal.user_id;
    let target = match body.user_id.as_deref() {
        Some(raw) => user_id(raw)?,
        None => me,
    };
    let role = body.role.map(org_role).transpose()?;
    let username = body.username.as_deref().map(Username::parse).transpose()?;
    let profile = ProfileUpdate {
        name: set(body.name),
        website: set(body.website),
        ..ProfileUpdate::default()
    };
    // Refuse bad input before the role changes.
    let changes_account = username.is_some()
        || body.visible_email.is_some()
        || !profile.clone().validate()?.is_empty();
    let role = match role {
        None => None,
        Some(role) => {
            let org = caller.org.as_ref().ok_or_else(|| {
                TrieveError::bad("role needs the TR-Organization header naming the organisation")
            })?;
            Some((org.id, role))
        }
    };
    let update = changes_account.then(|| AccountUpdate {
        username,
        profile,
        email_visible: body.visible_email,
        ..AccountUpdate::default()
    });
    let user = state
        .accounts
        .update_member_and_account(&actor, target, role, update)
        .await?;
    Ok(Json(slim_user(&state, &caller, user).await?))
}

/// `GET /api/user/files/{user_id}`: the user's files, newest first.
pub(super) async fn user_files(
    State(state): State<AppState>,
    caller: Caller,
    raw: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<FileOut>>, TrieveError> {
    let owner = user_id(&path(raw)?)?;
    let files = state.accounts.list_files(&caller.actor(), owner).await?;
    Ok(Json(files.into_iter().map(Into::into).collect()))
}

/// `GET /api/user/{user_id}/{page}`: the user and page `page` of their chunks (10 a page,
/// newest first); a page past the end has no chunks.
pub(super) async fn user_with_chunks(
    State(state): State<AppState>,
    caller: Caller,
    raw: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<UserWithChunks>, TrieveError> {
    let (raw_user, raw_page) = path(raw)?;
    let owner = user_id(&raw_user)?;
    let page = page(&raw_page)?;
    let actor = caller.actor();
    let ChunkPage { chunks, total } = state.accounts.list_chunks(&actor, owner, page).await?;
    let user = state.accounts.get_user(&actor, owner).await?;
    let file_names = if chunks.iter().any(|c| c.file_id.is_some()) {
        match state.accounts.list_files(&actor, owner).await {
            Ok(files) => files
                .into_iter()
                .map(|f| (f.id.to_string(), f.name))
                .collect(),
            // Chunks may be readable where files are not: then no names.
            Err(ContentError::Forbidden) => HashMap::new(),
            Err(e) => return Err(e.into()),
        }
    } else {
        HashMap::new()
    };
    let author = UserDto::shown_to(&user, caller.principal.user_id);
    let chunks = chunks
        .into_iter()
        .map(|c| ChunkOut::new(c, &author, &file_names))
        .collect();
    Ok(Json(UserWithChunks {
        user: author,
        total_chunks_created: total,
        chunks,
    }))
}
