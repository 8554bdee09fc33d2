//! Lambda's states as its answers carry them, through the realism layer: CreateFunction answers
//! `Pending`, UpdateFunctionCode `InProgress` (moto answers `Active` and `Successful` at once),
//! and PublishVersion during an update is refused, as on AWS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LastUpdateStatus, Runtime, State};
use testkit::{dummy_loader, Moto, Realism, Recorder};

fn zip() -> Vec<u8> {
    // An empty zip archive: its end-of-central-directory record alone.
    let mut eocd = vec![0x50, 0x4b, 0x05, 0x06];
    eocd.extend_from_slice(&[0; 18]);
    eocd
}

/// A role for the function (through the proxy, where it propagates at once here): its ARN.
async fn role(config: &aws_config::SdkConfig) -> String {
    let made = aws_sdk_iam::Client::new(config)
        .create_role()
        .role_name("r")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    made.role().unwrap().arn().to_string()
}

#[tokio::test]
async fn answers_carry_pending_and_in_progress_and_a_publish_waits_for_the_update() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    proxy.realism(Some(Realism {
        function_pending: Duration::from_secs(30),
        function_updating: Duration::from_secs(30),
        ..Realism::latency_only(Duration::ZERO)
    }));
    let config = dummy_loader().endpoint_url(proxy.endpoint()).load().await;
    let role = role(&config).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let created = lambda
        .create_function()
        .function_name("f")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(&role)
        .code(FunctionCode::builder().zip_file(Blob::new(zip())).build())
        .send()
        .await
        .unwrap();
    assert_eq!(created.state(), Some(&State::Pending));

    // Settled at once from here on, but for the update's own window.
    proxy.realism(Some(Realism {
        function_updating: Duration::from_secs(30),
        ..Realism::latency_only(Duration::ZERO)
    }));
    let updated = lambda
        .update_function_code()
        .function_name("f")
        .zip_file(Blob::new(zip()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.last_update_status(),
        Some(&LastUpdateStatus::InProgress)
    );
    let publish = lambda
        .publish_version()
        .function_name("f")
        .send()
        .await
        .unwrap_err();
    let refused = publish.into_service_error();
    assert!(refused.is_resource_conflict_exception(), "{refused:?}");
    assert!(format!("{refused:?}").contains("An update is in progress"));
}

#[tokio::test]
async fn an_environment_over_4_kb_is_refused_as_lambda_measures_it() {
    let moto = Moto::start();
    let proxy = Recorder::start(moto.endpoint());
    proxy.realism(Some(Realism::latency_only(Duration::ZERO)));
    let config = dummy_loader().endpoint_url(proxy.endpoint()).load().await;
    let role = role(&config).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    // `{"V":"…"}` is 8 bytes more than the value: 4,088 bytes of value is exactly 4 KB.
    let create = |name: &str, value_bytes: usize| {
        lambda
            .create_function()
            .function_name(name)
            .role(&role)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .code(FunctionCode::builder().zip_file(Blob::new(zip())).build())
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .variables("V", "x".repeat(value_bytes))
                    .build(),
            )
            .send()
    };
    let refused = create("over", 4089).await.unwrap_err();
    let text = aws_sdk_lambda::error::DisplayErrorContext(&refused).to_string();
    assert!(text.contains("exceeded the 4KB limit"), "{text}");
    create("at", 4088).await.unwrap();
}
