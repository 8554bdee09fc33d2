//! Rows of the drift table: the function and its invoke permission.

use super::*;

macro_rules! mutation {
    (|$live:ident| $body:block) => {
        |$live: &Live| -> Pin<Box<dyn Future<Output = Facts> + '_>> { Box::pin(async move $body) }
    };
}

const CONFIGURATION: &str = "lambda PUT /2015-03-31/functions/vc-prod/configuration";

pub fn function_rows() -> Vec<Row> {
    vec![
        Row {
            name: "function deleted",
            mutate: mutation!(|l| {
                l.c.lambda
                    .delete_function()
                    .function_name(FUNCTION)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            // Its versions, its alias and their resource policy go with it.
            expect: |_| {
                vec![
                    drift("function", None),
                    drift("alias", None),
                    drift("permission", None),
                ]
            },
            repair: |_| {
                exactly(&[
                    "lambda POST /2015-03-31/functions",
                    "lambda POST /2015-03-31/functions/vc-prod/versions",
                    "lambda POST /2015-03-31/functions/vc-prod/aliases",
                    POLICY_WRITE,
                ])
            },
        },
        Row {
            name: "function code replaced",
            mutate: mutation!(|l| {
                let v2 = std::fs::read(&l.f.zip_v2).unwrap();
                l.c.lambda
                    .update_function_code()
                    .function_name(FUNCTION)
                    .zip_file(v2.into())
                    .send()
                    .await
                    .unwrap();
                let v1 = deployer::package::sha256_base64(&std::fs::read(&l.f.zip_v1).unwrap());
                Facts {
                    value: json!(v1),
                    ..Facts::default()
                }
            }),
            expect: |f| {
                vec![drift("function", Some("code_sha256")).values(Some(f.value.clone()), None)]
            },
            repair: |_| exactly(&["lambda PUT /2015-03-31/functions/vc-prod/code"]),
        },
        Row {
            name: "function configuration changed field by field",
            mutate: mutation!(|l| {
                l.c.lambda
                    .update_function_configuration()
                    .function_name(FUNCTION)
                    .memory_size(512)
                    .timeout(30)
                    .handler("main")
                    .runtime(Runtime::Python312)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![
                    drift("function", Some("memory_mb")).values(Some(json!(128)), Some(json!(512))),
                    drift("function", Some("timeout_s")).values(Some(json!(3)), Some(json!(30))),
                    drift("function", Some("handler"))
                        .values(Some(json!("bootstrap")), Some(json!("main"))),
                    drift("function", Some("runtime")).values(None, Some(json!("python3.12"))),
                ]
            },
            repair: |_| exactly(&[CONFIGURATION]),
        },
        Row {
            name: "function given another role",
            mutate: mutation!(|l| {
                let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
                let other =
                    l.c.iam
                        .create_role()
                        .role_name("powerful")
                        .assume_role_policy_document(trust.to_string())
                        .send()
                        .await
                        .unwrap();
                let arn = other.role().unwrap().arn().to_string();
                l.c.lambda
                    .update_function_configuration()
                    .function_name(FUNCTION)
                    .role(&arn)
                    .send()
                    .await
                    .unwrap();
                Facts {
                    value: json!(arn),
                    ..Facts::default()
                }
            }),
            expect: |f| vec![drift("function", Some("role")).values(None, Some(f.value.clone()))],
            repair: |_| exactly(&[CONFIGURATION]),
        },
        Row {
            name: "function environment added to, changed and cut",
            mutate: mutation!(|l| {
                let env = Environment::builder()
                    .variables("TABLE_NAME", "someone-elses-table")
                    .variables("CORS_ORIGINS", "https://example.com")
                    .variables("DEBUG", "1")
                    .build();
                l.c.lambda
                    .update_function_configuration()
                    .function_name(FUNCTION)
                    .environment(env)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![
                    drift("function", Some("environment.TABLE_NAME"))
                        .values(Some(json!("vc-prod")), Some(json!("someone-elses-table"))),
                    drift("function", Some("environment.COUNTER_ID"))
                        .values(None, Some(Value::Null)),
                    drift("function", Some("environment.DEBUG"))
                        .values(Some(Value::Null), Some(json!("1"))),
                ]
            },
            repair: |_| exactly(&[CONFIGURATION]),
        },
        Row {
            name: "invoke permission removed",
            mutate: mutation!(|l| {
                l.c.lambda
                    .remove_permission()
                    .function_name(FUNCTION)
                    .qualifier("live")
                    .statement_id("vc-apigateway-invoke")
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("permission", None)],
            repair: |_| exactly(&[POLICY_WRITE]),
        },
        Row {
            name: "function opened to anyone",
            mutate: mutation!(|l| {
                l.c.lambda
                    .add_permission()
                    .function_name(FUNCTION)
                    .statement_id("open-to-the-world")
                    .action("lambda:InvokeFunction")
                    .principal("*")
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            // On the function itself: `$LATEST`, which no probe has checked, open to anyone.
            expect: |_| vec![drift("permission", Some("unqualified"))],
            repair: |_| {
                exactly(&["lambda DELETE /2015-03-31/functions/vc-prod/policy/open-to-the-world"])
            },
        },
        Row {
            name: "live alias opened to anyone",
            mutate: mutation!(|l| {
                l.c.lambda
                    .add_permission()
                    .function_name(FUNCTION)
                    .qualifier("live")
                    .statement_id("open-to-the-world")
                    .action("lambda:InvokeFunction")
                    .principal("*")
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("permission", None)],
            repair: |_| {
                exactly(&["lambda DELETE /2015-03-31/functions/vc-prod/policy/open-to-the-world"])
            },
        },
        Row {
            name: "function tag removed",
            mutate: mutation!(|l| {
                l.c.lambda
                    .untag_resource()
                    .resource("arn:aws:lambda:us-east-1:123456789012:function:vc-prod")
                    .tag_keys("project")
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("function", Some("tags"))],
            repair: |_| {
                exactly(&["lambda POST /2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Avc-prod"])
            },
        },
    ]
}
