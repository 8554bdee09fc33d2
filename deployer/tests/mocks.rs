//! AWS behaviours moto cannot produce, on the real SDK clients answered by `aws-smithy-mocks`:
//! IAM propagation delay, an update still in progress, and throttling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_lambda::operation::create_function::{CreateFunctionError, CreateFunctionOutput};
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::operation::update_function_configuration::{
    UpdateFunctionConfigurationError, UpdateFunctionConfigurationOutput,
};
use aws_sdk_lambda::types::error::{InvalidParameterValueException, ResourceConflictException};
use aws_sdk_lambda::types::{LastUpdateStatus, State};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use deployer::arns::Arns;
use deployer::aws::Clients;
use deployer::names::Names;
use deployer::package::Artifact;
use deployer::plan::{Describe, Update};
use deployer::progress::Progress;
use deployer::resources::function::{self, Code, Function, FunctionChange};
use deployer::resources::stage::{self, Stage, StageChange};
use deployer::resources::table::Table;
use deployer::resources::{Ctx, Needs, Resource};
use deployer::wait::Waits;
use serde_json::json;

const ROLE_MESSAGE: &str = "The role defined for the function cannot be assumed by Lambda.";

struct World {
    clients: Clients,
    names: Names,
    arns: Arns,
    progress: Progress,
    waits: Waits,
    desired: function::Desired,
}

impl World {
    fn with_apigateway(apigateway: aws_sdk_apigateway::Client) -> World {
        let mut world = World::new(None, None);
        world.clients.apigateway = apigateway;
        world
    }

    fn new(
        lambda: Option<aws_sdk_lambda::Client>,
        dynamodb: Option<aws_sdk_dynamodb::Client>,
    ) -> World {
        let config = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .behavior_version(BehaviorVersion::latest())
            .build();
        let mut clients = Clients::from_config(&config).unwrap();
        if let Some(lambda) = lambda {
            clients.lambda = lambda;
        }
        if let Some(dynamodb) = dynamodb {
            clients.dynamodb = dynamodb;
        }
        let stack = deployer::stack::parse("name: vc\n", Path::new("stack.yaml")).unwrap();
        let names = Names::derive(&stack, "us-east-1");
        let arns = Arns::of(&names, "123456789012");
        let zip = deployer::package::zip_bootstrap(b"binary").unwrap();
        let artifact = Artifact {
            path: "f.zip".into(),
            sha256: deployer::package::sha256_base64(&zip),
            zip,
            built: true,
        };
        World {
            desired: function::Desired::of(&stack, &names, &arns, Code::of(&artifact)),
            clients,
            names,
            arns,
            progress: Progress::silent(),
            waits: Waits::fast(),
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            clients: &self.clients,
            names: &self.names,
            arns: &self.arns,
            progress: &self.progress,
            waits: &self.waits,
        }
    }

    async fn create(&self) -> anyhow::Result<()> {
        let changes = Function::plan(&self.desired, None, Needs::NONE);
        Function::apply(self.ctx(), &self.desired, &changes, Needs::NONE).await
    }
}

fn role_not_assumable() -> CreateFunctionError {
    CreateFunctionError::InvalidParameterValueException(
        InvalidParameterValueException::builder()
            .message(ROLE_MESSAGE)
            .build(),
    )
}

fn ready() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_lambda::Client::get_function_configuration).then_output(|| {
        GetFunctionConfigurationOutput::builder()
            .state(State::Active)
            .last_update_status(LastUpdateStatus::Successful)
            .build()
    })
}

#[tokio::test]
async fn create_function_waits_out_iam_propagation_then_succeeds() {
    let create = mock!(aws_sdk_lambda::Client::create_function)
        .sequence()
        .error(role_not_assumable)
        .times(3)
        .output(|| CreateFunctionOutput::builder().build())
        .build();
    let ready = ready();
    let world = World::new(
        Some(mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            [&create, &ready]
        )),
        None,
    );
    world.create().await.unwrap();
    assert_eq!(create.num_calls(), 4, "three refusals, then the create");
    assert!(
        ready.num_calls() >= 1,
        "it waited for the function to be Active"
    );
}

