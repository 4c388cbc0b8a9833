//! One source for the app's message types, the manifest: the page's TypeScript declarations
//! generated from it (`weft types`, checked with the pinned `tsc` of cli/types), the core's
//! types generated from it (the SDK), and `weft check` noticing when either falls behind it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use weft_tests::harness::{bin, example_app, repo_root};

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A copy of example `name`'s manifest, schemas, page and core in a temporary directory.
fn example_copy(name: &str) -> tempfile::TempDir {
    let from = example_app(name);
    let dir = tempfile::tempdir().expect("tempdir");
    for file in ["weft.toml", "core.wasm", "ui/index.html", "schemas/item.json"] {
        let source = from.join(file);
        if source.is_file() {
            let target = dir.path().join(file);
            std::fs::create_dir_all(target.parent().expect("parent")).expect("dir");
            std::fs::copy(&source, &target).expect("copy");
        }
    }
    dir
}

fn weft_types(app: &Path) {
    let out = run(Command::new(bin("weft")).arg("types").arg(app));
    assert!(out.status.success(), "weft types:\n{}", said(&out));
}

/// `tsc --noEmit` (TypeScript pinned in cli/types) on `files` in `dir`, JavaScript checked too.
fn tsc(dir: &Path, files: &[&str]) -> Output {
    let tsc: PathBuf = repo_root().join("cli/types/node_modules/.bin/tsc");
    assert!(tsc.is_file(), "{} is missing: run scripts/setup", tsc.display());
    run(Command::new(tsc)
        .current_dir(dir)
        .args(["--noEmit", "--allowJs", "--checkJs", "--target", "es2020", "--lib", "es2020,dom,dom.iterable"])
        .args(files))
}

/// The page's inline scripts as one JavaScript file under `// @ts-check`.
fn page_script(app: &Path) -> String {
    let html = std::fs::read_to_string(app.join("ui/index.html")).expect("page");
    let mut script = String::from("// @ts-check\n");
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<script>") {
        let body = &rest[start + "<script>".len()..];
        let end = body.find("</script>").expect("a closed script");
        script.push_str(&body[..end]);
        rest = &body[end..];
    }
    script
}

#[test]
fn every_example_page_type_checks_against_the_declarations_of_its_manifest() {
    for name in ["counter", "todo", "sketch"] {
        let app = example_copy(name);
        weft_types(app.path());
        let ui = app.path().join("ui");
        std::fs::write(ui.join("page.js"), page_script(app.path())).expect("page.js");
        let out = tsc(&ui, &["weft-channel.d.ts", "weft-app.d.ts", "page.js"]);
        assert!(out.status.success(), "{name}'s page does not type-check:\n{}", said(&out));
    }
}

#[test]
fn a_wrong_message_type_or_payload_fails_to_type_check_and_a_right_one_passes() {
    let app = example_copy("counter");
    weft_types(app.path());
    let ui = app.path().join("ui");
    std::fs::write(
        ui.join("right.js"),
        "// @ts-check\nweft.channel.send(\"increment\", { by: 2 });\nweft.channel.send(\"reset\", {});\n\
         weft.channel.addEventListener(\"message\", (e) => {\n  /** @type {number} */\n  const value = e.data.payload.value;\n  console.log(value);\n});\n",
    )
    .expect("right.js");
    let out = tsc(&ui, &["weft-channel.d.ts", "weft-app.d.ts", "right.js"]);
    assert!(out.status.success(), "{}", said(&out));

    std::fs::write(
        ui.join("wrong.js"),
        "// @ts-check\nweft.channel.send(\"increment\", { by: \"two\" });\nweft.channel.send(\"incremnt\", {});\n\
         weft.channel.send(\"reset\", { by: 1 });\n",
    )
    .expect("wrong.js");
    let out = tsc(&ui, &["weft-channel.d.ts", "weft-app.d.ts", "wrong.js"]);
    let errors = said(&out);
    assert!(!out.status.success(), "wrong calls type-checked:\n{errors}");
    assert!(errors.contains("wrong.js(2,") && errors.contains("TS2322"), "the payload's field type:\n{errors}");
    assert!(errors.contains("wrong.js(3,") && errors.contains("TS2345"), "the unknown message type:\n{errors}");
    assert!(errors.contains("wrong.js(4,"), "an unknown field (additionalProperties = false):\n{errors}");

    // Without `weft types`, the channel's own declarations accept any type and payload.
    let out = tsc(&ui, &["weft-channel.d.ts", "wrong.js"]);
    assert!(out.status.success(), "untyped:\n{}", said(&out));
}

