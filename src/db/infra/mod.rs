//! Infrastructure under the database layer, apart from any domain's SQL: the
//! embedded cluster (one PostgreSQL, or a Citus coordinator and workers),
//! migrations and the splitting of their files into statements, where each
//! table lives on Citus, TLS to
//! PostgreSQL, the LISTEN connection, and `carego doctor`.

pub mod citus;
pub mod doctor;
pub mod embedded;
pub mod listen;
pub mod migrate;
pub mod placement;
pub mod statements;
pub mod tls;
