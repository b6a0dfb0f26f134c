//! Communication: conversations and messages, announcements, crisis alerts,
//! and the live-event records that deliver them.

pub mod announcements;
pub mod conversations;
pub mod crisis;
pub mod documents;
pub mod events;
pub mod webhooks;
