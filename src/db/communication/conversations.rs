//! Conversations and their messages. `carego.open_conversation` (V23)
//! decides who may talk to whom; RLS decides every read (members only).
//! Messages are append-only: a correction or retraction is a new message
//! that refers to the sender's own earlier one.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{
    db::{
        OnConstraint, TenantTx,
        filters::{Bound, Variants},
        recovery::Outcome,
    },
    domain::{
        ids::{ConversationId, DocumentId, MessageId, PatientId, UserId},
        page::{Keyed, PageRequest},
        text_enum,
    },
    error::{Conflict, Error, Result},
};

text_enum! {
    /// Two people, or a group.
    pub enum ConversationKind {
        Direct = "direct",
        Group = "group",
    }
}

text_enum! {
    /// A message, or a change to one of the sender's earlier messages.
    pub enum MessageKind {
        /// A message.
        Message = "message",
        /// Replaces the text of the message it refers to.
        Correction = "correction",
        /// Withdraws the message it refers to.
        Retraction = "retraction",
    }
}

/// A member and how far they have read.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: UserId,
    pub name: String,
    pub role: String,
    pub last_read_at: Option<DateTime<Utc>>,
}

/// A conversation the caller belongs to.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: Option<String>,
    pub patient_id: Option<PatientId>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub unread: i64,
    pub members: Vec<Member>,
}

/// Lists are ordered by latest activity.
impl Keyed for Conversation {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.last_message_at.unwrap_or(self.created_at), self.id.0)
    }
}

macro_rules! conversation_sql {
    ($where:literal) => {
        concat!(
            "select c.id, c.kind, c.title, c.patient_id, c.created_by, c.created_at, lm.at as last_message_at,
                    coalesce(greatest(lm.at, c.created_at), c.created_at) as active_at,
                    (select count(*) from messages x
                      where x.facility_id = c.facility_id and x.conversation_id = c.id
                        and x.sender_id <> carego.current_user_id()
                        and x.created_at > coalesce(me.last_read_at, '-infinity')) as unread,
                    (select jsonb_agg(jsonb_build_object('userId', u.id, 'name', u.first_name || ' ' || u.last_name,
                                                         'role', u.role, 'lastReadAt', m.last_read_at)
                                      order by u.last_name, u.first_name, u.id)
                       from conversation_members m
                       join carego.conversation_member_names(c.id) u on u.id = m.user_id
                      where m.facility_id = c.facility_id and m.conversation_id = c.id) as members
               from conversations c
               join conversation_members me on me.facility_id = c.facility_id and me.conversation_id = c.id
                                           and me.user_id = carego.current_user_id()
               cross join lateral (select max(x.created_at) as at from messages x
                                    where x.facility_id = c.facility_id and x.conversation_id = c.id) lm ",
            $where
        )
    };
}

pub const GET: &str = conversation_sql!("where c.id = $1");
/// Most recently active first. `$1` the fetch limit; then the cursor, when
/// given (see [`filters`](crate::db::filters)).
pub static LIST: Variants = Variants::new(
    concat!(
        "select * from (",
        conversation_sql!(""),
        ") v where true {where}
         order by active_at desc, id desc limit $1"
    ),
    &["(active_at, id) < ($::timestamptz, $::uuid)"],
);

impl TryFrom<&Row> for Conversation {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        // Built by the statement as JSON, in the schema's own shape.
        let members: serde_json::Value = row.try_get("members")?;
        let members: Vec<Member> = serde_json::from_value(members).map_err(Error::internal)?;
        Ok(Self {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            title: row.try_get("title")?,
            patient_id: row.try_get("patient_id")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            last_message_at: row.try_get("last_message_at")?,
            unread: row.try_get("unread")?,
            members: members
                .into_iter()
                .map(|m| Member {
                    user_id: m.user_id,
                    name: m.name,
                    role: m.role,
                    last_read_at: m.last_read_at,
                })
                .collect(),
        })
    }
}

/// A conversation to open.
pub struct NewConversation<'a> {
    pub id: Option<ConversationId>,
    pub kind: ConversationKind,
    pub title: Option<&'a str>,
    pub patient_id: Option<PatientId>,
    pub members: &'a [UserId],
}

pub const OPEN: &str = "select conversation_id, created from carego.open_conversation($1, $2, $3, $4, $5)";

/// Opens it (or finds the direct conversation the two already have):
/// the conversation, and whether it is new.
pub async fn open(tx: &mut TenantTx, new: &NewConversation<'_>) -> Result<(Conversation, bool)> {
    let members: Vec<uuid::Uuid> = new.members.iter().map(|m| m.0).collect();
    let row = tx
        .query_one(OPEN, &[&new.id, &new.kind, &new.title, &new.patient_id, &members])
        .await
        .on_constraint("conversations_pkey", Conflict::RECORD_ID_TAKEN)?;
    let id: ConversationId = row.try_get("conversation_id")?;
    let created: bool = row.try_get("created")?;
    Ok((get(tx, id).await?, created))
}

pub async fn get(tx: &mut TenantTx, id: ConversationId) -> Result<Conversation> {
    Conversation::try_from(&tx.query_one(GET, &[&id]).await?)
}

/// The caller's conversations, latest activity first.
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> Result<Vec<Conversation>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&limit]).after(page);
    let rows = tx.query(LIST.get(bound.present), &bound.params).await?;
    rows.iter().map(Conversation::try_from).collect()
}

