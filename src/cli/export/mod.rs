//! `pmx export`: an ecosystem's resolved apps as another engine's own definitions
//! (systemd units, Kubernetes manifests, a Nomad job, a Compose file). Each target is a
//! file of pure functions from the resolved specs ([`Input`]) to text ([`Output`]); the
//! verb (`verbs/export.rs`) loads the file, writes or prints the files and turns the
//! [`Note`]s into warnings.
//!
//! Every ecosystem field is in each target's table ([`Mapping`]): mapped (to what) or not
//! (why). A field an app sets away from its default that the target cannot express is a
//! note: a comment in the output and a warning on stderr, never silently dropped.

pub mod compose;
pub mod fields;
pub mod kubernetes;
pub mod nomad;
pub mod systemd;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pmx_config::Instances;
use pmx_protocol::{AppSpec, Group};

/// An export target (`pmx export <target>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// systemd units (`.service`, `.socket`, `.target`, `.timer`).
    Systemd,
    /// Kubernetes Deployments and Services (YAML).
    Kubernetes,
    /// One Nomad job in Nomad's JSON job format (`nomad job run -json`).
    Nomad,
    /// One Compose file (YAML).
    Compose,
}

/// The targets' names, as typed (for "did you mean").
pub const TARGETS: [&str; 4] = ["systemd", "kubernetes", "nomad", "compose"];

impl Target {
    /// The target named `word` (`k8s` is accepted for kubernetes).
    ///
    /// Errors: an unknown word, with the nearest name when one is near.
    pub fn parse(word: &str) -> Result<Target, String> {
        match word {
            "systemd" => Ok(Target::Systemd),
            "kubernetes" | "k8s" => Ok(Target::Kubernetes),
            "nomad" => Ok(Target::Nomad),
            "compose" | "docker-compose" => Ok(Target::Compose),
            _ => Err(format!(
                "unknown export target \"{word}\"{} (systemd, kubernetes, nomad or compose)",
                pmx_config::suggest(word, &TARGETS)
                    .map(|s| format!(", did you mean \"{s}\"?"))
                    .unwrap_or_default()
            )),
        }
    }

    /// The target's name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Systemd => "systemd",
            Target::Kubernetes => "kubernetes",
            Target::Nomad => "nomad",
            Target::Compose => "compose",
        }
    }

    /// The target's table of every ecosystem field: mapped to what, or why not (the
    /// tests check it against [`fields::FIELDS`] and docs/export.md).
    #[cfg(test)]
    pub fn table(self) -> fields::Table {
        match self {
            Target::Systemd => systemd::TABLE,
            Target::Kubernetes => kubernetes::TABLE,
            Target::Nomad => nomad::TABLE,
            Target::Compose => compose::TABLE,
        }
    }
}

/// The container images given with `--image`: one for every app, and/or one per app
/// (`--image api=registry/api:1.2`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Images {
    /// The image of every app not named below.
    pub all: Option<String>,
    /// Images by app name.
    pub by_app: BTreeMap<String, String>,
}

impl Images {
    /// Read the `--image` values: `IMAGE` or `APP=IMAGE` (an image reference never holds
    /// `=`).
    ///
    /// Errors: an empty image or app name, or two images for every app.
    pub fn parse(values: &[String]) -> Result<Images, String> {
        let mut images = Images::default();
        for v in values {
            match v.split_once('=') {
                Some((app, image)) => {
                    if app.is_empty() || image.is_empty() {
                        return Err(format!("--image {v}: expected APP=IMAGE"));
                    }
                    images.by_app.insert(app.to_string(), image.to_string());
                }
                None if v.is_empty() => return Err("--image: empty image".to_string()),
                None => {
                    if images.all.is_some() {
                        return Err(format!(
                            "--image {v}: an image for every app is already given (use APP=IMAGE for one app)"
                        ));
                    }
                    images.all = Some(v.clone());
                }
            }
        }
        Ok(images)
    }

    /// The image of `app`, if any.
    pub fn of(&self, app: &str) -> Option<&str> {
        self.by_app
            .get(app)
            .or(self.all.as_ref())
            .map(String::as_str)
    }
}

/// What a target renders: the resolved apps (`--env` applied), the groups whose members
/// are all there, the images, and where the file was.
#[derive(Debug)]
pub struct Input<'a> {
    /// The apps as `pmx up` would send them.
    pub apps: &'a [AppSpec],
    /// The ecosystem's groups.
    pub groups: &'a [Group],
    /// `--image`.
    pub images: &'a Images,
    /// The ecosystem file (absolute), named in each output's header.
    pub file: &'a Path,
    /// The CPUs of this machine, what `instances: Max` counts here (the target machine's
    /// count is not known; a note says so).
    pub cpus: u32,
}

