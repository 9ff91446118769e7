//! Accounts as records: creating one, reading one (cached), naming one on the command line,
//! the operator's password reset, and the caller's profile claims and picture.

use crate::access::{Action, Entity, Need, RoleId};
use crate::admin::Actor;
use crate::audit::Outcome;
use crate::avatar;
use crate::domain::{EmailAddress, ProfileChange, ProfileUpdate, User, UserId, Username};
use crate::error::{CreateUserError, PictureError, ProfileError, UserError};
use crate::files::FileId;
use crate::password::Password;
use crate::service::{draw_user_number, Accounts, ClientInfo, NewUser, Picture};
use crate::store::{EndSessions, FileRecord, NewUserRecord, StoreError, Unique};
use std::sync::Arc;

/// Changing a user's profile claims or picture.
const UPDATE_USER: Need = Need::new(Entity::User, Action::Update);

const AVATAR: &str = "avatar";

impl Accounts {
    pub async fn create_user(&self, new: NewUser) -> Result<User, CreateUserError> {
        let password_hash = match &new.password {
            Some(p) => Some(self.hasher.hash(p).await),
            None => None,
        };
        let record = NewUserRecord {
            id: UserId::new(),
            username: new.username,
            email: new.email,
            email_verified: new.email_verified,
            status: new.status,
            number: draw_user_number(),
            roles: if new.is_admin {
                vec![RoleId::USER, RoleId::ADMIN]
            } else {
                vec![RoleId::USER]
            },
            memberships: Vec::new(),
            password_hash,
            profile: ProfileChange::default(),
            created_at: self.clock.now(),
        };
        self.store.insert_user(&record).await.map_err(|e| match e {
            StoreError::Conflict(Unique::Username) => CreateUserError::UsernameTaken,
            StoreError::Conflict(Unique::Email) => CreateUserError::EmailTaken,
            other => CreateUserError::Store(other),
        })
    }

    /// A user by id, from the cache when it is fresh.
    pub async fn user(&self, id: UserId) -> Result<User, UserError> {
        let now = self.clock.now();
        if let Some(user) = self.users.get(&id, now, |_| true) {
            return Ok(user);
        }
        let generation = self.users.generation();
        let user = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(UserError::NotFound)?;
        let user = self.with_effective_admin_one(user).await?;
        self.users.insert(id, user.clone(), now, generation);
        Ok(user)
    }

    pub async fn user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.store.user_by_username(username).await
    }

    /// Finds a user by id, username or e-mail: how operators name users on the CLI.
    pub async fn find_user(&self, reference: &str) -> Result<User, UserError> {
        if let Ok(id) = reference.parse::<UserId>() {
            if let Some(user) = self.store.user_by_id(id).await? {
                return Ok(user);
            }
        }
        if let Ok(email) = EmailAddress::parse(reference) {
            if let Some(user) = self.store.user_by_email(&email).await? {
                return Ok(user);
            }
        }
        if let Ok(username) = Username::parse(reference) {
            if let Some(user) = self.store.user_by_username(&username).await? {
                return Ok(user);
            }
        }
        Err(UserError::NotFound)
    }

    /// Sets a new password (the operator's reset) and ends every session, API token and
    /// pending sign-in challenge of the user.
    pub async fn set_password(
        &self,
        user: UserId,
        password: Password,
        client: &ClientInfo,
    ) -> Result<(), UserError> {
        let hash = self.hasher.hash(&password).await;
        let now = self.clock.now();
        if !self
            .store
            .set_password_hash(user, &hash, EndSessions::Reset, now)
            .await?
        {
            return Err(UserError::NotFound);
        }
        self.forget_user(user).await;
        self.audit(
            "password.set",
            None,
            Some(user),
            Outcome::Success,
            client,
            None,
        )
        .await;
        Ok(())
    }

    /// `actor` changes `user`'s profile claims (`user:update` on them).
    pub async fn update_profile(
        &self,
        actor: &Actor,
        user: UserId,
        update: ProfileUpdate,
    ) -> Result<User, ProfileError> {
        self.authorize_user(actor, UPDATE_USER, user).await?;
        let change = update.validate()?;
        let updated = self
            .store
            .update_profile(user, &change, self.clock.now())
            .await?
            .ok_or(ProfileError::NotFound)?;
        self.forget_user(user).await;
        self.audit(
            "profile.update",
            actor.user_id(),
            Some(user),
            Outcome::Success,
            actor.client(),
            None,
        )
        .await;
        Ok(self.with_effective_admin_one(updated).await?)
    }

    /// `actor` stores a new profile picture for `user` (`user:update` on them) and points the
    /// `picture` claim at it; returns its URL. Checked before a byte is decoded.
    pub async fn set_picture(
        &self,
        actor: &Actor,
        user: UserId,
        bytes: Vec<u8>,
    ) -> Result<String, PictureError> {
        self.authorize_user(actor, UPDATE_USER, user).await?;
        let max = self.config.max_picture_bytes;
        if bytes.len() > max {
            return Err(PictureError::TooLarge { max });
        }
        // The permit travels with the decode, so a caller that goes away does not free its
        // place while its picture is still being decoded.
        let permit = Arc::clone(&self.picture_decodes)
            .acquire_owned()
            .await
            .map_err(|_| PictureError::NotAnImage)?;
        let budget = self.config.max_picture_decode_bytes;
        let png = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            avatar::normalize(&bytes, budget)
        })
        .await
        .map_err(|_| PictureError::NotAnImage)??;
        if self.store.user_by_id(user).await?.is_none() {
            return Err(PictureError::NotFound);
        }
        let record = FileRecord {
            id: FileId::new(),
            owner_id: user,
            purpose: AVATAR.into(),
            content_type: avatar::CONTENT_TYPE.into(),
            size: png.len() as u64,
            name: "avatar.png".into(),
            link: None,
            metadata: None,
            tag_set: None,
            created_at: self.clock.now(),
        };
        let url = self.picture_url(record.id);
        self.files.put(record.id, png).await?;
        match self
            .store
            .replace_avatar(
                &record,
                &ProfileChange::picture(url.clone()),
                &self.content_limits(),
            )
            .await
        {
            Ok(previous) => {
                self.forget_user(user).await;
                self.audit(
                    "profile.picture",
                    actor.user_id(),
                    Some(user),
                    Outcome::Success,
                    actor.client(),
                    None,
                )
                .await;
                if let Some(old) = previous {
                    if let Err(e) = self.files.delete(old).await {
                        tracing::warn!(error = %e, file = %old, "could not delete a replaced avatar");
                    }
                }
                Ok(url)
            }
            Err(e) => {
                if let Err(cleanup) = self.files.delete(record.id).await {
                    tracing::warn!(error = %cleanup, "could not delete an orphaned upload");
                }
                Err(match e {
                    StoreError::LimitReached => PictureError::QuotaExceeded {
                        quota: self.config.file_quota_bytes,
                    },
                    other => other.into(),
                })
            }
        }
    }

    /// The public URL of a stored picture.
    pub fn picture_url(&self, id: FileId) -> String {
        format!(
            "{}/auth/v1/pictures/{id}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// A stored picture, for anyone who has its (unguessable) URL, like any avatar URL.
    pub async fn picture(&self, id: FileId) -> Result<Option<Picture>, PictureError> {
        let Some(record) = self.store.file(id).await? else {
            return Ok(None);
        };
        if record.purpose != AVATAR {
            return Ok(None);
        }
        Ok(self.files.get(id).await?.map(|bytes| Picture {
            content_type: record.content_type,
            bytes,
        }))
    }
}
