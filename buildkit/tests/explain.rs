//! The cache model against the measured rules of `shared/buildkit-cache-facts.md`, case by case.
//! (`cli/tests/explain_engine.rs` checks the same predictions against a real engine.)

use std::collections::BTreeMap;

use quarry_buildkit::explain::{ExplainError, Explanation, Options, Reason, Side, Store, explain};

fn side<'a>(text: &'a str, args: &[(&str, &str)]) -> Side<'a> {
    Side {
        text,
        origin: "Dockerfile".into(),
        build_args: args.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
    }
}

fn run(old: &str, new: &str, store: Store) -> Explanation {
    run_with(old, &[], new, &[], Options { store, ..Options::default() })
}

fn run_with(old: &str, oa: &[(&str, &str)], new: &str, na: &[(&str, &str)], options: Options) -> Explanation {
    explain(&side(old, oa), &side(new, na), &options).unwrap()
}

/// (line, reused, reason) per counted step.
fn summary(e: &Explanation) -> Vec<(usize, bool, Reason)> {
    e.steps.iter().map(|s| (s.line, s.reused, s.reason)).collect()
}

const ALL: [Store; 3] = [Store::Containerd, Store::Classic, Store::Legacy];

#[test]
fn a_declared_arg_reaches_later_runs_but_not_copies() {
    let df = "FROM img\nARG UNUSED=1\nRUN work\nCOPY f /f\nRUN more\n";
    let e = run_with(df, &[], df, &[("UNUSED", "2")], Options::default());
    assert_eq!(
        summary(&e),
        [
            (3, false, Reason::ArgEnvChanged),
            (4, false, Reason::EarlierStepRan),
            (5, false, Reason::EarlierStepRan)
        ]
    );
    assert!(e.steps[0].detail.contains("`UNUSED`: `1` → `2`"), "{}", e.steps[0].detail);
    // A COPY right after the ARG stays cached.
    let df = "FROM img\nARG UNUSED=1\nCOPY f /f\nRUN work\n";
    let e = run_with(df, &[], df, &[("UNUSED", "2")], Options::default());
    assert_eq!(summary(&e), [(3, true, Reason::Unchanged), (4, false, Reason::ArgEnvChanged)]);
}

#[test]
fn a_global_or_undeclared_args_do_not_count() {
    let df = "ARG G=1\nFROM img\nRUN work\n";
    let e = run_with(df, &[("X", "1")], df, &[("G", "2"), ("X", "2")], Options::default());
    assert_eq!(summary(&e), [(3, true, Reason::Unchanged)]);
}

#[test]
fn a_args_of_a_parent_stage_reach_its_children() {
    let df = "FROM img AS base\nRUN work\nARG LATE=1\nFROM base\nRUN child\n";
    let e = run_with(df, &[], df, &[("LATE", "2")], Options::default());
    assert_eq!(summary(&e), [(2, true, Reason::Unchanged), (5, false, Reason::ArgEnvChanged)]);
}

#[test]
fn b_an_arg_used_only_in_a_mount_id_still_reruns() {
    let df = "FROM img\nARG CACHE_ID=default\nRUN --mount=type=cache,id=apt-${CACHE_ID},target=/c work\n";
    for store in ALL {
        let e = run_with(df, &[], df, &[("CACHE_ID", "job2")], Options { store, ..Options::default() });
        assert_eq!(summary(&e), [(3, false, Reason::ArgEnvChanged)], "{store:?}");
    }
}

#[test]
fn b_literal_mount_ids_and_sharing_are_keyed_only_on_legacy() {
    let old = "FROM img\nRUN --mount=type=cache,id=apt-one,target=/c,sharing=locked work\n";
    for new in [
        "FROM img\nRUN --mount=type=cache,id=apt-two,target=/c,sharing=locked work\n",
        "FROM img\nRUN --mount=type=cache,id=apt-one,target=/c,sharing=private work\n",
    ] {
        assert_eq!(summary(&run(old, new, Store::Containerd)), [(2, true, Reason::Unchanged)]);
        assert_eq!(summary(&run(old, new, Store::Classic)), [(2, true, Reason::Unchanged)]);
        assert_eq!(summary(&run(old, new, Store::Legacy)), [(2, false, Reason::InstructionChanged)]);
    }
    // Key order inside --mount and the order of --mount flags never matter.
    let old = "FROM img\nRUN --mount=type=cache,id=a,target=/a --mount=type=cache,id=b,target=/b work\n";
    let new = "FROM img\nRUN --mount=target=/b,type=cache,id=b --mount=id=a,type=cache,target=/a work\n";
    for store in ALL {
        assert_eq!(summary(&run(old, new, store)), [(2, true, Reason::Unchanged)], "{store:?}");
    }
    // Without an id, sharing and the target count everywhere.
    let old = "FROM img\nRUN --mount=type=cache,target=/c work\n";
    let new = "FROM img\nRUN --mount=type=cache,target=/c,sharing=locked work\n";
    for store in ALL {
        assert_eq!(summary(&run(old, new, store)), [(2, false, Reason::InstructionChanged)], "{store:?}");
    }
}

