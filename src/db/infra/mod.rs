//! Infrastructure under the database layer, apart from any domain's SQL: the
//! embedded cluster, migrations, TLS to PostgreSQL, the LISTEN connection, and `carego doctor`.

pub mod doctor;
pub mod embedded;
pub mod listen;
pub mod migrate;
pub mod tls;
