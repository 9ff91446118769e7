//! `gatehouse key ...`: rotating the server key, generating one, and forgetting secrets sealed
//! under a key this server does not hold.

use super::*;

fn key_ids(ring: &accounts::sealing::KeyRing) -> String {
    ring.keys()
        .iter()
        .map(|k| k.id().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_seal_report(report: &accounts::at_rest::SealReport) {
    eprintln!(
        "re-sealed {} secret(s), sealed {} plaintext secret(s), {} already under the current key",
        report.resealed, report.sealed_plaintext, report.kept
    );
    if report.changed_meanwhile > 0 {
        eprintln!(
            "{} secret(s) changed during the pass (re-enrolled) and were left as written",
            report.changed_meanwhile
        );
    }
    if let Some(unreadable) = report.unreadable_summary() {
        eprintln!(
            "warning: {unreadable} cannot be read with any key held; restore that key, or run \
             `gatehouse key forget-unreadable`"
        );
    }
}

/// `gatehouse key ...`.
pub async fn run_key_command(
    command: KeyCommand,
    settings: &Settings,
    keys: &KeySettings,
) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate => {
            println!("{}", server_key::encode_key(&ServerKey::generate()));
            Ok(())
        }
        KeyCommand::ForgetUnreadable => {
            let accounts = app::open_with_key(settings, keys).await?;
            let forgotten = accounts.forget_unreadable_secrets(&cli_client()).await?;
            eprintln!(
                "turned off the second factor of {forgotten} user(s) whose secret was sealed \
                 with a key this server does not hold; they sign in with their password and \
                 enrol again"
            );
            Ok(())
        }
        KeyCommand::Rotate if keys.keys.is_some() => {
            let accounts = app::open_with_key(settings, keys).await?;
            let ring = accounts.sealer().ring();
            let report = accounts.seal_stored_secrets(SealPass::Rotate).await?;
            print_seal_report(&report);
            eprintln!(
                "every readable secret is sealed with key {}; once every replica holds it \
                 first, the other keys ({}) can be removed from the setting",
                ring.current().id(),
                key_ids(&ring)
            );
            Ok(())
        }
        KeyCommand::Rotate => {
            crate::private_files::prepare_data_dir(&settings.data_dir)?;
            let before = server_key::open_sealer(keys)?.ring();
            let new = ServerKey::generate();
            let mut held: Vec<&ServerKey> = vec![&new];
            held.extend(before.keys().iter());
            server_key::write_key_file(&keys.key_file, &held)?;
            eprintln!(
                "new key {} written first in {}; re-sealing with it",
                new.id(),
                keys.key_file.display()
            );
            let accounts = app::open_with_key(settings, keys).await?;
            print_seal_report(&accounts.seal_stored_secrets(SealPass::Rotate).await?);
            // A second pass catches what a running server sealed with the old key while
            // the first went on; only keys nothing needs any more are dropped.
            let check = accounts.seal_stored_secrets(SealPass::Rotate).await?;
            let still_needed: Vec<&ServerKey> = before
                .keys()
                .iter()
                .filter(|k| check.by_key.contains_key(&k.id()))
                .collect();
            let mut kept: Vec<&ServerKey> = vec![&new];
            kept.extend(still_needed.iter().copied());
            server_key::write_key_file(&keys.key_file, &kept)?;
            if still_needed.is_empty() {
                eprintln!(
                    "done: {} holds only key {}; the old key(s) ({}) are no longer needed",
                    keys.key_file.display(),
                    new.id(),
                    key_ids(&before)
                );
            } else {
                eprintln!(
                    "secrets are still sealed with {}; kept in the key file, run the rotation again",
                    still_needed
                        .iter()
                        .map(|k| k.id().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(())
        }
    }
}
