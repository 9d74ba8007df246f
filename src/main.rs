//! The `redactd` command line: argument parsing, dispatch and exit codes.
//! The only place that uses `anyhow`.
//!
//! The network commands' flags are defined in [`redactd::config::cli`],
//! where they become the same validated config `serve --config` reads.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use redactd::check;
use redactd::config::cli::{
    FilterArgs, HttpArgs, ListenerCommand, RuleArgs, ScanArgs, ScanFormat, ServeArgs, SyslogArgs,
    TcpArgs,
};
use redactd::config::{Config, Redact};
use redactd::engine::Options;
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
    /// Relay syslog (TCP with either RFC 6587 framing, TLS, UDP) to an
    /// upstream, redacting each message.
    Syslog(Box<SyslogArgs>),
    /// Proxy TCP byte streams (line-based log inputs) to an upstream,
    /// redacting them.
    Tcp(Box<TcpArgs>),
    /// Reverse-proxy log-ingestion HTTP APIs (Elasticsearch _bulk, Loki,
    /// OTLP/HTTP, Splunk HEC, Datadog...), redacting request bodies.
    Http(Box<HttpArgs>),
    /// Run every listener of a config file; SIGHUP reloads it.
    Serve(ServeArgs),
    /// Validate a config file (every problem, with its key path) and exit.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Find secrets already sitting in files and directories (gzip read
    /// transparently); exit 1 when anything is found.
    Scan(ScanArgs),
    /// List, check and explain rules.
    #[command(subcommand)]
    Rules(RulesCommand),
}

/// Loads the rules the flags select, validated as a config's `[rules]`.
fn load_rules(args: &RuleArgs) -> Result<Arc<RuleSet>> {
    Ok(check::load(&args.settings()?.builder()?)?)
}

