//! Rows of the drift table: the API, its routes and gateway responses, and the stage.

use super::*;

macro_rules! mutation {
    (|$live:ident| $body:block) => {
        |$live: &Live| -> Pin<Box<dyn Future<Output = Facts> + '_>> { Box::pin(async move $body) }
    };
}

fn methods(f: &Facts, verb: &str) -> Vec<String> {
    vec![
        format!(
            "apigateway PUT /restapis/{}/resources/{}/methods/{verb}",
            f.api, f.resource
        ),
        format!(
            "apigateway PUT /restapis/{}/resources/{}/methods/{verb}/integration",
            f.api, f.resource
        ),
    ]
}

pub fn api_rows() -> Vec<Row> {
    vec![
        Row {
            name: "API deleted",
            mutate: mutation!(|l| {
                let api = api_ids(&l.c).await.remove(0);
                l.c.apigateway
                    .delete_rest_api()
                    .rest_api_id(&api)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![
                    drift("api", None),
                    drift("stage", None),
                    drift("permission", Some("source_arn")),
                ]
            },
            // A new API, and the permission moved to its ARN.
            repair: |_| {
                Repair::Includes(vec![
                    "apigateway POST /restapis".into(),
                    "lambda DELETE /2015-03-31/functions/vc-prod/policy/vc-apigateway-invoke"
                        .into(),
                    POLICY_WRITE.into(),
                ])
            },
        },
        Row {
            name: "API duplicated with the stack's tags",
            mutate: mutation!(|l| {
                let ours = api_ids(&l.c).await.remove(0);
                let dup =
                    l.c.apigateway
                        .create_rest_api()
                        .name("vc-prod")
                        .tags("deployer:stack", "vc")
                        .tags("deployer:stage", "prod")
                        .send()
                        .await
                        .unwrap();
                Facts {
                    api: dup.id().unwrap().to_string(),
                    api_kept: Some(ours),
                    ..Facts::default()
                }
            }),
            expect: |_| vec![drift("api", None)],
            repair: |f| Repair::Exactly(vec![format!("apigateway DELETE /restapis/{}", f.api)]),
        },
        Row {
            name: "route removed",
            mutate: mutation!(|l| {
                let f = api_and(&l.c, "/health").await;
                l.c.apigateway
                    .delete_method()
                    .rest_api_id(&f.api)
                    .resource_id(&f.resource)
                    .http_method("GET")
                    .send()
                    .await
                    .unwrap();
                f
            }),
            expect: |_| {
                vec![drift("api", Some("routes.GET /health")).values(None, Some(Value::Null))]
            },
            repair: |f| Repair::Exactly(methods(f, "GET")),
        },
        Row {
            name: "route added",
            mutate: mutation!(|l| {
                let f = api_and(&l.c, "/counter").await;
                l.c.apigateway
                    .put_method()
                    .rest_api_id(&f.api)
                    .resource_id(&f.resource)
                    .http_method("DELETE")
                    .authorization_type("NONE")
                    .send()
                    .await
                    .unwrap();
                f
            }),
            expect: |_| {
                vec![drift("api", Some("routes.DELETE /counter")).values(Some(Value::Null), None)]
            },
            repair: |f| {
                Repair::Exactly(vec![format!(
                    "apigateway DELETE /restapis/{}/resources/{}/methods/DELETE",
                    f.api, f.resource
                )])
            },
        },
        Row {
            name: "route pointed at another function",
            mutate: mutation!(|l| {
                let f = api_and(&l.c, "/counter").await;
                l.c.apigateway
                    .put_integration()
                    .rest_api_id(&f.api)
                    .resource_id(&f.resource)
                    .http_method("GET")
                    .r#type(IntegrationType::AwsProxy)
                    .integration_http_method("POST")
                    .uri(OTHER_URI)
                    .send()
                    .await
                    .unwrap();
                f
            }),
            expect: |_| {
                let live = json!({
                    "authorization_type": "NONE",
                    "api_key_required": false,
                    "integration_type": "AWS_PROXY",
                    "integration_http_method": "POST",
                    "uri": OTHER_URI,
                });
                vec![drift("api", Some("routes.GET /counter")).values(None, Some(live))]
            },
            repair: |f| Repair::Exactly(methods(f, "GET")[1..].to_vec()),
        },
        Row {
            name: "gateway response stripped of its CORS headers",
            mutate: mutation!(|l| {
                let api = api_ids(&l.c).await.remove(0);
                l.c.apigateway
                    .delete_gateway_response()
                    .rest_api_id(&api)
                    .response_type(GatewayResponseType::Default4Xx)
                    .send()
                    .await
                    .unwrap();
                Facts {
                    api,
                    ..Facts::default()
                }
            }),
            expect: |_| {
                vec![drift("api", Some("gateway_responses.DEFAULT_4XX"))
                    .values(None, Some(json!({})))]
            },
            repair: |f| {
                Repair::Exactly(vec![format!(
                    "apigateway PUT /restapis/{}/gatewayresponses/DEFAULT_4XX",
                    f.api
                )])
            },
        },
        Row {
            name: "stage deleted",
            mutate: mutation!(|l| {
                let api = api_ids(&l.c).await.remove(0);
                l.c.apigateway
                    .delete_stage()
                    .rest_api_id(&api)
                    .stage_name("prod")
                    .send()
                    .await
                    .unwrap();
                Facts {
                    api,
                    ..Facts::default()
                }
            }),
            expect: |_| vec![drift("stage", None)],
            repair: |f| {
                Repair::Exactly(vec![
                    format!("apigateway POST /restapis/{}/deployments", f.api),
                    format!("apigateway POST /restapis/{}/stages", f.api),
                    format!("apigateway PATCH /restapis/{}/stages/prod", f.api),
                ])
            },
        },
        Row {
            name: "stage serving a hand-made deployment",
            mutate: mutation!(|l| {
                let api = api_ids(&l.c).await.remove(0);
                let manual =
                    l.c.apigateway
                        .create_deployment()
                        .rest_api_id(&api)
                        .description("hand-made")
                        .send()
                        .await
                        .unwrap();
                l.c.apigateway
                    .update_stage()
                    .rest_api_id(&api)
                    .stage_name("prod")
                    .patch_operations(patch("/deploymentId", manual.id().unwrap()))
                    .send()
                    .await
                    .unwrap();
                Facts {
                    api,
                    ..Facts::default()
                }
            }),
            expect: |_| vec![drift("stage", Some("deployment")).values(None, Some(Value::Null))],
            repair: |f| {
                Repair::Exactly(vec![
                    format!("apigateway POST /restapis/{}/deployments", f.api),
                    format!("apigateway PATCH /restapis/{}/stages/prod", f.api),
                ])
            },
        },
        Row {
            name: "stage throttling raised",
            mutate: mutation!(|l| {
                let api = api_ids(&l.c).await.remove(0);
                l.c.apigateway
                    .update_stage()
                    .rest_api_id(&api)
                    .stage_name("prod")
                    .patch_operations(patch("/*/*/throttling/rateLimit", "10000"))
                    .send()
                    .await
                    .unwrap();
                Facts {
                    api,
                    ..Facts::default()
                }
            }),
            expect: |_| {
                vec![drift("stage", Some("throttle.rate"))
                    .values(Some(json!(10.0)), Some(json!(10000.0)))]
            },
            repair: |f| {
                Repair::Exactly(vec![format!(
                    "apigateway PATCH /restapis/{}/stages/prod",
                    f.api
                )])
            },
        },
        Row {
            name: "stage tag removed",
            mutate: mutation!(|l| {
                let api = api_ids(&l.c).await.remove(0);
                l.c.apigateway
                    .untag_resource()
                    .resource_arn(format!(
                        "arn:aws:apigateway:us-east-1::/restapis/{api}/stages/prod"
                    ))
                    .tag_keys("project")
                    .send()
                    .await
                    .unwrap();
                Facts {
                    api,
                    ..Facts::default()
                }
            }),
            expect: |_| vec![drift("stage", Some("tags"))],
            repair: |f| {
                Repair::Exactly(vec![format!(
                    "apigateway PUT /tags/arn%3Aaws%3Aapigateway%3Aus-east-1%3A%3A%2Frestapis%2F{}%2Fstages%2Fprod",
                    f.api
                )])
            },
        },
    ]
}