#[test]
fn c_env_changes_reach_runs_not_copies_and_order_counts() {
    let old = "FROM img\nENV E=1\nCOPY f /f\nRUN work\n";
    let new = "FROM img\nENV E=2\nCOPY f /f\nRUN work\n";
    assert_eq!(
        summary(&run(old, new, Store::Containerd)),
        [(3, true, Reason::Unchanged), (4, false, Reason::ArgEnvChanged)]
    );
    let old = "FROM img\nENV A=1\nENV B=2\nRUN work\n";
    let new = "FROM img\nENV B=2\nENV A=1\nRUN work\n";
    let e = run(old, new, Store::Containerd);
    assert_eq!(summary(&e), [(4, false, Reason::ArgEnvChanged)]);
    assert_eq!(e.steps[0].detail, "the order of ENV/ARG entries changed");
    let old = "FROM img\nRUN work\n";
    let new = "FROM img\nLABEL a=b\nEXPOSE 80\nRUN work\nENV LATE=1\nCMD [\"x\"]\n";
    assert_eq!(summary(&run(old, new, Store::Containerd)), [(4, true, Reason::Unchanged)]);
}

#[test]
fn d_copies_follow_the_copied_stage_unless_it_is_declared_reproducible() {
    let old = "FROM img AS s\nARG U=1\nRUN make\nFROM img\nCOPY --from=s /out /out\nRUN after\n";
    let e = run_with(old, &[], old, &[("U", "2")], Options::default());
    assert_eq!(
        summary(&e),
        [
            (3, false, Reason::ArgEnvChanged),
            (5, false, Reason::CopiedStageChanged),
            (6, false, Reason::EarlierStepRan)
        ]
    );
    assert!(e.assumptions.iter().any(|a| a.contains("--same-output")));
    let options = Options { same_output: ["s".to_owned()].into(), ..Options::default() };
    let e = run_with(old, &[], old, &[("U", "2")], options);
    assert_eq!(
        summary(&e),
        [(3, false, Reason::ArgEnvChanged), (5, true, Reason::Unchanged), (6, true, Reason::Unchanged)]
    );
}

#[test]
fn e_linked_copies_are_independent_only_on_the_containerd_store() {
    let old = "FROM img AS s\nRUN make\nFROM img\nRUN one\nCOPY --link --from=s /out /out\nRUN after\n";
    let new = "FROM img AS s\nRUN make\nFROM img\nRUN two\nCOPY --link --from=s /out /out\nRUN after\n";
    // The copy is cached and its merge onto the changed layers runs: the engine counts the step
    // as run, quarry's second count as reused.
    let e = run(old, new, Store::Containerd);
    assert_eq!(
        summary(&e),
        [
            (2, true, Reason::Unchanged),
            (4, false, Reason::InstructionChanged),
            (5, false, Reason::LinkedCopy),
            (6, false, Reason::EarlierStepRan)
        ]
    );
    assert!(e.steps[2].linked_copy_cached);
    assert_eq!((e.reused, e.reused_counting_linked_copies, e.total), (1, 2, 4));
    assert_eq!(
        summary(&run(old, new, Store::Classic)),
        [
            (2, true, Reason::Unchanged),
            (4, false, Reason::InstructionChanged),
            (5, false, Reason::EarlierStepRan),
            (6, false, Reason::EarlierStepRan)
        ]
    );
    let err =
        explain(&side(old, &[]), &side(new, &[]), &Options { store: Store::Legacy, ..Options::default() })
            .unwrap_err();
    assert!(matches!(err, ExplainError::Invalid { line: 5, .. }), "{err}");
    // Only --link added: the same key on the classic store, a new op graph on containerd.
    let old = "FROM img AS s\nRUN make\nFROM img\nCOPY --from=s /out /out\n";
    let new = "FROM img AS s\nRUN make\nFROM img\nCOPY --link --from=s /out /out\n";
    assert_eq!(
        summary(&run(old, new, Store::Classic)),
        [(2, true, Reason::Unchanged), (4, true, Reason::Unchanged)]
    );
    assert_eq!(
        summary(&run(old, new, Store::Containerd)),
        [(2, true, Reason::Unchanged), (4, false, Reason::NewStep)]
    );
}

