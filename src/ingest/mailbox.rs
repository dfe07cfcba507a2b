//! Answering reports a batch at a time per HTTP worker thread.
//!
//! A task waiting for its report to be committed sits on an HTTP worker's
//! single-threaded runtime. Completing its answer from the writer thread wakes
//! that runtime from outside: a write to its event fd, and the thread leaving
//! `epoll_wait`, once per report. Through a mailbox the writer sends each
//! worker one message per batch, and the worker's own drain task completes the
//! individual answers locally, where a wake is a push onto a local queue.

use super::ack::{Ack, AckReply, IngestError};
use std::cell::RefCell;
use tokio::sync::mpsc;

/// A batch's answers for the reports that came through one mailbox.
pub(super) type Answers = Vec<(AckReply, Result<Ack, IngestError>)>;

/// Where the writer delivers the answers for one HTTP worker thread's reports.
///
/// The channel is unbounded, but it holds at most one message per committed
/// batch, and every answer in it is for a report that came through the
/// writer's bounded queue.
pub type Mailbox = mpsc::UnboundedSender<Answers>;

thread_local! {
    static MAILBOX: RefCell<Option<Mailbox>> = const { RefCell::new(None) };
}

/// This thread's mailbox, made with its drain task on first use.
///
/// Call it only from a task on a `LocalSet`, as every actix-web handler is:
/// the drain task is spawned with `spawn_local` on the calling thread.
pub fn local_mailbox() -> Mailbox {
    MAILBOX.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(tx) = slot.as_ref().filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Answers>();
        tokio::task::spawn_local(async move {
            while let Some(answers) = rx.recv().await {
                deliver(answers);
            }
        });
        *slot = Some(tx.clone());
        tx
    })
}

fn deliver(answers: Answers) {
    for (reply, answer) in answers {
        // The client may have gone; the report is stored either way.
        let _ = reply.send(answer);
    }
}

/// Gathers one batch's answers per mailbox, to send each mailbox one message.
#[derive(Default)]
pub(super) struct Answerer {
    /// One entry per HTTP worker: a list is quicker than a map for a handful.
    mailboxes: Vec<(Mailbox, Answers)>,
    /// Answers for reports submitted without a mailbox.
    direct: Answers,
}

impl Answerer {
    pub(super) fn add(
        &mut self,
        reply: AckReply,
        mailbox: Option<Mailbox>,
        answer: Result<Ack, IngestError>,
    ) {
        let Some(mailbox) = mailbox else {
            self.direct.push((reply, answer));
            return;
        };
        match self
            .mailboxes
            .iter_mut()
            .find(|(m, _)| m.same_channel(&mailbox))
        {
            Some((_, answers)) => answers.push((reply, answer)),
            None => self.mailboxes.push((mailbox, vec![(reply, answer)])),
        }
    }

    pub(super) fn send(self) {
        for (mailbox, answers) in self.mailboxes {
            if let Err(undelivered) = mailbox.send(answers) {
                // The worker's drain task is gone with its thread: answer
                // directly, so that no waiting task is left hanging.
                deliver(undelivered.0);
            }
        }
        deliver(self.direct);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Minute;
    use tokio::sync::oneshot;

    fn ack(id: i64) -> Result<Ack, IngestError> {
        Ok(Ack {
            id,
            counting: crate::ingest::Counting::Counted,
            minute: Minute::from_unix(0),
        })
    }

    #[test]
    fn one_message_per_mailbox_and_direct_answers_without_one() {
        let (a, mut a_rx) = mpsc::unbounded_channel();
        let (b, mut b_rx) = mpsc::unbounded_channel();
        let mut answerer = Answerer::default();
        let mut receivers = Vec::new();
        for (id, mailbox) in [(1, Some(&a)), (2, Some(&b)), (3, Some(&a)), (4, None)] {
            let (reply, rx) = oneshot::channel();
            answerer.add(reply, mailbox.cloned(), ack(id));
            receivers.push(rx);
        }
        answerer.send();
        let ids = |answers: Answers| -> Vec<i64> {
            answers.into_iter().map(|(_, a)| a.unwrap().id).collect()
        };
        assert_eq!(ids(a_rx.try_recv().unwrap()), [1, 3]);
        assert!(a_rx.try_recv().is_err(), "one message for the whole batch");
        assert_eq!(ids(b_rx.try_recv().unwrap()), [2]);
        // The report without a mailbox was answered straight away.
        assert_eq!(receivers.pop().unwrap().try_recv().unwrap().unwrap().id, 4);
    }

    #[test]
    fn a_closed_mailbox_is_answered_directly() {
        let (gone, rx) = mpsc::unbounded_channel();
        drop(rx);
        let (reply, mut answer) = oneshot::channel();
        let mut answerer = Answerer::default();
        answerer.add(reply, Some(gone), ack(7));
        answerer.send();
        assert_eq!(answer.try_recv().unwrap().unwrap().id, 7);
    }
}
