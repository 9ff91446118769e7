//! The Store contract for `AccessStore`: roles (built-in ones never change), users' grants,
//! organisations and their members. Each case writes, then reads the effect back through other
//! methods.

use std::sync::Arc;

use chrono::Duration;

use super::{new_user, now, org, org_id, sorted};
use crate::access::{Action, Entity, Membership, OrgRole, Permission, RoleId, RoleSpec, Scope};
use crate::domain::UserId;
use crate::store::{Store, StoreError, Unique};

/// Every case of this module, for `store_contract_tests!`; `contract::tests` fails when a
/// `pub async fn` case here is missing from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! store_contract_access {
    ($($how:tt)*) => {
        $crate::store_contract_cases! {
            $($how)* access;
            roles_change_but_builtins_never,
            user_roles_are_replaced_and_unknown_ids_ignored,
            roles_of_many_users_come_in_one_call,
            organisations_and_memberships_round_trip,
            organisations_keep_their_reset_code_choice,
        }
    };
}

fn spec(name: &str, permissions: Vec<Permission>) -> RoleSpec {
    RoleSpec {
        name: name.into(),
        description: format!("{name} role"),
        permissions,
    }
}

pub async fn roles_change_but_builtins_never(store: Arc<dyn Store>) {
    let builtins = store.list_roles().await.unwrap();
    assert_eq!(builtins.len(), 2);
    assert_eq!(
        (
            builtins[0].id,
            builtins[0].name.as_str(),
            builtins[0].builtin
        ),
        (RoleId::ADMIN, "admin", true)
    );
    assert_eq!(
        (
            builtins[1].id,
            builtins[1].name.as_str(),
            builtins[1].builtin
        ),
        (RoleId::USER, "user", true)
    );

    let permissions = vec![
        Permission::new(Entity::User, Action::Read, Scope::All),
        Permission {
            entity: Some(Entity::Token),
            action: None,
            scope: Scope::Users(vec![3, 4]),
        },
        Permission {
            entity: None,
            action: Some(Action::Read),
            scope: Scope::Own,
        },
    ];
    let support = store
        .insert_role(&spec("support", permissions.clone()))
        .await
        .unwrap();
    assert!(support.id > RoleId::USER);
    assert!(!support.builtin);
    assert_eq!(support.permissions, permissions);
    assert_eq!(support.description, "support role");
    let listed = store.list_roles().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2], support);

    for name in ["support", "admin"] {
        let err = store.insert_role(&spec(name, vec![])).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(Unique::RoleName)),
            "{err:?}"
        );
    }
    assert_eq!(store.list_roles().await.unwrap().len(), 3);

    let helpdesk = store
        .update_role(support.id, &spec("helpdesk", vec![]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(helpdesk.id, support.id);
    assert_eq!(helpdesk.name, "helpdesk");
    assert!(helpdesk.permissions.is_empty());
    assert_eq!(store.list_roles().await.unwrap()[2], helpdesk);
    let err = store
        .update_role(support.id, &spec("user", permissions.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Unique::RoleName)),
        "{err:?}"
    );
    assert_eq!(store.list_roles().await.unwrap()[2], helpdesk);

    // Built-in and unknown roles are neither changed nor deleted.
    for id in [RoleId::ADMIN, RoleId::USER, RoleId(999)] {
        assert!(store
            .update_role(id, &spec("renamed", vec![]))
            .await
            .unwrap()
            .is_none());
        assert!(!store.delete_role(id).await.unwrap());
    }
    assert_eq!(&store.list_roles().await.unwrap()[..2], &builtins[..]);

    // Deleting a role removes its grants, and its id is never given again.
    let user = new_user("uma");
    store.insert_user(&user).await.unwrap();
    assert!(store
        .set_user_roles(user.id, &[RoleId::USER, helpdesk.id])
        .await
        .unwrap());
    assert!(store.delete_role(helpdesk.id).await.unwrap());
    assert!(!store.delete_role(helpdesk.id).await.unwrap());
    assert_eq!(store.user_roles(user.id).await.unwrap(), vec![RoleId::USER]);
    assert_eq!(store.list_roles().await.unwrap(), builtins);
    let next = store.insert_role(&spec("auditor", vec![])).await.unwrap();
    assert!(next.id > helpdesk.id, "{:?} reused", next.id);
}

pub async fn user_roles_are_replaced_and_unknown_ids_ignored(store: Arc<dyn Store>) {
    let custom = store.insert_role(&spec("editor", vec![])).await.unwrap();
    let user = new_user("vera");
    let other = new_user("walt");
    store.insert_user(&user).await.unwrap();
    store.insert_user(&other).await.unwrap();

    assert!(store
        .set_user_roles(user.id, &[custom.id, RoleId::ADMIN, RoleId(999), custom.id])
        .await
        .unwrap());
    assert_eq!(
        store.user_roles(user.id).await.unwrap(),
        vec![RoleId::ADMIN, custom.id]
    );
    assert!(store.user_by_id(user.id).await.unwrap().unwrap().is_admin);

    assert!(store.set_user_roles(user.id, &[]).await.unwrap());
    assert!(store.user_roles(user.id).await.unwrap().is_empty());
    assert!(!store.user_by_id(user.id).await.unwrap().unwrap().is_admin);

    assert_eq!(
        store.user_roles(other.id).await.unwrap(),
        vec![RoleId::USER]
    );
    assert!(!store
        .set_user_roles(UserId::new(), &[RoleId::USER])
        .await
        .unwrap());
}