#[test]
fn e_a_builder_on_another_base_reruns_and_its_copy_is_assumed_changed() {
    let old = "FROM a AS s\nRUN make\nFROM img\nCOPY --link --from=s /out /out\n";
    let new = "FROM b AS s\nRUN make\nFROM img\nCOPY --link --from=s /out /out\n";
    let e = run(old, new, Store::Containerd);
    assert_eq!(summary(&e), [(2, false, Reason::FromChanged), (4, false, Reason::CopiedStageChanged)]);
    assert_eq!(e.steps[0].detail, "`a:latest` → `b:latest`");
}

#[test]
fn f_stages_the_target_does_not_need_are_skipped() {
    let old = "FROM img AS unused\nRUN old\nFROM img AS t\nRUN t\nFROM img AS after\nRUN x\n";
    let new = "FROM img AS unused\nRUN new\nFROM img AS t\nRUN t\nFROM img AS after\nRUN y\n";
    let options = Options { target: Some("t".into()), ..Options::default() };
    let e = run_with(old, &[], new, &[], options);
    assert_eq!(summary(&e), [(4, true, Reason::Unchanged)]);
    assert_eq!(e.skipped_stages, ["unused", "after"]);
    assert_eq!((e.reused, e.total), (1, 1));
}

#[test]
fn g_identical_stages_share_keys() {
    let old = "FROM img AS x\nRUN same\nFROM img AS y\nCOPY --from=x /a /a\n";
    let new = "FROM img AS x\nRUN same\nFROM img AS z\nRUN same\nFROM img AS y\nCOPY --from=x /a /a\nCOPY --from=z /a /b\n";
    let e = run(old, new, Store::Containerd);
    assert_eq!(
        summary(&e),
        [
            (2, true, Reason::Unchanged),
            (4, true, Reason::Unchanged),
            (6, true, Reason::Unchanged),
            (7, false, Reason::NewStep)
        ]
    );
}

#[test]
fn h_swapped_runs_both_rerun() {
    let old = "FROM img\nRUN a\nRUN b\nRUN c\n";
    let new = "FROM img\nRUN b\nRUN a\nRUN c\n";
    assert_eq!(
        summary(&run(old, new, Store::Containerd)),
        [
            (2, false, Reason::InstructionChanged),
            (3, false, Reason::EarlierStepRan),
            (4, false, Reason::EarlierStepRan)
        ]
    );
}

#[test]
fn positions_follow_buildkit_numbering() {
    let df = "FROM img AS s\nARG A=1\nWORKDIR /w\nRUN a\nENV E=1\nCOPY x y\n";
    let e = run(df, df, Store::Containerd);
    let pos: Vec<(u32, u32, &str)> =
        e.steps.iter().map(|s| (s.position, s.stage_steps, s.stage.as_str())).collect();
    assert_eq!(pos, [(3, 4, "s"), (4, 4, "s")]);
}

#[test]
fn workdir_and_user_changes_are_reported() {
    let old = "FROM img\nWORKDIR /a\nRUN x\n";
    let new = "FROM img\nWORKDIR /b\nRUN x\n";
    let e = run(old, new, Store::Containerd);
    assert_eq!(summary(&e), [(3, false, Reason::EarlierStepRan)]);
    assert!(e.steps[0].detail.contains("follows line 2 (WORKDIR)"));
    let old = "FROM img\nUSER a\nRUN x\n";
    let new = "FROM img\nUSER b\nRUN x\n";
    assert_eq!(summary(&run(old, new, Store::Containerd)), [(3, false, Reason::InstructionChanged)]);
}

