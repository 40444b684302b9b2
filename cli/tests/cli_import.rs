//! `quarry import` as a user runs it: a rockerc converted with what could not be named, nothing of
//! its input written as live TOML, its input bounded, nothing lost.

mod cli_support;

use cli_support::*;

#[test]
fn import_converts_a_rockerc_and_names_what_it_could_not() {
    let dir = scratch("import");
    std::fs::write(
        dir.join("rockerc.yaml"),
        "image: ubuntu:22.04\nargs:\n  - nvidia\n  - x11\n  - user\n  - deps-devtools\n  - pixy\nextension-blacklist:\n  - nvidia\nvolume: /a:/b\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("warning: not converted: `args` entry `pixy`: no such extension (did you mean `pixi`?)"),
        "{err}"
    );
    assert!(!err.contains("`volume`"), "{err}");
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    // The blacklist is an exclusion: it also removes what the user file adds.
    assert!(
        toml.contains("image = \"ubuntu:22.04\"\nextensions = [\"deps_devtools\", \"user\", \"volume\", \"x11\", \"!nvidia\"]\n"),
        "{toml}"
    );
    assert!(toml.contains("[options.volume]\nspec = [\"/a:/b\"]\n"), "{toml}");
    let o = quarry_in(&dir, "/nonexistent/config", &["render"]);
    assert!(o.status.success(), "the imported file renders: {}", stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Names `import` could not convert are echoed escaped: a key, an `args` entry, an
/// `extension-blacklist` entry or the file's own name with a newline never starts a TOML line
/// (here, one that would mount the host's `/` into a privileged container).
#[test]
fn import_never_writes_live_toml_from_its_input() {
    let dir = scratch("import-inject");
    let payload = "x\n[run]\nargs = [\"--privileged\", \"--volume=/:/host\"]\n#";
    let y = serde_json::to_string(payload).unwrap();
    let cases = [
        ("rockerc.yaml".to_owned(), format!("image: ubuntu:22.04\nargs: [x11]\n{y}: 1\n")),
        ("rockerc.yaml".to_owned(), format!("image: ubuntu:22.04\nargs: [x11, {y}]\n")),
        (
            "rockerc.yaml".to_owned(),
            format!("image: ubuntu:22.04\nargs: [x11]\nextension-blacklist: [{y}]\n"),
        ),
        // A file name holds no `/`.
        (
            "r\n[run]\nargs = [\"--privileged\"]\n#.yaml".to_owned(),
            "image: ubuntu:22.04\nargs: [x11]\n".to_owned(),
        ),
    ];
    for (name, yaml) in &cases {
        std::fs::write(dir.join(name), yaml).unwrap();
        let o = quarry_in(&dir, "/nonexistent/config", &["import", name, "--force"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
        assert!(!toml.lines().any(|l| l.starts_with("[run]") || l.starts_with("args")), "{toml}");
        let o = quarry_in(&dir, "/nonexistent/config", &["run", "--dry-run"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(!out.contains("--privileged") && !out.contains("/:/host"), "{out}");
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Input sizes and alias expansion are bounded: `/dev/zero` and a 380-byte alias bomb end with
/// an error, not with gigabytes of memory.
#[test]
fn import_bounds_its_input() {
    let dir = scratch("import-bounds");
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: `/dev/zero` is a device, not a regular file\nhint: name a regular file\n");
    let mut bomb = String::from("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    for (name, prev) in
        ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 9].join(",")));
    }
    std::fs::write(dir.join("bomb.yaml"), &bomb).unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "bomb.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: `bomb.yaml` stands for more than 100000 YAML values"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("\nhint: "));
    assert!(!dir.join("quarry.toml").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Import maps every rockerc key and `args` entry that has an equivalent, names the rest with
/// the closest feature, and refuses a file that is not a rockerc.
#[test]
fn import_loses_nothing() {
    let dir = scratch("import-all");
    std::fs::write(
        dir.join("rockerc.yaml"),
        "image: ubuntu:24.04\nargs: [x11, git, cwd, isaacsim, pull, persist-image, nvidia, user, oyr-run-arg]\n\
         extension-blacklist: [nvidia]\nname: dev\nvolume: [/data, \"src:/ws\"]\ndevices: /dev/dri\n\
         port: [\"8080:80\"]\nenv: [A=1, B=2]\nimage-name: mine\n",
    )
    .unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "rockerc.yaml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let toml = std::fs::read_to_string(dir.join("quarry.toml")).unwrap();
    let config: toml::Table = toml::from_str(&toml).unwrap();
    let extensions: Vec<&str> =
        config["extensions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for e in ["x11", "git", "cwd", "isaac_sim", "user", "name", "volume", "devices", "port", "env", "!nvidia"]
    {
        assert!(extensions.contains(&e), "{e} missing: {toml}");
    }
    assert!(!extensions.contains(&"nvidia"), "{toml}");
    assert_eq!(config["build"]["pull"].as_bool(), Some(true), "{toml}");
    assert_eq!(config["options"]["env"]["value"].as_array().unwrap().len(), 2, "{toml}");
    assert_eq!(config["options"]["volume"]["spec"].as_array().unwrap().len(), 2, "{toml}");
    assert_eq!(config["options"]["name"]["value"].as_str(), Some("dev"), "{toml}");
    let err = stderr(&o);
    assert!(err.contains("`image-name`: closest in quarry: `quarry build --tag NAME`"), "{err}");
    assert!(err.contains("`args` entry `oyr-run-arg`: closest in quarry: `[run] args`"), "{err}");
    // rocker's `git` is the package and the ~/.gitconfig mount (`gitconfig`, when linked).
    let linked =
        String::from_utf8(quarry(&["list"]).stdout).unwrap().lines().any(|l| l.starts_with("gitconfig "));
    assert!(extensions.contains(&"gitconfig") == linked, "{toml}");
    assert!(linked || err.contains("needs the `gitconfig` extension"), "{err}");
    let o = quarry_in(&dir, "/nonexistent/config", &["run", "--dry-run", "--", "true"]);
    assert!(o.status.success(), "the imported file runs: {}", stderr(&o));
    let line = docker_run_line(&o);
    assert!(line.contains("--env A=1 --env B=2") && line.contains("--volume /data:/data"), "{line}");

    // A deps_rocker file is converted as one (tests/project_extensions.rs covers it)...
    std::fs::write(dir.join("deps.yaml"), "apt_tools: [htop]\nenv: [A=1]\n").unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "deps.yaml", "-o", "deps.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // ...and a file that is neither is an error, with nothing written.
    std::fs::write(dir.join("notes.yaml"), "apt_tools: [htop]\nenv: [A=1]\n").unwrap();
    let o = quarry_in(&dir, "/nonexistent/config", &["import", "notes.yaml", "-o", "other.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error: `notes.yaml` is not a rockerc file"), "{}", stderr(&o));
    assert!(!dir.join("other.toml").exists());
    std::fs::remove_dir_all(dir).unwrap();
}