impl Input<'_> {
    /// The group holding `app`, and the member started before it (readiness order).
    pub fn group_of(&self, app: &str) -> Option<(&Group, Option<&str>)> {
        self.groups.iter().find_map(|g| {
            let k = g.apps.iter().position(|a| a == app)?;
            Some((g, k.checked_sub(1).map(|p| g.apps[p].as_str())))
        })
    }

    /// The app named `name`.
    pub fn app(&self, name: &str) -> Option<&AppSpec> {
        self.apps.iter().find(|a| a.app.name == name)
    }

    /// How many instances `spec` runs here, and a note when the count is this machine's
    /// CPUs (`Max`, `MaxMinus`), which the target machine may not share.
    pub fn count(&self, spec: &AppSpec) -> (u32, Option<Note>) {
        let n = match spec.app.instances {
            Instances::Count(n) => return (n, None),
            Instances::Max => self.cpus,
            Instances::MaxMinus(k) => self.cpus.saturating_sub(k).max(1),
        };
        (
            n,
            Some(Note::app(
                &spec.app.name,
                "instances",
                format!("counted by CPUs: {n} on the machine that exported; set the count for the target machine"),
            )),
        )
    }
}

/// One written file: its name (no directory) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    /// The file's name, e.g. `api.service`.
    pub name: String,
    /// Its contents, ending with a newline.
    pub text: String,
}

/// A field (or group) a target does not express: a comment in the output and a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `app "api"` or `group "backend"`.
    pub subject: String,
    /// The ecosystem field, as written in a file (`watch`, `restart.max_restarts`).
    pub field: String,
    /// Why it is not expressed, or how it is only partly.
    pub why: String,
}

impl Note {
    /// A note about the app `name`.
    pub fn app(name: &str, field: &str, why: impl Into<String>) -> Note {
        Note {
            subject: format!("app \"{name}\""),
            field: field.to_string(),
            why: why.into(),
        }
    }

    /// A note about the group `name`.
    pub fn group(name: &str, field: &str, why: impl Into<String>) -> Note {
        Note {
            subject: format!("group \"{name}\""),
            field: field.to_string(),
            why: why.into(),
        }
    }

    /// The note as one comment line's text (no comment marker).
    pub fn line(&self) -> String {
        format!(
            "{}: {} not expressed: {}",
            self.subject, self.field, self.why
        )
    }
}

/// What a target renders: the files, and every note, in output order.
#[derive(Debug, Default)]
pub struct Output {
    /// The files, in a stable order.
    pub files: Vec<OutFile>,
    /// The fields not expressed.
    pub notes: Vec<Note>,
}

/// Render `input` for `target`.
///
/// Errors: what the target needs and the input lacks (Kubernetes without `--image`),
/// one line naming the app.
pub fn render(target: Target, input: &Input<'_>) -> Result<Output, String> {
    match target {
        Target::Systemd => systemd::render(input),
        Target::Kubernetes => kubernetes::render(input),
        Target::Nomad => nomad::render(input),
        Target::Compose => compose::render(input),
    }
}

/// The first lines of every output: what made it, from which file.
pub fn header(target: Target, file: &Path) -> Vec<String> {
    vec![format!(
        "Generated by `pmx export {}` from {}; edit the ecosystem file and export again.",
        target.name(),
        file.display()
    )]
}

/// The environment an app sets itself: `env_file`, `env`, the chosen `envs` (SPEC §4),
/// plus `PMX_APP_NAME`. The inherited layer (the shell that ran `pmx export`) is left
/// out: it belongs to this machine, not to the target.
pub fn environment(spec: &AppSpec) -> BTreeMap<String, String> {
    let mut env = spec.env.overlay();
    env.insert("PMX_APP_NAME".to_string(), spec.app.name.clone());
    env
}

/// The command line of `spec` as it reads inside a container whose working directory is
/// the ecosystem file's directory: a program found on PATH by its name, a path under the
/// app's directory relative to it (the image holds the project, not this machine's
/// paths), every other word as it is.
pub fn container_argv(spec: &AppSpec, path_dirs: &[PathBuf]) -> Vec<String> {
    let program = &spec.program;
    let first = match (program.parent(), program.file_name()) {
        (Some(parent), Some(name)) if path_dirs.iter().any(|d| d == parent) => {
            name.to_string_lossy().into_owned()
        }
        _ => relative(program, &spec.app.dir),
    };
    let mut argv = vec![first];
    argv.extend(spec.args.iter().map(|a| {
        let p = Path::new(a);
        if p.is_absolute() && p.starts_with(&spec.app.dir) {
            relative(p, &spec.app.dir)
        } else {
            a.clone()
        }
    }));
    argv
}