#[test]
fn context_changes_rerun_the_copies_that_read_them() {
    let df = "FROM img\nCOPY app/ /app/\nCOPY conf /conf\n";
    let options = Options { changed_context: vec!["app/main.c".into()], ..Options::default() };
    let e = run_with(df, &[], df, &[], options);
    assert_eq!(summary(&e), [(2, false, Reason::ContextChanged), (3, false, Reason::EarlierStepRan)]);
}

#[test]
fn quarry_comments_name_the_extension() {
    let df = "# Rendered by quarry; do not edit\nFROM img AS quarry_builder_base\nRUN base\n\nFROM quarry_builder_base AS tool_builder\n# tool: builder\nRUN build\n\nFROM img AS quarry_final\nRUN prelude\n# curl: apt packages\nRUN apt\n# tool: artifacts\nCOPY --link --from=tool_builder /o /o\n";
    let e = run(df, df, Store::Containerd);
    let owners: Vec<Option<&str>> = e.steps.iter().map(|s| s.extension.as_deref()).collect();
    assert_eq!(owners, [Some("shared builder base"), Some("tool"), None, Some("curl"), Some("tool")]);
}

#[test]
fn cache_busters_are_warned_about() {
    let df = "FROM debian:bookworm AS b\nARG VERSION=1\nRUN apt-get update && apt-get install -y gcc\nRUN echo $VERSION\nFROM debian@sha256:abc\nCOPY --link --chmod=0755 --from=b /x /x\nARG OK=1\nRUN echo $OK\n";
    let e = run(df, df, Store::Containerd);
    let codes: Vec<(usize, &str)> = e.warnings.iter().map(|w| (w.line, w.code)).collect();
    assert_eq!(
        codes,
        [
            (1, "mutable-builder-base"),
            (2, "arg-ahead-of-run"),
            (3, "apt-lists-uncached"),
            (6, "link-chmod"),
            (8, "run-after-linked-copy")
        ]
    );
}

#[test]
fn missing_targets_and_bad_files_are_errors() {
    let df = "FROM img AS a\nRUN x\n";
    let options = Options { target: Some("nope".into()), ..Options::default() };
    let err = explain(&side(df, &[]), &side(df, &[]), &options).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile: no stage named `nope`");
    assert_eq!(err.hint().as_deref(), Some("stages are `a`"));
    let err = explain(&side("FROM a\nBAD x\n", &[]), &side(df, &[]), &Options::default()).unwrap_err();
    assert!(err.to_string().starts_with("Dockerfile: line 2: unknown instruction `BAD`"), "{err}");
}

#[test]
fn long_stage_chains_do_not_overflow_the_stack() {
    // Each stage is FROM the one before it, and copies from the one before it too: a walk that
    // recursed per stage overflowed the test thread's 2 MiB stack long before 9,000 stages.
    let mut df = String::from("FROM img AS s0\nRUN echo 0\n");
    for i in 1..9000 {
        df.push_str(&format!("FROM s{} AS s{i}\nCOPY --from={} /a /a{i}\n", i - 1, i - 1));
    }
    let e = run(&df, &df, Store::Containerd);
    assert_eq!((e.reused, e.total), (9000, 9000));
    let mut numbered = String::from("FROM img\nRUN echo 0\n");
    for i in 1..9000 {
        numbered.push_str(&format!("FROM {}\nRUN echo {i}\n", i - 1));
    }
    let e = run(&numbered, &numbered, Store::Containerd);
    assert_eq!((e.reused, e.total), (9000, 9000));
}

#[test]
fn stages_that_copy_from_each_other_are_an_error() {
    let df = "FROM img AS a\nCOPY --from=b /x /x\nFROM img AS b\nCOPY --from=a /y /y\n";
    let err = explain(&side(df, &[]), &side(df, &[]), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("the stages depend on each other") && err.hint().is_some(), "{err}");
    let df = "FROM img AS a\nRUN --mount=from=a,target=/x true\n";
    let err = explain(&side(df, &[]), &side(df, &[]), &Options::default()).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile: line 2: `--from=a` refers to its own stage");
    assert!(err.hint().is_some_and(|h| !h.is_empty()), "{err}");
}

