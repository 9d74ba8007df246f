//! The `redactd` command line: argument parsing, wiring and exit codes. The
//! only place that uses `anyhow`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use redactd::check;
use redactd::engine::fingerprint::Fingerprinter;
use redactd::engine::{Options, Style};
use redactd::modes::filter::{self, Source};
use redactd::rules::{RuleSet, RuleSetBuilder};

#[derive(Parser)]
#[command(
    name = "redactd",
    version,
    about = "Scrub secrets out of log streams before they leave"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Redact files (or stdin) to stdout, like `cat`.
    Filter(FilterArgs),
    /// List, check and explain rules.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Args, Clone)]
struct RuleArgs {
    /// Add the rule files in DIR (or the file DIR). Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Enable rules by id or tag (on top of the `default` tag). Repeatable.
    #[arg(long, value_name = "ID|TAG")]
    enable: Vec<String>,
    /// Disable rules by id or tag. Repeatable; wins over --enable.
    #[arg(long, value_name = "ID|TAG")]
    disable: Vec<String>,
    /// Do not load the built-in rules.
    #[arg(long)]
    no_builtin: bool,
}

impl RuleArgs {
    fn builder(&self) -> Result<RuleSetBuilder> {
        let mut b = if self.no_builtin {
            RuleSetBuilder::new()
        } else {
            RuleSetBuilder::builtin()
        };
        for dir in &self.rules {
            b.add_path(dir)?;
        }
        for e in &self.enable {
            b.enable(e);
        }
        for d in &self.disable {
            b.disable(d);
        }
        Ok(b)
    }

    fn load(&self) -> Result<Arc<RuleSet>> {
        Ok(check::load(&self.builder()?)?)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StyleArg {
    /// `[REDACTED:rule.id]`
    Label,
    /// one `*` per byte
    Mask,
    /// public prefix, `****`, and at most min(4, n/4) trailing bytes
    Partial,
    /// `[rule.id:hmac:KEYID:8hex]` (needs --hmac-key-file)
    Hmac,
}

#[derive(Args)]
struct FilterArgs {
    /// Input files; stdin when none (or `-`).
    files: Vec<PathBuf>,
    /// How secrets are replaced.
    #[arg(long, value_enum, default_value = "label")]
    style: StyleArg,
    /// File holding the HMAC key (16+ bytes) for fingerprints and the hmac
    /// style. Without it, fingerprints use a random per-run key.
    #[arg(long, value_name = "FILE")]
    hmac_key_file: Option<PathBuf>,
    /// Id of the HMAC key, shown in fingerprints (for key rotation).
    #[arg(long, value_name = "ID", default_value = "k1")]
    hmac_key_id: String,
    /// Print bytes, findings per rule and throughput to stderr at the end.
    #[arg(long)]
    stats: bool,
    /// Write one JSON line per finding (never secret bytes) to FILE.
    #[arg(long, value_name = "FILE")]
    findings: Option<PathBuf>,
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// List the enabled rules (or all with --all).
    List {
        /// Include rules not enabled by default.
        #[arg(long)]
        all: bool,
        /// Print each pack (tag) and how many rules it holds instead, over
        /// every rule.
        #[arg(long)]
        packs: bool,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Validate rule files and run every example; the built-ins without DIR.
    Check {
        /// Directory (or file) of rules to check instead of the built-ins.
        dir: Option<PathBuf>,
    },
    /// Show which rules match TEXT, where and why (secrets masked).
    Explain {
        /// The text to explain.
        text: String,
        #[command(flatten)]
        rules: RuleArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("redactd: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Filter(args) => run_filter(args),
        Command::Rules(RulesCommand::List { all, packs, rules }) => {
            let mut b = rules.builder()?;
            b.all(all || packs);
            let set = b.build()?;
            let mut out = io::stdout().lock();
            if packs {
                let mut counts = std::collections::BTreeMap::<&str, usize>::new();
                for r in set.rules() {
                    if r.tags.is_empty() {
                        *counts.entry("(untagged)").or_default() += 1;
                    }
                    for t in &r.tags {
                        *counts.entry(t.as_str()).or_default() += 1;
                    }
                }
                for (tag, n) in counts {
                    if writeln!(out, "{tag:<18} {n}").is_err() {
                        break;
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            for r in set.rules() {
                let line = format!(
                    "{:<36} {:<8} {:<18} {}\n",
                    r.id.as_str(),
                    r.severity.as_str(),
                    r.tags.join(","),
                    r.name
                );
                if out.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Check { dir }) => {
            let mut b = match &dir {
                Some(d) => {
                    let mut b = RuleSetBuilder::new();
                    b.add_path(d)?;
                    b
                }
                None => RuleSetBuilder::builtin(),
            };
            b.all(true);
            let set = b.build()?;
            let problems = check::check(&set);
            if problems.is_empty() {
                let examples: usize = set
                    .rules()
                    .iter()
                    .map(|r| r.examples.len() + r.negative_examples.len())
                    .sum();
                println!("{} rules, {} examples: ok", set.rules().len(), examples);
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                eprintln!("{} problem(s)", problems.len());
                Ok(ExitCode::from(1))
            }
        }
        Command::Rules(RulesCommand::Explain { text, rules }) => {
            let set = rules.load()?;
            print!("{}", check::explain(&set, text.as_bytes()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_filter(args: FilterArgs) -> Result<ExitCode> {
    let set = args.rules.load()?;
    let style = match args.style {
        StyleArg::Label => Style::Label,
        StyleArg::Mask => Style::Mask,
        StyleArg::Partial => Style::Partial,
        StyleArg::Hmac => Style::Hmac,
    };
    let fingerprinter = match &args.hmac_key_file {
        Some(path) => {
            let key = std::fs::read(path)
                .with_context(|| format!("cannot read HMAC key file {}", path.display()))?;
            Fingerprinter::new(&key, &args.hmac_key_id)
                .with_context(|| format!("bad HMAC key in {}", path.display()))?
        }
        None if style == Style::Hmac => bail!("--style hmac needs --hmac-key-file"),
        None => Fingerprinter::ephemeral()?,
    };
    let opts = Options {
        style,
        fingerprinter: Arc::new(fingerprinter),
    };
    let sources: Vec<Source> = args
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                Source::Stdin
            } else {
                Source::File(f.clone())
            }
        })
        .collect();
    let mut findings_file = match &args.findings {
        Some(p) => Some(io::BufWriter::new(std::fs::File::create(p).with_context(
            || format!("cannot create findings file {}", p.display()),
        )?)),
        None => None,
    };
    let mut stdout = io::stdout().lock();
    let result = filter::run(
        &set,
        &opts,
        &sources,
        &mut stdout,
        findings_file.as_mut().map(|w| w as &mut dyn Write),
    );
    let summary = match result {
        Ok(s) => s,
        Err(filter::Error::OutputClosed) => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    if args.stats {
        eprint!("{}", summary.render());
    }
    for (name, e) in &summary.unreadable {
        eprintln!("redactd: cannot read {name}: {e}");
    }
    Ok(if summary.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
