//! `weft`, the app developer's command, as a newcomer uses it: `weft new` from each template,
//! then `weft run` (which builds the core offline, from what `scripts/setup` fetched) in the
//! real headless shell, options in any order; and every way of getting it wrong, each with a
//! message that says what to do.

use std::path::Path;
use std::process::{Command, Output};
use weft_tests::harness::bin;

/// `weft ARGS` with no display and no network, to completion.
fn weft(args: &[&str]) -> Output {
    weft_command(args).env("WEFT_LOG", "warn").output().expect("run weft")
}

/// `weft ARGS` as a newcomer's shell has it: no display, no network, no `WEFT_LOG`, no
/// `XDG_RUNTIME_DIR`.
fn weft_command(args: &[&str]) -> Command {
    let mut command = Command::new(bin("weft"));
    command
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WEFT_LOG")
        .env_remove("XDG_RUNTIME_DIR")
        .env("CARGO_NET_OFFLINE", "true");
    command
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `weft new DIR --template T`, checked.
fn new_app(dir: &Path, template: &str) {
    let out = weft(&["new", &dir.display().to_string(), "--template", template]);
    assert!(out.status.success(), "weft new --template {template}:\n{}", text(&out));
}

/// The page of `app` with its script removed and `from` replaced by `to`: what the live page
/// must look like, rendered by the same shell.
fn static_reference(app: &Path, from: &str, to: &str, shot: &Path) {
    let html = std::fs::read_to_string(app.join("ui/index.html")).expect("page");
    let script = html.find("<script>").expect("the page has a script");
    let static_html = html[..script].replace(from, to);
    assert_ne!(static_html, html[..script], "the template's page changed shape: {from:?} is not in it");
    let reference = tempfile::tempdir().expect("tempdir");
    for entry in ["weft.toml", "core.wasm"] {
        std::fs::copy(app.join(entry), reference.path().join(entry)).expect("copy");
    }
    if app.join("schemas").is_dir() {
        std::fs::create_dir(reference.path().join("schemas")).expect("schemas");
        for schema in std::fs::read_dir(app.join("schemas")).expect("schemas").flatten() {
            std::fs::copy(schema.path(), reference.path().join("schemas").join(schema.file_name())).expect("copy");
        }
    }
    std::fs::create_dir(reference.path().join("ui")).expect("ui");
    std::fs::write(reference.path().join("ui/index.html"), static_html).expect("reference page");
    let dir = reference.path().display().to_string();
    let out = weft(&["run", &dir, "--no-build", "--screenshot", &shot.display().to_string()]);
    assert!(out.status.success(), "the reference run:\n{}", text(&out));
}

fn assert_same_pixels(a: &Path, b: &Path) {
    let a = image::open(a).expect("screenshot").to_rgba8();
    let b = image::open(b).expect("reference").to_rgba8();
    assert_eq!(a.dimensions(), b.dimensions());
    let differing = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
    assert_eq!(differing, 0, "the page differs from its reference in {differing} pixels");
}

#[test]
fn a_new_counter_app_builds_offline_and_shows_the_count_its_core_computed() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("my-counter");
    new_app(&app, "counter");
    assert!(!app.join("core.wasm").exists(), "weft new writes sources, not a built core");
    let manifest = std::fs::read_to_string(app.join("weft.toml")).expect("manifest");
    assert!(manifest.contains("name = \"my-counter\""), "{manifest}");

    // Options before and after the directory, mixed.
    let shot = root.path().join("live.png");
    let click = "document.getElementById('inc').click()";
    let dir = app.display().to_string();
    let out = weft(&[
        "run",
        "--eval",
        click,
        &dir,
        "--eval",
        click,
        "--headless",
        "--eval",
        click,
        "--screenshot",
        &shot.display().to_string(),
    ]);
    assert!(out.status.success(), "weft run:\n{}", text(&out));
    assert!(app.join("core.wasm").is_file(), "weft run built the core");

    let reference = root.path().join("reference.png");
    static_reference(&app, "<p id=\"value\">…</p>", "<p id=\"value\">3</p>", &reference);
    assert_same_pixels(&shot, &reference);
}

#[test]
fn a_new_blank_app_answers_its_page() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("hello");
    new_app(&app, "blank");
    let shot = root.path().join("live.png");
    let ping = "document.getElementById('ping').click()";
    let dir = app.display().to_string();
    let out = weft(&["run", &dir, "--screenshot", &shot.display().to_string(), "--eval", ping, "--eval", ping]);
    assert!(out.status.success(), "weft run:\n{}", text(&out));
    let reference = root.path().join("reference.png");
    static_reference(&app, "<span id=\"pongs\">…</span>", "<span id=\"pongs\">pongs: 2</span>", &reference);
    assert_same_pixels(&shot, &reference);
}