#[test]
fn a_mount_from_a_stage_named_by_a_stage_arg_is_walked_first() {
    let df = "FROM img AS tool\nRUN make\nFROM img\nARG SRC=tool\nRUN --mount=from=${SRC},target=/t use\n";
    let e = run(df, df, Store::Containerd);
    assert_eq!(summary(&e), [(2, true, Reason::Unchanged), (5, true, Reason::Unchanged)]);
}

#[test]
fn values_that_double_every_line_are_refused() {
    // 339 bytes that asked for 2^28 bytes of ENV.
    let mut df = String::from("FROM img\nENV A=xx\n");
    for _ in 0..28 {
        df.push_str("ENV A=$A$A\n");
    }
    df.push_str("RUN true\n");
    let err = explain(&side(&df, &[]), &side("FROM img\n", &[]), &Options::default()).unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile: line 22: `ENV A` expands to more than 1 MiB");
    assert!(err.hint().is_some(), "{err}");
    // ARGs, global ARGs and a value built from many names are bounded too.
    let mut df = String::from("ARG G=xxxxxxxx\n");
    for _ in 0..20 {
        df.push_str("ARG G=${G}${G}\n");
    }
    df.push_str("FROM img\n");
    let err = explain(&side(&df, &[]), &side(&df, &[]), &Options::default()).unwrap_err().to_string();
    assert!(err.contains("`ARG G` expands to more than 1 MiB"), "{err}");
    let mut df = String::from("FROM img\nENV A=aaaaaaaaaaaaaaaa\n");
    for _ in 0..16 {
        df.push_str("ENV A=$A$A\n");
    }
    for i in 0..200 {
        df.push_str(&format!("ENV B{i}=$A\n"));
    }
    let err = explain(&side(&df, &[]), &side(&df, &[]), &Options::default()).unwrap_err().to_string();
    assert!(err.contains("add up to more than 64 MiB"), "{err}");
    // Below the limits, long values are fine.
    let mut df = String::from("FROM img\nENV A=xx\n");
    for _ in 0..15 {
        df.push_str("ENV A=$A$A\n");
    }
    df.push_str("RUN true\n");
    assert_eq!(run(&df, &df, Store::Containerd).reused, 1);
}

/// Builds a file of `n` lines of one kind (and a RUN after them).
fn many(kind: &str, n: usize) -> String {
    let mut df = String::from("FROM img\n");
    for i in 0..n {
        match kind {
            "ENV" => df.push_str(&format!("ENV V{i}=value{i}\n")),
            "ARG" => df.push_str(&format!("ARG V{i}=value{i}\n")),
            "RUN" => df.push_str(&format!("RUN echo {i}\n")),
            _ => df.push_str(&format!("ENV V{}=value{i}\nRUN echo {i}\n", i % 100)),
        }
    }
    df.push_str("RUN true\n");
    df
}

#[test]
fn twenty_thousand_arg_env_and_run_lines_finish() {
    // These took minutes when every line copied the variables in scope; now each costs O(log n).
    // Figures: `cargo xtask bench explain`.
    for kind in ["ENV", "ARG", "RUN", "ENV and RUN"] {
        let old = many(kind, 20_000);
        let new = old.replacen("\n", "\nENV FIRST=1\n", 1);
        let e = run(&old, &new, Store::Containerd);
        assert!(e.total >= 1 && e.reused == 0, "{kind}");
    }
}

#[test]
fn env_changes_are_named_after_many_lines() {
    let old = many("ENV", 3000);
    let new = old.replace("ENV V1500=value1500\n", "ENV V1500=changed\n");
    let e = run(&old, &new, Store::Containerd);
    assert_eq!(summary(&e), [(3002, false, Reason::ArgEnvChanged)]);
    assert_eq!(e.steps[0].detail, "`V1500`: `value1500` → `changed`");
}

#[test]
fn shell_and_exec_forms_with_one_argv_are_one_step() {
    let old = "FROM img\nRUN echo x\nRUN [\"/bin/bash\", \"-c\", \"echo y\"]\n";
    let new = "FROM img\nRUN [\"/bin/sh\", \"-c\", \"echo x\"]\nSHELL [\"/bin/bash\", \"-c\"]\nRUN echo y\n";
    for store in ALL {
        let e = run(old, new, store);
        assert_eq!(summary(&e), [(2, true, Reason::Unchanged), (4, true, Reason::Unchanged)], "{store:?}");
    }
    // Another shell is another argv.
    let new = "FROM img\nSHELL [\"/bin/bash\", \"-c\"]\nRUN echo x\n";
    let e = run("FROM img\nRUN echo x\n", new, Store::Containerd);
    assert_eq!(summary(&e), [(3, false, Reason::InstructionChanged)]);
}

