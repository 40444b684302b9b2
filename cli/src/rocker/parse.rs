//! rocker's command line read as rocker's argparse parser reads it (Python 3.11's, with the
//! options of `spec.rs`): long options by any unique prefix (`--device` is `--devices`),
//! `--opt=value`, `-eVALUE`, values taken by `nargs` up to the next option or `--`, the image as
//! the first positional word and the command after it.
//!
//! Where rocker refuses a line or mangles it, the reading is what its author meant, with a note
//! that says so: an option with a list of values that swallowed the image (`--deps ubuntu:22.04`,
//! `--volume a b IMG`) gives it back; positional words split by an option (`IMG --x11 cmd`) and
//! dash words of the command that rocker does not know (`IMG bash -c ...`) are the command; a
//! command word with white space is passed as one argument (rocker joins and splits again).

use quarry_core::Hinted;

use super::spec::{Nargs, OPTIONS, RockerOption};

/// A command line as rocker reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The image.
    pub image: Option<String>,
    /// The command after it.
    pub command: Vec<String>,
    /// Each option given, in order, with its values (none for a flag; the constant for `?`
    /// without a value).
    pub given: Vec<(&'static RockerOption, Vec<String>)>,
    /// Where rocker would refuse or change the line and quarry does what was meant.
    pub notes: Vec<String>,
}

impl Parsed {
    /// Whether the option of `dest` was given.
    pub fn has(&self, dest: &str) -> bool {
        self.given.iter().any(|(o, _)| o.dest == dest)
    }

    /// The values of every occurrence of `dest`, in order.
    pub fn values(&self, dest: &str) -> Vec<String> {
        self.given.iter().filter(|(o, _)| o.dest == dest).flat_map(|(_, v)| v.iter().cloned()).collect()
    }

    /// The last value of `dest` (what `store` keeps).
    pub fn last(&self, dest: &str) -> Option<String> {
        self.given.iter().rev().find(|(o, _)| o.dest == dest).and_then(|(_, v)| v.last().cloned())
    }
}

/// How argparse classifies one word before it reads any.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    /// `--`.
    DoubleDash,
    /// An option of the table, with the value written in the same word (`--net=host`, `-eA=1`).
    Option(&'static RockerOption, Option<String>),
    /// A word that looks like an option rocker does not have.
    Unknown,
    /// Anything else: a value or a positional word.
    Plain,
}

/// Reads `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Parsed, Hinted> {
    let mut words = Vec::with_capacity(args.len());
    let mut after_dd = false;
    for a in args {
        let w = if after_dd {
            Word::Plain
        } else if a == "--" {
            after_dd = true;
            Word::DoubleDash
        } else {
            classify(a)?
        };
        words.push(w);
    }
    let mut out = Parsed::default();
    let mut positionals: Vec<(String, bool)> = Vec::new(); // (word, after an option that ended a run)
    let mut greedy: Vec<usize> = Vec::new(); // indexes into `out.given` of options that took a list
    let mut split_run = false;
    let mut seen_dd = false;
    let mut i = 0;
    while i < args.len() {
        match &words[i] {
            Word::DoubleDash if !seen_dd => {
                seen_dd = true;
                i += 1;
            }
            Word::Option(option, explicit) => {
                let option = *option;
                if !positionals.is_empty() {
                    split_run = true;
                }
                let (values, next) = take_values(option, explicit.clone(), args, &words, i + 1)?;
                if option.nargs.greedy() && explicit.is_none() && !values.is_empty() {
                    greedy.push(out.given.len());
                }
                check_choices(option, &values)?;
                out.given.push((option, values));
                i = next;
            }
            Word::Unknown if positionals.is_empty() && !greedy.is_empty() => {
                // The image went into a list of values before it: give it back first.
                reclaim_image(&mut out, &greedy, &mut positionals);
                if positionals.is_empty() {
                    return Err(unknown(&args[i]));
                }
                greedy.clear();
            }
            Word::Unknown if !positionals.is_empty() => {
                out.notes.push(format!(
                    "rocker would refuse {}, which it does not know: quarry passes it to the command (rocker needs `--` \
                     before such a command)",
                    quoted(&args[i])
                ));
                positionals.push((args[i].clone(), split_run));
                i += 1;
            }
            Word::Unknown => return Err(unknown(&args[i])),
            Word::DoubleDash | Word::Plain => {
                positionals.push((args[i].clone(), split_run));
                i += 1;
            }
        }
    }
    if positionals.is_empty() {
        reclaim_image(&mut out, &greedy, &mut positionals);
    }
    let mut positionals = positionals.into_iter();
    out.image = positionals.next().map(|(w, _)| w);
    let command: Vec<(String, bool)> = positionals.collect();
    if command.first().is_some_and(|(_, split)| *split) {
        out.notes.push(
            "rocker would refuse the command after an option that follows the image (argparse takes the image and \
             an empty command together): quarry runs it"
                .to_owned(),
        );
    }
    out.command = command.into_iter().map(|(w, _)| w).collect();
    // argparse drops the first `--` among a positional's words, the command's too.
    if let Some(at) = out.command.iter().position(|w| w == "--") {
        out.command.remove(at);
    }
    if let Some(word) = out
        .command
        .iter()
        .find(|w| w.is_empty() || w.chars().any(|c| c.is_whitespace() || "'\"\\$`;&|<>*?".contains(c)))
    {
        out.notes.push(format!(
            "rocker joins the command into one line and splits it again, so {} would not reach the container as one \
             argument: quarry passes each argument as it is",
            quoted(word)
        ));
    }
    if out.image.is_none() && !out.has("help") && !out.has("version") {
        return Err(Hinted::new(
            "no image given",
            "name the image after the options, `quarry rocker --x11 ubuntu:24.04`; after an option with a list \
             (`--volume a b`) write `--` before it",
        ));
    }
    Ok(out)
}

