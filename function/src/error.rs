//! Failures while serving a request, and what the client sees of them: nothing but a generic
//! message and the request id. The details (the SDK's whole error chain) go to the log.

use std::fmt;

use aws_smithy_types::error::display::DisplayErrorContext;

#[derive(Debug)]
pub enum Error {
    /// A DynamoDB call failed: throttled, timed out, missing table, access denied…
    DynamoDb {
        operation: &'static str,
        detail: String,
    },
    /// The item exists but does not hold what this function writes.
    BadItem(String),
    /// The invocation's deadline came before DynamoDB answered.
    Deadline { budget_ms: u128 },
}

impl Error {
    pub fn dynamodb<E: std::error::Error>(operation: &'static str, error: E) -> Error {
        Error::DynamoDb {
            operation,
            detail: DisplayErrorContext(error).to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DynamoDb { operation, detail } => {
                write!(f, "DynamoDB {operation} failed: {detail}")
            }
            Error::BadItem(reason) => write!(f, "the counter item is malformed: {reason}"),
            Error::Deadline { budget_ms } => write!(
                f,
                "DynamoDB did not answer within the {budget_ms} ms left before the Lambda deadline"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// The only failure text a client ever sees.
pub const PUBLIC_MESSAGE: &str = "Unable to process request. Please try again.";
