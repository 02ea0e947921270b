//! The migrations against a real Postgres: (a) an empty database, (b) the live backend's schema
//! with its rows, (c) applied twice (docs/database.md, issue 2).

mod support;

use serde_json::Value;
use sqlx::PgPool;
use support::bin::UcmScraper;
use support::pg::{fresh_database, migrated_database};

/// `column -> data type` of a table, as Postgres reports it.
async fn columns(pool: &PgPool, table: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .expect("read columns")
}

fn assert_has_columns(actual: &[(String, String)], expected: &[(&str, &str)]) {
    for (name, ty) in expected {
        let found = actual.iter().find(|(n, _)| n == name);
        assert_eq!(
            found.map(|(_, t)| t.as_str()),
            Some(*ty),
            "column {name} should be {ty}; table has {actual:?}"
        );
    }
}

const TENANT_COLUMNS: &[(&str, &str)] = &[
    ("id", "integer"),
    ("subdomain", "text"),
    ("phone_system_type", "text"),
    ("pbx_ip", "text"),
    ("pbx_username", "text"),
    ("pbx_password", "text"),
    ("pbx_port", "integer"),
    ("is_active", "boolean"),
    ("created_at", "timestamp without time zone"),
];

const WORKER_TENANT_COLUMNS: &[(&str, &str)] = &[
    ("ucm_timezone", "text"),
    ("ucm_firmware", "text"),
    ("ucm_last_login_at", "timestamp with time zone"),
    ("ucm_login_failures", "integer"),
    ("ucm_blocked_until", "timestamp with time zone"),
    ("ucm_last_error", "text"),
];

const WORKER_CALL_COLUMNS: &[(&str, &str)] = &[
    ("recording_status", "text"),
    ("recording_attempts", "integer"),
    ("recording_error", "text"),
    ("recording_lease_until", "timestamp with time zone"),
    ("recording_bytes", "bigint"),
    ("recording_original_bytes", "bigint"),
    ("ai_triggered_at", "timestamp with time zone"),
    ("recording_not_listed_since", "timestamp with time zone"),
];

#[tokio::test]
async fn a_empty_database_gets_both_tables_with_every_column() {
    let db = migrated_database().await;
    let tenants = columns(&db.pool, "tenants").await;
    assert_has_columns(&tenants, TENANT_COLUMNS);
    assert_has_columns(&tenants, &[("company_name", "text")]);
    assert_has_columns(&tenants, WORKER_TENANT_COLUMNS);

    let calls = columns(&db.pool, "cdr_records").await;
    assert_has_columns(
        &calls,
        &[
            ("id", "integer"),
            ("tenant_id", "integer"),
            ("uniqueid", "text"),
            ("start_time", "text"),
            ("recordfiles", "text"),
            ("recording_downloaded", "boolean"),
            ("recording_local_path", "text"),
            ("call_date", "timestamp without time zone"),
            ("received_at", "timestamp without time zone"),
        ],
    );
    assert_has_columns(&calls, WORKER_CALL_COLUMNS);

    // Defaults the backend relies on when it inserts without naming them.
    let (port, kind, tz): (i32, String, String) = sqlx::query_as(
        "INSERT INTO tenants (company_name, subdomain) VALUES ('X', 'x') \
         RETURNING pbx_port, phone_system_type, ucm_timezone",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        (port, kind.as_str(), tz.as_str()),
        (8443, "grandstream_ucm", "UTC")
    );
}

/// Every row of a table as JSON, restricted to the columns the backend had.
async fn snapshot(pool: &PgPool, table: &str, columns: &str) -> Vec<Value> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT to_jsonb(t) FROM (SELECT {columns} FROM {table} ORDER BY id) t"
    )))
    .fetch_all(pool)
    .await
    .expect("snapshot rows")
}

