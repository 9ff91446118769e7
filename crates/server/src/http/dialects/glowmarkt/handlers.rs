//! Glowmarkt's handlers: registration, users, password reset, verification and auth.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AddUserReq {
    name: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    #[allow(dead_code)] // Accepted and ignored: Gatehouse has one directory.
    directory_id: Option<String>,
    application_id: Option<String>,
}

/// `POST /register`: self-registration into an application. The answer never says whether
/// the account already existed: for a taken address it has the same shape and fields, with
/// an id the core never stored (it leads nowhere), after the same work.
pub(super) async fn register(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    headers: axum::http::HeaderMap,
    Body(req): Body<AddUserReq>,
) -> Result<Json<UserRes>, GlowmarktError> {
    json_only(&headers)?;
    let app = header_app.with_body(req.application_id.as_deref())?;
    let given_username = required(req.username, "username")?;
    let email = EmailAddress::parse(&required(req.email, "email")?)?;
    let password = required(req.password, "password")?;
    let username = if given_username.contains('@') {
        if EmailAddress::parse(&given_username)? != email {
            return Err(GlowmarktError::bad(
                "username: an e-mail address as username must be the same as email",
            ));
        }
        NewUsername::FromEmail
    } else {
        NewUsername::Chosen(Username::parse(&given_username)?)
    };
    let profile = ProfileUpdate {
        name: req.name.map_or(Patch::Keep, Patch::Set),
        ..ProfileUpdate::default()
    }
    .validate()?;
    let registered = state
        .accounts
        .register(
            Registration {
                username,
                email,
                password,
                application: Some(app),
                profile,
            },
            client,
        )
        .await?;
    let id = registered.id.to_string();
    let at = time(registered.created_at);
    Ok(Json(UserRes {
        user_id: Some(id.clone()),
        active: false,
        status: status_out(UserStatus::Pending),
        created_at: Some(at.clone()),
        updated_at: Some(at),
        applications: vec![ApplicationRes {
            account_id: Some(id),
            active: true,
            application_id: app.to_string(),
        }],
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateUserReq {
    username: Option<String>,
    #[allow(dead_code)] // Accepted and ignored: Gatehouse has one directory.
    directory_id: Option<String>,
}

/// `POST /user`: an administrator creates an active account without a password in the
/// application; its owner sets one with the reset flow.
pub(super) async fn create_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(app): AppHeader,
    Body(req): Body<CreateUserReq>,
) -> Result<Json<UserRes>, GlowmarktError> {
    let given = required(req.username, "username")?;
    let email = EmailAddress::parse(&given)
        .map_err(|_| GlowmarktError::bad("username must be an e-mail address"))?;
    let spec = AccountSpec {
        username: NewUsername::FromEmail,
        email,
        password: None,
        status: UserStatus::Active,
        email_verified: false,
        roles: Vec::new(),
        profile: ProfileUpdate::default(),
    };
    let created = state
        .accounts
        .create_users(&actor, vec![spec], app)
        .await
        .map_err(|e| match e {
            // Only reached by callers allowed to create users there.
            AdminError::NotFound => GlowmarktError::bad("unknown applicationId"),
            other => other.into(),
        })?;
    let Some(user) = created.into_iter().next() else {
        return Err(GlowmarktError::not_found()); // the core returns one user per spec
    };
    Ok(Json(user_res(&state, &actor, &user, app).await?))
}

#[derive(Debug, Deserialize)]
pub(super) struct UsernameQuery {
    username: Option<String>,
}

/// `GET /user?username=`: by Glowmarkt username (an e-mail) or core username.
pub(super) async fn get_user_by_username(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(app): AppHeader,
    query: Result<Query<UsernameQuery>, QueryRejection>,
) -> Result<Json<UserRes>, GlowmarktError> {
    let Query(query) = query.map_err(|r| GlowmarktError::bad(r.body_text()))?;
    let login = required(query.username, "username")?;
    // As for an unknown id: 404 only to those who may read every user (the core's rule).
    let user = state
        .accounts
        .user_as(&actor, READ_USER, UserRef::Login(&login))
        .await?;
    Ok(Json(user_res(&state, &actor, &user, app).await?))
}

/// `GET /user/{userId}`.
pub(super) async fn get_user_by_id(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(app): AppHeader,
    Path(id): Path<String>,
) -> Result<Json<UserRes>, GlowmarktError> {
    let id = user_id(&id)?;
    let user = state.accounts.get_user(&actor, id).await?;
    Ok(Json(user_res(&state, &actor, &user, app).await?))
}

/// `DELETE /user/{userId}`: the whole account goes (it is one person in every application).
pub(super) async fn delete_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(_): AppHeader,
    Path(id): Path<String>,
    Body(_): Body<serde_json::Value>,
) -> Result<Json<Valid>, GlowmarktError> {
    let id = user_id(&id)?;
    state.accounts.delete_user(&actor, id).await?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResetRequestReq {
    username: Option<String>,
    application_id: Option<String>,
}

/// `POST /user/resetpassword`: mails a 4-digit code to the member of the application with
/// this username or e-mail, if there is one; the answer is the same either way.
pub(super) async fn request_reset(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    headers: axum::http::HeaderMap,
    Body(req): Body<ResetRequestReq>,
) -> Result<Json<Valid>, GlowmarktError> {
    json_only(&headers)?;
    let app = header_app.with_body(req.application_id.as_deref())?;
    let login = required(req.username, "username")?;
    state
        .accounts
        .request_password_reset(&login, client, CodeScope::Application(app))
        .await?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResetReq {
    username: Option<String>,
    application_id: Option<String>,
    token: Option<String>,
    new_password: Option<String>,
}

/// `PUT /user/resetpassword`: redeems the code with a new password; every session ends.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    Body(req): Body<ResetReq>,
) -> Result<Json<Valid>, GlowmarktError> {
    let app = header_app.with_body(req.application_id.as_deref())?;
    let login = required(req.username, "username")?;
    let code = required(req.token, "token")?;
    let new_password = required(req.new_password, "newPassword")?;
    state
        .accounts
        .reset_password_with_code(
            &login,
            &code,
            new_password,
            client,
            CodeScope::Application(app),
        )
        .await?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyReq {
    token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    application_id: Option<String>,
}

/// The account whose username-or-e-mail and password the body carries (401 otherwise).
async fn password_holder(
    state: &AppState,
    client: &accounts::ClientInfo,
    username: Option<String>,
    password: Option<String>,
) -> Result<User, GlowmarktError> {
    let login = required(username, "username")?;
    let password = Password::for_login(required(password, "password")?);
    // Pending accounts pass here: these are the calls that verify the address.
    Ok(state
        .accounts
        .verify_password_only(&login, &password, client)
        .await?)
}

/// `POST /user/verify`: a new 4-digit verification code for an unverified member who
/// knows their password.
pub(super) async fn resend_verification(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    headers: axum::http::HeaderMap,
    Body(req): Body<VerifyReq>,
) -> Result<Json<Valid>, GlowmarktError> {
    json_only(&headers)?;
    let app = header_app.with_body(req.application_id.as_deref())?;
    let user = password_holder(&state, &client, req.username, req.password).await?;
    state
        .accounts
        .resend_verification(user.email.as_str(), client, CodeScope::Application(app))
        .await?;
    Ok(VALID)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    valid: bool,
    user_id: String,
    status: &'static str,
}

/// `PUT /user/verify`: redeems the verification code; the account becomes active.
pub(super) async fn verify(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    Body(req): Body<VerifyReq>,
) -> Result<Json<Verified>, GlowmarktError> {
    let app = header_app.with_body(req.application_id.as_deref())?;
    let code = required(req.token, "token")?;
    let user = password_holder(&state, &client, req.username, req.password).await?;
    state
        .accounts
        .verify_email_code(
            user.email.as_str(),
            &code,
            client,
            CodeScope::Application(app),
        )
        .await?;
    Ok(Json(Verified {
        valid: true,
        user_id: user.id.to_string(),
        status: status_out(UserStatus::Active),
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct UsernameBody {
    username: Option<String>,
    status: Option<String>,
}

/// `PUT /user/{userId}/username`: the user themself or an administrator renames the
/// account. An e-mail-shaped name is the account's e-mail address: the same address
/// changes nothing; another one is an e-mail change, which only an administrator makes.
/// `status` is applied only when it differs from the current one, which only an
/// administrator may do.
pub(super) async fn update_username(
    State(state): State<AppState>,
    Caller(actor): Caller,
    AppHeader(_): AppHeader,
    Path(id): Path<String>,
    Body(req): Body<UsernameBody>,
) -> Result<Json<Valid>, GlowmarktError> {
    let id = user_id(&id)?;
    let given = required(req.username, "username")?;
    let wanted_status = req.status.as_deref().map(status_in).transpose()?;
    let current = state.accounts.get_user(&actor, id).await?;
    let mut update = AccountUpdate::default();
    if given.contains('@') {
        let email = EmailAddress::parse(&given)?;
        if email != current.email {
            update.email = Some(email);
        }
    } else {
        let username = Username::parse(&given)?;
        if username != current.username {
            update.username = Some(username);
        }
    }
    update.status = wanted_status.filter(|s| *s != current.status);
    let admin_only = update.email.is_some() || update.status.is_some();
    state
        .accounts
        .update_user(&actor, id, update)
        .await
        .map_err(|e| match e {
            AdminError::Forbidden if admin_only && actor.user_id() == Some(id) => {
                GlowmarktError::bad(
                    "only an administrator may change the e-mail address or the status",
                )
            }
            other => other.into(),
        })?;
    Ok(VALID)
}

#[derive(Debug, Deserialize)]
pub(super) struct AuthReq {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthRes {
    valid: bool,
    token: String,
    exp: i64,
    account_id: String,
    application_id: String,
    name: String,
}

/// `POST /auth`: password login into an application. Members of the application and
/// instance admins get a session; anyone else is answered like a wrong password.
pub(super) async fn auth(
    State(state): State<AppState>,
    Client(client): Client,
    header_app: AppHeader,
    Body(req): Body<AuthReq>,
) -> Result<Json<AuthRes>, GlowmarktError> {
    let app = header_app.required()?;
    let login = required(req.username, "username")?;
    let password = Password::for_login(required(req.password, "password")?);
    // Non-members are refused by the core like a wrong password, before anything else
    // about the account (unverified, second factor) shows.
    let session = state
        .accounts
        .login_to(Some(app), &login, password, client)
        .await?;
    let user = session.user;
    Ok(Json(AuthRes {
        valid: true,
        token: session.secret.expose().to_owned(),
        exp: session.expires_at.timestamp(),
        account_id: user.id.to_string(),
        application_id: app.to_string(),
        name: user
            .profile
            .name
            .clone()
            .unwrap_or_else(|| user.username.to_string()),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRes {
    valid: bool,
    account_id: String,
    application_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

/// `GET /auth`: whether the `token` header is valid for the application, and until when
/// (`exp` is absent for an API token without expiry).
pub(super) async fn check_auth(
    State(state): State<AppState>,
    header_app: AppHeader,
    headers: HeaderMap,
) -> Result<Json<CheckRes>, GlowmarktError> {
    let app = header_app.required()?;
    let principal = token_principal(&headers, &state).await?;
    let user = state
        .accounts
        .get_user(&(&principal).into(), principal.user_id)
        .await?;
    if !state.accounts.may_use_application(app, &user).await? {
        return Err(GlowmarktError::denied(
            "the token is not valid for this application",
        ));
    }
    let expires_at = match principal.kind {
        CredentialKind::Session => state
            .accounts
            .sessions(&principal)
            .await?
            .into_iter()
            .find(|s| s.id == principal.credential_id)
            .map(|s| s.expires_at),
        CredentialKind::ApiToken => state
            .accounts
            .list_tokens(&(&principal).into(), principal.user_id)
            .await?
            .into_iter()
            .find(|t| t.id.0 == principal.credential_id)
            .and_then(|t| t.expires_at),
    };
    Ok(Json(CheckRes {
        valid: true,
        account_id: user.id.to_string(),
        application_id: app.to_string(),
        exp: expires_at.map(|at| at.timestamp()),
    }))
}
