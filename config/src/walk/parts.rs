//! The nested records of an app, a group and a deploy section (`instances`, `restart`,
//! `intensity`, `watch`, `logs`, `rotate`, `Group(…)`, `deploy`), each error at its own
//! position. Moved out of walk.rs, which was past ~600 lines of code.

use super::*;

impl Walk<'_> {
    pub(super) fn instances(&mut self, v: &Node) -> Option<Instances> {
        let what = "expected Count(n), a bare n, Max or MaxMinus(k) for \"instances\"";
        match &v.value {
            Value::Int(n) if *n > 0 => self.int_in::<u32>(v, *n, "instances").map(Instances::Count),
            // PM2's spellings: 0 is "max", -k is "max minus k".
            Value::Int(0) => Some(Instances::Max),
            Value::Int(n) => self
                .int_in::<u32>(v, -*n, "instances")
                .map(Instances::MaxMinus),
            Value::Ident(i) if i == "Max" => Some(Instances::Max),
            Value::Str(s) if s.eq_ignore_ascii_case("max") => Some(Instances::Max),
            Value::Call {
                name: Some((n, _)),
                body: Body::Items(items),
            } if (n == "Count" || n == "MaxMinus") && items.len() == 1 => {
                let item = &items[0];
                let Value::Int(k) = item.value else {
                    self.err(
                        item.pos,
                        format!(
                            "expected an integer in {n}(…), found {}",
                            describe(&item.value)
                        ),
                    );
                    return None;
                };
                if n == "Count" {
                    if k < 1 {
                        self.err(
                            item.pos,
                            "instances must be at least 1 (Max for one per CPU)",
                        );
                        return None;
                    }
                    self.int_in::<u32>(item, k, "instances")
                        .map(Instances::Count)
                } else {
                    self.int_in::<u32>(item, k, "instances")
                        .map(Instances::MaxMinus)
                }
            }
            Value::Ident(i) => {
                let msg = match suggest(i, &["Max", "Count", "MaxMinus"]) {
                    Some(s) => format!("unknown instances \"{i}\", did you mean \"{s}\"?"),
                    None => format!("{what}, found \"{i}\""),
                };
                self.err(v.pos, msg);
                None
            }
            other => {
                self.err(v.pos, format!("{what}, found {}", describe(other)));
                None
            }
        }
    }

    pub(super) fn restart(&mut self, v: &Node) -> Option<Restart> {
        let fields = self.record(v, "Restart", "(policy: …, delay: …)")?;
        let mut r = Restart::default();
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "policy" => {
                    if let Some(p) = self.variant(v, "policy", &["Always", "OnFailure", "Never"]) {
                        r.policy = match p {
                            "OnFailure" => Policy::OnFailure,
                            "Never" => Policy::Never,
                            _ => Policy::Always,
                        };
                    }
                }
                "delay" => r.delay_ms = self.duration(v, "delay").unwrap_or(0),
                "backoff" => {
                    r.backoff_ms = match self.opt(v) {
                        Some(Some(b)) => {
                            match &b.value {
                                Value::Call {
                                    name: Some((n, _)),
                                    body: Body::Items(items),
                                } if n == "Exp" && items.len() == 1 => {
                                    self.duration(&items[0], "backoff")
                                }
                                other => {
                                    self.err(b.pos, format!("expected Exp(\"100ms\") or None for \"backoff\", found {}", describe(other)));
                                    None
                                }
                            }
                        }
                        _ => None,
                    }
                }
                "min_uptime" => {
                    r.min_uptime_ms = self
                        .duration(v, "min_uptime")
                        .unwrap_or(DEFAULT_MIN_UPTIME_MS)
                }
                "max_restarts" => {
                    r.max_restarts = self.uint(v, "max_restarts").unwrap_or(DEFAULT_MAX_RESTARTS)
                }
                _ => self.unknown(
                    f,
                    RESTART_FIELDS,
                    &[
                        ("restart_delay", "delay"),
                        ("exp_backoff_restart_delay", "backoff"),
                    ],
                ),
            }
        }
        Some(r)
    }

    pub(super) fn intensity(&mut self, v: &Node) -> Option<Intensity> {
        let fields = self.record(v, "Intensity", "(max: …, within: …)")?;
        let mut i = Intensity::default();
        for f in fields {
            match f.name.as_str() {
                "max" => i.max = self.uint(&f.value, "max").unwrap_or(i.max),
                "within" => {
                    i.within_ms = self.duration(&f.value, "within").unwrap_or(i.within_ms);
                    if i.within_ms == 0 {
                        self.err(f.value.pos, "intensity \"within\" must be more than 0");
                    }
                }
                _ => self.unknown(
                    f,
                    INTENSITY_FIELDS,
                    &[("intensity", "max"), ("period", "within")],
                ),
            }
        }
        Some(i)
    }

    pub(super) fn watch(&mut self, v: &Node) -> Option<Watch> {
        let paths = |w: &mut Self, list: &Node| -> Option<Watch> {
            let items = w.string_nodes(list, "watch")?;
            if items.is_empty() {
                w.err(
                    list.pos,
                    "watch: Paths([]) watches nothing; write false to turn watching off",
                );
                return None;
            }
            let mut out = Vec::new();
            for (n, s) in items {
                if s.is_empty() {
                    w.err(n.pos, "a watch path must not be empty");
                }
                out.push(w.resolve(&s));
            }
            Some(Watch::Paths(out))
        };
        match &v.value {
            Value::Bool(false) => Some(Watch::Off),
            Value::Bool(true) => Some(Watch::On),
            Value::Call {
                name: Some((n, _)),
                body: Body::Items(items),
            } if n == "Paths" && items.len() == 1 => paths(self, &items[0]),
            Value::List(_) => paths(self, v),
            other => {
                self.err(
                    v.pos,
                    format!(
                        "expected false, true or Paths([…]) for \"watch\", found {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn logs(&mut self, v: &Node) -> Option<Logs> {
        let fields = self.record(v, "Logs", "(time: …, date_format: …)")?;
        let mut l = Logs::default();
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "time" => l.time = self.boolean(v, "time").unwrap_or(false),
                "date_format" => {
                    if let Some(s) = self.string(v, "date_format") {
                        if let Err(e) = values::validate_date_format(&s) {
                            self.err(v.pos, e);
                        }
                        l.date_format = s;
                    }
                }
                "merge" => l.merge = self.boolean(v, "merge").unwrap_or(false),
                "out_file" => {
                    l.out_file = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "out_file")))
                }
                "error_file" => {
                    l.error_file = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "error_file")))
                }
                "log_file" => {
                    l.log_file = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.path(v, "log_file")))
                }
                "rotate" => l.rotate = self.opt(v).and_then(|v| v.and_then(|v| self.rotate(v))),
                "format" => {
                    if let Some(f) = self.variant(v, "format", &["Text", "Json"]) {
                        l.format = match f {
                            "Json" => LogFormat::Json,
                            _ => LogFormat::Text,
                        };
                    }
                }
                _ => self.unknown(
                    f,
                    LOGS_FIELDS,
                    &[
                        ("merge_logs", "merge"),
                        ("log_date_format", "date_format"),
                        ("output", "out_file"),
                        ("error", "error_file"),
                        ("log", "log_file"),
                        ("log_type", "format"),
                    ],
                ),
            }
        }
        Some(l)
    }

    pub(super) fn rotate(&mut self, v: &Node) -> Option<Rotate> {
        let fields = self.record(
            v,
            "Rotate",
            "(max_size: …, interval: …, keep: …, compress: …)",
        )?;
        let mut r = Rotate::default();
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "max_size" => {
                    r.max_size = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.size(v, "max_size")))
                }
                "interval" => {
                    r.interval_ms = self
                        .opt(v)
                        .and_then(|v| v.and_then(|v| self.duration(v, "interval")))
                }
                "keep" => r.keep = self.uint(v, "keep").unwrap_or(DEFAULT_ROTATE_KEEP),
                "compress" => r.compress = self.boolean(v, "compress").unwrap_or(false),
                _ => self.unknown(
                    f,
                    ROTATE_FIELDS,
                    &[("retain", "keep"), ("rotateInterval", "interval")],
                ),
            }
        }
        if r.max_size == Some(0) || r.interval_ms == Some(0) {
            self.err(v.pos, "rotate: max_size and interval must be more than 0");
        }
        Some(r)
    }

    // ---- Group and Deploy ---------------------------------------------------------

    /// A group, when it has no error, and its name and members with their positions, when
    /// its name is valid.
    pub(super) fn group(&mut self, node: &Node) -> (Option<Group>, Option<(Named, Vec<Named>)>) {
        let Some(fields) = self.record(node, "Group", "Group(name: …, apps: […])") else {
            return (None, None);
        };
        let before = self.errors.len();
        let mut g = Group {
            name: String::new(),
            strategy: Strategy::default(),
            intensity: Intensity::default(),
            apps: Vec::new(),
            line: node.pos.line,
        };
        let mut named = None;
        let mut members = Vec::new();
        let mut saw_apps = false;
        for f in fields {
            let v = &f.value;
            match f.name.as_str() {
                "name" => {
                    if let Some(n) = self.name(v, "name") {
                        named = Some(Named {
                            name: n.clone(),
                            pos: v.pos,
                        });
                        g.name = n;
                    }
                }
                "strategy" => g.strategy = self.strategy(v).unwrap_or_default(),
                "intensity" => g.intensity = self.intensity(v).unwrap_or_default(),
                "apps" => {
                    saw_apps = true;
                    if let Some(items) = self.string_nodes(v, "apps") {
                        if items.is_empty() {
                            self.err(v.pos, "a group needs at least one app");
                        }
                        for (n, s) in items {
                            members.push(Named {
                                name: s.clone(),
                                pos: n.pos,
                            });
                            g.apps.push(s);
                        }
                    }
                }
                _ => self.unknown(
                    f,
                    GROUP_FIELDS,
                    &[("members", "apps"), ("children", "apps")],
                ),
            }
        }
        if !fields.iter().any(|f| f.name == "name") {
            self.missing(node, "name");
        }
        if !saw_apps {
            self.missing(node, "apps");
        }
        let ok = self.errors.len() == before && named.is_some();
        (ok.then_some(g), named.map(|n| (n, members)))
    }

    pub(super) fn deploys(&mut self, v: &Node) -> BTreeMap<String, Deploy> {
        let mut out = BTreeMap::new();
        let Value::Map(entries) = &v.value else {
            self.err(
                v.pos,
                format!(
                    "expected a map {{\"name\": Deploy(…)}} for \"deploy\", found {}",
                    describe(&v.value)
                ),
            );
            return out;
        };
        for (k, d) in entries {
            let Some(name) = self.string(k, "a deploy name") else {
                continue;
            };
            if name.is_empty() {
                self.err(k.pos, "a deploy name must not be empty");
            }
            if out.contains_key(&name) {
                self.err(k.pos, format!("duplicate deploy name \"{name}\""));
            }
            if let Some(d) = self.deploy(d) {
                out.insert(name, d);
            }
        }
        out
    }

    pub(super) fn deploy(&mut self, node: &Node) -> Option<Deploy> {
        let fields = self.record(node, "Deploy", "Deploy(host: …, repo: …)")?;
        let mut d = Deploy {
            line: node.pos.line,
            ..Deploy::default()
        };
        for f in fields {
            let v = &f.value;
            let text = |w: &mut Self| w.opt(v).and_then(|v| v.and_then(|v| w.string(v, &f.name)));
            match f.name.as_str() {
                "user" => d.user = text(self),
                "host" => d.host = self.one_or_many(v, "host").unwrap_or_default(),
                "ref" => d.r#ref = text(self),
                "repo" => d.repo = text(self),
                "path" => d.path = text(self),
                "key" => d.key = text(self),
                "port" => {
                    let port = self.opt(v).flatten().and_then(|n| self.uint(n, "port"));
                    d.port = port.and_then(|p| self.int_in(v, i128::from(p), "port"));
                }
                "keep_releases" => {
                    d.keep_releases = self
                        .opt(v)
                        .flatten()
                        .and_then(|n| self.uint(n, "keep_releases"));
                    if d.keep_releases == Some(0) {
                        self.err(
                            v.pos,
                            "\"keep_releases\" must be at least 1 (the current release)",
                        );
                    }
                }
                "ssh_options" => {
                    d.ssh_options = self.one_or_many(v, "ssh_options").unwrap_or_default()
                }
                "pre_setup" => d.pre_setup = text(self),
                "post_setup" => d.post_setup = text(self),
                "pre_deploy" => d.pre_deploy = text(self),
                "pre_deploy_local" => d.pre_deploy_local = text(self),
                "post_deploy" => d.post_deploy = text(self),
                _ => self.unknown(f, DEPLOY_FIELDS, &[]),
            }
        }
        Some(d)
    }
}