#[test]
fn g_identical_stages_are_one_vertex_and_copies_follow_content_not_names() {
    let old = "FROM img AS x\nRUN same\nFROM img AS y\nCOPY --from=x /a /a\n";
    let new = "FROM img AS x\nRUN same\nFROM img AS z\nRUN same\nFROM img AS y\nCOPY --from=z /a /a\nCOPY --from=x /b /b\n";
    let e = run(old, new, Store::Containerd);
    let same: Vec<(usize, Option<usize>)> = e.steps.iter().map(|s| (s.line, s.same_as)).collect();
    assert_eq!(same, [(2, None), (4, Some(2)), (6, None), (7, None)]);
    // The first copy names another stage of the same content: the same key.
    assert_eq!(
        summary(&e),
        [
            (2, true, Reason::Unchanged),
            (4, true, Reason::Unchanged),
            (6, true, Reason::Unchanged),
            (7, false, Reason::NewStep)
        ]
    );
    assert_eq!((e.reused, e.total), (2, 3));
    // A new stage identical to an old one is cached, whatever its name.
    let new = "FROM img AS w\nRUN same\nFROM img AS y\nCOPY --from=w /a /a\n";
    let e = run(old, new, Store::Containerd);
    assert_eq!((e.reused, e.total), (2, 2));
}

