//! API tokens as use cases: create, list, read, disable, delete and rotate, each checked
//! as the caller (`token.rs` holds the format: secrets, masks and hashes).

use crate::access::{Action, Entity, Need};
use crate::admin::Actor;
use crate::audit::Outcome;
use crate::domain::{InvalidInput, UserId};
use crate::error::TokenError;
use crate::service::Accounts;
use crate::store::{StoreError, TokenLookup};
use crate::token::{ApiToken, CredentialKind, TokenId, TokenRef, TokenSecret};
use chrono::{DateTime, Duration, Utc};

fn token_name(raw: Option<String>) -> Result<String, InvalidInput> {
    let name = raw.map(|n| n.trim().to_owned()).unwrap_or_default();
    if name.is_empty() {
        return Ok("token".into());
    }
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "name",
            "must be at most 100 characters, without control characters",
        ));
    }
    Ok(name)
}

impl Accounts {
    /// `now` + `seconds` when that is 1 second to `max_token_lifetime` away; checked
    /// arithmetic all the way, so no number a caller sends can overflow.
    pub(crate) fn expiry_after(
        &self,
        now: DateTime<Utc>,
        seconds: i64,
    ) -> Result<DateTime<Utc>, InvalidInput> {
        let max = self.config.max_token_lifetime;
        Duration::try_seconds(seconds)
            .filter(|d| *d > Duration::zero() && *d <= max)
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(|| {
                InvalidInput::new(
                    "expires_in",
                    format!("must be between 1 and {} seconds", max.num_seconds()),
                )
            })
    }

    /// A new API token; `expires_in_seconds` makes it a timed token, from 1 second to
    /// `max_token_lifetime` (any other number, however large, is `Invalid` naming the range,
    /// never an overflow). The secret is returned once.
    ///
    /// `actor` needs `token:create` on `user`, and to cover them when they are someone else.
    pub async fn create_token(
        &self,
        actor: &Actor,
        user: UserId,
        name: Option<String>,
        expires_in_seconds: Option<i64>,
    ) -> Result<(ApiToken, TokenSecret), TokenError> {
        self.authorize_user_change(actor, Need::new(Entity::Token, Action::Create), user)
            .await?;
        let name = token_name(name)?;
        let now = self.clock.now();
        let expires_at = match expires_in_seconds {
            None => None,
            Some(seconds) => Some(self.expiry_after(now, seconds)?),
        };
        let secret = TokenSecret::generate(CredentialKind::ApiToken);
        let token = ApiToken {
            id: TokenId::new(),
            user_id: user,
            name,
            mask: secret.mask(),
            created_at: now,
            expires_at,
            disabled: false,
            last_used_at: None,
            rotated_at: None,
        };
        let max = self.config.max_tokens_per_user;
        match self.store.insert_token(&token, &secret.hash(), max).await {
            Ok(()) => {
                self.audit_token("token.create", &token, actor).await;
                Ok((token, secret))
            }
            Err(StoreError::LimitReached) => Err(TokenError::TooMany { max }),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn audit_token(&self, action: &str, token: &ApiToken, actor: &Actor) {
        let detail = format!("token {} ({})", token.id, token.mask);
        let (by, of) = (actor.user_id(), Some(token.user_id));
        let client = actor.client();
        self.audit(action, by, of, Outcome::Success, client, Some(&detail))
            .await;
    }

    /// All of `user`'s API tokens, newest first, with pending last-used times merged in
    /// (`token:read` on them).
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> Result<Vec<ApiToken>, TokenError> {
        self.authorize_user(actor, Need::new(Entity::Token, Action::Read), user)
            .await?;
        let mut tokens = self.store.list_tokens(user).await?;
        let usage = self.usage.lock().expect("usage lock poisoned");
        for token in &mut tokens {
            if let Some(at) = usage.get(&(CredentialKind::ApiToken, token.id.0)) {
                token.last_used_at = Some(token.last_used_at.map_or(*at, |old| old.max(*at)));
            }
        }
        Ok(tokens)
    }

    /// One of `user`'s tokens, named by id, secret or mask (`token:read` on them). Another
    /// user's token is `NotFound`, exactly like a token that does not exist.
    pub async fn token(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
    ) -> Result<ApiToken, TokenError> {
        self.authorize_user(actor, Need::new(Entity::Token, Action::Read), user)
            .await?;
        self.find_token(user, by).await
    }

    pub(crate) async fn find_token(
        &self,
        user: UserId,
        by: &TokenRef,
    ) -> Result<ApiToken, TokenError> {
        let lookup = match by {
            TokenRef::Id(id) => TokenLookup::Id(*id),
            TokenRef::Secret(secret) => TokenLookup::Hash(secret.hash()),
            TokenRef::Mask(mask) => TokenLookup::Mask(mask.clone()),
        };
        self.store
            .find_token(user, &lookup)
            .await?
            .ok_or(TokenError::NotFound)
    }

    /// `actor` disables or enables one of `user`'s tokens (`token:update`, covering them).
    pub async fn set_token_disabled(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
        disabled: bool,
    ) -> Result<ApiToken, TokenError> {
        self.authorize_user_change(actor, Need::new(Entity::Token, Action::Update), user)
            .await?;
        let token = self.find_token(user, by).await?;
        if !self
            .store
            .set_token_disabled(user, token.id, disabled)
            .await?
        {
            return Err(TokenError::NotFound);
        }
        self.forget_credential(token.id.0).await;
        let action = if disabled {
            "token.disable"
        } else {
            "token.enable"
        };
        self.audit_token(action, &token, actor).await;
        Ok(ApiToken { disabled, ..token })
    }

    /// `actor` deletes one of `user`'s tokens (`token:delete`, covering them).
    pub async fn delete_token(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
    ) -> Result<ApiToken, TokenError> {
        self.authorize_user_change(actor, Need::new(Entity::Token, Action::Delete), user)
            .await?;
        let token = self.find_token(user, by).await?;
        if !self.store.delete_token(user, token.id).await? {
            return Err(TokenError::NotFound);
        }
        self.forget_credential(token.id.0).await;
        self.audit_token("token.delete", &token, actor).await;
        Ok(token)
    }

    /// A new secret for the same token (same id, name, expiry); the old secret stops working
    /// (`token:update` on `user`, covering them).
    pub async fn rotate_token(
        &self,
        actor: &Actor,
        user: UserId,
        by: &TokenRef,
    ) -> Result<(ApiToken, TokenSecret), TokenError> {
        self.authorize_user_change(actor, Need::new(Entity::Token, Action::Update), user)
            .await?;
        let token = self.find_token(user, by).await?;
        let secret = TokenSecret::generate(CredentialKind::ApiToken);
        let now = self.clock.now();
        if !self
            .store
            .rotate_token(user, token.id, &secret.hash(), &secret.mask(), now)
            .await?
        {
            return Err(TokenError::NotFound);
        }
        self.forget_credential(token.id.0).await;
        self.audit_token("token.rotate", &token, actor).await;
        let token = ApiToken {
            mask: secret.mask(),
            rotated_at: Some(now),
            ..token
        };
        Ok((token, secret))
    }
}
