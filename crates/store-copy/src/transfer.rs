//! Moving one table: reading it from the SQLite snapshot page by page in key order, writing
//! each page to PostgreSQL as one multi-row INSERT, picking the sample on the way; then
//! reading the sampled rows back from both sides and comparing them field by field.

use sqlx::{PgConnection, QueryBuilder, SqliteConnection};

use crate::rows::{self, RawKey, Value};
use crate::schema::Table;
use crate::{CopyError, Side};

/// Rows per page; at most 12 columns, so one INSERT stays far below PostgreSQL's 65,535
/// parameters.
const PAGE: usize = 500;

/// How many rows of each table are compared field by field (all of them when fewer).
pub(crate) const SAMPLE: u64 = 50;

/// A sampled row: how to find it on each side.
#[derive(Debug)]
pub(crate) struct Sample {
    /// The key as SQLite holds it.
    pub raw_key: Vec<RawKey>,
    /// The key as PostgreSQL holds it.
    pub key: Vec<Value>,
    pub label: String,
}

/// What copying one table did.
#[derive(Debug)]
pub(crate) struct Copied {
    pub rows: u64,
    pub samples: Vec<Sample>,
}

/// Positions (in key order, from 0) of the rows to sample out of `rows`: evenly spread,
/// always the first and the last.
pub(crate) fn sample_positions(rows: u64, sample: u64) -> Vec<u64> {
    if rows <= sample {
        return (0..rows).collect();
    }
    let (rows, sample) = (u128::from(rows), u128::from(sample));
    (0..sample)
        .map(|i| u64::try_from(i * (rows - 1) / (sample - 1)).expect("below rows"))
        .collect()
}

/// ` WHERE <condition>` for the rows the copy writes, or nothing when it writes them all.
fn where_copied(table: &Table) -> String {
    table
        .copied
        .map(|condition| format!(" WHERE {condition}"))
        .unwrap_or_default()
}

