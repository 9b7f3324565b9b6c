//! `pmx export systemd`: one `.service` per app (a template `name@.service` and a
//! `name.target` that wants its N instances when there are several), a `.socket` for
//! `listen`, a `.timer` for `cron_restart`, a `.target` per group with its members
//! ordered as pmx starts them. Values are escaped per systemd.syntax(7) and
//! systemd.unit(5) (`%` specifiers, `$` in command lines, C escapes in quotes).

use pmx_config::Policy;
use pmx_protocol::AppSpec;

use super::fields::{group_unmapped, unmapped, Mapping, Table};
use super::{comments, header, Input, Listen, Note, OutFile, Output, Target};

/// Every field, mapped or not (docs/export.md holds this table).
pub const TABLE: Table = &[
    ("name", Mapping::To("the unit's name (`name.service`, `name@.service`)")),
    ("script", Mapping::To("`ExecStart=`, absolute")),
    ("args", Mapping::To("`ExecStart=` arguments")),
    ("cwd", Mapping::To("`WorkingDirectory=`")),
    ("interpreter", Mapping::To("`ExecStart=`'s program, resolved on PATH at export")),
    ("interpreter_args", Mapping::To("`ExecStart=` arguments before the script")),
    ("instances", Mapping::To("a template `name@.service` and `name.target` wanting `name@0`…`name@N-1`")),
    ("instance_var", Mapping::To("`Environment=` with `%i`")),
    ("exec_mode", Mapping::To("fork: independent instances; cluster: they share the `.socket`")),
    ("increment_var", Mapping::Not("a unit cannot add the instance number to a value; give each instance its value in an `Environment=` drop-in")),
    ("listen", Mapping::To("`name.socket` (`ListenStream=`), passed with `Sockets=` as LISTEN_FDS (none for a Node app: it binds its port itself)")),
    ("env", Mapping::To("`Environment=`")),
    ("envs", Mapping::To("`Environment=` (the layer `--env` chose)")),
    ("env_file", Mapping::To("`Environment=` (its contents as read at export)")),
    ("autostart", Mapping::To("no `[Install]` section: the unit is not enabled")),
    ("namespace", Mapping::Not("systemd has no namespaces of units")),
    ("uid", Mapping::To("`User=`")),
    ("gid", Mapping::To("`Group=`")),
    ("restart.policy", Mapping::To("`Restart=always|on-failure|no`")),
    ("restart.delay", Mapping::To("`RestartSec=`")),
    ("restart.backoff", Mapping::Not("`RestartSteps=`/`RestartMaxDelaySec=` need systemd 254; `RestartSec=` takes the first delay")),
    ("restart.min_uptime", Mapping::Not("systemd counts starts in a window (`StartLimitIntervalSec=`), not short runs in a row")),
    ("restart.max_restarts", Mapping::Not("systemd counts starts in a window (`StartLimitBurst=`), not short runs in a row")),
    ("strategy", Mapping::Not("each instance is a unit of its own, restarted alone")),
    ("intensity", Mapping::To("`StartLimitBurst=` (max + 1 starts) within `StartLimitIntervalSec=`")),
    ("stop_exit_codes", Mapping::To("`RestartPreventExitStatus=`")),
    ("kill_signal", Mapping::To("`KillSignal=`")),
    ("kill_timeout", Mapping::To("`TimeoutStopSec=`")),
    ("shutdown_with_message", Mapping::Not("a unit has no Node IPC channel; `KillSignal=` stops it")),
    ("wait_ready", Mapping::To("`Type=notify`, `NotifyAccess=all` (READY=1 over NOTIFY_SOCKET)")),
    ("listen_timeout", Mapping::To("`TimeoutStartSec=` (systemd fails the start then, pmx goes online)")),
    ("max_memory_restart", Mapping::To("`MemoryMax=` (the kernel kills the unit at the limit, `Restart=` restarts it)")),
    ("cron_restart", Mapping::To("`name-cron.timer` (`OnCalendar=`) running `systemctl restart`")),
    ("cron_timezone", Mapping::To("`OnCalendar=`'s time zone")),
    ("health", Mapping::Not("systemd runs no health probe; a watchdog needs the app's own `WATCHDOG=1`")),
    ("watch", Mapping::Not("systemd does not restart on file changes (a `.path` unit could start, not restart)")),
    ("ignore_watch", Mapping::Not("no watching")),
    ("watch_delay", Mapping::Not("no watching")),
    ("logs.time", Mapping::Not("the journal stamps every line itself")),
    ("logs.date_format", Mapping::Not("the journal stamps every line itself")),
    ("logs.merge", Mapping::To("the journal holds every instance's lines (`journalctl -u 'name@*'`)")),
    ("logs.out_file", Mapping::To("`StandardOutput=append:`")),
    ("logs.error_file", Mapping::To("`StandardError=append:`")),
    ("logs.log_file", Mapping::To("`StandardOutput=append:` and `StandardError=append:` to one file")),
    ("logs.rotate", Mapping::Not("rotate the files with logrotate, or use the journal's own limits")),
    ("logs.format", Mapping::Not("the journal's JSON is `journalctl -o json`")),
    ("groups", Mapping::To("`group.target` wanting the members, each `After=` the one before (readiness order)")),
    ("group.strategy", Mapping::Not("units restart alone (`PartOf=`/`BindsTo=` are not OTP's strategies)")),
    ("group.intensity", Mapping::Not("systemd limits the starts of each unit, not of a group")),
];