#[tokio::test]
async fn a_role_that_never_propagates_is_a_clear_error_naming_it() {
    let create = mock!(aws_sdk_lambda::Client::create_function)
        .sequence()
        .error(role_not_assumable)
        .repeatedly()
        .build();
    let world = World::new(
        Some(mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&create])),
        None,
    );
    let error = format!("{:#}", world.create().await.unwrap_err());
    assert!(
        error.contains("arn:aws:iam::123456789012:role/vc-prod-role"),
        "{error}"
    );
    assert!(error.contains("still cannot assume role"), "{error}");
    assert!(error.contains("run `up` again"), "{error}");
    // Bounded: Waits::fast() allows 500 ms at 10 ms a try.
    assert!(
        (2..=60).contains(&create.num_calls()),
        "{} tries",
        create.num_calls()
    );
}

#[tokio::test]
async fn an_update_in_progress_is_waited_for_not_failed() {
    let in_progress = mock!(aws_sdk_lambda::Client::get_function_configuration)
        .sequence()
        .output(|| {
            GetFunctionConfigurationOutput::builder()
                .state(State::Active)
                .last_update_status(LastUpdateStatus::InProgress)
                .build()
        })
        .times(2)
        .output(|| {
            GetFunctionConfigurationOutput::builder()
                .state(State::Active)
                .last_update_status(LastUpdateStatus::Successful)
                .build()
        })
        .repeatedly()
        .build();
    let update = mock!(aws_sdk_lambda::Client::update_function_configuration)
        .sequence()
        .error(|| {
            UpdateFunctionConfigurationError::ResourceConflictException(
                ResourceConflictException::builder()
                    .message("The operation cannot be performed at this time. An update is in progress for resource")
                    .build(),
            )
        })
        .times(2)
        .output(|| UpdateFunctionConfigurationOutput::builder().build())
        .build();
    let world = World::new(
        Some(mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            [&in_progress, &update]
        )),
        None,
    );
    let change = FunctionChange::Memory(Update {
        want: 128,
        live: 256,
    });
    Function::apply(world.ctx(), &world.desired, &[change], Needs::NONE)
        .await
        .unwrap();
    assert_eq!(update.num_calls(), 3, "two conflicts, then the update");
    assert!(
        in_progress.num_calls() >= 3,
        "it polled until the earlier update finished"
    );
}

#[tokio::test]
async fn throttling_is_retried_by_the_client() {
    const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table)
        .sequence()
        .http_status(400, Some(THROTTLED.to_string()))
        .times(2)
        .output(|| {
            aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput::builder()
                .table(
                    aws_sdk_dynamodb::types::TableDescription::builder()
                        .table_arn("arn:t")
                        .build(),
                )
                .build()
        })
        .build();
    let backups = mock!(aws_sdk_dynamodb::Client::describe_continuous_backups).then_output(|| {
        aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput::builder().build()
    });
    let tags = mock!(aws_sdk_dynamodb::Client::list_tags_of_resource).then_output(|| {
        aws_sdk_dynamodb::operation::list_tags_of_resource::ListTagsOfResourceOutput::builder()
            .build()
    });
    // The deployer's own retry configuration, on a real clock: the test defaults freeze time,
    // and adaptive retry's rate limiter would wait forever for tokens to refill.
    let dynamodb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&describe, &backups, &tags],
        |c| c
            .retry_config(deployer::aws::retry_config())
            .time_source(SharedTimeSource::new(SystemTimeSource::new()))
    );
    let world = World::new(None, Some(dynamodb));
    let observed = Table::observe(&world.clients, &world.names, Needs::NONE)
        .await
        .unwrap();
    assert!(observed.is_some());
    assert_eq!(
        describe.num_calls(),
        3,
        "two throttled attempts, then the answer"
    );
}

