//! The verbs that read the live stack and change nothing: `logs`, `outputs`, `status`,
//! `policy` and `snippet`.

use std::process::ExitCode;
use std::time::SystemTime;

use super::{stack, Invocation};
use function::contract;

use crate::args::{LogsArgs, PolicyArgs, SnippetArgs, StatusArgs};
use crate::aws::Found as _;
use crate::logs::{self, Cursor, Query};
use crate::progress::Progress;
use crate::report::{Output, Outputs, SnippetReport};

pub async fn logs(cli: &Invocation, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let start_ms = logs::parse_since(&args.since, SystemTime::now()).map_err(anyhow::Error::msg)?;
    let query = Query {
        start_ms,
        request_id: args.request_id.clone(),
        errors: args.errors,
    };
    let progress = Progress::new();
    let session = cli.session(&stack, &progress).await?;
    let (client, group) = (&session.clients.logs, &session.names.log_group);
    let show = |events: Vec<logs::Event>| {
        for e in events {
            match cli.output {
                Output::Json => println!("{}", e.message.trim_end()),
                Output::Text => println!("{}", logs::render(&e)),
            }
        }
    };
    if !args.follow {
        show(logs::fetch(client, group, &query).await?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut cursor = Cursor::default();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let poll = Query {
            start_ms: cursor.start(query.start_ms),
            ..query.clone()
        };
        show(cursor.fresh(logs::fetch(client, group, &poll).await?));
        tokio::select! {
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(logs::FOLLOW_EVERY) => {}
        }
    }
}

/// The live stack's outputs, read (the API's id by its tags, and the function), never changed.
/// A stack with no API or no function is not deployed: an error, so that a pipeline never reads
/// a URL that does not answer.
pub async fn outputs(cli: &Invocation) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let progress = Progress::new();
    let session = cli.session(&stack, &progress).await?;
    let function = &session.names.function;
    let (url, live) = tokio::join!(
        super::deployed_url(&stack, &session),
        session
            .clients
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send(),
    );
    let url = url?;
    if live
        .found(|| format!("reading function {function}"))?
        .is_none()
    {
        anyhow::bail!(
            "stack {} ({}) is not deployed: function {function} does not exist; run `deployer up`",
            stack.name,
            stack.stage
        );
    }
    let mut outputs = Outputs::of(&session.names, &session.arns, None, None);
    outputs.api_url = Some(url);
    outputs.live_version =
        crate::resources::alias::live_version(&session.clients, &session.names).await?;
    cli.print(&outputs);
    Ok(ExitCode::SUCCESS)
}

/// Is the counter working: exit 0 healthy, 2 when an alarm fires or errors were seen (like
/// `diff`'s drift), 1 when it cannot read.
pub async fn status(cli: &Invocation, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let start_ms = logs::parse_since(&args.since, SystemTime::now()).map_err(anyhow::Error::msg)?;
    let progress = Progress::new();
    let session = cli.session(&stack, &progress).await?;
    let report = crate::status::read(&session, start_ms).await?;
    cli.print(&report);
    Ok(if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The deployer's own least-privilege policy for this stack: always JSON, the document itself.
/// It needs the account (from STS, which needs no permission) for the ARNs.
pub async fn policy(cli: &Invocation, args: &PolicyArgs) -> anyhow::Result<ExitCode> {
    let read_only = args.read_only;
    let stack = stack(cli)?;
    let progress = Progress::new();
    let session = cli.session(&stack, &progress).await?;
    let document = crate::policy::document(&session.arns, &session.names, read_only);
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(ExitCode::SUCCESS)
}

/// The page's fragment, wired to `--url` or to the deployed stage (read, never changed). The
/// stack must serve the read route the fragment uses on a session's later pages.
pub async fn snippet(cli: &Invocation, args: &SnippetArgs) -> anyhow::Result<ExitCode> {
    let stack = stack(cli)?;
    let read = contract::READ.path;
    if !stack
        .api
        .routes
        .iter()
        .any(|r| r.method == "GET" && r.path == read)
    {
        anyhow::bail!(
            "the snippet reads the count with GET {read} on a session's later pages, and \
             api.routes does not serve it: add GET {read} to api.routes in stack.yaml (it is \
             a default route), then run `deployer up`"
        );
    }
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let progress = Progress::new();
            let session = cli.session(&stack, &progress).await?;
            super::deployed_url(&stack, &session).await?
        }
    };
    crate::snippet::check_url(&url)?;
    cli.print(&SnippetReport {
        fragment: crate::snippet::fragment(&url),
        url,
    });
    Ok(ExitCode::SUCCESS)
}
