//! The profile page (the OIDC claims) and the picture upload.

use super::*;

/// The editable claims, in the order the form shows them: (field, label, input type).
const CLAIMS: &[(&str, &str, &str)] = &[
    ("name", "Full name", "text"),
    ("given_name", "Given name", "text"),
    ("family_name", "Family name", "text"),
    ("middle_name", "Middle name", "text"),
    ("nickname", "Nickname", "text"),
    ("preferred_username", "Preferred username", "text"),
    ("profile", "Profile page", "url"),
    ("website", "Website", "url"),
    ("gender", "Gender", "text"),
    ("birthdate", "Birthdate (YYYY-MM-DD)", "text"),
    ("zoneinfo", "Time zone (e.g. Europe/Paris)", "text"),
    ("locale", "Locale (e.g. en-GB)", "text"),
    ("phone_number", "Phone number", "tel"),
    ("address", "Postal address", "text"),
    ("department", "Department", "text"),
    ("biography", "About you", "text"),
];

/// One claim's row in the form.
#[derive(Debug)]
struct ClaimField {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    value: String,
}

#[derive(Debug, Template)]
#[template(path = "ui/account_profile.html")]
struct ProfilePage {
    chrome: Chrome,
    user: User,
    picture: Option<String>,
    fields: Vec<ClaimField>,
    upload_action: String,
    note: &'static str,
    errors: Errors,
}

fn claim_value(user: &User, field: &str) -> Option<String> {
    let p = &user.profile;
    match field {
        "name" => p.name.clone(),
        "given_name" => p.given_name.clone(),
        "family_name" => p.family_name.clone(),
        "middle_name" => p.middle_name.clone(),
        "nickname" => p.nickname.clone(),
        "preferred_username" => p.preferred_username.clone(),
        "profile" => p.profile.clone(),
        "website" => p.website.clone(),
        "gender" => p.gender.clone(),
        "birthdate" => p.birthdate.clone(),
        "zoneinfo" => p.zoneinfo.clone(),
        "locale" => p.locale.clone(),
        "phone_number" => p.phone_number.clone(),
        "address" => p.address.clone(),
        "department" => p.department.clone(),
        "biography" => p.biography.clone(),
        _ => None,
    }
}

fn profile_page_for(
    state: &AppState,
    signed: &SignedIn,
    csrf: Csrf,
    user: User,
    typed: Option<&std::collections::HashMap<String, String>>,
    note: &'static str,
    errors: Errors,
) -> ProfilePage {
    // Only our own pictures show inline (the CSP allows images from this site alone).
    let public = state.accounts.config().public_url.trim_end_matches('/');
    let picture = user
        .profile
        .picture
        .as_deref()
        .and_then(|url| url.strip_prefix(public))
        .filter(|path| path.starts_with("/auth/v1/pictures/"))
        .map(str::to_owned);
    let fields = CLAIMS
        .iter()
        .map(|(name, label, kind)| ClaimField {
            name,
            label,
            kind,
            value: typed
                .and_then(|t| t.get(*name).cloned())
                .or_else(|| claim_value(&user, name))
                .unwrap_or_default(),
        })
        .collect();
    let chrome = signed.chrome(csrf);
    ProfilePage {
        upload_action: format!(
            "/account/picture?csrf={}",
            crate::http::ui::urlencode(&chrome.csrf)
        ),
        chrome,
        user,
        picture,
        fields,
        note,
        errors,
    }
}

pub(super) async fn profile_page(
    State(state): State<AppState>,
    signed: SignedIn,
    csrf: Csrf,
    Query(q): Query<NoteQuery>,
) -> Response {
    let me = accounts::Actor::from(&signed.principal);
    let user = match state.accounts.get_user(&me, signed.principal.user_id).await {
        Ok(user) => user,
        Err(e) => return refused(e),
    };
    let page = profile_page_for(
        &state,
        &signed,
        csrf,
        user,
        None,
        note_text(q.done.as_deref()),
        Errors::default(),
    );
    render(StatusCode::OK, &page)
}

pub(super) async fn save_profile(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    UiForm(form): UiForm<std::collections::HashMap<String, String>>,
) -> Response {
    // An empty box clears the claim; a box the form did not send is kept.
    let patch = |field: &str| match form.get(field).map(|v| v.trim()) {
        None => Patch::Keep,
        Some("") => Patch::Clear,
        Some(v) => Patch::Set(v.to_owned()),
    };
    let update = ProfileUpdate {
        name: patch("name"),
        given_name: patch("given_name"),
        family_name: patch("family_name"),
        middle_name: patch("middle_name"),
        nickname: patch("nickname"),
        preferred_username: patch("preferred_username"),
        profile: patch("profile"),
        picture: Patch::Keep,
        website: patch("website"),
        gender: patch("gender"),
        birthdate: patch("birthdate"),
        zoneinfo: patch("zoneinfo"),
        locale: patch("locale"),
        phone_number: patch("phone_number"),
        address: patch("address"),
        department: patch("department"),
        biography: patch("biography"),
    };
    match state
        .accounts
        .update_profile(
            &signed.principal.actor(&client),
            signed.principal.user_id,
            update,
        )
        .await
    {
        Ok(_) => done("/account", "profile"),
        Err(e) => {
            let error = ApiError::from(e);
            let page = profile_page_for(
                &state,
                &signed,
                csrf,
                signed.user.clone(),
                Some(&form),
                "",
                Errors::from_api(&error, &[]),
            );
            render(error.status, &page)
        }
    }
}

pub(super) async fn upload_picture(
    State(state): State<AppState>,
    Client(client): Client,
    signed: SignedIn,
    csrf: Csrf,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let result = match multipart {
        Ok(multipart) => crate::http::upload::read_file_part(multipart).await,
        Err(rejection) => Err(ApiError::from(rejection)),
    };
    let outcome = match result {
        Ok(bytes) => state
            .accounts
            .set_picture(
                &signed.principal.actor(&client),
                signed.principal.user_id,
                bytes,
            )
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => done("/account", "picture"),
        Err(mut error) => {
            error.field = Some("picture".to_owned());
            let page = profile_page_for(
                &state,
                &signed,
                csrf,
                signed.user.clone(),
                None,
                "",
                Errors::from_api(&error, &[]),
            );
            render(error.status, &page)
        }
    }
}
