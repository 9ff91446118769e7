//! User and role administration: `/auth/v1/admin/users...` and `/auth/v1/admin/roles...`.
//!
//! Who may call what is decided by the core, never here: each handler calls one admin use
//! case with the caller as `Actor`. Instance admins may do everything; a custom role grants
//! actions on every user, on listed users, or on the holder's own account; an organisation's
//! admins manage the accounts of its plain members (`?org=` on the list and on create). A
//! caller without any such right gets 403 `forbidden`, whether or not the target exists.

use std::collections::BTreeMap;

use accounts::access::{Action, Entity, OrgId, Permission, Role, RoleId, RoleSpec, Scope};
use accounts::store::{UserCursor, UserOrder, UserQuery};
use accounts::{
    AccountSpec, AccountUpdate, Actor, EmailAddress, InvalidInput, NewUsername, User, UserId,
    UserStatus, Username,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::account::{accepted, Ended};
use super::me::{ProfilePatch, UserView};
use super::paging::{self, Page, PageQuery};
use super::{ApiError, ApiJson, ApiPath, Authenticated};
// The handlers' OpenAPI attributes name `super::Problem` and `super::account::Accepted`.
use super::{account, Problem};
use crate::http::auth::Client;
use crate::http::AppState;

mod parse;
mod roles;
mod shapes;
mod users;
use parse::*;
pub use roles::*;
pub use shapes::*;
pub use users::*;
