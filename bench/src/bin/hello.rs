//! The floor of the cold-start harness: a bare Rust Lambda function (lambda_runtime, a JSON
//! answer, nothing else), built with the same release profile as `bootstrap`. What `bootstrap`
//! spends beyond this at init and cold start is its own.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({"statusCode": 200, "body": "{\"hello\":true}"}))
    }))
    .await
}
