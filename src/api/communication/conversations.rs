//! Conversations and messages between staff and patients, and among staff.

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::{Value, json};

use crate::api::contract::{Contract, Contracts};
use crate::api::examples::{AT, CONVERSATION, DOCUMENT, Example, LATER, MESSAGE, NURSE, PATIENT_USER, page};
use crate::error::Conflict;
use crate::{
    api::wire,
    api::{ApiTags, NoContent, body::JsonBody, page::Page, recovery::Recorded},
    auth::BearerAuth,
    db::{
        Db,
        communication::conversations::{self, ConversationKind, MessageKind, NewConversation, NewMessage},
    },
    domain::{
        ids::{ConversationId, DocumentId, MessageId, PatientId, UserId},
        page::{Cursor, Limit, PageRequest},
        text::{Opt, Text},
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};

/// A conversation to open.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConversationRequest {
    /// A new UUID the client makes for it (optional).
    pub id: Opt<ConversationId>,
    /// `direct`: the caller and one other person (asking again answers the one they already
    /// have); `group`: a care-team group (staff and facility admins only).
    pub kind: ConversationKind,
    /// The other members (the caller is added). Direct: exactly one.
    #[oai(validator(min_items = 1, max_items = 50, unique_items = true))]
    pub members: Vec<UserId>,
    /// A group's title (1–200 characters); required for a group, absent for direct.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Opt<Text>,
    /// The patient a care-team group is about.
    pub patient_id: Opt<PatientId>,
}

/// A message to send.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMessageRequest {
    /// A new UUID the client makes for it, so a retry sends it once.
    pub id: MessageId,
    /// `message` (the default), `correction` (new text for your earlier message `refersTo`) or
    /// `retraction` (withdraws it; no body).
    pub kind: Opt<MessageKind>,
    /// The text (1–4000 characters); required but for a retraction.
    #[oai(validator(min_length = 1, max_length = 4000))]
    pub body: Opt<Text>,
    /// The earlier message a correction or retraction changes: your own, in this conversation.
    pub refers_to: Opt<MessageId>,
    /// Documents to attach (at most 10), each one you can see; every reader opens them with
    /// their own rights. Not on a retraction.
    #[oai(validator(max_items = 10, unique_items = true))]
    pub attachments: Opt<Vec<DocumentId>>,
}

impl NewMessageRequest {
    fn validate(&self) -> Result<NewMessage> {
        let kind = self.kind.0.unwrap_or(MessageKind::Message);
        let body = self.body.as_deref().map(str::to_owned);
        let refers_to = self.refers_to.0;
        match kind {
            MessageKind::Message if body.is_none() => return Err(Error::invalid("body", "is required")),
            MessageKind::Message if refers_to.is_some() => {
                return Err(Error::invalid("refersTo", "is only for a correction or retraction"));
            }
            MessageKind::Correction | MessageKind::Retraction if refers_to.is_none() => {
                return Err(Error::invalid("refersTo", "is required for a correction or retraction"));
            }
            MessageKind::Correction if body.is_none() => return Err(Error::invalid("body", "is required")),
            MessageKind::Retraction if body.is_some() => {
                return Err(Error::invalid("body", "must be absent on a retraction"));
            }
            MessageKind::Retraction if self.attachments.0.as_ref().is_some_and(|a| !a.is_empty()) => {
                return Err(Error::invalid("attachments", "must be absent on a retraction"));
            }
            _ => {}
        }
        let attachments = self.attachments.0.clone().unwrap_or_default();
        Ok(NewMessage { id: self.id, kind, body, refers_to, attachments })
    }
}

/// What opening a conversation answers.
#[derive(ApiResponse)]
pub enum Opened {
    /// Opened.
    #[oai(status = 201)]
    Created(Json<Conversation>),
    /// The direct conversation the two already have (or a retry with the same id).
    #[oai(status = 200)]
    Existing(Json<Conversation>),
}

pub struct ConversationsApi {
    pub db: Db,
}