/// What a container (or a Nomad task) changes for `spec` that no field says, as notes:
/// - `listen` of a program that is not Node: nothing passes the socket there
///   (`LISTEN_FDS`), so the app must bind its port itself (gunicorn's `--bind`, uvicorn's
///   `--port`): `--fd 3` or a LISTEN_FDS-only server fails in a container. Node apps bind
///   `server.listen(port)` themselves under pmx too.
/// - with `in_image`, a program that stays a path of this machine (not under the app's
///   directory, not found on PATH by name): the image must hold it at that very path.
pub fn container_notes(spec: &AppSpec, argv: &[String], in_image: bool) -> Vec<Note> {
    let app = &spec.app;
    let mut notes = Vec::new();
    let node = pmx_protocol::is_node(app.interpreter.as_deref(), &spec.program);
    if !node && !app.listen.is_empty() {
        notes.push(Note::app(
            &app.name,
            "listen",
            "nothing passes the socket (LISTEN_FDS) here: the app must bind its port itself (gunicorn --bind 0.0.0.0:PORT, uvicorn --host 0.0.0.0 --port PORT), or it serves nothing",
        ));
    }
    if in_image {
        if let Some(first) = argv.first().filter(|p| p.starts_with('/')) {
            notes.push(Note::app(
                &app.name,
                "script",
                format!("{first} is a path of this machine: the image must hold it at that path (or give `interpreter`/`script` as the image has them)"),
            ));
        }
    }
    notes
}

/// `path` relative to `dir` when under it (`./x` for a program), else as it is.
fn relative(path: &Path, dir: &Path) -> String {
    match path.strip_prefix(dir) {
        Ok(rest) if !rest.as_os_str().is_empty() => {
            format!("./{}", rest.display())
        }
        _ => path.display().to_string(),
    }
}

/// The directories of a `PATH` value (`container_argv` names a program found there by
/// its file name).
pub fn path_dirs(path_var: Option<&str>) -> Vec<PathBuf> {
    path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default()
}

/// A `listen` address: a TCP port (with its host) or a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `tcp://host:port`.
    Tcp {
        /// The host as written (`0.0.0.0`, `[::]`, `localhost`).
        host: String,
        /// The port.
        port: u16,
    },
    /// `unix:/path`.
    Unix(String),
}

impl Listen {
    /// Read a `listen` entry (pmx-config validated it; anything else is `None`).
    pub fn parse(s: &str) -> Option<Listen> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Some(Listen::Unix(path.to_string()));
        }
        let rest = s.strip_prefix("tcp://").unwrap_or(s);
        let (host, port) = rest.rsplit_once(':')?;
        Some(Listen::Tcp {
            host: host.to_string(),
            port: port.parse().ok()?,
        })
    }
}

/// The TCP ports of `spec`'s `listen`, in order, and a note for each unix socket,
/// saying `why_unix` the target cannot publish it.
pub fn tcp_ports(spec: &AppSpec, why_unix: &str) -> (Vec<u16>, Vec<Note>) {
    let mut ports = Vec::new();
    let mut notes = Vec::new();
    for l in &spec.app.listen {
        match Listen::parse(l) {
            Some(Listen::Tcp { port, .. }) => ports.push(port),
            _ => notes.push(Note::app(
                &spec.app.name,
                "listen",
                format!("{l}: {why_unix}"),
            )),
        }
    }
    (ports, notes)
}

/// A probe's target parts: for `http://host:port/path?q` the port and the path; for
/// `host:port` the port. `${NAME}` is replaced from `env` first (SPEC §4's per-instance
/// substitution, with the exported environment's value).
pub fn probe_parts(url: &str, env: &BTreeMap<String, String>) -> Option<(String, u16, String)> {
    let url = substitute(url, env);
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_string(), r.to_string()),
        None => ("tcp".to_string(), url.clone()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.clone(), "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None if scheme == "https" => (authority.clone(), 443),
        None if scheme == "http" => (authority.clone(), 80),
        None => return None,
    };
    Some((host, port, path))
}

