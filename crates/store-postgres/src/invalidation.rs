//! Cache invalidations between processes over PostgreSQL LISTEN/NOTIFY: a revocation in one
//! replica reaches every other one within milliseconds. A listener that loses its connection
//! may have missed notifications, so it reports `Invalidation::All` when it reconnects.

use accounts::store::{Invalidation, StoreError};
use accounts::UserId;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{map_err, INVALIDATION_CHANNEL};

pub(crate) fn encode(what: Invalidation) -> String {
    match what {
        Invalidation::Credential(id) => format!("credential:{id}"),
        Invalidation::User(id) => format!("user:{id}"),
        Invalidation::All => "all".into(),
    }
}

fn decode(payload: &str) -> Invalidation {
    let parsed = match payload.split_once(':') {
        Some(("credential", id)) => Uuid::parse_str(id).ok().map(Invalidation::Credential),
        Some(("user", id)) => Uuid::parse_str(id)
            .ok()
            .map(|u| Invalidation::User(UserId(u))),
        _ => None,
    };
    // Anything unreadable (a newer version's message) is treated as "forget everything".
    parsed.unwrap_or(Invalidation::All)
}

/// Listens on the channel and forwards what arrives; the task ends when the receiver goes.
pub(crate) async fn subscribe(pool: &PgPool) -> Result<mpsc::Receiver<Invalidation>, StoreError> {
    let mut listener = PgListener::connect_with(pool).await.map_err(map_err)?;
    listener
        .listen(INVALIDATION_CHANNEL)
        .await
        .map_err(map_err)?;
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        loop {
            let what = match listener.try_recv().await {
                Ok(Some(notification)) => decode(notification.payload()),
                // The connection was lost and is being re-established: anything sent
                // meanwhile is missed.
                Ok(None) => Invalidation::All,
                Err(e) => {
                    tracing::warn!(error = %e, "cache invalidation listener failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    Invalidation::All
                }
            };
            if tx.send(what).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_unknown_ones_flush_everything() {
        for what in [
            Invalidation::Credential(Uuid::now_v7()),
            Invalidation::User(UserId::new()),
            Invalidation::All,
        ] {
            assert_eq!(decode(&encode(what)), what);
        }
        assert_eq!(decode("credential:nope"), Invalidation::All);
        assert_eq!(decode("something-new"), Invalidation::All);
    }
}