/// The units of every app and group, in app order then groups.
///
/// Errors: none today (every app has a unit); `Result` for the targets' one signature.
pub fn render(input: &Input<'_>) -> Result<Output, String> {
    let mut out = Output::default();
    let head = header(Target::Systemd, input.file);
    for spec in input.apps {
        app_units(input, spec, &head, &mut out);
    }
    for g in input.groups {
        let notes = group_unmapped(g, TABLE);
        let mut text = comments("# ", &head, &notes);
        text.push_str(&format!("[Unit]\nDescription=pmx group {}\n", g.name));
        let units: Vec<String> = g
            .apps
            .iter()
            .filter_map(|a| input.app(a))
            .map(|s| unit_of(input, s))
            .collect();
        if !units.is_empty() {
            text.push_str(&format!("Wants={}\n", units.join(" ")));
            text.push_str(&format!("After={}\n", units.join(" ")));
        }
        text.push_str("\n[Install]\nWantedBy=multi-user.target\n");
        out.notes.extend(notes);
        out.files.push(OutFile {
            name: format!("{}.target", unit_name(&g.name)),
            text,
        });
    }
    Ok(out)
}

/// The unit others order themselves after: `name.service`, or `name.target` for a set
/// of instances.
fn unit_of(input: &Input<'_>, spec: &AppSpec) -> String {
    if input.count(spec).0 > 1 {
        format!("{}.target", unit_name(&spec.app.name))
    } else {
        format!("{}.service", unit_name(&spec.app.name))
    }
}

/// The units of one app: its service (a template with several instances), the target
/// of its instances, its socket, its cron timer.
fn app_units(input: &Input<'_>, spec: &AppSpec, head: &[String], out: &mut Output) {
    let app = &spec.app;
    let name = unit_name(&app.name);
    let (count, count_note) = input.count(spec);
    let template = count > 1;
    let mut notes = unmapped(spec, TABLE);
    notes.extend(count_note);
    let calendar = app.cron_restart.as_deref().and_then(|c| {
        let cal = cron_to_calendar(c);
        if cal.is_none() {
            notes.push(Note::app(
                &app.name,
                "cron_restart",
                format!("\"{c}\" has no OnCalendar= form (a day of month and a weekday together mean either in cron, both in systemd; L, W and # have none)"),
            ));
        }
        cal
    });
    let node = pmx_protocol::is_node(app.interpreter.as_deref(), &spec.program);
    // A Node app binds `server.listen(port)` itself (under pmx the cluster primary lends
    // it the socket; nothing does under systemd): a `.socket` unit holding the port would
    // make it fail with EADDRINUSE, so none is written.
    let sockets = !app.listen.is_empty() && !node;
    if node && !app.listen.is_empty() {
        notes.push(Note::app(
            &app.name,
            "listen",
            if template {
                "a Node app binds its port itself under systemd (no cluster primary lends it the socket): no .socket unit, and of several instances only one can bind the port (give each its own, or put a proxy in front)"
            } else {
                "a Node app binds its port itself under systemd (no cluster primary lends it the socket): no .socket unit"
            },
        ));
    }
    if node && app.wait_ready {
        notes.push(Note::app(
            &app.name,
            "wait_ready",
            "a Node app's `process.send('ready')` has no channel under systemd: it must write READY=1 to NOTIFY_SOCKET (Type=notify)",
        ));
    }
    let wanted_by = match input.group_of(&app.name) {
        Some((g, _)) => format!("{}.target", unit_name(&g.name)),
        None => "multi-user.target".to_string(),
    };
    let mut text = comments("# ", head, &notes);
    if template {
        text.push_str(&format!(
            "# {count} instances: `systemctl enable --now {name}.target` (or `{name}@0.service` … `{name}@{}.service` one by one).\n",
            count - 1
        ));
    }
    text.push_str(&service_unit(input, spec, template, sockets, &wanted_by));
    out.notes.extend(notes);
    out.files.push(OutFile {
        name: if template {
            format!("{name}@.service")
        } else {
            format!("{name}.service")
        },
        text,
    });
    if template {
        let instances: Vec<String> = (0..count).map(|k| format!("{name}@{k}.service")).collect();
        let mut t = comments("# ", head, &[]);
        t.push_str(&format!(
            "[Unit]\nDescription=pmx app {} ({count} instances)\nWants={}\nAfter={}\n",
            app.name,
            instances.join(" "),
            instances.join(" ")
        ));
        if app.autostart {
            t.push_str(&format!("\n[Install]\nWantedBy={wanted_by}\n"));
        }
        out.files.push(OutFile {
            name: format!("{name}.target"),
            text: t,
        });
    }
    if sockets {
        out.files.push(OutFile {
            name: format!("{name}.socket"),
            text: comments("# ", head, &[]) + &socket_unit(spec, template),
        });
    }
    if let Some(cal) = calendar {
        out.files.extend(cron_units(spec, &cal, template, head));
    }
}