/// What the spec cannot read from these operations' types, and their objects' examples: see `api::contract`.
pub(crate) const CONTRACT: Contracts = Contracts {
    file: file!(),
    operations: &[
        Contract::of("openConversation")
            .conflicts(&[Conflict::RECORD_ID_TAKEN])
            .names_a_record_outside_its_path(),
        Contract::of("sendMessage").conflicts(&[Conflict::RECORD_ID_TAKEN]),
    ],
    examples,
};

/// This module's objects as an integrator sends and receives them: see `api::examples`.
fn examples() -> Vec<Example> {
    vec![
        Example::of::<NewConversationRequest>(json!({"kind": "direct", "members": [NURSE]})),
        Example::of::<Conversation>(conversation_example()),
        Example::of::<Page<Conversation>>(page(conversation_example())),
        Example::of::<NewMessageRequest>(json!({"id": MESSAGE, "body": "Can we talk before group today?"})),
        Example::of::<Message>(message_example()),
        Example::of::<Page<Message>>(page(message_example())),
    ]
}

fn conversation_example() -> Value {
    json!({"id": CONVERSATION, "kind": "direct", "createdBy": PATIENT_USER, "createdAt": AT,
           "lastMessageAt": LATER, "unread": 1,
           "members": [{"userId": PATIENT_USER, "name": "Kiran Bose", "role": "patient", "lastReadAt": LATER},
                       {"userId": NURSE, "name": "Nina Rao", "role": "staff", "lastReadAt": AT}]})
}