#[test]
fn check_reports_declarations_the_manifest_has_moved_on_from_until_they_are_written_again() {
    let app = example_copy("counter");
    let check = || run(Command::new(bin("weft")).arg("check").arg(app.path()));
    weft_types(app.path());
    assert!(check().status.success(), "{}", said(&check()));
    let manifest = app.path().join("weft.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, text.replace("maximum = 1000000", "maximum = 5")).expect("edit");
    let out = check();
    assert!(!out.status.success());
    assert!(
        said(&out).contains(
            "ui/weft-app.d.ts: was generated from other message types than weft.toml declares: run `weft types`"
        ),
        "{}",
        said(&out)
    );
    weft_types(app.path());
    // (The copied core.wasm still carries the old message types: check names it alone now.)
    let out = check();
    assert!(!said(&out).contains("ui/weft-app.d.ts"), "written again, the declarations are current:\n{}", said(&out));
    assert!(said(&out).contains("core.wasm: was built from other message types"), "{}", said(&out));
    let declarations = std::fs::read_to_string(app.path().join("ui/weft-app.d.ts")).expect("d.ts");
    assert!(declarations.contains("\"increment\": WeftAppUiEvent.Increment;"), "{declarations}");
}

#[test]
fn check_reports_a_core_built_from_other_message_types_until_it_is_rebuilt() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("typed");
    let weft = |args: &[&str]| {
        run(Command::new(bin("weft"))
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("CARGO_NET_OFFLINE", "true"))
    };
    let app_arg = app.display().to_string();
    let shot = root.path().join("shot.png").display().to_string();
    let out = weft(&["new", &app_arg]);
    assert!(out.status.success(), "{}", said(&out));
    let out = weft(&["run", &app_arg, "--screenshot", &shot]);
    assert!(out.status.success(), "{}", said(&out));
    let out = weft(&["check", &app_arg]);
    assert!(out.status.success(), "a core built from the manifest passes: {}", said(&out));

    // The schema changes (the Rust type stays i64, so it would still compile), the core is not
    // rebuilt: check names it.
    let manifest = app.join("weft.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(&manifest, text.replace("maximum = 1000000", "maximum = 5")).expect("edit");
    let out = weft(&["check", &app_arg]);
    assert!(!out.status.success());
    assert!(
        said(&out).contains("core.wasm: was built from other message types than weft.toml declares: rebuild the core"),
        "{}",
        said(&out)
    );
    let out = weft(&["run", &app_arg, "--screenshot", &shot]);
    assert!(out.status.success(), "{}", said(&out));
    let out = weft(&["check", &app_arg]);
    assert!(out.status.success(), "rebuilt: {}", said(&out));
}

#[test]
fn a_schema_change_the_core_no_longer_matches_stops_its_build_where_the_core_uses_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let app = root.path().join("typed");
    let app_arg = app.display().to_string();
    let out = run(Command::new(bin("weft")).args(["new", &app_arg]));
    assert!(out.status.success(), "{}", said(&out));
    // `by` must be positive now: its Rust type becomes NonZeroU64, which the counter's i64
    // arithmetic does not take.
    let manifest = app.join("weft.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let edited = text.replace("minimum = -1000000", "minimum = 1");
    assert_ne!(edited, text);
    std::fs::write(&manifest, edited).expect("edit");
    let shot = root.path().join("shot.png").display().to_string();
    let out = run(Command::new(bin("weft"))
        .args(["run", &app_arg, "--screenshot", &shot])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("CARGO_NET_OFFLINE", "true"));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("error[E0308]"), "{}", said(&out));
    assert!(said(&out).contains("src/lib.rs"), "the error points at the core's code:\n{}", said(&out));
}

#[test]
fn the_sdk_generates_the_types_of_every_examples_manifest() {
    // echo: `{}` schemas (any JSON: a newtype each) and one name in both directions; hostile:
    // many types; both examples' own cores use the raw WIT world, so this is their SDK build.
    for (example, uses) in [
        (
            "echo",
            "let _ = (state_updates::Echo(serde_json::Value::Null), state_updates::Strict(serde_json::json!(1)));\n\
             if let UiEvent::Echo(ui_events::Echo(value)) = &event { let _ = value; }",
        ),
        ("hostile", "if let UiEvent::FloodKeyed(_) = &event { let _: Option<state_updates::FloodDone> = None; }"),
    ] {
        let root = tempfile::tempdir().expect("tempdir");
        let app = root.path().join(example);
        let app_arg = app.display().to_string();
        let out = run(Command::new(bin("weft")).args(["new", &app_arg, "--template", "blank"]));
        assert!(out.status.success(), "{}", said(&out));
        std::fs::copy(example_app(example).join("weft.toml"), app.join("weft.toml")).expect("manifest");
        let core = format!(
            "weft_sdk::messages!();\nuse weft_sdk::{{App, Result, Updates}};\n#[derive(Default)]\nstruct Core;\n\
             impl App for Core {{\n  type Event = UiEvent;\n  fn handle(&mut self, event: UiEvent, _updates: &mut Updates) -> Result {{\n\
             {uses}\n    let _ = event;\n    Ok(())\n  }}\n}}\nweft_sdk::export!(Core);\n"
        );
        std::fs::write(app.join("core/src/lib.rs"), core).expect("lib.rs");
        let out = run(Command::new("cargo")
            .args(["build", "--release", "--offline", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(app.join("core/Cargo.toml"))
            .env(
                "CARGO_TARGET_DIR",
                std::env::var_os("WEFT_CORES_TARGET_DIR").map_or_else(
                    || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/weft/target-cores"),
                    PathBuf::from,
                ),
            ));
        assert!(out.status.success(), "{example}'s manifest through the SDK:\n{}", said(&out));
    }
}