/// The `[Unit]`, `[Service]` and `[Install]` sections of an app's service; `sockets`:
/// it takes its `.socket` unit's sockets (LISTEN_FDS).
fn service_unit(
    input: &Input<'_>,
    spec: &AppSpec,
    template: bool,
    sockets: bool,
    wanted_by: &str,
) -> String {
    let app = &spec.app;
    let name = unit_name(&app.name);
    let mut t = String::from("[Unit]\n");
    t.push_str(&format!("Description=pmx app {}\n", app.name));
    let mut after = vec!["network.target".to_string()];
    if sockets {
        after.push(format!("{name}.socket"));
        t.push_str(&format!("Requires={name}.socket\n"));
    }
    // Readiness order: after the group's member before this one (with Type=notify
    // systemd waits for its READY=1, as pmx waits for it to be online).
    if let Some((_, Some(prev))) = input.group_of(&app.name) {
        if let Some(p) = input.app(prev) {
            after.push(unit_of(input, p));
        }
    }
    t.push_str(&format!("After={}\n", after.join(" ")));
    if template {
        t.push_str(&format!("PartOf={name}.target\n"));
    }
    if let Some(i) = app.intensity {
        t.push_str(&format!(
            "StartLimitIntervalSec={}\nStartLimitBurst={}\n",
            duration(i.within_ms),
            i.max.saturating_add(1)
        ));
    }
    t.push_str("\n[Service]\n");
    if app.wait_ready {
        t.push_str("Type=notify\nNotifyAccess=all\n");
        t.push_str(&format!(
            "TimeoutStartSec={}\n",
            duration(app.listen_timeout_ms)
        ));
    } else {
        t.push_str("Type=simple\n");
    }
    let mut argv = vec![spec.program.display().to_string()];
    argv.extend(spec.args.iter().cloned());
    t.push_str(&format!("ExecStart={}\n", exec_line(&argv)));
    t.push_str(&format!(
        "WorkingDirectory={}\n",
        specifiers(&spec.cwd.display().to_string())
    ));
    if let Some(u) = &app.uid {
        t.push_str(&format!("User={}\n", specifiers(u)));
    }
    if let Some(g) = &app.gid {
        t.push_str(&format!("Group={}\n", specifiers(g)));
    }
    let mut env = super::environment(spec);
    let instance = if template { "%i" } else { "0" };
    let injected = ["PMX_INSTANCE", app.instance_var.as_str()];
    for k in injected {
        env.insert(k.to_string(), instance.to_string());
    }
    for (k, v) in &env {
        let keep = template && injected.contains(&k.as_str());
        t.push_str(&format!("Environment={}\n", env_assignment(k, v, keep)));
    }
    if sockets {
        t.push_str(&format!("Sockets={name}.socket\n"));
    }
    let restart = match app.restart.policy {
        Policy::Always => "always",
        Policy::OnFailure => "on-failure",
        Policy::Never => "no",
    };
    t.push_str(&format!("Restart={restart}\n"));
    if app.restart.policy != Policy::Never {
        // Written even at 0: systemd's own default is 100 ms, pmx's 0.
        let ms = app.restart.backoff_ms.unwrap_or(app.restart.delay_ms);
        t.push_str(&format!("RestartSec={}\n", duration(ms)));
    }
    if !app.stop_exit_codes.is_empty() {
        let codes: Vec<String> = app.stop_exit_codes.iter().map(i32::to_string).collect();
        t.push_str(&format!("RestartPreventExitStatus={}\n", codes.join(" ")));
    }
    t.push_str(&format!("KillSignal={}\n", app.kill_signal));
    t.push_str(&format!(
        "TimeoutStopSec={}\n",
        duration(app.kill_timeout_ms)
    ));
    if let Some(bytes) = app.max_memory_restart {
        t.push_str(&format!("MemoryMax={bytes}\n"));
    }
    let logs = &app.logs;
    let (stdout, stderr) = match &logs.log_file {
        Some(f) => (Some(f), Some(f)),
        None => (logs.out_file.as_ref(), logs.error_file.as_ref()),
    };
    for (key, file) in [("StandardOutput", stdout), ("StandardError", stderr)] {
        if let Some(f) = file {
            t.push_str(&format!(
                "{key}=append:{}\n",
                specifiers(&f.display().to_string())
            ));
        }
    }
    // A template's instances are wanted by its target; an app not started with the
    // file (`autostart: false`) is not enabled.
    if template {
        t.push_str(&format!("\n[Install]\nWantedBy={name}.target\n"));
    } else if app.autostart {
        t.push_str(&format!("\n[Install]\nWantedBy={wanted_by}\n"));
    }
    t
}

