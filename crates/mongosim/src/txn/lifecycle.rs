//! Starting and ending transactions on the shared state: what else must
//! happen when one ends (its cursors are killed, history it pinned is
//! released, writes waiting on it retry).

use super::session::SessionArgs;
use super::table::TxnRef;
use crate::commands::read_concern::{Level, ReadConcern};
use crate::error::CommandError;
use crate::state::State;
use bson::Document;
use tokio::time::Instant;

impl State {
    /// Starts or continues the transaction a command names (`readConcern`
    /// is allowed on the first command only, and sets the snapshot).
    pub fn begin_transaction(
        &mut self,
        args: &SessionArgs,
        command: &str,
        cmd: &Document,
        replica_set: bool,
    ) -> Result<TxnRef, CommandError> {
        self.expire_transactions(Instant::now());
        let read_concern = ReadConcern::parse(cmd)?;
        if !args.start_transaction && cmd.contains_key("readConcern") {
            return Err(CommandError::new(
                72,
                "InvalidOptions",
                "Only the first command in a transaction may specify a readConcern",
            ));
        }
        if matches!(
            read_concern.level,
            Some(Level::Linearizable | Level::Available)
        ) {
            return Err(CommandError::new(
                72,
                "InvalidOptions",
                "The readConcern level must be either 'local' (default), 'majority' or 'snapshot' in order to run in a transaction",
            ));
        }
        if cmd.contains_key("writeConcern")
            && !matches!(command, "commitTransaction" | "abortTransaction")
        {
            return Err(CommandError::new(
                72,
                "InvalidOptions",
                "Cannot set write concern after starting a transaction.",
            ));
        }
        let read_at = || match read_concern.level {
            // snapshot: atClusterTime if given (checked), else the newest committed time.
            Some(Level::Snapshot) => read_concern
                .read_at(self, replica_set)
                .map(|at| at.unwrap_or_else(|| self.clock.now())),
            // local and majority read the newest data, held from the first command on.
            _ => Ok(self.clock.now()),
        };
        let at = read_at();
        let (txn, killed) = self.txns.begin_or_continue(args, command, || at)?;
        self.kill(&killed);
        self.pin_history();
        Ok(txn)
    }

    /// Aborts `txn` if it is still open.
    pub fn abort_transaction(&mut self, txn: &TxnRef) {
        let cursors = self.txns.abort(&txn.key, txn.number);
        self.kill(&cursors);
        self.pin_history();
    }

    /// Aborts transactions past `transactionLifetimeLimitSeconds`.
    pub fn expire_transactions(&mut self, now: Instant) {
        let cursors = self.txns.expire(now);
        self.kill(&cursors);
        self.pin_history();
    }

    /// `killSessions` / `killAllSessions`: aborts the sessions' transactions.
    pub fn kill_sessions(&mut self, lsids: Option<&[Document]>) {
        let cursors = self.txns.abort_sessions(lsids);
        self.kill(&cursors);
        self.pin_history();
    }

    /// Keeps the history open transactions' snapshots need.
    pub fn pin_history(&mut self) {
        let oldest = self.txns.oldest_snapshot();
        self.history.set_pin(oldest);
    }

    /// Kills cursors of a transaction that ended.
    pub fn kill(&mut self, cursors: &[i64]) {
        for id in cursors {
            if self.cursors.remove(id).is_none() && self.in_flight.contains(id) {
                self.killed.insert(*id);
            }
        }
    }
}