/// `${NAME}` replaced by `env`'s value (left as written when unknown).
pub fn substitute(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) => match env.get(&after[..j]) {
                Some(v) => {
                    out.push_str(v);
                    rest = &after[j + 1..];
                }
                None => {
                    out.push_str(&rest[i..i + 2]);
                    rest = after;
                }
            },
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whole seconds for `ms`, rounded up (Kubernetes' probes and grace periods count
/// seconds), at least `min`.
pub fn ceil_secs(ms: u64, min: u64) -> u64 {
    ms.div_ceil(1000).max(min)
}

/// A duration in Go's/Compose's form: `1600ms`, `3s`, `2m` (the largest unit that is
/// exact).
pub fn go_duration(ms: u64) -> String {
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A Kubernetes-style memory quantity: `300Mi` when exact in Mi, `1Gi` in Gi, else bytes.
pub fn memory_quantity(bytes: u64) -> String {
    const MI: u64 = 1 << 20;
    const GI: u64 = 1 << 30;
    if bytes.is_multiple_of(GI) {
        format!("{}Gi", bytes / GI)
    } else if bytes.is_multiple_of(MI) {
        format!("{}Mi", bytes / MI)
    } else {
        bytes.to_string()
    }
}

/// A name made of `[a-z0-9-]` (Kubernetes' DNS labels, Compose's and Nomad's habits):
/// lower case, every other character `-`, trimmed of `-`, `app-` before a leading digit
/// (a Service's name must start with a letter, DNS-1035), at most 63 characters.
pub fn dns_label(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    let named = match trimmed.chars().next() {
        None => return "app".to_string(),
        Some(c) if c.is_ascii_digit() => format!("app-{trimmed}"),
        Some(_) => trimmed.to_string(),
    };
    let cut: String = named.chars().take(63).collect();
    cut.trim_end_matches('-').to_string()
}

/// Comment lines (`prefix` + text) for a YAML or unit file: the header then each note.
pub fn comments(prefix: &str, header: &[String], notes: &[Note]) -> String {
    let mut out = String::new();
    for line in header {
        out.push_str(&format!("{prefix}{line}\n"));
    }
    for n in notes {
        out.push_str(&format!("{prefix}pmx: {}\n", n.line()));
    }
    out
}

/// `v` as one YAML document, every string that a YAML 1.1 reader (PyYAML, hence
/// docker-compose; go-yaml v2, hence kubectl) would take for something else quoted.
///
/// serde_yaml_ng writes YAML 1.2, where `on`, `no`, `y`, `1:30`, `1_000` and
/// `2001-12-14` are plain strings; YAML 1.1 reads them as a boolean, a number, a date.
/// Each such string (key or value) goes through the serializer as a placeholder, then
/// the placeholder becomes the string in double quotes (JSON's escaping, which YAML's
/// double-quoted style shares).
///
/// Errors: the serializer's, as one line.
pub fn to_yaml(v: &serde_json::Value) -> Result<String, String> {
    let mut risky: Vec<String> = Vec::new();
    let marked = mark_risky(v, &mut risky);
    let mut text =
        serde_yaml_ng::to_string(&marked).map_err(|e| format!("export: cannot write YAML: {e}"))?;
    // Last first: `…_1` must not eat the start of `…_10`.
    for (k, s) in risky.iter().enumerate().rev() {
        let quoted = serde_json::to_string(s).map_err(|e| format!("export: {e}"))?;
        text = text.replace(&placeholder(k), &quoted);
    }
    Ok(text)
}

/// The stand-in for the `k`-th risky string: plain in YAML, found in no real value.
fn placeholder(k: usize) -> String {
    format!("pmx-yaml11-quote-{k:06}")
}

/// `v` with each risky string (see [`yaml11_risky`]) replaced by a placeholder, the
/// originals pushed onto `risky` in order.
fn mark_risky(v: &serde_json::Value, risky: &mut Vec<String>) -> serde_json::Value {
    use serde_json::Value;
    let swap = |s: &str, risky: &mut Vec<String>| -> String {
        if yaml11_risky(s) {
            risky.push(s.to_string());
            placeholder(risky.len() - 1)
        } else {
            s.to_string()
        }
    };
    match v {
        Value::String(s) => Value::String(swap(s, risky)),
        Value::Array(items) => Value::Array(items.iter().map(|i| mark_risky(i, risky)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (swap(k, risky), mark_risky(v, risky)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether YAML 1.1 would read the plain scalar `s` as other than this string: its
/// booleans (`y`, `no`, `on`, `off`…), `null`/`~`, the value and merge keys (`=`,
/// `<<`), and anything with a digit, made of digits and `_ : . + - e E`, that starts
/// with a digit or sign (numbers with `_`, sexagesimal `1:30`, dates). Quoting more than needed is
/// harmless.
pub fn yaml11_risky(s: &str) -> bool {
    const WORDS: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "=", "<<",
    ];
    let lower = s.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) {
        return true;
    }
    let starts = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '+' || c == '-' || c == '.');
    starts
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '_' | ':' | '.' | '+' | '-' | 'e' | 'E'))
}