#[tokio::test]
async fn architecture_drift_is_seen_and_repaired_with_the_code_call() {
    // moto ignores Architectures on UpdateFunctionCode, so this drift is shown here instead.
    let world = World::new(None, None);
    let d = world.desired.clone();
    let live = aws_sdk_lambda::types::FunctionConfiguration::builder()
        .function_arn("arn:aws:lambda:us-east-1:123456789012:function:vc-prod")
        .runtime(aws_sdk_lambda::types::Runtime::from(d.runtime.as_str()))
        .handler(&d.handler)
        .architectures(aws_sdk_lambda::types::Architecture::Arm64)
        .memory_size(d.memory_mb)
        .timeout(d.timeout_s)
        .role(&d.role_arn)
        .environment(
            aws_sdk_lambda::types::EnvironmentResponse::builder()
                .set_variables(Some(d.environment.clone().into_iter().collect()))
                .build(),
        )
        .code_sha256(&d.code.sha256)
        .build();
    let get = mock!(aws_sdk_lambda::Client::get_function).then_output(move || {
        aws_sdk_lambda::operation::get_function::GetFunctionOutput::builder()
            .configuration(live.clone())
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .build()
    });
    let update = mock!(aws_sdk_lambda::Client::update_function_code)
        .match_requests(|r| r.architectures() == [aws_sdk_lambda::types::Architecture::X8664])
        .then_output(|| {
            aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeOutput::builder()
                .build()
        });
    let ready = ready();
    let world = World::new(
        Some(mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            [&get, &update, &ready]
        )),
        None,
    );
    let observed = Function::observe(&world.clients, &world.names, Needs::NONE)
        .await
        .unwrap();
    let changes = Function::plan(&world.desired, observed.as_ref(), Needs::NONE);
    assert_eq!(changes.len(), 1, "{changes:?}");
    let described = changes[0].describe("vc-prod");
    assert!(described.is(function::ARCHITECTURE));
    assert_eq!(
        (described.expected, described.actual),
        (json!("x86_64"), json!("arm64"))
    );
    Function::apply(world.ctx(), &world.desired, &changes, Needs::NONE)
        .await
        .unwrap();
    assert_eq!(
        update.num_calls(),
        1,
        "one UpdateFunctionCode, carrying x86_64"
    );
}

#[tokio::test]
async fn access_denied_on_a_read_is_an_error_never_a_missing_resource() {
    // Were "denied" read as "absent", diff would report drift (exit 2) and up would try to
    // create what already exists. It must be an error (exit 1) instead.
    let denied = mock!(aws_sdk_dynamodb::Client::describe_table).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: dynamodb:DescribeTable"}"#,
            ),
        )
    });
    // The same principal is denied the read sent alongside (the table's backups).
    let backups_denied =
        mock!(aws_sdk_dynamodb::Client::describe_continuous_backups).then_error(|| {
            aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsError::generic(
                aws_sdk_dynamodb::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: dynamodb:DescribeContinuousBackups")
                    .build(),
            )
        });
    let world = World::new(
        None,
        Some(mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&denied, &backups_denied]
        )),
    );
    let error = format!(
        "{:#}",
        Table::observe(&world.clients, &world.names, Needs::NONE)
            .await
            .unwrap_err()
    );
    assert!(error.contains("reading table vc-prod"), "{error}");
    assert!(error.contains("AccessDenied"), "{error}");

    let forbidden = mock!(aws_sdk_lambda::Client::get_function).then_error(|| {
        aws_sdk_lambda::operation::get_function::GetFunctionError::generic(
            aws_sdk_lambda::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: lambda:GetFunction")
                .build(),
        )
    });
    let world = World::new(
        Some(mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            [&forbidden]
        )),
        None,
    );
    let error = format!(
        "{:#}",
        Function::observe(&world.clients, &world.names, Needs::NONE)
            .await
            .unwrap_err()
    );
    assert!(error.contains("reading function vc-prod"), "{error}");
    assert!(error.contains("lambda:GetFunction"), "{error}");
}

#[tokio::test]
async fn a_new_deployment_updates_the_stage_the_plan_found_without_reading_it_again() {
    use aws_sdk_apigateway::operation::create_deployment::CreateDeploymentOutput;
    use aws_sdk_apigateway::operation::create_stage::CreateStageOutput;
    use aws_sdk_apigateway::operation::get_stage::GetStageError;
    use aws_sdk_apigateway::operation::update_stage::UpdateStageOutput;
    // Were the stage read again, a denied read would look like a missing stage, and the
    // deployer would try to create one that exists.
    let deployment = mock!(aws_sdk_apigateway::Client::create_deployment)
        .then_output(|| CreateDeploymentOutput::builder().id("d2").build());
    let denied = mock!(aws_sdk_apigateway::Client::get_stage).then_error(|| {
        GetStageError::generic(
            aws_sdk_apigateway::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not authorized to perform: apigateway:GET")
                .build(),
        )
    });
    let update = mock!(aws_sdk_apigateway::Client::update_stage)
        .then_output(|| UpdateStageOutput::builder().build());
    let create = mock!(aws_sdk_apigateway::Client::create_stage)
        .then_output(|| CreateStageOutput::builder().build());
    let world = World::with_apigateway(mock_client!(
        aws_sdk_apigateway,
        RuleMode::MatchAny,
        [&deployment, &denied, &update, &create]
    ));
    let stack = deployer::stack::parse("name: vc\n", Path::new("stack.yaml")).unwrap();
    let d = stage::Desired::of(&stack, &world.names, "new");
    let change = StageChange::Deployment(Update {
        want: Some("new".into()),
        live: Some("old".into()),
    });
    Stage::apply(world.ctx(), &d, &[change], Needs::api(Some("a1")))
        .await
        .unwrap();
    assert_eq!(deployment.num_calls(), 1);
    assert_eq!(
        update.num_calls(),
        1,
        "the stage is pointed at the new deployment"
    );
    assert_eq!(
        create.num_calls(),
        0,
        "no CreateStage for a stage that exists"
    );
    assert_eq!(
        denied.num_calls(),
        0,
        "the plan already said the stage exists"
    );
}

