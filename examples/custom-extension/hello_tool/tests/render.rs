//! Renders `hello_tool` with quarry's own renderer, in a registry of just this extension.

use hello_tool::EXTENSION;
use quarry_core::{EngineLevel, Registry, Request, Selection};

fn render(selection: Selection) -> Result<String, quarry_core::Error> {
    let registry = Registry::from_extensions([&EXTENSION]).expect("one extension");
    let request = Request {
        image: "debian:bookworm".to_owned(),
        extensions: vec![selection],
        engine: EngineLevel::Modern,
        ..Request::default()
    };
    quarry_core::render(&registry, &request).map(|rendered| rendered.dockerfile)
}

#[test]
fn installs_figlet_then_draws_the_greeting() {
    let dockerfile = render(Selection::new("hello_tool")).unwrap();
    let install = dockerfile.find("--no-install-recommends \\\n      figlet\n").expect(&dockerfile);
    let setup = dockerfile.find("RUN figlet -f standard hello > /etc/motd").expect(&dockerfile);
    assert!(install < setup, "{dockerfile}");
}

#[test]
fn options_reach_the_setup_step() {
    let selection = Selection::new("hello_tool").with_option("greeting", "moin");
    let dockerfile = render(selection.with_option("font", "slant")).unwrap();
    assert!(dockerfile.contains("RUN figlet -f slant moin > /etc/motd"), "{dockerfile}");
}

#[test]
fn values_outside_the_rules_are_refused() {
    let selection = Selection::new("hello_tool").with_option("greeting", "hi; rm -rf /");
    let err = render(selection).unwrap_err();
    assert!(err.to_string().contains("invalid value"), "{err}");
    let err = render(Selection::new("hello_tool").with_option("font", "comic")).unwrap_err();
    // The message names the value; the hint, apart from it, says what is accepted.
    assert!(err.hint().unwrap_or_default().contains("one of `standard`, `small`, `big`, `slant`"), "{err}");
}