fn message_example() -> Value {
    json!({"id": MESSAGE, "conversationId": CONVERSATION, "senderId": PATIENT_USER, "kind": "message",
           "body": "Can we talk before group today?", "attachments": [DOCUMENT], "createdAt": LATER})
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Messaging")]
impl ConversationsApi {
    /// The caller's conversations.
    ///
    /// Latest activity first, each with its members, their read receipts and the caller's unread
    /// count. Only conversations the caller belongs to exist for them, for facility admins too.
    #[oai(path = "/conversations", method = "get", operation_id = "listConversations")]
    async fn list(
        &self,
        auth: BearerAuth,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Conversation>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| conversations::list(tx, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Open a conversation.
    ///
    /// Staff and facility admins: with any of the facility's staff and admins and with patients
    /// they care for (admins: any patient); a care-team group may name the patient it is about.
    /// Patients: a direct conversation with a member of their care team. Someone the caller may
    /// not reach is a 404, as if they did not exist.
    #[oai(path = "/conversations", method = "post", operation_id = "openConversation")]
    async fn open(&self, auth: BearerAuth, body: JsonBody<NewConversationRequest>) -> Result<Opened> {
        let b = &body.0;
        match b.kind {
            ConversationKind::Direct if b.members.len() != 1 => {
                return Err(Error::invalid("members", "a direct conversation has exactly one other member"));
            }
            ConversationKind::Direct if b.title.is_some() || b.patient_id.is_some() => {
                return Err(Error::invalid("kind", "only a group has a title or a patient"));
            }
            ConversationKind::Group if b.title.is_none() => {
                return Err(Error::invalid("title", "is required for a group"));
            }
            _ => {}
        }
        if b.members.contains(&auth.0.user_id) {
            return Err(Error::invalid("members", "lists the others; you are added yourself"));
        }
        let new = NewConversation {
            id: b.id.0,
            kind: b.kind,
            title: b.title.as_deref(),
            patient_id: b.patient_id.0,
            members: &b.members,
        };
        let (conversation, created) =
            self.db.run(&auth.0, async |tx| conversations::open(tx, &new).await).await?;
        Ok(if created {
            Opened::Created(Json(conversation.into()))
        } else {
            Opened::Existing(Json(conversation.into()))
        })
    }

    /// A conversation.
    ///
    /// With its members, their read receipts and the caller's unread count; members only.
    #[oai(path = "/conversations/:id", method = "get", operation_id = "getConversation")]
    async fn get(&self, auth: BearerAuth, id: Path<ConversationId>) -> Result<Json<Conversation>> {
        self.db.run(&auth.0, async |tx| conversations::get(tx, id.0).await).await.map(wire)
    }

    /// A conversation's messages.
    ///
    /// Newest first. Corrections and retractions are messages of their own that refer to the one
    /// they change; a client shows the latest word.
    #[oai(path = "/conversations/:id/messages", method = "get", operation_id = "listMessages")]
    async fn messages(
        &self,
        auth: BearerAuth,
        id: Path<ConversationId>,
        limit: Query<Option<Limit>>,
        cursor: Query<Option<Cursor>>,
    ) -> Result<Json<Page<Message>>> {
        let page = PageRequest::new(limit.0, cursor.0);
        let rows = self.db.run(&auth.0, async |tx| conversations::messages(tx, id.0, &page).await).await?;
        Ok(Json(Page::of(&page, rows)))
    }

    /// Send a message.
    ///
    /// Members only. Append-only: to change what you said, send a `correction` or `retraction`
    /// of your own message. Delivered to the other members over the event stream. It may attach
    /// documents you can see (a 404 for one you cannot); each reader opens them with their own
    /// rights. The client makes the id: the same id and content again answers 200 with the
    /// stored message; other content is a 409.
    #[oai(path = "/conversations/:id/messages", method = "post", operation_id = "sendMessage")]
    async fn send(
        &self,
        auth: BearerAuth,
        id: Path<ConversationId>,
        body: JsonBody<NewMessageRequest>,
    ) -> Result<Recorded<Message>> {
        let input = body.0.validate()?;
        let outcome = self.db.run(&auth.0, async |tx| conversations::send(tx, id.0, &input).await).await?;
        Ok(outcome.into())
    }

    /// Mark a conversation read.
    ///
    /// Moves the caller's read marker to now: the read receipt the other members see.
    #[oai(path = "/conversations/:id/read", method = "post", operation_id = "markConversationRead")]
    async fn mark_read(&self, auth: BearerAuth, id: Path<ConversationId>) -> Result<NoContent> {
        self.db.run(&auth.0, async |tx| conversations::mark_read(tx, id.0).await).await?;
        Ok(NoContent::NoContent)
    }
}

/// A member and how far they have read.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Their name.
    pub name: String,
    /// Their role: `patient`, `staff` or `facility_admin`.
    pub role: String,
    /// Up to when they have read (a read receipt); absent before their first read.
    pub last_read_at: Option<DateTime<Utc>>,
}

impl From<crate::db::communication::conversations::Member> for Member {
    fn from(row: crate::db::communication::conversations::Member) -> Self {
        Self { user_id: row.user_id, name: row.name, role: row.role, last_read_at: row.last_read_at }
    }
}

/// A conversation the caller belongs to.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// Two people, or a group.
    pub kind: ConversationKind,
    /// A group's title.
    pub title: Option<String>,
    /// The patient a care-team group is about.
    pub patient_id: Option<PatientId>,
    /// Who opened it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When its newest message was sent; absent while it has none.
    pub last_message_at: Option<DateTime<Utc>>,
    /// Messages from others newer than the caller's read marker.
    pub unread: i64,
    /// Who is in it.
    pub members: Vec<Member>,
}

impl From<crate::db::communication::conversations::Conversation> for Conversation {
    fn from(row: crate::db::communication::conversations::Conversation) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            title: row.title,
            patient_id: row.patient_id,
            created_by: row.created_by,
            created_at: row.created_at,
            last_message_at: row.last_message_at,
            unread: row.unread,
            members: row.members.into_iter().map(Into::into).collect(),
        }
    }
}

/// One message.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, rename_all = "camelCase")]
pub struct Message {
    /// Its id (chosen by the client that sent it).
    pub id: MessageId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Who sent it.
    pub sender_id: UserId,
    /// A message, a correction or a retraction.
    pub kind: MessageKind,
    /// The text; absent on a retraction.
    pub body: Option<String>,
    /// The message a correction or retraction changes.
    pub refers_to: Option<MessageId>,
    /// Documents it refers to, in order; each reader opens them with their own rights.
    pub attachments: Vec<DocumentId>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

impl From<crate::db::communication::conversations::Message> for Message {
    fn from(row: crate::db::communication::conversations::Message) -> Self {
        Self {
            id: row.id,
            conversation_id: row.conversation_id,
            sender_id: row.sender_id,
            kind: row.kind,
            body: row.body,
            refers_to: row.refers_to,
            attachments: row.attachments,
            created_at: row.created_at,
        }
    }
}