/// `logs` reads every page: CloudWatch answers FilterLogEvents in pages of at most 10,000
/// events or 1 MB, each with a next token, until one comes without. (moto numbers event ids per
/// stream, and its next token loops over a group of several streams; hence mocks.)
#[tokio::test]
async fn logs_reads_every_page_of_filter_log_events() {
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput;
    use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
    let page = |from: i64, token: Option<&'static str>| {
        mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events).then_output(move || {
            let events = (from..from + 3).map(|i| {
                FilteredLogEvent::builder()
                    .timestamp(i)
                    .event_id(i.to_string())
                    .message(format!("line {i}"))
                    .build()
            });
            FilterLogEventsOutput::builder()
                .set_events(Some(events.collect()))
                .set_next_token(token.map(str::to_string))
                .build()
        })
    };
    let (one, two, three) = (page(0, Some("t1")), page(3, Some("t2")), page(6, None));
    let client = mock_client!(
        aws_sdk_cloudwatchlogs,
        RuleMode::Sequential,
        [&one, &two, &three]
    );
    let events = deployer::logs::fetch(&client, "/aws/lambda/vc-prod", &Default::default())
        .await
        .unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
    assert_eq!(
        (one.num_calls(), two.num_calls(), three.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_publish_waits_out_the_update_and_a_failed_update_is_named_not_blamed_on_another_deploy()
{
    use aws_sdk_lambda::operation::publish_version::PublishVersionError;
    use deployer::resources::alias::{self, Alias, AliasChange};
    let conflict = || {
        PublishVersionError::ResourceConflictException(
            ResourceConflictException::builder()
                .message("The operation cannot be performed at this time. An update is in progress for resource")
                .build(),
        )
    };
    // Lambda kept the previous code: the pinned CodeSha256 is not $LATEST's.
    let publish = mock!(aws_sdk_lambda::Client::publish_version)
        .sequence()
        .error(conflict)
        .times(2)
        .error(|| {
            PublishVersionError::InvalidParameterValueException(
                InvalidParameterValueException::builder()
                    .message("CodeSHA256 (new) is different from current CodeSHA256 in $LATEST (old). Please try again with the CodeSHA256 in $LATEST.")
                    .build(),
            )
        })
        .build();
    let failed = mock!(aws_sdk_lambda::Client::get_function_configuration).then_output(|| {
        GetFunctionConfigurationOutput::builder()
            .state(State::Active)
            .last_update_status(LastUpdateStatus::Failed)
            .last_update_status_reason("the KMS key is invalid for CreateGrant")
            .build()
    });
    let world = World::new(
        Some(mock_client!(
            aws_sdk_lambda,
            RuleMode::MatchAny,
            [&publish, &failed]
        )),
        None,
    );
    let d = alias::Desired::of(&world.names, 5, world.desired.clone());
    let release = AliasChange::Release {
        live: "1".into(),
        revision_id: "r".into(),
        why: "code".into(),
    };
    let error = Alias::apply(world.ctx(), &d, &[release], Needs::NONE)
        .await
        .unwrap_err();
    assert_eq!(
        publish.num_calls(),
        3,
        "two conflicts waited out, then refused"
    );
    assert_eq!(failed.num_calls(), 1, "the function read once, to say why");
    let text = format!("{error:#}");
    assert!(
        text.contains("the update of function vc-prod failed: the KMS key is invalid"),
        "{text}"
    );
    assert!(!text.contains("another deploy"), "{text}");
}