/// An app's `.socket`: a `ListenStream=` per `listen` address.
fn socket_unit(spec: &AppSpec, template: bool) -> String {
    let name = unit_name(&spec.app.name);
    let mut t = format!(
        "[Unit]\nDescription=pmx app {} sockets\n\n[Socket]\n",
        spec.app.name
    );
    for l in &spec.app.listen {
        let stream = match Listen::parse(l) {
            Some(Listen::Tcp { host, port }) => format!("{host}:{port}"),
            Some(Listen::Unix(path)) => path,
            None => l.clone(),
        };
        t.push_str(&format!("ListenStream={}\n", specifiers(&stream)));
    }
    if template {
        // A socket activates one service; the other instances take it by `Sockets=`.
        t.push_str(&format!("Service={name}@0.service\n"));
    }
    t.push_str("\n[Install]\nWantedBy=sockets.target\n");
    t
}

/// `cron_restart` as `name-cron.timer` (`OnCalendar=`, in `cron_timezone`) and the
/// oneshot `name-cron.service` it runs: `systemctl try-restart`, which leaves a stopped
/// app stopped.
fn cron_units(spec: &AppSpec, calendar: &str, template: bool, head: &[String]) -> [OutFile; 2] {
    let app = &spec.app;
    let name = unit_name(&app.name);
    let tz = app
        .cron_timezone
        .as_ref()
        .map(|z| format!(" {z}"))
        .unwrap_or_default();
    let timer = format!(
        "{}# cron_restart \"{}\"\n[Unit]\nDescription=pmx cron_restart of {}\n\n[Timer]\nOnCalendar={calendar}{tz}\nUnit={name}-cron.service\n\n[Install]\nWantedBy=timers.target\n",
        comments("# ", head, &[]),
        app.cron_restart.as_deref().unwrap_or_default(),
        app.name
    );
    let restarted = if template {
        format!("{name}@*.service")
    } else {
        format!("{name}.service")
    };
    let service = format!(
        "{}[Unit]\nDescription=pmx cron_restart of {}\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/systemctl try-restart {}\n",
        comments("# ", head, &[]),
        app.name,
        exec_word(&restarted)
    );
    [
        OutFile {
            name: format!("{name}-cron.timer"),
            text: timer,
        },
        OutFile {
            name: format!("{name}-cron.service"),
            text: service,
        },
    ]
}

/// A unit name for an app or group: pmx names are `[A-Za-z0-9_.-]`, which systemd takes
/// as they are; anything else is escaped as `systemd-escape` does (`\xNN`).
pub fn unit_name(name: &str) -> String {
    let mut out = String::new();
    for (i, b) in name.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A duration as systemd writes one: `1600ms`, `3s`, `2min`, `1h`.
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        "0".to_string()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}min", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `%` doubled: a literal in a setting that resolves specifiers (systemd.unit(5)).
pub fn specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// One word of a command line (systemd.service(5) "Command lines"): `%` and `$` doubled
/// (specifiers, variable expansion), and quoted with C escapes when it holds a space, a
/// quote, a backslash, a control character, or is empty or a lone `;`.
pub fn exec_word(word: &str) -> String {
    let w = specifiers(word).replace('$', "$$");
    let needs = w.is_empty()
        || w == ";"
        || w.chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\' || c.is_control());
    if needs {
        format!("\"{}\"", c_escape(&w))
    } else {
        w
    }
}

