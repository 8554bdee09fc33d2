//! The API's plan on plain structs: creates, duplicates, route and gateway-response drift, each
//! described as `diff` shows it.

use super::*;
use crate::plan::{describe_all, Action};
use crate::resources::Needs;

fn route(text: &str) -> Route {
    Route::parse(text).unwrap_or_else(|| panic!("{text}"))
}

fn desired() -> Desired {
    Desired {
        name: "vc-prod".into(),
        stage: "prod".into(),
        routes: BTreeMap::from([
            (route("GET /counter"), Method::proxy("uri")),
            (route("GET /health"), Method::proxy("uri")),
        ]),
        gateway_responses: gateway_responses(&["https://a.example".into()]),
        deployment_hash: "h1".into(),
        tags: Tags::from([
            (STACK_TAG.into(), "vc".into()),
            (STAGE_TAG.into(), "prod".into()),
        ]),
        description: "d".into(),
    }
}

fn live() -> LiveApi {
    let d = desired();
    LiveApi {
        id: "a1".into(),
        name: d.name.clone(),
        created: 1,
        tags: d.tags.clone(),
        resources: Resources::from([("/".into(), "r0".into())]),
        routes: d.routes.clone(),
        gateway_responses: d.gateway_responses.clone(),
        serves_stage: true,
    }
}

fn observed(ours: LiveApi) -> Observed {
    Observed {
        ours,
        duplicates: vec![],
    }
}

fn summary(o: Option<&Observed>) -> Vec<(Action, String, String)> {
    describe_all("vc-prod", &Api::plan(&desired(), o, Needs::NONE))
        .into_iter()
        .map(|c| (c.action, c.name, c.field.unwrap_or_default()))
        .collect()
}

#[test]
fn no_api_means_an_api_to_create_with_every_route() {
    let changes = Api::plan(&desired(), None, Needs::NONE);
    assert_eq!(
        changes,
        [ApiChange::Create {
            routes: vec![route("GET /counter"), route("GET /health")]
        }]
    );
    let c = changes[0].describe("vc-prod");
    assert_eq!(
        c.expected,
        json!({"routes": ["GET /counter", "GET /health"]})
    );
}

#[test]
fn a_matching_api_needs_nothing() {
    assert_eq!(
        Api::plan(&desired(), Some(&observed(live())), Needs::NONE),
        vec![]
    );
}

#[test]
fn route_drift_and_duplicates_are_each_reported() {
    let mut ours = live();
    ours.routes.remove(&route("GET /health"));
    ours.routes
        .insert(route("GET /counter"), Method::proxy("arn:other-function"));
    ours.routes
        .insert(route("DELETE /counter"), Method::proxy("uri"));
    ours.resources.insert("/counter".into(), "r1".into());
    let mut dup = live();
    dup.id = "a2".into();
    let o = Observed {
        ours,
        duplicates: vec![dup],
    };
    assert_eq!(
        summary(Some(&o)),
        [
            (Action::Delete, "a2".into(), String::new()),
            (
                Action::Update,
                "vc-prod".into(),
                "routes.GET /counter".into()
            ),
            (
                Action::Update,
                "vc-prod".into(),
                "routes.GET /health".into()
            ),
            (
                Action::Delete,
                "vc-prod".into(),
                "routes.DELETE /counter".into()
            ),
        ]
    );
    let changes = describe_all("vc-prod", &Api::plan(&desired(), Some(&o), Needs::NONE));
    assert_eq!(changes[1].actual["uri"], json!("arn:other-function"));
    assert_eq!(changes[2].actual, json!(null));
}

#[test]
fn an_authorizer_an_api_key_or_another_integration_is_route_drift() {
    let variants: [fn(&mut Method); 4] = [
        |m| m.authorization_type = "AWS_IAM".into(),
        |m| m.api_key_required = true,
        |m| m.integration_type = Some("AWS".into()),
        |m| m.integration_http_method = Some("GET".into()),
    ];
    for change in variants {
        let mut ours = live();
        if let Some(m) = ours.routes.get_mut(&route("GET /counter")) {
            change(m);
        }
        assert_eq!(
            summary(Some(&observed(ours))),
            [(
                Action::Update,
                "vc-prod".into(),
                "routes.GET /counter".into()
            )]
        );
    }
    let open = Method::proxy("uri");
    let iam = Method {
        authorization_type: "AWS_IAM".into(),
        ..open.clone()
    };
    assert!(open.method_differs(&iam));
    let elsewhere = Method {
        uri: Some("other".into()),
        ..open.clone()
    };
    assert!(
        !open.method_differs(&elsewhere),
        "PutIntegration alone repairs it"
    );
}

#[test]
fn gateway_responses_carry_cors_for_the_stacks_origins() {
    let one = gateway_responses(&["https://a.example".into()]);
    assert_eq!(one.len(), 2);
    assert_eq!(one["DEFAULT_4XX"][ALLOW_ORIGIN], "'https://a.example'");
    assert_eq!(one["DEFAULT_5XX"][VARY], "'Origin'");
    let many = gateway_responses(&["https://a.example".into(), "https://b.example".into()]);
    assert_eq!(
        many["DEFAULT_4XX"][ALLOW_ORIGIN],
        "method.request.header.Origin"
    );
    assert!(gateway_responses(&[]).values().all(BTreeMap::is_empty));

    let mut ours = live();
    ours.gateway_responses
        .insert("DEFAULT_5XX".into(), Params::new());
    assert_eq!(
        summary(Some(&observed(ours))),
        [(
            Action::Update,
            "vc-prod".into(),
            "gateway_responses.DEFAULT_5XX".into()
        )]
    );
}

#[test]
fn a_response_customized_outside_the_stack_is_reset_showing_what_it_held() {
    let mut adopted = live();
    let held = Params::from([("statusCode".to_string(), "401".to_string())]);
    adopted
        .gateway_responses
        .insert("UNAUTHORIZED".into(), held.clone());
    let changes = Api::plan(&desired(), Some(&observed(adopted)), Needs::NONE);
    assert_eq!(
        changes,
        [ApiChange::GatewayResponse {
            api: live().id,
            kind: "UNAUTHORIZED".into(),
            update: Update {
                want: Params::new(),
                live: held,
            },
        }]
    );
}

#[test]
fn cors_adds_a_preflight_route_per_path() {
    let stack = crate::stack::parse(
        "name: vc\napi:\n  routes: [GET /counter, POST /counter]\n  cors_origins: [\"https://a.example\"]\n",
        std::path::Path::new("stack.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names = Names::derive(&stack, "us-east-1");
    let d = Desired::of(&stack, &names, &crate::arns::Arns::of(&names, "1"));
    assert_eq!(
        d.routes.keys().map(Route::to_string).collect::<Vec<_>>(),
        ["GET /counter", "OPTIONS /counter", "POST /counter"]
    );
}

#[test]
fn retry_after_is_honoured_or_the_quota_assumed() {
    use std::time::Duration;
    let retry_after = crate::aws::retry_after;
    assert_eq!(
        retry_after(Some("27"), Duration::from_secs(30)),
        Duration::from_secs(27)
    );
    assert_eq!(
        retry_after(None, Duration::from_secs(30)),
        Duration::from_secs(30)
    );
    assert_eq!(
        retry_after(Some("soon"), Duration::from_secs(3)),
        Duration::from_secs(3)
    );
}
