//! Communication: conversations and messages, announcements, crisis alerts,
//! documents, and the live event stream that delivers them.

pub mod announcements;
pub mod conversations;
pub mod crisis;
pub mod documents;
pub mod events;
pub mod webhooks;