/// The rows of `table` the copy writes, in the source.
pub(crate) async fn count(table: &Table, source: &mut SqliteConnection) -> Result<u64, CopyError> {
    let sql = format!("SELECT count(*) FROM {}{}", table.name, where_copied(table));
    let n: i64 = sqlx::query_scalar(&sql)
        .fetch_one(&mut *source)
        .await
        .map_err(CopyError::sqlx(
            Side::Source,
            format!("counting {}", table.name),
        ))?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// The rows of `table` of the kind the copy writes, in the target (the migrations' own rows
/// are not counted).
pub(crate) async fn count_target(
    table: &Table,
    target: &mut PgConnection,
) -> Result<u64, CopyError> {
    let sql = format!("SELECT count(*) FROM {}{}", table.name, where_copied(table));
    let n: i64 = sqlx::query_scalar(&sql)
        .fetch_one(&mut *target)
        .await
        .map_err(CopyError::sqlx(
            Side::Target,
            format!("counting {}", table.name),
        ))?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// `ORDER BY` and keyset condition over the key's columns.
fn key_order(table: &Table) -> String {
    table.key.join(", ")
}

fn key_after(table: &Table) -> String {
    match table.key {
        [one] => format!("{one} > ?"),
        many => format!(
            "({}) > ({})",
            many.join(", "),
            vec!["?"; many.len()].join(", ")
        ),
    }
}

/// Copies every row of `table`, `expected` of them by the source's count.
pub(crate) async fn copy_table(
    table: &Table,
    expected: u64,
    source: &mut SqliteConnection,
    target: &mut PgConnection,
) -> Result<Copied, CopyError> {
    let columns = table.column_list();
    let first_page = format!(
        "SELECT {columns} FROM {}{} ORDER BY {} LIMIT {PAGE}",
        table.name,
        where_copied(table),
        key_order(table)
    );
    let next_page = format!(
        "SELECT {columns} FROM {} WHERE {}{} ORDER BY {} LIMIT {PAGE}",
        table.name,
        table
            .copied
            .map(|condition| format!("{condition} AND "))
            .unwrap_or_default(),
        key_after(table),
        key_order(table)
    );
    let key_positions = table.key_positions();
    let positions = sample_positions(expected, SAMPLE);
    let mut samples = Vec::with_capacity(positions.len());
    let mut copied: u64 = 0;
    let mut last_key: Option<Vec<RawKey>> = None;
    loop {
        let mut query = sqlx::query(match last_key {
            None => &first_page,
            Some(_) => &next_page,
        });
        for part in last_key.iter().flatten() {
            query = rows::bind_raw(query, part);
        }
        let page = query
            .fetch_all(&mut *source)
            .await
            .map_err(CopyError::sqlx(
                Side::Source,
                format!("reading {}", table.name),
            ))?;
        let Some(last_row) = page.last() else {
            break;
        };
        let full_page = page.len() == PAGE;
        last_key = Some(rows::sqlite_raw_key(table, last_row)?);
        let mut values = Vec::with_capacity(page.len());
        for row in &page {
            let raw_key = rows::sqlite_raw_key(table, row)?;
            let label = rows::row_label(table, &raw_key);
            let row_values = rows::from_sqlite(table, row, &label)?;
            if positions.get(samples.len()) == Some(&copied) {
                samples.push(Sample {
                    key: key_positions
                        .iter()
                        .map(|&i| row_values[i].clone())
                        .collect(),
                    raw_key,
                    label,
                });
            }
            copied += 1;
            values.push(row_values);
        }
        insert_page(table, values, target).await?;
        if !full_page {
            break;
        }
    }
    Ok(Copied {
        rows: copied,
        samples,
    })
}

async fn insert_page(
    table: &Table,
    page: Vec<Vec<Value>>,
    target: &mut PgConnection,
) -> Result<(), CopyError> {
    let mut insert = QueryBuilder::new(format!(
        "INSERT INTO {} ({}) ",
        table.name,
        table.column_list()
    ));
    insert.push_values(page, |mut row, values| {
        for (column, value) in table.columns.iter().zip(values) {
            rows::bind(&mut row, column.kind, value);
        }
    });
    insert
        .build()
        .execute(&mut *target)
        .await
        .map_err(CopyError::sqlx(
            Side::Target,
            format!("writing {}", table.name),
        ))?;
    Ok(())
}

/// For a table with a `serial` column: sets the target's sequence so that it continues after
/// the highest number the source ever gave (SQLite's AUTOINCREMENT remembers it in
/// `sqlite_sequence`, even when that row was deleted) and after every row the target holds.
/// Returns the last number now taken, `None` for a table without one.
pub(crate) async fn continue_sequence(
    table: &Table,
    source: &mut SqliteConnection,
    target: &mut PgConnection,
) -> Result<Option<i64>, CopyError> {
    let Some(column) = table.serial else {
        return Ok(None);
    };
    let context = format!("reading the highest {}.{column}", table.name);
    let highest_row: Option<i64> =
        sqlx::query_scalar(&format!("SELECT max({column}) FROM {}", table.name))
            .fetch_one(&mut *source)
            .await
            .map_err(CopyError::sqlx(Side::Source, context.clone()))?;
    let has_sequences: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
         AND name = 'sqlite_sequence')",
    )
    .fetch_one(&mut *source)
    .await
    .map_err(CopyError::sqlx(Side::Source, context.clone()))?;
    let highest_given: Option<i64> = if has_sequences {
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = ?")
            .bind(table.name)
            .fetch_optional(&mut *source)
            .await
            .map_err(CopyError::sqlx(Side::Source, context))?
    } else {
        None
    };
    let highest = highest_row.max(highest_given).unwrap_or(0);
    let last: i64 = sqlx::query_scalar(&format!(
        "SELECT setval(pg_get_serial_sequence($1, $2), \
           GREATEST($3, (SELECT max({column}) FROM {}), 1))",
        table.name
    ))
    .bind(table.name)
    .bind(column)
    .bind(highest)
    .fetch_one(&mut *target)
    .await
    .map_err(CopyError::sqlx(
        Side::Target,
        format!("continuing the sequence of {}.{column}", table.name),
    ))?;
    Ok(Some(last))
}

