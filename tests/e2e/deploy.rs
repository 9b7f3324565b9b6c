//! `pmx deploy` end to end against a real `sshd` on 127.0.0.1 (Debian's openssh-server,
//! started per test on a free port with a throwaway host key and user key) and a local
//! bare git repository as `repo`: setup, updates, revert, curr/prev/list, exec on two
//! hosts, a failing hook, the local-changes check, bad environments.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{run_with_timeout, tool_available, wait_for, TestHome, DEADLINE};

const SSHD: &str = "/usr/sbin/sshd";

/// Whether `prog` runs (`prog -V`/`--version` style checks differ; `which` is enough).
fn on_path(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The tools every test here needs; false (skipped, with the reason) when one is missing.
fn tools() -> bool {
    tool_available(
        Path::new(SSHD).exists() && on_path("ssh") && on_path("ssh-keygen"),
        "sshd, ssh or ssh-keygen is missing (openssh-server and openssh-client; .ci/run installs them)",
    ) && tool_available(on_path("git"), "git is missing (.ci/run installs it)")
}

/// An sshd on 127.0.0.1 for one test, killed by pid when dropped.
struct Sshd {
    child: Child,
    port: u16,
    /// The user key (`ssh -i`).
    key: PathBuf,
    dir: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        std::fs::create_dir_all(dir).expect("sshd dir");
        let keygen = |file: &Path| {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(file)
                .stdin(Stdio::null())
                .status()
                .expect("ssh-keygen runs");
            assert!(st.success(), "ssh-keygen {}", file.display());
        };
        let host_key = dir.join("host_key");
        let key = dir.join("user_key");
        keygen(&host_key);
        keygen(&key);
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys"))
            .expect("authorized_keys");
        // sshd checks for its privilege separation directory even when it never uses it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
                hk = host_key.display(),
                dir = dir.display()
            ),
        )
        .expect("sshd_config");
        let log = std::fs::File::create(dir.join("sshd.log")).expect("sshd.log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd starts");
        let mut s = Sshd {
            child,
            port,
            key,
            dir: dir.to_path_buf(),
        };
        let up = wait_for(DEADLINE, || {
            if let Ok(Some(_)) = s.child.try_wait() {
                return true;
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let exited = s.child.try_wait().ok().flatten();
        assert!(
            up && exited.is_none(),
            "sshd did not come up on port {port} ({exited:?}): {}",
            std::fs::read_to_string(s.dir.join("sshd.log")).unwrap_or_default()
        );
        s
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `git args…` in `dir`, asserted to succeed; answers its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=pmx test",
            "-c",
            "user.email=test@pmx",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A deploy setup: the test's pmx home, its sshd, a bare `origin.git`, a local clone
/// `app/` holding ecosystem.ron (committed and pushed), and the remote path `srv/my app`
/// (a space on purpose).
struct Site {
    t: TestHome,
    sshd: Sshd,
    origin: PathBuf,
    clone: PathBuf,
    srv: PathBuf,
    user: String,
}

impl Site {
    /// `deploy` is the ecosystem's `deploy: {…}` map, with `@SSH@` standing for the ssh
    /// fields (user, key, port, options) and `@PATH@`/`@REPO@` for the quoted paths.
    fn new(deploy: &str) -> Site {
        let t = TestHome::new();
        let sshd = Sshd::start(&t.work.join("sshd"));
        let origin = t.work.join("origin.git");
        let clone = t.work.join("app");
        let srv = t.work.join("srv").join("my app");
        git(
            &t.work,
            &["init", "-q", "--bare", origin.to_str().expect("utf8")],
        );
        git(
            &t.work,
            &["clone", "-q", origin.to_str().expect("utf8"), "app"],
        );
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
            .expect("utf8")
            .trim()
            .to_string();
        let ssh = format!(
            "user: {user:?}, key: {key:?}, port: {port}, \
             ssh_options: [\"StrictHostKeyChecking=no\", \"UserKnownHostsFile=/dev/null\", \
             \"LogLevel=ERROR\", \"BatchMode=yes\", \"-F /dev/null\"]",
            key = sshd.key.display().to_string(),
            port = sshd.port
        );
        let deploy = deploy
            .replace("@SSH@", &ssh)
            .replace("@PATH@", &format!("{:?}", srv.display().to_string()))
            .replace("@REPO@", &format!("{:?}", origin.display().to_string()));
        std::fs::write(
            clone.join("ecosystem.ron"),
            format!(
                "Ecosystem(\n    apps: [App(name: \"web\", script: \"web.sh\")],\n    deploy: {deploy},\n)\n"
            ),
        )
        .expect("ecosystem.ron");
        std::fs::write(clone.join("web.sh"), "echo v1\n").expect("web.sh");
        git(&clone, &["add", "."]);
        git(&clone, &["commit", "-q", "-m", "v1"]);
        git(&clone, &["push", "-q", "origin", "HEAD:main"]);
        git(&clone, &["branch", "-q", "--set-upstream-to=origin/main"]);
        Site {
            t,
            sshd,
            origin,
            clone,
            srv,
            user,
        }
    }

    /// `pmx deploy args…` from the clone.
    fn deploy(&self, args: &[&str]) -> Output {
        let mut c = self.t.cmd(&[&["deploy"], args].concat());
        c.current_dir(&self.clone);
        run_with_timeout(c, Duration::from_secs(120))
    }

    /// `pmx deploy args…`, asserted to exit 0; answers stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.deploy(args);
        assert!(
            o.status.success(),
            "pmx deploy {args:?} failed ({:?})\nstdout: {}\nstderr: {}\nsshd: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            std::fs::read_to_string(self.sshd.dir.join("sshd.log")).unwrap_or_default()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A new commit changing web.sh, pushed; answers its hash.
    fn commit(&self, version: &str) -> String {
        std::fs::write(self.clone.join("web.sh"), format!("echo {version}\n")).expect("web.sh");
        git(&self.clone, &["commit", "-q", "-am", version]);
        git(&self.clone, &["push", "-q", "origin", "HEAD:main"]);
        git(&self.clone, &["rev-parse", "HEAD"])
    }

    /// The release `current` points at (its directory name).
    fn current(&self) -> String {
        let link = std::fs::read_link(self.srv.join("current")).expect("current is a symlink");
        link.file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned()
    }

    /// The release directories, oldest first.
    fn releases(&self) -> Vec<String> {
        let mut r: Vec<String> = std::fs::read_dir(self.srv.join("releases"))
            .expect("releases")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        r.sort();
        r
    }

    /// `user@host` as pmx shows a host.
    fn at(&self, host: &str) -> String {
        format!("{}@{host}", self.user)
    }
}

/// One environment on 127.0.0.1 keeping two releases; its post_deploy records where it
/// ran and what it saw.
const PRODUCTION: &str = r#"{
        "production": Deploy(@SSH@, host: "127.0.0.1", repo: @REPO@, path: @PATH@,
            ref: "origin/main", keep_releases: 2,
            pre_setup: "echo pre-setup-ran > /dev/null",
            post_setup: "pwd > ../setup-dir",
            pre_deploy_local: "echo local >> ../local-hook-ran",
            post_deploy: "pwd > ../../deployed-in; echo \"$SHARED\" > ../../shared-was; cat web.sh >> ../../ran-versions"),
    }"#;

#[test]
fn deploy_sets_up_updates_keeps_n_releases_and_reverts_over_ssh() {
    if !tools() {
        return;
    }
    let s = Site::new(PRODUCTION);
    let out = s.ok(&["ecosystem.ron", "production", "setup"]);
    let host = s.at("127.0.0.1");
    assert!(out.contains(&format!("--> [1/1] {host}\n")), "{out}");
    assert!(out.contains(&format!("<-- [1/1] {host}: ok\n")), "{out}");
    assert!(
        s.srv.join("source/.git").is_dir(),
        "the clone is in path/source"
    );
    assert!(s.srv.join("shared").is_dir());
    assert_eq!(
        std::fs::read_to_string(s.srv.join("setup-dir"))
            .expect("post_setup ran")
            .trim(),
        s.srv.join("source").display().to_string(),
        "post_setup runs in path/source"
    );
    let v1 = git(&s.clone, &["rev-parse", "HEAD"]);

    // First update: `pmx deploy <file> <env>` alone is an update, as in PM2.
    let out = s.ok(&["ecosystem.ron", "production"]);
    assert!(
        out.contains("--> deploy production: update ok on 1 host"),
        "{out}"
    );
    let first = s.current();
    assert_eq!(s.releases(), std::slice::from_ref(&first));
    let deployed_in = std::fs::read_to_string(s.srv.join("deployed-in")).expect("post_deploy ran");
    assert_eq!(
        deployed_in.trim(),
        s.srv.join("releases").join(&first).display().to_string(),
        "post_deploy runs in the new release"
    );
    assert_eq!(
        std::fs::read_to_string(s.srv.join("shared-was"))
            .expect("shared")
            .trim(),
        s.srv.join("shared").display().to_string()
    );
    assert_eq!(
        git(&s.srv.join("current"), &["rev-parse", "HEAD"]),
        v1,
        "current holds the pushed commit"
    );
    assert_eq!(
        std::fs::read_to_string(s.clone.parent().expect("work").join("local-hook-ran"))
            .expect("pre_deploy_local ran here"),
        "local\n"
    );

    // Second update: a new commit; current moves to a new release.
    let v2 = s.commit("v2");
    s.ok(&["ecosystem.ron", "production", "update"]);
    let second = s.current();
    assert_ne!(second, first);
    assert_eq!(git(&s.srv.join("current"), &["rev-parse", "HEAD"]), v2);
    assert_eq!(s.releases(), [first.clone(), second.clone()]);

    // A third: keep_releases 2 drops the oldest.
    let v3 = s.commit("v3");
    s.ok(&["ecosystem.ron", "production", "update"]);
    let third = s.current();
    assert_eq!(
        s.releases(),
        [second.clone(), third.clone()],
        "pruned to keep_releases"
    );
    assert_eq!(
        std::fs::read_to_string(s.srv.join("ran-versions")).expect("versions"),
        "echo v1\necho v2\necho v3\n"
    );

    // curr, prev, list (PM2's spellings too).
    let short = |c: &str| c[..7].to_string();
    let curr = s.ok(&["ecosystem.ron", "production", "curr"]);
    assert!(
        curr.contains(&format!("{} {third}\n", short(&v3))),
        "{curr}"
    );
    let curr2 = s.ok(&["ecosystem.ron", "production", "current"]);
    assert!(
        curr2.contains(&format!("{} {third}\n", short(&v3))),
        "{curr2}"
    );
    let prev = s.ok(&["ecosystem.ron", "production", "prev"]);
    assert!(
        prev.contains(&format!("{} {second}\n", short(&v2))),
        "{prev}"
    );
    let list = s.ok(&["ecosystem.ron", "production", "list"]);
    assert!(
        list.contains(&format!(
            "0\t{}\t{third}  current\n1\t{}\t{second}\n",
            short(&v3),
            short(&v2)
        )),
        "{list}"
    );

    // revert 1: current back to the second release, post_deploy run there.
    let out = s.ok(&["ecosystem.ron", "production", "revert", "1"]);
    assert!(
        out.contains("--> deploy production: revert 1 ok on 1 host"),
        "{out}"
    );
    assert_eq!(s.current(), second);
    assert_eq!(git(&s.srv.join("current"), &["rev-parse", "HEAD"]), v2);
    assert_eq!(
        std::fs::read_to_string(s.srv.join("deployed-in"))
            .expect("post_deploy")
            .trim(),
        s.srv.join("releases").join(&second).display().to_string()
    );
    // Nothing older is left to revert to: a clear failure naming the host.
    let o = s.deploy(&["ecosystem.ron", "production", "revert"]);
    assert_eq!(o.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("<-- [1/1] {host}: failed: cannot revert 1: 0 release(s) before the current one ({second})")),
        "{stdout}"
    );
    assert_eq!(s.current(), second, "a refused revert changes nothing");

    // `ref <ref>` deploys that ref: the first commit again, as a new release.
    s.ok(&["ecosystem.ron", "production", "ref", &v1]);
    assert_eq!(git(&s.srv.join("current"), &["rev-parse", "HEAD"]), v1);
}

#[test]
fn deploy_exec_runs_on_every_host_in_turn_and_names_the_one_that_failed() {
    if !tools() {
        return;
    }
    let s = Site::new(
        r#"{
        "production": Deploy(@SSH@, host: "127.0.0.1", repo: @REPO@, path: @PATH@, ref: "origin/main",
            post_deploy: "true"),
        "both": Deploy(@SSH@, host: ["127.0.0.1", "localhost"], repo: @REPO@, path: @PATH@,
            post_deploy: "true"),
    }"#,
    );
    s.ok(&["ecosystem.ron", "production", "setup"]);
    s.ok(&["ecosystem.ron", "production"]);
    let (a, b) = (s.at("127.0.0.1"), s.at("localhost"));
    // Each host runs the command in `current`; a quote and a $ reach it unchanged.
    let out = s.ok(&[
        "ecosystem.ron",
        "both",
        "exec",
        "echo \"in $(basename \"$(pwd -P)\")\" 'it'\\''s' >> ../../exec-log; cat web.sh",
    ]);
    assert!(
        out.contains(&format!("--> [1/2] {a}\necho v1\n<-- [1/2] {a}: ok\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("--> [2/2] {b}\necho v1\n<-- [2/2] {b}: ok\n")),
        "{out}"
    );
    assert!(out.contains("--> deploy both: exec ok on 2 hosts"), "{out}");
    let cur = s.current();
    assert_eq!(
        std::fs::read_to_string(s.srv.join("exec-log")).expect("exec ran"),
        format!("in {cur} it's\nin {cur} it's\n"),
        "once per host, in current"
    );

    // The first host fails (it finds no marker and makes one), the second goes on.
    let o = s.deploy(&[
        "ecosystem.ron",
        "both",
        "exec",
        "test -e ../../marker || { touch ../../marker; exit 4; }",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("<-- [1/2] {a}: failed: command exited with 4\n")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("<-- [2/2] {b}: ok\n")), "{stdout}");
    assert_eq!(
        stderr.trim(),
        format!("pmx: deploy both exec: 1 of 2 hosts failed: {a}")
    );
}

#[test]
fn a_failing_post_deploy_is_reported_with_its_host_and_exit_1() {
    if !tools() {
        return;
    }
    let s = Site::new(
        r#"{
        "production": Deploy(@SSH@, host: "localhost", repo: @REPO@, path: @PATH@, ref: "main",
            post_deploy: "echo about to fail; exit 3"),
    }"#,
    );
    s.ok(&["ecosystem.ron", "production", "setup"]);
    let o = s.deploy(&["ecosystem.ron", "production", "update"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let host = s.at("localhost");
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("about to fail\n"),
        "the hook's output is shown: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "<-- [1/1] {host}: failed: post_deploy exited with 3\n"
        )),
        "{stdout}"
    );
    assert_eq!(
        stderr.trim(),
        format!("pmx: deploy production update: 1 of 1 host failed: {host}")
    );
}

#[test]
fn deploy_refuses_uncommitted_or_unpushed_changes_unless_forced() {
    if !tools() {
        return;
    }
    let s = Site::new(PRODUCTION);
    s.ok(&["ecosystem.ron", "production", "setup"]);
    std::fs::write(s.clone.join("web.sh"), "echo dirty\n").expect("web.sh");
    let o = s.deploy(&["ecosystem.ron", "production"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("pmx: local changes not committed in ")
            && stderr.contains("first: web.sh): commit or stash them, or deploy with --force"),
        "{stderr}"
    );
    assert!(!s.srv.join("current").exists(), "nothing deployed");
    assert!(
        !s.t.work.join("local-hook-ran").exists(),
        "pre_deploy_local does not run either"
    );
    // Committed but not pushed: refused too (PM2's check).
    git(&s.clone, &["commit", "-q", "-am", "dirty"]);
    let stderr =
        String::from_utf8_lossy(&s.deploy(&["ecosystem.ron", "production"]).stderr).into_owned();
    assert!(
        stderr.contains("are not pushed to the branch's upstream"),
        "{stderr}"
    );
    // An untracked file does not count; --force ships what the repository has.
    std::fs::write(s.clone.join("notes.txt"), "x").expect("untracked");
    std::fs::write(s.clone.join("web.sh"), "echo dirtier\n").expect("web.sh");
    s.ok(&["ecosystem.ron", "production", "--force"]);
    assert!(s.srv.join("current").exists());
    // The commands that ship nothing never check.
    s.ok(&["ecosystem.ron", "production", "list"]);
    assert!(s.origin.exists());
}

#[test]
fn an_unknown_deploy_env_or_a_missing_field_is_a_one_line_usage_error() {
    // No ssh needed: pmx stops before any host.
    let t = TestHome::new();
    std::fs::write(
        t.path("ecosystem.ron"),
        "Ecosystem(\n    apps: [],\n    deploy: {\n        \"production\": Deploy(host: \"h\", repo: \"r\", path: \"/p\"),\n        \"staging\": Deploy(\n            host: [\"h\"], path: \"/p\"),\n    },\n)\n",
    )
    .expect("file");
    let err = t.fails(&["deploy", "ecosystem.ron", "prod", "setup"], 2);
    assert_eq!(
        err,
        "pmx: ecosystem.ron: no deploy environment \"prod\" (the file defines: production, staging)\n"
    );
    let err = t.fails(&["deploy", "ecosystem.ron", "staging"], 2);
    assert_eq!(
        err,
        "pmx: ecosystem.ron:5: deploy \"staging\" has no \"repo\" (the git repository the hosts clone)\n"
    );
    // The default file, as `pm2 deploy production`.
    let err = t.fails(&["deploy", "nowhere", "setup"], 2);
    assert_eq!(
        err,
        "pmx: ecosystem.ron: no deploy environment \"nowhere\" (the file defines: production, staging)\n"
    );
    let err = t.fails(&["deploy", "ecosystem.ron", "production", "stup"], 2);
    assert_eq!(
        err,
        "pmx: unknown deploy command \"stup\", did you mean \"setup\"?\n"
    );
    let err = t.fails(&["deploy"], 2);
    assert!(
        err.starts_with("pmx: missing <env> for pmx deploy"),
        "{err}"
    );
}

#[test]
fn a_pm2_json_file_deploys_with_its_hyphenated_hooks_and_string_port() {
    if !tools() {
        return;
    }
    let s = Site::new(r#"{}"#);
    let file = serde_json::json!({
        // `api`'s script is built on the hosts, not here: deploy needs none of them.
        "apps": [{"name": "web", "script": "web.sh"}, {"name": "api", "script": "dist/server.js"}],
        "deploy": {"production": {
            "user": s.user, "host": "127.0.0.1", "port": s.sshd.port.to_string(),
            "key": s.sshd.key, "repo": s.origin, "path": s.srv, "ref": "origin/main",
            "ssh_options": ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null",
                            "LogLevel=ERROR", "BatchMode=yes"],
            "post-setup": "touch ../pm2-setup",
            "post-deploy": "cat web.sh > ../../pm2-post",
        }},
    });
    std::fs::write(s.clone.join("ecosystem.json"), file.to_string()).expect("ecosystem.json");
    git(&s.clone, &["add", "ecosystem.json"]);
    git(&s.clone, &["commit", "-q", "-m", "pm2 file"]);
    git(&s.clone, &["push", "-q", "origin", "HEAD:main"]);
    s.ok(&["ecosystem.json", "production", "setup"]);
    assert!(s.srv.join("pm2-setup").exists(), "post-setup ran");
    s.ok(&["ecosystem.json", "production"]);
    assert_eq!(
        std::fs::read_to_string(s.srv.join("pm2-post")).expect("post-deploy ran"),
        "echo v1\n"
    );
}

#[test]
fn an_unreachable_host_is_named_with_ssh_s_own_message() {
    if !tool_available(
        on_path("ssh"),
        "ssh is missing (openssh-client; .ci/run installs it)",
    ) {
        return;
    }
    let t = TestHome::new();
    // A port nothing listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    std::fs::write(
        t.path("ecosystem.ron"),
        format!(
            "Ecosystem(apps: [], deploy: {{\"p\": Deploy(host: \"127.0.0.1\", port: {port}, \
             repo: \"r\", path: \"/p\", ssh_options: [\"BatchMode=yes\", \"ConnectTimeout=10\"])}})"
        ),
    )
    .expect("file");
    let o = t.run(&["deploy", "ecosystem.ron", "p", "list"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("<-- [1/1] 127.0.0.1: failed: ssh exited with 255 (could not connect or log in; its message is above)\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains("Connection refused"),
        "ssh's own words: {stderr}"
    );
    assert!(
        stderr.ends_with("pmx: deploy p list: 1 of 1 host failed: 127.0.0.1\n"),
        "{stderr}"
    );
}
