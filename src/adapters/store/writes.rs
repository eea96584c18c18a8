//! Writes inside a transaction: the intake plan, the clock's plan, mailbox and daemon state.

use rusqlite::{params, OptionalExtension};

use super::*;

impl<'c> WriteTx<'c> {
    /// Starts a savepoint: what follows can be undone alone.
    pub fn savepoint(&mut self) -> StoreResult<()> {
        self.tx.execute_batch("SAVEPOINT mail")?;
        Ok(())
    }

    pub fn release_savepoint(&mut self) -> StoreResult<()> {
        self.tx.execute_batch("RELEASE mail")?;
        Ok(())
    }

    pub fn rollback_savepoint(&mut self) -> StoreResult<()> {
        self.tx.execute_batch("ROLLBACK TO mail; RELEASE mail")?;
        Ok(())
    }

    pub fn read(&self) -> Reader<'_> {
        Reader { conn: &self.tx }
    }

    pub fn commit(self) -> StoreResult<()> {
        if let Some(first) = self.first_unindexed.get() {
            self.tx
                .prepare_cached(
                    "INSERT INTO messages_fts (rowid, subject, text)
                     SELECT id, subject, substr(text, 1, 1000000) FROM messages
                      WHERE id >= ?1 AND direction = 'in' ORDER BY id",
                )?
                .execute([first])?;
        }
        self.tx.commit()?;
        Ok(())
    }

    pub fn quarantined(&self, content_hash: &str) -> StoreResult<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT id FROM quarantine WHERE content_hash = ?1")?
            .query_row([content_hash], |row| row.get(0))
            .optional()?)
    }

    pub fn ticket_view(&self, number: TicketNumber) -> StoreResult<Option<TicketView>> {
        let n = number.0 as i64;
        let row = self
            .tx
            .prepare_cached(
                "SELECT status, priority, level, queue, assignee, subject, language, requester, requester_name, merged_into,
                        created_at, first_response_due, next_response_due, resolution_due, sla_paused_at,
                        sla_warned_for, awaiting_since, resolution
                 FROM tickets WHERE number = ?1",
            )?
            .query_row([n], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u8>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, String>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<i64>>(9)?,
                    (
                        row.get::<_, i64>(10)?,
                        sla_state(row, 11)?,
                        row.get::<_, Option<i64>>(16)?,
                        row.get::<_, Option<String>>(17)?,
                    ),
                ))
            })
            .optional()?;
        let Some((
            status,
            priority,
            level,
            queue,
            assignee,
            subject,
            language,
            requester,
            requester_name,
            merged,
            (created_at, sla, awaiting_since, resolution),
        )) = row
        else {
            return Ok(None);
        };
        let corrupt = |e: String| StoreError::Corrupt(format!("ticket #{number}: {e}"));
        let mut view = TicketView::new(number, Mailbox::new(requester_name.as_deref(), &requester));
        view.status = status
            .parse()
            .map_err(|e: crate::core::ticket::UnknownWord| corrupt(e.to_string()))?;
        view.priority = priority
            .parse()
            .map_err(|e: crate::core::ticket::UnknownWord| corrupt(e.to_string()))?;
        view.level = crate::core::ticket::Level::new(level)
            .ok_or_else(|| corrupt(format!("level {level}")))?;
        view.queue = queue;
        view.assignee = assignee;
        view.subject = subject;
        view.language = language
            .parse()
            .unwrap_or(crate::core::language::Language::En);
        view.merged_into = merged.map(|m| TicketNumber(m as u64));
        view.created_at = created_at;
        view.sla = sla;
        view.awaiting_since = awaiting_since;
        view.resolution = resolution;
        let participants = self
            .tx
            .prepare_cached("SELECT address, name, role FROM participants WHERE ticket = ?1 ORDER BY added_at, address")?
            .query_map([n], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?, row.get::<_, String>(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        view.participants = participants
            .iter()
            .map(|(address, _, _)| address.clone())
            .collect();
        view.cc = participants
            .iter()
            .filter(|(_, _, role)| role == "cc")
            .map(|(address, name, _)| Mailbox::new(name.as_deref(), address))
            .collect();
        view.tags = self
            .tx
            .prepare_cached("SELECT tag FROM ticket_tags WHERE ticket = ?1 ORDER BY tag")?
            .query_map([n], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        view.fields = self
            .tx
            .prepare_cached("SELECT name, value FROM ticket_fields WHERE ticket = ?1")?
            .query_map([n], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let messages = self
            .tx
            .prepare_cached(
                "SELECT created_at, from_addr, visibility, text, message_id, direction, stranger,
                        to_addrs, cc_addrs, id FROM messages
                 WHERE ticket = ?1 ORDER BY id",
            )?
            .query_map([n], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, bool>(6)?,
                    row.get::<_, Option<String>>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, i64>(9)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut attachments_of = self.tx.prepare_cached(
            "SELECT filename, content_type, size, sha256 FROM attachments WHERE message = ?1 ORDER BY id",
        )?;
        for (at, from, visibility, text, message_id, direction, stranger, to, cc, id) in messages {
            let visibility = stored_visibility(&visibility, stranger);
            if let Some(message_id) = message_id {
                let listed = |json: Option<String>| -> Vec<String> {
                    json.and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default()
                };
                let mut recipients = listed(to);
                recipients.extend(listed(cc));
                view.thread.push(ThreadMessage {
                    message_id,
                    from: from.clone().unwrap_or_default(),
                    recipients,
                    visibility,
                });
            }
            if direction == "in" {
                let attachments = attachments_of
                    .query_map([id], |row| {
                        Ok(AttachmentMeta {
                            filename: row.get(0)?,
                            content_type: row.get(1)?,
                            size: row.get::<_, i64>(2)?.max(0) as u64,
                            sha256: row.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                view.history.push(HistoryEntry {
                    at,
                    from: from.unwrap_or_default(),
                    visibility,
                    text,
                    attachments,
                });
            }
        }
        Ok(Some(view))
    }

    pub fn next_ticket_number(&self, first: u64) -> StoreResult<TicketNumber> {
        let max: Option<i64> = self
            .tx
            .prepare_cached("SELECT max(number) FROM tickets")?
            .query_row([], |row| row.get(0))?;
        Ok(TicketNumber(
            max.map_or(first, |max| (max as u64 + 1).max(first)),
        ))
    }

    pub fn insert_quarantine(
        &self,
        now: i64,
        source: &str,
        reason: &str,
        size: usize,
        content_hash: &str,
        path: &str,
    ) -> StoreResult<i64> {
        self.tx.execute(
            "INSERT INTO quarantine (received_at, source, reason, size, content_hash, path)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now, source, reason, size as i64, content_hash, path],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Carries out an intake plan: the ticket change, the inbound mail, participants, events and
    /// the outgoing mail, all inside this transaction. Returns the inbound message's row id.
    pub fn apply_intake(
        &self,
        plan: &IntakePlan,
        inbound: &InboundRecord<'_>,
        outgoing: &[RenderedMail<'_>],
    ) -> StoreResult<i64> {
        let now = inbound.now;
        let number = plan.ticket.0 as i64;
        let cause = cause_of(plan);
        match &plan.change {
            TicketChange::Create(ticket) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO tickets (number, subject, requester, requester_name, status, priority,
                                              level, queue, language, created_at, updated_at, assignee,
                                              first_response_due, next_response_due, resolution_due,
                                              awaiting_since)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?10)",
                    )?
                    .execute(params![
                        number,
                        ticket.subject,
                        ticket.requester.address,
                        ticket.requester.name,
                        ticket.status.as_str(),
                        ticket.priority.as_str(),
                        ticket.level.get(),
                        ticket.queue,
                        ticket.language.code(),
                        now,
                        ticket.assignee,
                        ticket.sla.first_response_due,
                        ticket.sla.next_response_due,
                        ticket.sla.resolution_due
                    ])?;
                if let Some(assignee) = &ticket.assignee {
                    self.note_assignment(assignee)?;
                }
                let level = ticket.level.get().to_string();
                for (field, value) in [
                    ("status", Some(ticket.status.as_str())),
                    ("level", Some(level.as_str())),
                    ("priority", Some(ticket.priority.as_str())),
                    ("queue", Some(ticket.queue.as_str())),
                    ("assignee", ticket.assignee.as_deref()),
                ] {
                    self.record_change(number, now, field, value)?;
                }
                for tag in &ticket.tags {
                    self.apply_update(number, now, &TicketUpdate::AddTag(tag.clone()))?;
                }
                for (name, value) in &ticket.fields {
                    self.apply_update(
                        number,
                        now,
                        &TicketUpdate::Field(name.clone(), value.clone()),
                    )?;
                }
            }
            TicketChange::Append { updates } => {
                self.tx
                    .prepare_cached("UPDATE tickets SET updated_at = ?2 WHERE number = ?1")?
                    .execute(params![number, now])?;
                for update in updates
                    .iter()
                    .filter(|u| !matches!(u, TicketUpdate::MergeInto(_)))
                {
                    self.apply_update(number, now, update)?;
                }
            }
        }
        // After the ticket exists (links name it), before the mail that announces a draft.
        self.apply_knowledge(&plan.knowledge, now)?;
        let mail = inbound.mail;
        let visibility = match plan.visibility {
            Visibility::Public => "public",
            Visibility::Internal | Visibility::Stranger => "internal",
        };
        let message = self.insert_message(&MessageInsert::inbound(
            inbound,
            Some(number),
            (visibility, plan.visibility == Visibility::Stranger),
            "mail",
            &plan.stored_text,
            now,
        ))?;
        let mut insert_attachment = self.tx.prepare_cached(
            "INSERT INTO attachments (message, filename, content_type, size, sha256) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for attachment in &mail.attachments {
            insert_attachment.execute(params![
                message,
                attachment.filename,
                attachment.content_type,
                attachment.size as i64,
                attachment.sha256
            ])?;
        }
        let mut insert_participant = self.tx.prepare_cached(
            "INSERT INTO participants (ticket, address, name, role, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (ticket, address) DO NOTHING",
        )?;
        for (mailbox, role) in &plan.new_participants {
            insert_participant.execute(params![
                number,
                mailbox.address,
                mailbox.name,
                role.as_str(),
                now
            ])?;
        }
        for event in &plan.events {
            self.insert_event(number, now, event, Some(message))?;
        }
        let indexed_cut = (plan.stored_text.len() > FTS_INDEXED_CHARS)
            .then(|| plan.stored_text.chars().count())
            .filter(|chars| *chars > FTS_INDEXED_CHARS)
            .map(|chars| {
                format!("text of {chars} characters: only the first {FTS_INDEXED_CHARS} are indexed for search")
            });
        for cut in mail.cuts.iter().chain(&indexed_cut) {
            let event = EventDraft {
                kind: crate::core::plan::EventKind::IntakeCut,
                actor: "guichet".into(),
                detail: cut.clone(),
            };
            self.insert_event(number, now, &event, Some(message))?;
        }
        for rendered in outgoing {
            self.queue_outgoing(
                rendered,
                CapContext {
                    new_ticket: matches!(plan.change, TicketChange::Create(_)),
                    cause: cause.as_deref(),
                },
                now,
            )?;
        }
        for (agent, away) in &plan.agents_away {
            self.set_away(agent, *away)?;
        }
        // A merge goes last: everything above landed on this ticket and now moves with it.
        if let TicketChange::Append { updates } = &plan.change {
            for update in updates
                .iter()
                .filter(|u| matches!(u, TicketUpdate::MergeInto(_)))
            {
                self.apply_update(number, now, update)?;
            }
        }
        Ok(message)
    }

    /// Carries out what the SLA clock decided for one ticket.
    pub fn apply_clock(
        &self,
        ticket: TicketNumber,
        now: i64,
        plan: &crate::core::escalation::ClockPlan,
        outgoing: &[RenderedMail<'_>],
    ) -> StoreResult<()> {
        let number = ticket.0 as i64;
        for update in &plan.updates {
            self.apply_update(number, now, update)?;
        }
        for event in &plan.events {
            self.insert_event(number, now, event, None)?;
            if matches!(
                event.kind,
                crate::core::plan::EventKind::SlaWarning | crate::core::plan::EventKind::SlaBreach
            ) {
                self.add_to_counter(super::Counter::SlaAlarms, event.kind.as_str(), "", 1)?;
            }
        }
        for rendered in outgoing {
            self.queue_outgoing(rendered, CapContext::default(), now)?;
        }
        Ok(())
    }

    pub(super) fn note_assignment(&self, agent: &str) -> StoreResult<()> {
        // A sequence, not a time: several tickets can be assigned within one second.
        self.tx
            .prepare_cached(
                "INSERT INTO agent_state (name, last_assigned)
                 VALUES (?1, (SELECT coalesce(max(last_assigned), 0) + 1 FROM agent_state))
                 ON CONFLICT (name) DO UPDATE SET last_assigned = excluded.last_assigned",
            )?
            .execute(params![agent])?;
        Ok(())
    }

    pub(super) fn set_away(&self, agent: &str, away: bool) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO agent_state (name, away) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET away = ?2",
            )?
            .execute(params![agent, away])?;
        Ok(())
    }

    pub(super) fn apply_update(
        &self,
        number: i64,
        now: i64,
        update: &TicketUpdate,
    ) -> StoreResult<()> {
        let set = |column: &str, value: &dyn rusqlite::ToSql| -> StoreResult<()> {
            self.tx
                .prepare_cached(&format!(
                    "UPDATE tickets SET {column} = ?2 WHERE number = ?1"
                ))?
                .execute(params![number, value])?;
            Ok(())
        };
        match update {
            TicketUpdate::Status(status) => {
                set("status", &status.as_str())?;
                self.record_change(number, now, "status", Some(status.as_str()))?;
            }
            TicketUpdate::Priority(priority) => {
                set("priority", &priority.as_str())?;
                self.record_change(number, now, "priority", Some(priority.as_str()))?;
            }
            TicketUpdate::Level(level) => {
                set("level", &level.get())?;
                self.record_change(number, now, "level", Some(&level.get().to_string()))?;
            }
            TicketUpdate::Queue(queue) => {
                set("queue", queue)?;
                self.record_change(number, now, "queue", Some(queue))?;
            }
            TicketUpdate::Assignee(assignee) => {
                set("assignee", assignee)?;
                self.record_change(number, now, "assignee", assignee.as_deref())?;
                if let Some(name) = assignee {
                    self.note_assignment(name)?;
                }
            }
            TicketUpdate::Resolution(text) => {
                set("resolution", text)?;
                self.index_resolved_ticket(TicketNumber(number as u64))?;
            }
            TicketUpdate::AddParticipant(mailbox, role) => {
                // `#cc` of someone who came with a merged ticket copies them from now on.
                self.tx
                    .prepare_cached(
                        "INSERT INTO participants (ticket, address, name, role, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (ticket, address) DO UPDATE SET role = excluded.role
                         WHERE participants.role = 'merged'",
                    )?
                    .execute(params![number, mailbox.address, mailbox.name, role.as_str(), now])?;
            }
            TicketUpdate::RemoveParticipant(address) => {
                self.tx
                    .prepare_cached("DELETE FROM participants WHERE ticket = ?1 AND address = ?2 AND role != 'requester'")?
                    .execute(params![number, address])?;
            }
            TicketUpdate::AddTag(tag) => {
                self.tx
                    .prepare_cached("INSERT INTO ticket_tags (ticket, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
                    .execute(params![number, tag])?;
            }
            TicketUpdate::RemoveTag(tag) => {
                self.tx
                    .prepare_cached("DELETE FROM ticket_tags WHERE ticket = ?1 AND tag = ?2")?
                    .execute(params![number, tag])?;
            }
            TicketUpdate::Field(name, value) => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO ticket_fields (ticket, name, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (ticket, name) DO UPDATE SET value = ?3",
                    )?
                    .execute(params![number, name, value])?;
            }
            TicketUpdate::Sla(state) => {
                self.tx
                    .prepare_cached(
                        "UPDATE tickets SET first_response_due = ?2, next_response_due = ?3, resolution_due = ?4,
                             sla_paused_at = ?5, sla_warned_for = ?6 WHERE number = ?1",
                    )?
                    .execute(params![
                        number,
                        state.first_response_due,
                        state.next_response_due,
                        state.resolution_due,
                        state.paused_at,
                        state.warned_for
                    ])?;
            }
            TicketUpdate::AwaitingSince(since) => set("awaiting_since", since)?,
            TicketUpdate::MergeInto(into) => {
                let into = into.0 as i64;
                // The target keeps every mail and participant; this number leads there forever.
                // This ticket's people join as `merged`: their replies are a participant's, but
                // they are not copied on the target's correspondence, which is another
                // requester's problem (an agent adds them with #cc).
                self.tx.execute(
                    "UPDATE messages SET ticket = ?2 WHERE ticket = ?1",
                    params![number, into],
                )?;
                self.tx.execute(
                    "INSERT INTO participants (ticket, address, name, role, added_at)
                     SELECT ?2, address, name, 'merged', added_at
                     FROM participants WHERE ticket = ?1 ON CONFLICT (ticket, address) DO NOTHING",
                    params![number, into],
                )?;
                self.tx.execute(
                    "INSERT INTO ticket_tags (ticket, tag) SELECT ?2, tag FROM ticket_tags WHERE ticket = ?1
                     ON CONFLICT DO NOTHING",
                    params![number, into],
                )?;
                self.tx.execute(
                    "UPDATE tickets SET merged_into = ?2, status = 'closed', updated_at = ?3 WHERE number = ?1",
                    params![number, into, now],
                )?;
                self.record_change(number, now, "merged_into", Some(&into.to_string()))?;
                self.record_change(number, now, "status", Some("closed"))?;
                self.tx.execute(
                    "UPDATE tickets SET updated_at = ?2 WHERE number = ?1",
                    params![into, now],
                )?;
                self.insert_event(
                    into,
                    now,
                    &EventDraft {
                        kind: crate::core::plan::EventKind::CommandApplied,
                        actor: "guichet".into(),
                        detail: format!("ticket #{number} merged into this one"),
                    },
                    None,
                )?;
            }
        }
        Ok(())
    }

    /// One line of `ticket_changes`: what reports read to know a ticket's state at any time.
    fn record_change(
        &self,
        number: i64,
        now: i64,
        field: &str,
        value: Option<&str>,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO ticket_changes (ticket, at, field, value) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![number, now, field, value])?;
        Ok(())
    }

    pub(super) fn insert_event(
        &self,
        ticket: i64,
        now: i64,
        event: &EventDraft,
        message: Option<i64>,
    ) -> StoreResult<()> {
        self.tx
            .prepare_cached("INSERT INTO events (ticket, at, actor, kind, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![ticket, now, event.actor, event.kind.as_str(), event.detail, message])?;
        Ok(())
    }

    pub(super) fn insert_message(&self, m: &MessageInsert<'_>) -> StoreResult<i64> {
        let addresses = |list: &[Mailbox]| {
            serde_json::to_string(&list.iter().map(|m| m.address.as_str()).collect::<Vec<_>>())
                .unwrap_or_else(|_| "[]".into())
        };
        self.tx
            .prepare_cached(
                "INSERT INTO messages (ticket, direction, visibility, kind, message_id, content_hash, from_addr,
                                       to_addrs, cc_addrs, subject, text, raw, source, sent_date, created_at,
                                       stranger)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                m.ticket,
                m.direction,
                m.visibility,
                m.kind,
                m.message_id,
                m.content_hash,
                m.from,
                addresses(m.to),
                addresses(m.cc),
                m.subject,
                m.text,
                m.raw,
                m.source,
                m.sent_date,
                m.now,
                m.stranger
            ])?;
        let id = self.tx.last_insert_rowid();
        if m.direction == "in" && self.first_unindexed.get().is_none_or(|first| id < first) {
            self.first_unindexed.set(Some(id));
        }
        Ok(id)
    }

    pub fn update_mailbox(
        &self,
        name: &str,
        now: i64,
        update: &MailboxUpdate<'_>,
    ) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO mailbox_state (name, updated_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, now],
        )?;
        self.tx.execute(
            "UPDATE mailbox_state SET
                 uid_validity = coalesce(?3, uid_validity),
                 last_uid = coalesce(?4, last_uid),
                 connected = coalesce(?5, connected),
                 last_success_at = CASE WHEN ?6 THEN ?2 ELSE last_success_at END,
                 last_error = CASE WHEN ?6 THEN NULL WHEN ?7 IS NOT NULL THEN ?7 ELSE last_error END,
                 last_error_at = CASE WHEN ?7 IS NOT NULL THEN ?2 ELSE last_error_at END,
                 backlog = coalesce(?8, backlog),
                 processed = processed + ?9,
                 updated_at = ?2
             WHERE name = ?1",
            params![
                name,
                now,
                update.uid_validity.map(i64::from),
                update.last_uid.map(i64::from),
                update.connected,
                update.success,
                update.error,
                update.backlog.map(|b| b as i64),
                update.processed_more as i64
            ],
        )?;
        Ok(())
    }

    pub fn daemon_heartbeat(
        &self,
        pid: u32,
        started_at: i64,
        now: i64,
        stopped: bool,
    ) -> StoreResult<()> {
        self.tx.execute(
            "INSERT INTO daemon_state (id, pid, started_at, heartbeat_at, stopped_at) VALUES (1, ?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET pid = ?1, started_at = ?2, heartbeat_at = ?3, stopped_at = ?4",
            params![pid, started_at, now, stopped.then_some(now)],
        )?;
        Ok(())
    }
}