/// The rules and the engine options of a command that fingerprints.
fn rules_and_key(rules: &RuleArgs, redact: Redact) -> Result<(Arc<RuleSet>, Options)> {
    let settings = rules.settings()?;
    settings.check_key(&redact, true)?;
    Ok((check::load(&settings.builder()?)?, redact.options()?))
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
    /// Show one rule: its regex, keywords, filters, validator and examples.
    Explain {
        /// The rule id (`redactd rules list` shows them).
        id: String,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Show which rules match TEXT, where and why (secrets masked), and the
    /// redacted text.
    Test {
        /// The text to try.
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
        Command::Syslog(args) => run_command(&*args),
        Command::Tcp(args) => run_command(&*args),
        Command::Http(args) => run_command(&*args),
        Command::Serve(args) => run_serve(args),
        Command::Scan(args) => run_scan(args),
        Command::CheckConfig { file } => match redactd::config::load_checked(&file) {
            Ok((cfg, rules)) => {
                for w in &cfg.warnings {
                    eprintln!("warning: {}: {w}", cfg.origin);
                }
                println!(
                    "{}: ok ({} listener(s), {} rules)",
                    cfg.origin,
                    cfg.listeners.len(),
                    rules.rules().len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                Ok(ExitCode::from(1))
            }
        },
        Command::Rules(cmd) => run_rules(cmd),
    }
}

fn run_rules(cmd: RulesCommand) -> Result<ExitCode> {
    let text = match cmd {
        RulesCommand::List { all, packs, rules } => {
            let mut b = rules.settings()?.builder()?;
            b.all(all || packs);
            check::list(&b.build()?, packs)
        }
        RulesCommand::Check { dir } => {
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
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("{p}");
                }
                eprintln!("{} problem(s)", problems.len());
                return Ok(ExitCode::from(1));
            }
            let examples: usize = set
                .rules()
                .iter()
                .map(|r| r.examples.len() + r.negative_examples.len())
                .sum();
            format!(
                "{} rules, {examples} examples: ok; {:.2} MB of regexes if all were compiled at once\n",
                set.rules().len(),
                set.memory_if_all_compiled() as f64 / 1e6
            )
        }
        RulesCommand::Explain { id, rules } => {
            let mut b = rules.settings()?.builder()?;
            b.all(true);
            let set = b.build()?;
            match set.rules().iter().find(|r| r.id.as_str() == id) {
                Some(rule) => check::describe(rule),
                // Never echoed: an old-style `rules explain TEXT` may hold
                // a secret.
                None => anyhow::bail!(
                    "no rule with that id (`redactd rules list --all` lists them; `redactd rules \
                     test TEXT` shows which rules match a text)"
                ),
            }
        }
        RulesCommand::Test { text, rules } => {
            let set = load_rules(&rules)?;
            check::explain(&set, text.as_bytes())
        }
    };
    // A closed stdout (`| head`) is not an error.
    let _ = io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn run_filter(args: FilterArgs) -> Result<ExitCode> {
    let (set, opts) = rules_and_key(&args.rules, args.redact.settings()?)?;
    let sources: Vec<Source> = args.files.iter().map(|f| Source::from_arg(f)).collect();
    let mut findings_file = match &args.findings {
        Some(p) => Some(io::BufWriter::new(std::fs::File::create(p).with_context(
            || format!("cannot create findings file {}", p.display()),
        )?)),
        None => None,
    };
    let alerts = match args.alerts.settings()? {
        Some(a) => redactd::alert::Standalone::start(a.settings(), &a.sinks, &set, a.drain)?,
        None => redactd::alert::Standalone::disabled(),
    };
    let tap = redactd::alert::Tap::new(alerts.alerts().clone(), "filter", None);
    let threads = threads(args.threads);
    let mut stdout = io::stdout().lock();
    let result = filter::run_alerting(
        &set,
        &opts,
        &sources,
        threads,
        &mut stdout,
        findings_file.as_mut().map(|w| w as &mut dyn Write),
        &tap,
    );
    let (problems, summary) = alerts.finish();
    if problems || (args.stats && !summary.is_empty()) {
        eprintln!("redactd: {summary}");
    }
    let summary = match result {
        Ok(s) => s,
        Err(filter::Error::OutputClosed) => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    if args.stats {
        eprint!("{}", summary.render());
    }
    for e in &summary.unreadable {
        eprintln!("redactd: {e}: {}", e.cause());
    }
    Ok(if summary.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A `--threads` value: 0 is one per core.
fn threads(n: u64) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    }
}

fn run_scan(args: ScanArgs) -> Result<ExitCode> {
    use redactd::scan::{self, Format, Pattern, Progress};
    let (set, opts) = rules_and_key(&args.rules, args.key.settings()?)?;
    let config = scan::Config {
        exclude: args.exclude.iter().map(|p| Pattern::new(p)).collect(),
        follow: args.follow,
        threads: threads(args.threads),
    };
    let format = match args.format {
        ScanFormat::Table => Format::Table,
        ScanFormat::Json => Format::Json,
        ScanFormat::Sarif => Format::Sarif,
    };
    // Created first, so a bad path fails before the scan and the report
    // file is not scanned itself.
    let mut output = match &args.output {
        Some(p) => Some(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create report file {}", p.display()))?,
        ),
        None => None,
    };
    let ignore: Vec<&std::path::Path> = args.output.iter().map(|p| p.as_path()).collect();
    let mut progress =
        io::IsTerminal::is_terminal(&io::stderr()).then(|| Progress::new(io::stderr()));
    let report = scan::scan(&set, &opts, &config, &args.paths, &ignore, &mut |t| {
        if let Some(p) = progress.as_mut() {
            p.update(t);
        }
    });
    if let Some(p) = progress.as_mut() {
        p.clear();
    }
    for p in &report.problems {
        eprintln!("redactd: {p}: {}", p.source);
    }
    let mut w: Box<dyn Write> = match output.as_mut() {
        Some(f) => Box::new(io::BufWriter::new(f)),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    match scan::render(&report, &set, format, &mut w).and_then(|()| w.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(anyhow::Error::new(e).context("cannot write the report")),
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// Logs to stderr. Never given payload: modes log counts, peers and errors.
fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .try_init();
}

/// Installs SIGTERM and SIGINT handlers (before anyone can learn our
/// ports) and returns a future resolving on the first of them.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// `syslog`, `tcp` and `http`: the flags become a validated config with
/// one listener (two for `syslog` with TLS and plain addresses), run as
/// `serve` runs a file, without reloads.
fn run_command(args: &impl ListenerCommand) -> Result<ExitCode> {
    let config = match args.config() {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let rules = check::load(&config.rules.builder()?)?;
    run_config(config, rules, args.net().ready_file.clone(), None)
}

fn run_serve(args: ServeArgs) -> Result<ExitCode> {
    let (config, rules) = match redactd::config::load_checked(&args.config) {
        Ok(x) => x,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    run_config(config, rules, args.ready_file, Some(args.config))
}

/// Runs a validated config's listeners until SIGTERM/SIGINT (re-reading
/// `reload_from` on SIGHUP), then drains and logs the counters.
fn run_config(
    config: Config,
    rules: Arc<RuleSet>,
    ready_file: Option<PathBuf>,
    reload_from: Option<PathBuf>,
) -> Result<ExitCode> {
    use redactd::serve;
    init_logging(&config.runtime.log);
    for w in &config.warnings {
        tracing::warn!("{}: {w}", config.origin);
    }
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.runtime.threads {
        b.worker_threads(n);
    }
    let rt = b.enable_all().build()?;
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let reload = match reload_from {
            Some(path) => Some(serve::Reload {
                path,
                hup: signal(SignalKind::hangup())?,
            }),
            None => None,
        };
        let stop = stop_signal()?;
        let (counters, serving) = serve::run(config, rules, ready_file, reload, stop).await?;
        let g = redactd::net::Counters::get;
        tracing::info!(
            "reloads_ok={} reloads_failed={} {}",
            g(&serving.reloads_ok),
            g(&serving.reloads_failed),
            serve::total(&counters).summary()
        );
        Ok(ExitCode::SUCCESS)
    })
}