#[test]
fn images_are_keyed_on_their_ids_when_the_engine_gives_them() {
    let old = "FROM debian:bookworm\nRUN work\nCOPY --from=tools:1 /bin/t /t\n";
    let new = "FROM localhost/debian:12\nRUN work\nCOPY --from=tools:2 /bin/t /t\n";
    let side_new = side(new, &[]);
    let names = quarry_buildkit::explain::images(&side_new, &Options::default()).unwrap();
    assert_eq!(
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        ["docker.io/library/tools:2", "localhost/debian:12"]
    );
    // By name (no engine): everything runs again, and the output says so.
    let e = run(old, new, Store::Containerd);
    assert_eq!(summary(&e), [(2, false, Reason::FromChanged), (3, false, Reason::EarlierStepRan)]);
    assert!(
        e.assumptions.iter().any(|a| a.starts_with("no Docker engine answers, so FROM")),
        "{:?}",
        e.assumptions
    );
    // Two tags of one image id are the same image.
    let ids: BTreeMap<String, String> = [
        ("docker.io/library/debian:bookworm", "sha256:d"),
        ("localhost/debian:12", "sha256:d"),
        ("docker.io/library/tools:1", "sha256:t"),
        ("docker.io/library/tools:2", "sha256:t"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let options = Options { image_ids: Some(ids.clone()), ..Options::default() };
    let e = run_with(old, &[], new, &[], options);
    assert_eq!(summary(&e), [(2, true, Reason::Unchanged), (3, true, Reason::Unchanged)]);
    assert!(e.assumptions.iter().any(|a| a.starts_with("images are compared by content")));
    // An image the engine does not have is compared by name, and named.
    let mut partial = ids;
    partial.remove("localhost/debian:12");
    let e = run_with(old, &[], new, &[], Options { image_ids: Some(partial), ..Options::default() });
    assert_eq!(e.steps[0].reason, Reason::FromChanged);
    assert!(
        e.assumptions.iter().any(|a| a == "not in the engine, so compared by name: `localhost/debian:12`")
    );
}

#[test]
fn copies_from_an_image_declared_to_give_the_same_bytes_are_reused() {
    let old = "FROM img\nRUN a\nCOPY --from=tools:1 /bin/t /t\nCOPY --link --from=tools:1 /bin/u /u\nRUN b\n";
    let new = old.replace("tools:1", "tools:2");
    let e = run(old, &new, Store::Containerd);
    assert_eq!(e.steps[1].reason, Reason::InstructionChanged);
    let options = Options { same_output: ["tools:2".to_owned()].into(), ..Options::default() };
    let e = run_with(old, &[], &new, &[], options);
    assert_eq!(
        summary(&e),
        [
            (2, true, Reason::Unchanged),
            (3, true, Reason::Unchanged),
            (4, true, Reason::Unchanged),
            (5, true, Reason::Unchanged)
        ]
    );
    // The same text naming another image (through a build arg): the image changed, and the
    // fix is named.
    let df = "ARG TOOLS=tools:1\nFROM img\nCOPY --from=${TOOLS} /bin/t /t\n";
    let e = run_with(df, &[], df, &[("TOOLS", "tools:2")], Options::default());
    assert_eq!(summary(&e), [(3, false, Reason::CopiedImageChanged)]);
    assert!(e.steps[0].detail.contains("--same-output tools:2"), "{}", e.steps[0].detail);
}

/// A RUN after a linked copy (quarry's declared exception, `setup_after_copies`) is warned
/// about; the same RUN before the copies is not.
#[test]
fn a_run_after_linked_copies_is_warned_about() {
    let after = "FROM img AS b\nRUN make\n\nFROM img\nRUN apt\nCOPY --link --from=b /o /o\nRUN ldconfig\n";
    let e = explain(&side(after, &[]), &side(after, &[]), &Options::default()).unwrap();
    let codes: Vec<(usize, &str)> = e.warnings.iter().map(|w| (w.line, w.code)).collect();
    assert!(codes.contains(&(7, "run-after-linked-copy")), "{codes:?}");
    assert!(e.warnings.iter().any(|w| w.message.contains("follows the linked copy on line 6")));
    let before = "FROM img AS b\nRUN make\n\nFROM img\nRUN apt\nRUN ldconfig\nCOPY --link --from=b /o /o\n";
    let e = explain(&side(before, &[]), &side(before, &[]), &Options::default()).unwrap();
    assert!(!e.warnings.iter().any(|w| w.code == "run-after-linked-copy"));
}

/// The comments of today's final stage name their owners too: quarry's own steps, files and
/// shell environments.
#[test]
fn final_stage_comments_name_their_owners() {
    let df = "# Rendered by quarry; do not edit\nFROM img AS quarry_final\n# quarry: the same in every image.\nRUN prelude\n# ros: apt packages\nRUN apt\n# quarry: the entrypoint and shell start-up files.\nCOPY --link quarry/_root/ /\n# ros: files\nCOPY --link quarry/ros/f /etc/f\n# ros: shell environment\nCOPY --link quarry/_env.d/ros.sh /etc/quarry/env.d/ros.sh\n";
    let e = run(df, df, Store::Containerd);
    let owners: Vec<Option<&str>> = e.steps.iter().map(|s| s.extension.as_deref()).collect();
    assert_eq!(owners, [Some("quarry"), Some("ros"), Some("quarry"), Some("ros"), Some("ros")]);
}

/// A tag that moved between the builds: the old build keyed on the id it had then.
#[test]
fn a_moved_tag_is_told_by_the_old_builds_own_ids() {
    let df = "FROM img\nRUN work\n";
    let img = "docker.io/library/img:latest".to_owned();
    let now: BTreeMap<String, String> = [(img.clone(), "sha256:new".to_owned())].into();
    let then: BTreeMap<String, String> = [(img, "sha256:old".to_owned())].into();
    let same = run_with(df, &[], df, &[], Options { image_ids: Some(now.clone()), ..Options::default() });
    assert_eq!(summary(&same), [(2, true, Reason::Unchanged)]);
    let moved = Options { image_ids: Some(now), old_image_ids: Some(then), ..Options::default() };
    let e = run_with(df, &[], df, &[], moved);
    assert!(!e.steps[0].reused, "{:?}", e.steps);
}

/// Layers an earlier build left count as cached: going back to a version built two builds ago
/// reuses it, and says why.
#[test]
fn keys_of_earlier_builds_are_reused() {
    let v1 = "FROM img\nRUN install 1\n";
    let v2 = "FROM img\nRUN install 2\n";
    let first = run(v2, v1, Store::Containerd);
    assert!(!first.steps[0].reused);
    let earlier = first.keys.iter().cloned().collect();
    let back = run_with(v2, &[], v1, &[], Options { cached_keys: earlier, ..Options::default() });
    assert_eq!(summary(&back), [(2, true, Reason::Unchanged)]);
    assert_eq!(back.steps[0].detail, "an earlier build left the same layer in the cache");
}