/// An option with a list of values took every word up to the end: the image was among them.
/// rocker refuses the line (no image); the author meant the first word that is an image
/// reference and no path (`--deps ubuntu:22.04`, `--volume ~/a ~/b ros:humble bash`): it and the
/// words after it are given back as the image and the command.
fn reclaim_image(out: &mut Parsed, greedy: &[usize], positionals: &mut Vec<(String, bool)>) {
    for &g in greedy.iter().rev() {
        let (option, values) = &mut out.given[g];
        let keep = usize::from(option.nargs == Nargs::AtLeastOne);
        let Some(at) = values.iter().skip(keep).position(|v| looks_like_image(v)).map(|p| p + keep) else {
            continue;
        };
        let taken: Vec<String> = values.drain(at..).collect();
        out.notes.push(format!(
            "rocker would take {} as a value of `{}` and find no image (write `--` after the values): quarry takes \
             it as the image",
            quoted(&taken[0]),
            option.names[0]
        ));
        if values.is_empty() && option.nargs == Nargs::Optional {
            values.push(option.constant.to_owned());
        }
        positionals.extend(taken.into_iter().map(|w| (w, false)));
        return;
    }
}

/// An image reference that cannot be a path, a device, a variable or an environment entry.
fn looks_like_image(word: &str) -> bool {
    quarry_core::rules::is_image_ref(word)
        && !word.starts_with(['/', '.', '~', '$'])
        && !word.contains('=')
        && !std::path::Path::new(word).exists()
}

/// Reads the values of `option` at `at` (argparse's `nargs`, values never across `--` or an
/// option word).
fn take_values(
    option: &'static RockerOption,
    explicit: Option<String>,
    args: &[String],
    words: &[Word],
    at: usize,
) -> Result<(Vec<String>, usize), Hinted> {
    let name = option.names[0];
    if let Some(value) = explicit {
        if option.nargs == Nargs::Zero {
            return Err(Hinted::new(
                format!("argument {name}: ignored explicit argument {}", quoted(&value)),
                format!("{name} takes no value"),
            ));
        }
        return Ok((vec![value], at));
    }
    let plain = words[at..].iter().take_while(|w| matches!(w, Word::Plain)).count();
    let take = match option.nargs {
        Nargs::Zero => 0,
        Nargs::One | Nargs::ListOfOne if plain == 0 => {
            return Err(Hinted::new(
                format!("argument {name}: expected one argument"),
                format!("write `{name} VALUE`"),
            ));
        }
        Nargs::One | Nargs::ListOfOne => 1,
        Nargs::Optional => plain.min(1),
        Nargs::Any => plain,
        Nargs::AtLeastOne if plain == 0 => {
            return Err(Hinted::new(
                format!("argument {name}: expected at least one argument"),
                format!("write `{name} VALUE [VALUE ...] --`"),
            ));
        }
        Nargs::AtLeastOne => plain,
    };
    let mut values: Vec<String> = args[at..at + take].to_vec();
    if option.nargs == Nargs::Optional && take == 0 {
        values.push(option.constant.to_owned());
    }
    Ok((values, at + take))
}