/// Reads each sampled row from both sides and compares every column.
pub(crate) async fn verify_samples(
    table: &Table,
    samples: &[Sample],
    source: &mut SqliteConnection,
    target: &mut PgConnection,
) -> Result<(), CopyError> {
    let by_key = |placeholder: fn(usize) -> String| {
        table
            .key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} = {}", placeholder(i + 1)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let from_source = format!(
        "SELECT {} FROM {} WHERE {}",
        table.column_list(),
        table.name,
        by_key(|_| "?".into())
    );
    let from_target = format!(
        "SELECT {} FROM {} WHERE {}",
        rows::postgres_select_list(table),
        table.name,
        by_key(|i| format!("${i}"))
    );
    for sample in samples {
        let mut query = sqlx::query(&from_source);
        for part in &sample.raw_key {
            query = rows::bind_raw(query, part);
        }
        let source_row = query
            .fetch_optional(&mut *source)
            .await
            .map_err(CopyError::sqlx(
                Side::Source,
                format!("reading {} again", table.name),
            ))?
            .ok_or_else(|| CopyError::Missing {
                side: Side::Source,
                table: table.name,
                row: sample.label.clone(),
            })?;
        let mut query = sqlx::query(&from_target);
        for part in &sample.key {
            query = rows::bind_key(query, part);
        }
        let target_row = query
            .fetch_optional(&mut *target)
            .await
            .map_err(CopyError::sqlx(
                Side::Target,
                format!("reading {} back", table.name),
            ))?
            .ok_or_else(|| CopyError::Missing {
                side: Side::Target,
                table: table.name,
                row: sample.label.clone(),
            })?;
        compare_rows(
            table,
            &sample.label,
            &rows::from_sqlite(table, &source_row, &sample.label)?,
            &rows::from_postgres(table, &target_row, &sample.label)?,
        )?;
    }
    Ok(())
}

/// The first column that differs, as an error naming table, row and column.
pub(crate) fn compare_rows(
    table: &Table,
    label: &str,
    source: &[Value],
    target: &[Value],
) -> Result<(), CopyError> {
    for ((column, in_source), in_target) in table.columns.iter().zip(source).zip(target) {
        if in_source != in_target {
            return Err(CopyError::Mismatch {
                table: table.name,
                row: label.to_owned(),
                column: column.name,
                in_source: in_source.describe(column),
                in_target: in_target.describe(column),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TABLES;

    #[test]
    fn a_small_table_is_sampled_whole() {
        assert_eq!(sample_positions(0, 50), Vec::<u64>::new());
        assert_eq!(sample_positions(3, 50), vec![0, 1, 2]);
        assert_eq!(sample_positions(50, 50).len(), 50);
    }

    #[test]
    fn a_large_table_is_sampled_evenly_with_its_first_and_last_rows() {
        for rows in [51, 120, 1_000_003] {
            let positions = sample_positions(rows, 50);
            assert_eq!(positions.len(), 50);
            assert_eq!(positions[0], 0);
            assert_eq!(positions[49], rows - 1);
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        }
    }

    #[test]
    fn a_difference_names_table_row_and_column_and_hides_secrets() {
        let users = &TABLES[0];
        let id = Value::Uuid(uuid::Uuid::now_v7());
        let row = |email: &str, hash: &str| {
            let mut values: Vec<Value> = users.columns.iter().map(|_| Value::Null).collect();
            values[0] = id.clone();
            values[2] = Value::Text(email.into());
            values[5] = Value::Text(hash.into());
            values
        };
        let same = compare_rows(users, "u1", &row("a@x.test", "h"), &row("a@x.test", "h"));
        assert!(same.is_ok());
        let err = compare_rows(users, "u1", &row("a@x.test", "h"), &row("b@x.test", "h"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("users") && err.contains("u1") && err.contains("email"),
            "{err}"
        );
        let err = compare_rows(users, "u1", &row("a@x.test", "h1"), &row("a@x.test", "h2"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("password_hash") && err.contains("[REDACTED]"),
            "{err}"
        );
        assert!(!err.contains("h1") && !err.contains("h2"), "{err}");
    }

    #[test]
    fn json_compares_by_value_not_by_spelling() {
        let users = &TABLES[0];
        let mut a: Vec<Value> = users.columns.iter().map(|_| Value::Null).collect();
        let mut b = a.clone();
        a[6] = Value::Json(serde_json::from_str(r#"{"name":"A","locale":"en"}"#).unwrap());
        b[6] = Value::Json(serde_json::from_str(r#"{"locale": "en", "name": "A"}"#).unwrap());
        assert!(compare_rows(users, "u1", &a, &b).is_ok());
    }
}
