//! The session fields a command carries (`lsid`, `txnNumber`, `autocommit`,
//! `startTransaction`), checked as the server's
//! `initializeOperationSessionInfo` checks them.

use crate::error::CommandError;
use bson::{Bson, Document};

/// A command's session fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionArgs {
    /// `lsid`: the logical session.
    pub lsid: Option<Document>,
    /// `txnNumber`: a retryable write's or a transaction's number.
    pub txn_number: Option<i64>,
    /// `autocommit` (only `false` is allowed): the command is part of a transaction.
    pub autocommit: Option<bool>,
    /// `startTransaction: true`: the command starts the transaction.
    pub start_transaction: bool,
}

fn invalid_options(message: &str) -> CommandError {
    CommandError::new(72, "InvalidOptions", message)
}

impl SessionArgs {
    /// Reads and checks the session fields of a command.
    pub fn parse(cmd: &Document) -> Result<Self, CommandError> {
        let lsid = match cmd.get("lsid") {
            None => None,
            Some(Bson::Document(lsid)) => Some(lsid.clone()),
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "BSON field 'OperationSessionInfo.lsid' is the wrong type, expected type 'object'",
                ));
            }
        };
        let txn_number = match cmd.get("txnNumber") {
            None => None,
            Some(Bson::Int64(n)) => Some(*n),
            Some(Bson::Int32(n)) => Some(i64::from(*n)),
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "BSON field 'OperationSessionInfo.txnNumber' is the wrong type, expected type 'long'",
                ));
            }
        };
        let flag = |name: &str| match cmd.get(name) {
            None => Ok(None),
            Some(Bson::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(CommandError::type_mismatch(format!(
                "BSON field 'OperationSessionInfo.{name}' is the wrong type, expected type 'bool'"
            ))),
        };
        let autocommit = flag("autocommit")?;
        let start = flag("startTransaction")?;
        if txn_number.is_some() && lsid.is_none() {
            return Err(invalid_options(
                "Transaction number requires a session ID to also be specified",
            ));
        }
        if txn_number.is_some_and(|n| n < 0) {
            return Err(CommandError::bad_value(
                "Transaction number cannot be negative",
            ));
        }
        if autocommit.is_some() && txn_number.is_none() {
            return Err(invalid_options(
                "'autocommit' field requires a transaction number to also be specified",
            ));
        }
        if autocommit == Some(true) {
            return Err(invalid_options(
                "Specifying autocommit=true is not allowed.",
            ));
        }
        if start.is_some() && autocommit.is_none() {
            return Err(invalid_options(
                "'startTransaction' field requires 'autocommit' field to also be specified",
            ));
        }
        if start == Some(false) {
            return Err(invalid_options(
                "Specifying startTransaction=false is not allowed.",
            ));
        }
        Ok(Self {
            lsid,
            txn_number,
            autocommit,
            start_transaction: start == Some(true),
        })
    }

    /// True if the command runs inside a multi-document transaction.
    pub fn in_transaction(&self) -> bool {
        self.autocommit == Some(false)
    }

    /// The session's key: its `lsid` as BSON bytes.
    pub fn key(&self) -> Option<Vec<u8>> {
        let mut bytes = Vec::new();
        self.lsid.as_ref()?.to_writer(&mut bytes).ok()?;
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn transaction_fields_are_checked_as_the_server_checks_them() {
        let lsid = doc! {"id": 1};
        let ok = SessionArgs::parse(&doc! {"find": "c", "lsid": lsid.clone(), "txnNumber": 3_i64, "autocommit": false, "startTransaction": true}).unwrap();
        assert!(ok.in_transaction() && ok.start_transaction && ok.txn_number == Some(3));
        let code = |cmd: Document| SessionArgs::parse(&cmd).unwrap_err().code;
        assert_eq!(code(doc! {"find": "c", "txnNumber": 1_i64}), 72);
        assert_eq!(
            code(doc! {"find": "c", "lsid": lsid.clone(), "autocommit": false}),
            72
        );
        assert_eq!(
            code(doc! {"find": "c", "lsid": lsid.clone(), "txnNumber": 1_i64, "autocommit": true}),
            72
        );
        assert_eq!(
            code(
                doc! {"find": "c", "lsid": lsid.clone(), "txnNumber": 1_i64, "startTransaction": true}
            ),
            72
        );
        assert_eq!(
            code(doc! {"find": "c", "lsid": lsid, "txnNumber": -1_i64}),
            2
        );
    }
}