fn check_choices(option: &'static RockerOption, values: &[String]) -> Result<(), Hinted> {
    if option.choices.is_empty() {
        return Ok(());
    }
    for v in values {
        if !option.choices.contains(&v.as_str()) {
            let choices: Vec<String> = option.choices.iter().map(|c| format!("`{c}`")).collect();
            return Err(Hinted::new(
                format!("argument {}: invalid choice: {}", option.names[0], quoted(v)),
                format!("choose from {}", choices.join(", ")),
            ));
        }
    }
    Ok(())
}

/// How argparse reads one word: an option (exactly, as `--opt=value`, by a unique prefix of a
/// long name, or a short one with its value attached), an unknown option, or a plain word.
fn classify(word: &str) -> Result<Word, Hinted> {
    if !word.starts_with('-') || word.len() < 2 || word.parse::<f64>().is_ok() {
        return Ok(Word::Plain);
    }
    let exact = |name: &str| OPTIONS.iter().find(|o| o.names.contains(&name));
    if let Some(o) = exact(word) {
        return Ok(Word::Option(o, None));
    }
    if let Some((name, value)) = word.split_once('=')
        && let Some(o) = exact(name)
    {
        return Ok(Word::Option(o, Some(value.to_owned())));
    }
    if let Some(rest) = word.strip_prefix("--") {
        let (prefix, value) = match rest.split_once('=') {
            Some((p, v)) => (p, Some(v.to_owned())),
            None => (rest, None),
        };
        let matches: Vec<&'static RockerOption> = OPTIONS
            .iter()
            .filter(|o| o.names.iter().any(|n| n.strip_prefix("--").is_some_and(|n| n.starts_with(prefix))))
            .collect();
        match matches.as_slice() {
            [one] => return Ok(Word::Option(one, value)),
            [] => {}
            many => {
                let names: Vec<&str> = many.iter().map(|o| o.names[0]).collect();
                return Err(Hinted::new(
                    format!("ambiguous option: {word} could match {}", names.join(", ")),
                    "write more of the option's name",
                ));
            }
        }
    } else if word.len() > 2
        && let Some(o) = exact(&word[..2])
        && o.nargs != Nargs::Zero
    {
        return Ok(Word::Option(o, Some(word[2..].to_owned())));
    }
    if word.contains(' ') {
        return Ok(Word::Plain);
    }
    Ok(Word::Unknown)
}

/// An option rocker does not have: the closest one, or quarry's own spelling of what it does.
fn unknown(word: &str) -> Hinted {
    let name = word.split('=').next().unwrap_or(word);
    let close = quarry_core::suggest_closest(name.trim_start_matches('-'), OPTIONS.iter().map(|o| o.dest))
        .and_then(super::spec::by_dest);
    let hint = match close {
        Some(close) => {
            format!("did you mean `{}`? (`quarry rocker --help` lists rocker's options)", close.names[0])
        }
        None => "`quarry rocker --help` lists rocker's options; `quarry run` takes quarry's".to_owned(),
    };
    Hinted::new(format!("unrecognized argument {}", quoted(word)), hint)
}

