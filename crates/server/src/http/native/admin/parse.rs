//! Parsing the admin API's bodies and list cursors into the core's inputs.

use super::*;

pub(super) fn invalid_field(field: String, detail: &str) -> ApiError {
    ApiError {
        field: Some(field),
        ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", detail)
    }
}

/// Where item `index` of a bulk body is, as a prefix for field names and details.
pub(super) fn at(index: Option<usize>) -> String {
    index.map(|i| format!("[{i}].")).unwrap_or_default()
}

/// A body field that breaks a rule; in a bulk body, `field` names the item (`[3].email`).
fn invalid_at(index: Option<usize>, input: InvalidInput) -> ApiError {
    let mut error = ApiError::invalid(input);
    if let Some(field) = &mut error.field {
        *field = format!("{}{field}", at(index));
    }
    error
}

/// The shapes with flattened profile claims cannot use `deny_unknown_fields`; this refuses
/// what the claims did not take, like every other native body does (422).
fn refuse_unknown(
    index: Option<usize>,
    unknown: &BTreeMap<String, serde_json::Value>,
) -> Result<(), ApiError> {
    match unknown.keys().next() {
        None => Ok(()),
        Some(key) => Err(ApiError {
            field: Some(format!("{}{key}", at(index))),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed_body",
                format!("{}unknown field `{key}`", at(index)),
            )
        }),
    }
}

pub(super) fn malformed_at(index: Option<usize>, e: serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "malformed_body",
        format!("{}{e}", at(index)),
    )
}

impl NewAccount {
    pub(super) fn parse(self, index: Option<usize>) -> Result<AccountSpec, ApiError> {
        refuse_unknown(index, &self.unknown)?;
        Ok(AccountSpec {
            username: NewUsername::Chosen(
                Username::parse(&self.username).map_err(|e| invalid_at(index, e))?,
            ),
            email: EmailAddress::parse(&self.email).map_err(|e| invalid_at(index, e))?,
            password: self.password,
            status: self.status.map_or(UserStatus::Active, Into::into),
            email_verified: self.email_verified,
            roles: self.roles.into_iter().map(RoleId).collect(),
            profile: self.claims.into(),
        })
    }
}

impl AccountPatch {
    pub(super) fn parse(self) -> Result<AccountUpdate, ApiError> {
        refuse_unknown(None, &self.unknown)?;
        Ok(AccountUpdate {
            username: self
                .username
                .as_deref()
                .map(Username::parse)
                .transpose()
                .map_err(ApiError::invalid)?,
            email: self
                .email
                .as_deref()
                .map(EmailAddress::parse)
                .transpose()
                .map_err(ApiError::invalid)?,
            email_verified: self.email_verified,
            status: self.status.map(Into::into),
            profile: self.claims.into(),
            // Trieve's setting; the native API shows the address to whoever may read the user.
            email_visible: None,
            password: self.password,
        })
    }
}

// ------------------------------------------------------------------ the cursor

/// The user cursor a listing's key text names. One that belongs to another order (the
/// client changed `q`) is refused rather than silently restarting the listing.
pub(super) fn user_cursor(
    text: &str,
    order: UserOrder,
    field: &str,
) -> Result<UserCursor, ApiError> {
    if let Some(cursor) = UserCursor::from_text(text, order) {
        return Ok(cursor);
    }
    let other_order = [UserOrder::Id, UserOrder::Username, UserOrder::Email]
        .into_iter()
        .any(|o| UserCursor::from_text(text, o).is_some());
    Err(paging::invalid_query(
        field,
        if other_order {
            format!("`{field}` belongs to a listing with another `q`; start again without it")
        } else {
            format!("`{field}` is not a cursor of this list; pass `next` as `after` and `prev` as `before`, unchanged")
        },
    ))
}