#[test]
fn a_new_todo_app_passes_check_and_runs() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("todo");
    new_app(&app, "todo");
    let dir = app.display().to_string();
    let out = weft(&["run", "--headless", "--screenshot", &root.path().join("todo.png").display().to_string(), &dir]);
    assert!(out.status.success(), "weft run:\n{}", text(&out));
    let out = weft(&["check", &dir]);
    assert!(out.status.success(), "weft check:\n{}", text(&out));
}

#[test]
fn the_console_drives_a_new_app_without_a_page() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("pinger");
    new_app(&app, "blank");
    let out = weft(&["run", "--script", "ping {}", &app.display().to_string(), "--script", "ping {}"]);
    assert!(out.status.success(), "weft run --script:\n{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(r#"{"count":2}"#), "the second pong is printed:\n{said}");
    assert!(!said.contains(r#"{"count":3}"#), "{said}");
}

#[test]
fn a_default_run_prints_wefts_own_lines_uncoloured_and_the_pages_errors_with_their_line() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("noisy");
    new_app(&app, "blank");
    let page = app.join("ui/index.html");
    let html = std::fs::read_to_string(&page).expect("page");
    let html = format!("{html}<script>\n  console.log(\"chatter\");\n  notDefinedAnywhere();\n</script>\n");
    let error_line = html.lines().position(|l| l.contains("notDefinedAnywhere")).expect("line") + 1;
    std::fs::write(&page, html).expect("page");
    let shot = root.path().join("shot.png").display().to_string();
    let out = weft_command(&["run", &app.display().to_string(), "--screenshot", &shot]).output().expect("weft");
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\x1b'), "colour codes on a pipe:\n{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "a spurious error:\n{stderr}");
    assert!(!stderr.contains("chatter"), "the page's console.log is shown only on request:\n{stderr}");
    let page_error = format!("index.html:{error_line}:");
    assert!(
        stderr.lines().any(|l| l.contains("WARN") && l.contains("weft_page") && l.contains(&page_error)),
        "the page's uncaught error, with its line ({page_error}):\n{stderr}"
    );
    for line in stderr.lines().filter(|l| l.starts_with("20")) {
        // A log line: `<time> <LEVEL> [<spans>: ]<target>: <message>`.
        let after_spans = match line.find("}: ") {
            Some(end) => &line[end + 3..],
            None => line.split_whitespace().nth(2).map_or("", |third| &line[line.find(third).unwrap_or(0)..]),
        };
        let target = after_spans.split(": ").next().unwrap_or("");
        assert!(target.starts_with("weft"), "a line that is not WEFT's: {line}\n{stderr}");
    }
    // Session open, the page's error, the screenshot, session ended.
    let log_lines = stderr.lines().filter(|l| l.starts_with("20")).count();
    assert!(log_lines <= 4, "{log_lines} log lines for one short run:\n{stderr}");
}

#[test]
fn check_names_every_problem_of_an_app_in_one_run() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("typos");
    new_app(&app, "counter");
    let manifest = std::fs::read_to_string(app.join("weft.toml")).expect("manifest");
    let broken = manifest
        .replacen("[limits]", "[limits]\nmax_mesage_bytes = 100", 1)
        .replacen("[ui-events.reset]", "[ui-events.reset]\ncoalesce = true", 1)
        .replacen("type = \"integer\", minimum", "type = \"int\", minimum", 1);
    std::fs::write(app.join("weft.toml"), broken).expect("manifest");
    let out = weft(&["check", &app.display().to_string()]);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    for expected in [
        "limits: unknown field `max_mesage_bytes`",
        "did you mean `max_message_bytes`?",
        "ui-events.reset: unknown field `coalesce`",
        "ui-events.increment.schema: invalid JSON Schema at /properties/by/type",
    ] {
        assert!(said.contains(expected), "weft check should say {expected:?}:\n{said}");
    }
}

#[test]
fn an_eval_prints_its_value_and_one_that_throws_is_the_pages_error_not_a_lost_ui() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("evals");
    new_app(&app, "blank");
    let shot = root.path().join("shot.png").display().to_string();
    let dir = app.display().to_string();
    let evals = [
        "1 + 2",
        "({b: [document.title, 0.5], a: null})",
        "notDefined()",
        "document.getElementById('ping').click()",
        "document.title.length",
    ];
    let mut args = vec!["run", &dir, "--screenshot", &shot];
    for eval in &evals {
        args.extend(["--eval", eval]);
    }
    let out = weft(&args);
    assert!(out.status.success(), "the run goes on past the failing eval:\n{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().collect::<Vec<_>>(), vec!["3", r#"{"a":null,"b":["evals",0.5]}"#, "5"], "{printed}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("an --eval failed: notDefined is not defined (--eval:1:1)"), "{said}");
    assert!(said.contains("session ended: app-closed"), "{said}");
}