/// One message.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub refers_to: Option<MessageId>,
    pub attachments: Vec<DocumentId>,
    pub created_at: DateTime<Utc>,
}

impl Keyed for Message {
    fn key(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id.0)
    }
}

macro_rules! message_columns {
    () => {
        "id, conversation_id, sender_id, kind, body, refers_to, created_at,
         (select coalesce(array_agg(a.document_id order by a.position), '{}') from message_attachments a
           where a.facility_id = messages.facility_id and a.message_id = messages.id) as attachments"
    };
}

impl TryFrom<&Row> for Message {
    type Error = Error;

    fn try_from(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            conversation_id: row.try_get("conversation_id")?,
            sender_id: row.try_get("sender_id")?,
            kind: row.try_get("kind")?,
            body: row.try_get("body")?,
            refers_to: row.try_get("refers_to")?,
            attachments: row.try_get("attachments")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A validated message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: MessageId,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub refers_to: Option<MessageId>,
    pub attachments: Vec<DocumentId>,
}

pub const SEND: &str = concat!(
    "insert into messages (id, facility_id, conversation_id, kind, body, refers_to)
     select $1, c.facility_id, c.id, $3, $4, $5 from conversations c where c.id = $2
     on conflict (facility_id, id) do nothing
     returning ",
    message_columns!()
);
pub const MESSAGE: &str = concat!(
    "select ",
    message_columns!(),
    ", sender_id = carego.current_user_id() as mine from messages where id = $1"
);

/// Sends a message as the caller, once per client id: the same id and
/// content again answers the stored message, other content is a 409.
pub async fn send(
    tx: &mut TenantTx,
    conversation: ConversationId,
    m: &NewMessage,
) -> Result<Outcome<Message>> {
    let inserted = tx
        .query_opt(SEND, &[&m.id, &conversation, &m.kind, &m.body, &m.refers_to])
        .await
        .on_constraint("messages_refers_to_fkey", Error::NotFound)?;
    if let Some(row) = inserted {
        let mut sent = Message::try_from(&row)?;
        if !m.attachments.is_empty() {
            attach(tx, m).await?;
            sent.attachments = m.attachments.clone();
        }
        return Ok(Outcome::Created(sent));
    }
    // Nothing inserted: the id is taken, or the conversation is not the caller's.
    if let Some(row) = tx.query_opt(MESSAGE, &[&m.id]).await? {
        let stored = Message::try_from(&row)?;
        let mine: bool = row.try_get("mine")?;
        if mine
            && stored.conversation_id == conversation
            && (stored.kind, &stored.body, stored.refers_to, &stored.attachments)
                == (m.kind, &m.body, m.refers_to, &m.attachments)
        {
            return Ok(Outcome::Replayed(stored));
        }
    } else {
        get(tx, conversation).await?; // 404 unless the caller is in it
    }
    Err(Conflict::RECORD_ID_TAKEN.into())
}

pub const VISIBLE_DOCUMENTS: &str =
    "select count(*) as n from documents d where id = any($1) and status <> 'deleted'
        and exists (select from patients p where p.facility_id = d.facility_id and p.id = d.patient_id
                       and p.deleted_at is null)";
pub const ATTACH: &str = "
    insert into message_attachments (facility_id, message_id, document_id, position)
    select m.facility_id, m.id, a.document_id, a.position::smallint
      from messages m, unnest($2::uuid[]) with ordinality a (document_id, position)
     where m.id = $1";

/// Attaches the documents to the message just sent: each must be one the
/// sender can see (404 otherwise, as for any record they cannot see).
async fn attach(tx: &mut TenantTx, m: &NewMessage) -> Result<()> {
    let visible: i64 = tx.query_one(VISIBLE_DOCUMENTS, &[&m.attachments]).await?.try_get("n")?;
    if visible != m.attachments.len() as i64 {
        return Err(Error::NotFound);
    }
    tx.execute(ATTACH, &[&m.id, &m.attachments]).await?;
    Ok(())
}

/// `$1` the conversation, `$2` the fetch limit; then the cursor, when given
/// (see [`filters`](crate::db::filters)).
pub static MESSAGES: Variants = Variants::new(
    concat!(
        "select ",
        message_columns!(),
        " from messages where conversation_id = $1 {where}
         order by created_at desc, id desc limit $2"
    ),
    &["(created_at, id) < ($::timestamptz, $::uuid)"],
);

/// A conversation's messages, newest first; `NotFound` unless the caller is in it.
pub async fn messages(
    tx: &mut TenantTx,
    conversation: ConversationId,
    page: &PageRequest,
) -> Result<Vec<Message>> {
    let limit = page.fetch_limit();
    let bound = Bound::new(vec![&conversation, &limit]).after(page);
    let rows = tx.query(MESSAGES.get(bound.present), &bound.params).await?;
    if rows.is_empty() {
        get(tx, conversation).await?;
    }
    let messages = rows.iter().map(Message::try_from).collect::<Result<Vec<_>>>()?;
    crate::db::audit::reads(tx, "messages", messages.iter().map(|m| m.id.0)).await?;
    Ok(messages)
}

pub const MARK_READ: &str = "
    update conversation_members set last_read_at = greatest(last_read_at, now())
     where conversation_id = $1 and user_id = carego.current_user_id()";

/// Moves the caller's read marker to now (a read receipt).
pub async fn mark_read(tx: &mut TenantTx, conversation: ConversationId) -> Result<()> {
    if tx.execute(MARK_READ, &[&conversation]).await? == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}
