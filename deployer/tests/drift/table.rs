//! Rows of the drift table: the table, the role and the log group.

use super::*;

macro_rules! mutation {
    (|$live:ident| $body:block) => {
        |$live: &Live| -> Pin<Box<dyn Future<Output = Facts> + '_>> { Box::pin(async move $body) }
    };
}

pub fn table_rows() -> Vec<Row> {
    vec![
        Row {
            name: "table deleted",
            mutate: mutation!(|l| {
                l.c.dynamodb
                    .update_table()
                    .table_name(TABLE)
                    .deletion_protection_enabled(false)
                    .send()
                    .await
                    .unwrap();
                l.c.dynamodb
                    .delete_table()
                    .table_name(TABLE)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("table", None)],
            repair: |_| exactly(&["dynamodb CreateTable", "dynamodb UpdateContinuousBackups"]),
        },
        Row {
            name: "table billing switched to provisioned",
            mutate: mutation!(|l| {
                let capacity = ProvisionedThroughput::builder()
                    .read_capacity_units(1)
                    .write_capacity_units(1)
                    .build()
                    .unwrap();
                l.c.dynamodb
                    .update_table()
                    .table_name(TABLE)
                    .billing_mode(BillingMode::Provisioned)
                    .provisioned_throughput(capacity)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![drift("table", Some("billing_mode"))
                    .values(Some(json!("PAY_PER_REQUEST")), Some(json!("PROVISIONED")))]
            },
            repair: |_| exactly(&["dynamodb UpdateTable"]),
        },
        Row {
            name: "table point-in-time recovery turned off",
            mutate: mutation!(|l| {
                let off = PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(false)
                    .build()
                    .unwrap();
                l.c.dynamodb
                    .update_continuous_backups()
                    .table_name(TABLE)
                    .point_in_time_recovery_specification(off)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![drift("table", Some("point_in_time_recovery"))
                    .values(Some(json!(true)), Some(json!(false)))]
            },
            repair: |_| exactly(&["dynamodb UpdateContinuousBackups"]),
        },
        Row {
            name: "table deletion protection turned off",
            mutate: mutation!(|l| {
                l.c.dynamodb
                    .update_table()
                    .table_name(TABLE)
                    .deletion_protection_enabled(false)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![drift("table", Some("deletion_protection")).values(None, Some(json!(false)))]
            },
            repair: |_| exactly(&["dynamodb UpdateTable"]),
        },
        Row {
            name: "table tag removed",
            mutate: mutation!(|l| {
                l.c.dynamodb
                    .untag_resource()
                    .resource_arn(TABLE_ARN)
                    .tag_keys("project")
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![drift("table", Some("tags")).values(
                    Some(json!({"deployer:stack": "vc", "deployer:stage": "prod", "project": "cloud-resume"})),
                    Some(json!({"deployer:stack": "vc", "deployer:stage": "prod"})),
                )]
            },
            repair: |_| exactly(&["dynamodb TagResource"]),
        },
        Row {
            name: "role deleted",
            mutate: mutation!(|l| {
                l.c.iam
                    .delete_role_policy()
                    .role_name(ROLE)
                    .policy_name(POLICY)
                    .send()
                    .await
                    .unwrap();
                l.c.iam.delete_role().role_name(ROLE).send().await.unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("role", None)],
            repair: |_| exactly(&["iam CreateRole", "iam PutRolePolicy"]),
        },
        Row {
            name: "role trusted by EC2",
            mutate: mutation!(|l| {
                let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
                l.c.iam
                    .update_assume_role_policy()
                    .role_name(ROLE)
                    .policy_document(trust.to_string())
                    .send()
                    .await
                    .unwrap();
                Facts {
                    value: trust,
                    ..Facts::default()
                }
            }),
            expect: |f| {
                vec![drift("role", Some("trust_policy")).values(None, Some(f.value.clone()))]
            },
            repair: |_| exactly(&["iam UpdateAssumeRolePolicy"]),
        },
        Row {
            name: "role policy broadened",
            mutate: mutation!(|l| {
                let broad = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Counter", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]});
                l.c.iam
                    .put_role_policy()
                    .role_name(ROLE)
                    .policy_name(POLICY)
                    .policy_document(broad.to_string())
                    .send()
                    .await
                    .unwrap();
                Facts {
                    value: broad,
                    ..Facts::default()
                }
            }),
            expect: |f| {
                vec![drift("role", Some("inline_policy")).values(None, Some(f.value.clone()))]
            },
            repair: |_| exactly(&["iam PutRolePolicy"]),
        },
        Row {
            name: "role given an extra inline policy",
            mutate: mutation!(|l| {
                let extra = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
                l.c.iam
                    .put_role_policy()
                    .role_name(ROLE)
                    .policy_name("hotfix")
                    .policy_document(extra.to_string())
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![drift("role", Some("extra_inline_policy"))
                    .values(Some(Value::Null), Some(json!("hotfix")))]
            },
            repair: |_| exactly(&["iam DeleteRolePolicy"]),
        },
        Row {
            name: "role given a managed policy",
            mutate: mutation!(|l| {
                let admin = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
                let policy =
                    l.c.iam
                        .create_policy()
                        .policy_name("Admin")
                        .policy_document(admin.to_string())
                        .send()
                        .await
                        .unwrap();
                let arn = policy.policy().unwrap().arn().unwrap().to_string();
                l.c.iam
                    .attach_role_policy()
                    .role_name(ROLE)
                    .policy_arn(&arn)
                    .send()
                    .await
                    .unwrap();
                Facts {
                    value: json!(arn),
                    ..Facts::default()
                }
            }),
            expect: |f| {
                vec![drift("role", Some("managed_policy")).values(None, Some(f.value.clone()))]
            },
            repair: |_| exactly(&["iam DetachRolePolicy"]),
        },
        Row {
            name: "log group deleted",
            mutate: mutation!(|l| {
                l.c.logs
                    .delete_log_group()
                    .log_group_name(LOG_GROUP)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("log_group", None)],
            repair: |_| exactly(&["logs CreateLogGroup", "logs PutRetentionPolicy"]),
        },
        Row {
            name: "log group kept for ten years",
            mutate: mutation!(|l| {
                l.c.logs
                    .put_retention_policy()
                    .log_group_name(LOG_GROUP)
                    .retention_in_days(3653)
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| {
                vec![drift("log_group", Some("retention_days"))
                    .values(Some(json!(14)), Some(json!(3653)))]
            },
            repair: |_| exactly(&["logs PutRetentionPolicy"]),
        },
        Row {
            name: "role tag removed",
            mutate: mutation!(|l| {
                l.c.iam
                    .untag_role()
                    .role_name(ROLE)
                    .tag_keys("project")
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("role", Some("tags"))],
            repair: |_| exactly(&["iam TagRole"]),
        },
        Row {
            name: "log group tag removed",
            mutate: mutation!(|l| {
                l.c.logs
                    .untag_resource()
                    .resource_arn(format!(
                        "arn:aws:logs:us-east-1:123456789012:log-group:{LOG_GROUP}"
                    ))
                    .tag_keys("project")
                    .send()
                    .await
                    .unwrap();
                Facts::default()
            }),
            expect: |_| vec![drift("log_group", Some("tags"))],
            repair: |_| exactly(&["logs TagResource"]),
        },
    ]
}