/// `ExecStart=`'s value: each word escaped.
pub fn exec_line(argv: &[String]) -> String {
    argv.iter()
        .map(|w| exec_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `"KEY=value"` for `Environment=` (systemd.exec(5)): quoted, C-escaped, `%` doubled
/// (`%i` kept when `keep_instance`: the instance number pmx injects in a template).
pub fn env_assignment(key: &str, value: &str, keep_instance: bool) -> String {
    let v = if keep_instance && value == "%i" {
        value.to_string()
    } else {
        specifiers(value)
    };
    format!("\"{}={}\"", c_escape(&specifiers(key)), c_escape(&v))
}

/// C escapes for a double-quoted systemd string: `\\`, `\"`, `\n`, `\t`, other control
/// characters as `\xNN`.
fn c_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A cron pattern (5 fields, or 6 with seconds first; `@daily` and friends) as an
/// `OnCalendar=` expression, or `None` when systemd's calendar cannot say it: a day of
/// month and a weekday both restricted (cron: either; systemd: both), a step over
/// weekdays, `L`, `W`, `#`.
pub fn cron_to_calendar(pattern: &str) -> Option<String> {
    let p = pattern.trim();
    let fixed = match p {
        "@yearly" | "@annually" => Some("*-01-01 00:00:00"),
        "@monthly" => Some("*-*-01 00:00:00"),
        "@weekly" => Some("Sun *-*-* 00:00:00"),
        "@daily" | "@midnight" => Some("*-*-* 00:00:00"),
        "@hourly" => Some("*-*-* *:00:00"),
        _ if p.starts_with('@') => return None,
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let fields: Vec<&str> = p.split_whitespace().collect();
    let (sec, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        _ => return None,
    };
    let [min, hour, dom, mon, dow] = rest else {
        return None;
    };
    let dom = if *dom == "?" { "*" } else { dom };
    let dow = if *dow == "?" { "*" } else { dow };
    if dom != "*" && dow != "*" {
        return None;
    }
    let sec = numeric(sec, 0, &[])?;
    let min = numeric(min, 0, &[])?;
    let hour = numeric(hour, 0, &[])?;
    let dom = numeric(dom, 1, &[])?;
    let mon = numeric(mon, 1, &MONTHS)?;
    let weekday = if dow == "*" {
        String::new()
    } else {
        format!("{} ", weekdays(dow)?)
    };
    Some(format!("{weekday}*-{mon}-{dom} {hour}:{min}:{sec}"))
}

/// Month names cron takes (`JAN` = 1).
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// One numeric cron field in systemd's words: `*/n` → `first/n`, `a-b` → `a..b`,
/// `a-b/n` → `a..b/n`, names (months) → numbers; lists kept.
fn numeric(field: &str, first: u32, names: &[&str]) -> Option<String> {
    if field == "*" {
        return Some("*".to_string());
    }
    let mut items = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s.parse::<u32>().ok()?)),
            None => (item, None),
        };
        let range = match range {
            "*" => format!("{first}"),
            r => match r.split_once('-') {
                Some((a, b)) => format!("{}..{}", value(a, names)?, value(b, names)?),
                None => value(r, names)?.to_string(),
            },
        };
        items.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Some(items.join(","))
}

/// A number, or a name from `names` (1-based), in a cron field.
fn value(word: &str, names: &[&str]) -> Option<u32> {
    if let Ok(n) = word.parse::<u32>() {
        return Some(n);
    }
    let upper = word.to_ascii_uppercase();
    names
        .iter()
        .position(|n| *n == upper)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A cron weekday field (0 or 7 = Sunday, names, ranges, lists) in systemd's names.
fn weekdays(field: &str) -> Option<String> {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let day = |w: &str| -> Option<usize> {
        let n = match w.parse::<usize>() {
            Ok(n) => n,
            Err(_) => DAYS.iter().position(|d| d.eq_ignore_ascii_case(w))?,
        };
        (n <= 7).then_some(n % 7)
    };
    let mut items = Vec::new();
    for item in field.split(',') {
        if item.contains('/') || item.contains('#') || item.contains('L') {
            return None;
        }
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                // A range ending on Sunday (`5-7`, `FRI-SUN`) is a list in systemd's week,
                // which starts on Monday.
                if b == 0 && a != 0 {
                    items.push(format!("{}..Sat,Sun", DAYS[a]));
                } else if a <= b {
                    items.push(format!("{}..{}", DAYS[a], DAYS[b]));
                } else {
                    return None;
                }
            }
            None => items.push(DAYS[day(item)?].to_string()),
        }
    }
    Some(items.join(","))
}