#[test]
fn without_a_display_run_says_how_to_run_headless() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("windowed");
    new_app(&app, "blank");
    let out = weft(&["run", &app.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("no display") && said.contains("--headless --screenshot") && said.contains("xvfb-run"),
        "{said}"
    );
    assert!(!app.join("core.wasm").exists(), "nothing was built for a run that cannot start");
}

#[test]
fn a_core_that_does_not_compile_is_reported_and_nothing_runs() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("broken");
    new_app(&app, "blank");
    let lib = app.join("core/src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("lib.rs");
    let broken = source.replace("self.pongs += 1", "self.pongs = \"one\"");
    assert_ne!(broken, source, "the edit must break the template's core");
    std::fs::write(&lib, broken).expect("break it");
    let out = weft(&["run", "--headless", &app.display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("error[E0308]"), "cargo's error reaches the terminal:\n{said}");
    assert!(said.contains("weft: the core did not build"), "{said}");
    assert!(!said.contains("session"), "no session was started:\n{said}");
}

#[test]
fn bad_input_gets_a_message_that_says_what_to_do() {
    let root = tempfile::tempdir().expect("tempdir");
    let refused = |args: &[&str], says: &str| {
        let out = weft(args);
        assert_eq!(out.status.code(), Some(2), "weft {args:?}:\n{}", text(&out));
        assert!(text(&out).contains(says), "weft {args:?} should say {says:?}:\n{}", text(&out));
    };
    let dir = |name: &str| root.path().join(name).display().to_string();
    refused(&["new", &dir("x"), "--template", "chat"], "the templates are counter, todo, blank");
    refused(&["new", &dir("Not A Name")], "is not a valid app name");
    std::fs::create_dir(root.path().join("mine")).expect("dir");
    std::fs::write(root.path().join("mine/notes.txt"), "keep").expect("file");
    refused(&["new", &dir("mine")], "exists and is not empty");
    assert_eq!(std::fs::read_to_string(root.path().join("mine/notes.txt")).expect("kept"), "keep");
    refused(&["run", &dir("mine"), "--headless"], "has no weft.toml");
    refused(&["run", "--headless", "--bogus"], "unexpected argument '--bogus'");
    refused(&["run", "--console", "--screenshot", "x.png"], "cannot be used with");
    refused(&["run", "--headless", "--devtools"], "unexpected argument '--devtools'");
    refused(&["frobnicate"], "unrecognized subcommand");
}

/// The `$B/weft …` commands of `docs/app-guide.md` §2, continuation lines joined and comments
/// dropped, split into words (double quotes group).
fn guide_commands() -> Vec<Vec<String>> {
    let guide = std::fs::read_to_string(weft_tests::harness::repo_root().join("docs/app-guide.md")).expect("guide");
    let start = guide.find("\n## 2. ").expect("section 2");
    let end = guide.find("\n## 3. ").expect("section 3");
    let section = &guide[start..end];
    let mut commands = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("$B/weft ") else { continue };
        let mut text = rest.split(" # ").next().unwrap_or("").trim().to_owned();
        while text.ends_with('\\') {
            text.pop();
            text.push(' ');
            text.push_str(lines.next().unwrap_or("").trim());
        }
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in text.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        commands.push(words);
    }
    commands
}

#[test]
fn the_app_guides_commands_work_as_written_on_a_machine_without_a_display() {
    let commands = guide_commands();
    assert!(commands.len() >= 5, "the guide's §2 lost its commands: {commands:?}");
    let home = tempfile::tempdir().expect("tempdir");
    let app = home.path().join("my-app");
    for words in &commands {
        let args: Vec<String> = words
            .iter()
            .map(|w| {
                // One or the other: the home directory is itself under /tmp.
                let home = format!("{}/", home.path().display());
                if w.starts_with("/tmp/") {
                    w.replacen("/tmp/", &home, 1)
                } else {
                    w.replacen("~/", &home, 1)
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = weft_command(&args);
        command.env("WEFT_LOG", "warn").stdin(std::process::Stdio::null());
        if args[0] != "new" {
            command.current_dir(&app);
        }
        let console = args.contains(&"--console");
        if console {
            // Interactive: it reads the terminal. Only check that it parses.
            command.arg("--help");
        }
        let out = command.output().expect("run weft");
        let windowed = matches!(args[0], "run" | "dev")
            && !console
            && !args.iter().any(|a| ["--headless", "--screenshot", "--eval"].contains(a));
        if windowed {
            assert_eq!(out.status.code(), Some(2), "weft {args:?} without a display:\n{}", text(&out));
            assert!(text(&out).contains("--headless --screenshot"), "weft {args:?}:\n{}", text(&out));
        } else {
            assert!(out.status.success(), "weft {args:?} as the guide writes it:\n{}", text(&out));
        }
    }
    assert!(home.path().join("my-app.png").is_file(), "the guide's headless run wrote its screenshot");
}