fn quoted(word: &str) -> String {
    quarry_core::text::shown(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Parsed {
        parse(&words(line)).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn words(line: &str) -> Vec<String> {
        line.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
    }

    fn err(line: &str) -> String {
        parse(&words(line)).unwrap_err().message
    }

    #[test]
    fn lines_rocker_accepts_read_the_same() {
        let x = p("--nvidia --x11 --user --home --pull --pulse tfoote/drone_demo");
        assert_eq!(x.image.as_deref(), Some("tfoote/drone_demo"));
        assert!(x.command.is_empty() && x.notes.is_empty());
        assert_eq!(x.values("nvidia"), ["auto"]);
        let x = p("--volume ~/.vimrc ~/.bashrc -- ubuntu:18.04");
        assert_eq!(x.values("volume"), ["~/.vimrc", "~/.bashrc"]);
        assert_eq!(x.image.as_deref(), Some("ubuntu:18.04"));
        let x = p("--devices /dev/input/js0 /dev/input/js1 -- IMG cmd a");
        assert_eq!(x.values("devices"), ["/dev/input/js0", "/dev/input/js1"]);
        assert_eq!((x.image.as_deref(), x.command.clone()), (Some("IMG"), words("cmd a")));
        let x = p("--network host --shm-size 2g osrf/ros:humble-desktop rviz2");
        assert_eq!((x.last("network"), x.last("shm_size")), (Some("host".into()), Some("2g".into())));
        assert_eq!(
            (x.image.as_deref(), x.command.clone()),
            (Some("osrf/ros:humble-desktop"), words("rviz2"))
        );
        // Prefixes, `=` and an attached short value; `-e` takes several, `--` ends them.
        let x = p("--device /dev/dri --net=bridge -eA=1 -e B=2 C --home IMG");
        assert_eq!(x.values("devices"), ["/dev/dri"]);
        assert_eq!(x.last("network").as_deref(), Some("bridge"));
        assert_eq!(x.values("env"), ["A=1", "B=2", "C"]);
        assert_eq!(x.image.as_deref(), Some("IMG"));
        // After the image, options are still options, and `--` may separate the command.
        let x = p("IMG --x11 -- bash -c echo");
        assert!(x.has("x11") && x.command == words("bash -c echo"), "{x:?}");
        assert_eq!(p("--nvidia runtime IMG").values("nvidia"), ["runtime"]);
    }

    #[test]
    fn lines_rocker_refuses_do_what_was_meant_and_say_so() {
        // deps_rocker's own README line: `--deps` takes the image.
        let x = p("--deps ubuntu:22.04");
        assert_eq!(
            (x.values("deps"), x.image.as_deref()),
            (vec!["*.deps.yaml".to_owned()], Some("ubuntu:22.04"))
        );
        assert!(
            x.notes[0].contains("rocker would take `ubuntu:22.04` as a value of `--deps`"),
            "{:?}",
            x.notes
        );
        let x = p("--volume /a:/a /b img:1 bash");
        assert_eq!(x.values("volume"), ["/a:/a", "/b"]);
        assert_eq!((x.image.as_deref(), x.command.clone()), (Some("img:1"), words("bash")));
        let x = p("--user-preserve-groups osrf/ros:humble");
        assert!(x.values("user_preserve_groups").is_empty() && x.image.is_some(), "{x:?}");
        // Words split by an option, and dash words rocker does not know, are the command.
        let x = p("IMG --x11 rviz2 --ros-args");
        assert_eq!(x.command, words("rviz2 --ros-args"));
        assert_eq!(x.notes.len(), 2, "{:?}", x.notes);
        // A quoted command argument stays one.
        let x = parse(&["IMG".into(), "bash".into(), "-c".into(), "echo a b".into()]).unwrap();
        assert_eq!(x.command, ["bash", "-c", "echo a b"]);
        assert!(x.notes.iter().any(|n| n.contains("joins the command")), "{:?}", x.notes);
        let x = parse(&words("--volume /a img bash -c true")).unwrap();
        assert_eq!(
            (x.values("volume"), x.image.as_deref(), x.command.clone()),
            (vec!["/a".to_owned()], Some("img"), words("bash -c true"))
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(err("--dev IMG"), "ambiguous option: --dev could match --dev-helpers, --devices");
        assert_eq!(err("--nvidia gpu IMG"), "argument --nvidia: invalid choice: `gpu`");
        assert_eq!(err("--volume -- IMG"), "argument --volume: expected at least one argument");
        assert_eq!(err("--name"), "argument --name: expected one argument");
        assert_eq!(err("--x11=1 IMG"), "argument --x11: ignored explicit argument `1`");
        let e = parse(&words("--x12 IMG")).unwrap_err();
        assert_eq!(e.message, "unrecognized argument `--x12`");
        assert!(e.hint.unwrap().starts_with("did you mean `--x11`?"));
        assert_eq!(err("--x11"), "no image given");
    }
}