pub async fn roles_of_many_users_come_in_one_call(store: Arc<dyn Store>) {
    let custom = store.insert_role(&spec("viewer", vec![])).await.unwrap();
    let a = new_user("xena");
    let b = new_user("yann");
    let c = new_user("zora");
    for u in [&a, &b, &c] {
        store.insert_user(u).await.unwrap();
    }
    store
        .set_user_roles(a.id, &[RoleId::USER, custom.id])
        .await
        .unwrap();
    store.set_user_roles(b.id, &[]).await.unwrap();
    let pairs = sorted(
        store
            .roles_of_users(&[a.id, b.id, UserId::new()])
            .await
            .unwrap(),
    );
    let mut expected = vec![(a.id, RoleId::USER), (a.id, custom.id)];
    expected.sort();
    assert_eq!(
        pairs, expected,
        "c is not asked for, b has none, unknown ids give nothing"
    );
    assert!(store.roles_of_users(&[]).await.unwrap().is_empty());
}

pub async fn organisations_and_memberships_round_trip(store: Arc<dyn Store>) {
    let owner = new_user("xavier");
    let member = new_user("yolanda");
    store.insert_user(&owner).await.unwrap();
    store.insert_user(&member).await.unwrap();
    let acme = org(1, "Acme");
    let beta = org(2, "Beta");
    store.insert_org(&acme, Some(owner.id)).await.unwrap();
    store.insert_org(&beta, None).await.unwrap();

    assert_eq!(store.org(acme.id).await.unwrap(), Some(acme.clone()));
    assert_eq!(
        store.org_members(acme.id).await.unwrap(),
        vec![Membership {
            org_id: acme.id,
            user_id: owner.id,
            role: OrgRole::Owner,
            created_at: acme.created_at,
        }]
    );
    assert!(store.org_members(beta.id).await.unwrap().is_empty());
    assert_eq!(
        store.list_orgs(None).await.unwrap(),
        vec![acme.clone(), beta.clone()]
    );
    assert_eq!(
        store.list_orgs(Some(owner.id)).await.unwrap(),
        vec![acme.clone()]
    );
    assert!(store.list_orgs(Some(member.id)).await.unwrap().is_empty());

    // An owner that does not exist fails the whole creation.
    let orphan = org(3, "Orphan");
    assert!(store
        .insert_org(&orphan, Some(UserId::new()))
        .await
        .is_err());
    assert!(store.org(orphan.id).await.unwrap().is_none());

    assert!(store.rename_org(acme.id, "Acme Ltd").await.unwrap());
    assert_eq!(store.org(acme.id).await.unwrap().unwrap().name, "Acme Ltd");
    assert!(!store.rename_org(org_id(9), "Nobody").await.unwrap());

    // Upsert: the role changes, the joining date stays.
    let joined = now() - Duration::days(1);
    assert!(store
        .set_membership(acme.id, member.id, OrgRole::Member, joined)
        .await
        .unwrap());
    assert!(store
        .set_membership(acme.id, member.id, OrgRole::Admin, now())
        .await
        .unwrap());
    assert!(store
        .set_membership(beta.id, member.id, OrgRole::Member, joined)
        .await
        .unwrap());
    assert_eq!(
        store.user_memberships(member.id).await.unwrap(),
        vec![
            Membership {
                org_id: acme.id,
                user_id: member.id,
                role: OrgRole::Admin,
                created_at: joined,
            },
            Membership {
                org_id: beta.id,
                user_id: member.id,
                role: OrgRole::Member,
                created_at: joined,
            },
        ]
    );
    let members = store.org_members(acme.id).await.unwrap();
    let mut expected = vec![owner.id, member.id];
    expected.sort();
    assert_eq!(
        members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        expected
    );
    assert!(!store
        .set_membership(org_id(9), member.id, OrgRole::Member, now())
        .await
        .unwrap());
    assert!(!store
        .set_membership(acme.id, UserId::new(), OrgRole::Member, now())
        .await
        .unwrap());
    assert_eq!(store.org_members(acme.id).await.unwrap().len(), 2);

    assert!(store.remove_membership(beta.id, member.id).await.unwrap());
    assert!(!store.remove_membership(beta.id, member.id).await.unwrap());
    assert_eq!(
        store.list_orgs(Some(member.id)).await.unwrap(),
        vec![store.org(acme.id).await.unwrap().unwrap()]
    );

    // Deleting the organisation ends its memberships, not its members' accounts.
    assert!(store.delete_org(acme.id).await.unwrap());
    assert!(!store.delete_org(acme.id).await.unwrap());
    assert!(store.org(acme.id).await.unwrap().is_none());
    assert!(store.user_memberships(owner.id).await.unwrap().is_empty());
    assert!(store.user_memberships(member.id).await.unwrap().is_empty());
    assert!(store.user_by_id(owner.id).await.unwrap().is_some());
    assert!(store.user_by_id(member.id).await.unwrap().is_some());
    assert_eq!(store.list_orgs(None).await.unwrap(), vec![beta]);
}

pub async fn organisations_keep_their_reset_code_choice(store: Arc<dyn Store>) {
    let acme = org(1, "Acme");
    store.insert_org(&acme, None).await.unwrap();
    assert!(!store.org(acme.id).await.unwrap().unwrap().short_reset_codes);
    assert!(store
        .set_org_short_reset_codes(acme.id, true)
        .await
        .unwrap());
    assert!(store.org(acme.id).await.unwrap().unwrap().short_reset_codes);
    assert!(store.list_orgs(None).await.unwrap()[0].short_reset_codes);
    assert!(store
        .set_org_short_reset_codes(acme.id, false)
        .await
        .unwrap());
    assert!(!store.org(acme.id).await.unwrap().unwrap().short_reset_codes);
    assert!(!store
        .set_org_short_reset_codes(org_id(9), true)
        .await
        .unwrap());
}
