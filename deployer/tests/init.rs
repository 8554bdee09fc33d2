//! `init` with the real binary: the commented stack it writes is one `up --dry-run` accepts
//! against the emulator, and it never overwrites a file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{Fixture, STACK};

#[test]
fn init_writes_a_stack_that_up_dry_run_accepts_and_never_overwrites() {
    let f = Fixture::new(STACK);
    let path = f.path().join("stack.yaml");
    std::fs::remove_file(&path).unwrap();

    let init = f
        .run(&["init", "--name", "my-site", "--region", "us-east-1"])
        .ok();
    assert_eq!(init.calls.len(), 0, "init talks to no AWS service");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.lines().filter(|l| l.contains('#')).count() >= 10,
        "{written}"
    );
    assert!(written.contains("name: my-site"), "{written}");
    let zip = f.zip_v1.to_str().unwrap().to_string();
    let dry = f.run(&["up", "--dry-run", "--zip", &zip]).ok();
    assert!(dry.stdout.contains("my-site-prod"), "{}", dry.stdout);
    assert_eq!(dry.writes(), Vec::<String>::new());

    std::fs::write(&path, "# someone's work\nname: theirs\n").unwrap();
    let again = f.run(&["init"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing was written"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "# someone's work\nname: theirs\n"
    );

    std::fs::remove_file(&path).unwrap();
    let bad = f.run(&["init", "--name", "Not A Name"]);
    assert_eq!(bad.code, 1);
    assert!(!path.exists(), "a refused init wrote a file");
}