#[tokio::test]
async fn b_live_backend_schema_keeps_its_rows_and_types() {
    let db = fresh_database().await;
    sqlx::raw_sql(include_str!("fixtures/legacy_backend_schema.sql"))
        .execute(&db.pool)
        .await
        .expect("load the backend's schema");
    let tenant_cols_before = columns(&db.pool, "tenants").await;
    let call_cols_before = columns(&db.pool, "cdr_records").await;
    let tenants_before = snapshot(&db.pool, "tenants", "*").await;
    let calls_before = snapshot(&db.pool, "cdr_records", "*").await;
    assert_eq!((tenants_before.len(), calls_before.len()), (2, 3));

    ucm_scraper::db::migrate(&db.pool)
        .await
        .expect("migrate the live schema");

    // Old columns keep their types (varchar stays varchar) and every row keeps its values.
    let tenant_cols_after = columns(&db.pool, "tenants").await;
    for col in &tenant_cols_before {
        assert!(tenant_cols_after.contains(col), "tenants.{col:?} changed");
    }
    let call_cols_after = columns(&db.pool, "cdr_records").await;
    for col in &call_cols_before {
        assert!(call_cols_after.contains(col), "cdr_records.{col:?} changed");
    }
    let old_tenant_cols = tenant_cols_before
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let old_call_cols = call_cols_before
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(
        snapshot(&db.pool, "tenants", &old_tenant_cols).await,
        tenants_before
    );
    assert_eq!(
        snapshot(&db.pool, "cdr_records", &old_call_cols).await,
        calls_before
    );

    assert_has_columns(&tenant_cols_after, WORKER_TENANT_COLUMNS);
    assert_has_columns(&call_cols_after, WORKER_CALL_COLUMNS);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT recording_status FROM cdr_records ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(statuses, ["pending", "pending", "pending"]);
}

#[tokio::test]
async fn c_migrations_apply_twice_and_their_sql_is_idempotent() {
    let db = migrated_database().await;
    ucm_scraper::db::migrate(&db.pool)
        .await
        .expect("second migrate is a no-op");

    // Even without sqlx's bookkeeping (a restored dump, a lost _sqlx_migrations), running every
    // file again must succeed and change nothing.
    let before = columns(&db.pool, "cdr_records").await;
    for migration in ucm_scraper::db::MIGRATOR.iter() {
        sqlx::raw_sql(migration.sql.clone())
            .execute(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("re-running {} failed: {e}", migration.description));
    }
    assert_eq!(columns(&db.pool, "cdr_records").await, before);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, ucm_scraper::db::MIGRATOR.iter().count());
}

/// Sets the recorded checksum of an applied migration, as an earlier release would have left it.
async fn record_checksum(pool: &PgPool, version: i64, hex: &str) {
    sqlx::query("UPDATE _sqlx_migrations SET checksum = decode($2, 'hex') WHERE version = $1")
        .bind(version)
        .bind(hex)
        .execute(pool)
        .await
        .expect("set the recorded checksum");
}

#[tokio::test]
async fn a_database_migrated_before_the_comments_were_reworded_still_migrates() {
    let db = migrated_database().await;
    for (version, first_text) in ucm_scraper::db::REWORDED {
        record_checksum(&db.pool, *version, first_text).await;
    }
    ucm_scraper::db::migrate(&db.pool)
        .await
        .expect("the first texts' checksums are accepted");
    for (version, _) in ucm_scraper::db::REWORDED {
        let recorded: Vec<u8> =
            sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = $1")
                .bind(version)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let file = ucm_scraper::db::MIGRATOR
            .iter()
            .find(|m| m.version == *version)
            .expect("a reworded migration is a migration");
        assert_eq!(recorded, file.checksum.as_ref(), "version {version}");
    }
}

#[tokio::test]
async fn a_migration_edited_after_it_was_applied_is_still_refused() {
    let db = migrated_database().await;
    let (version, _) = ucm_scraper::db::REWORDED[0];
    record_checksum(&db.pool, version, &"ab".repeat(48)).await;
    let error = ucm_scraper::db::migrate(&db.pool)
        .await
        .expect_err("a checksum of neither text is refused");
    assert!(
        error.to_string().contains("modified"),
        "sqlx names the modified migration: {error}"
    );
}

#[tokio::test]
async fn migrate_command_applies_the_schema() {
    let db = fresh_database().await;
    let out = UcmScraper::new(&["migrate"])
        .env("DATABASE_URL", &db.url)
        .run();
    assert!(out.ok, "{}", out.stderr);
    assert_has_columns(&columns(&db.pool, "tenants").await, WORKER_TENANT_COLUMNS);
}
