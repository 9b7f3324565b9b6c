# pmx deploy: the remote half (POSIX sh, read by `sh -s` from ssh's standard input).
# Set before this text, each quoted: P (the deploy path), REPO, REF, REL (the new
# release's name), KEEP, N (revert's count), ACTION, CMD (exec's command), and the
# hooks PRE_SETUP, POST_SETUP, PRE_DEPLOY, POST_DEPLOY (empty: none).
# Every line the user should see goes to standard output, in order: `  ○ step` as a
# step starts, `  ✗ why` just before a failing exit (pmx names the host's failure by it).

say() { printf '  \342\227\213 %s\n' "$1"; }
die() { printf '  \342\234\227 %s\n' "$1"; exit "${2:-1}"; }

# `~/x` is the remote home's x; a relative path is against the login directory.
case $P in
  "~") P=$HOME ;;
  "~/"*) P=$HOME/${P#"~/"} ;;
  /*) ;;
  *) P=$(pwd)/$P ;;
esac
SRC=$P/source

# hook NAME DIR COMMAND: run COMMAND in DIR through the login shell (as PM2's hooks
# run), SHARED naming the shared directory; its failure ends the script with its status.
hook() {
  [ -n "$3" ] || return 0
  say "$1: $3"
  ( cd "$2" && SHARED=$P/shared "${SHELL:-/bin/sh}" -c "$3" ) 2>&1
  st=$?
  [ "$st" -eq 0 ] || die "$1 exited with $st" "$st"
}

# The release `current` points at (its name), empty when there is none.
current() {
  [ -L "$P/current" ] || return 0
  t=$(readlink "$P/current") || return 0
  printf '%s\n' "${t##*/}"
}

# The releases, oldest first, one name a line.
releases() {
  [ -d "$P/releases" ] || return 0
  ls -1 "$P/releases"
}

commit_of() { git -C "$P/releases/$1" rev-parse --short HEAD 2>/dev/null || echo '?'; }

need_setup() {
  [ -d "$SRC/.git" ] || die "not set up: no clone in $SRC (run setup first)"
}

# Point `current` at releases/$1 in one rename (the old link stays until then).
link() {
  tmp=$P/.current.$$
  rm -f "$tmp"
  ln -s "releases/$1" "$tmp" || die "cannot create a link in $P"
  mv -T "$tmp" "$P/current" 2>/dev/null || mv -h "$tmp" "$P/current" 2>/dev/null || {
    rm -f "$tmp"
    ln -sfn "releases/$1" "$P/current" || die "cannot point $P/current at releases/$1"
  }
  say "current -> releases/$1"
}

prune() {
  cur=$(current)
  total=$(releases | wc -l)
  drop=$((total - KEEP))
  [ "$drop" -gt 0 ] || return 0
  releases | head -n "$drop" | while IFS= read -r r; do
    [ "$r" = "$cur" ] && continue
    say "removing old release $r"
    rm -rf "$P/releases/$r"
  done
  git -C "$SRC" worktree prune 2>&1
}

do_setup() {
  hook pre_setup . "$PRE_SETUP"
  [ -e "$SRC/.git" ] && die "already set up: $SRC holds a clone (remove it to set up again)"
  say "creating $P"
  mkdir -p "$P/releases" "$P/shared/logs" "$P/shared/pids" || die "cannot create $P"
  say "cloning $REPO into $SRC"
  git clone -q "$REPO" "$SRC" 2>&1 || die "git clone of $REPO failed"
  hook post_setup "$SRC" "$POST_SETUP"
  say "setup complete"
}

do_update() {
  need_setup
  cur=$(current)
  if [ -n "$cur" ]; then hook pre_deploy "$P/current" "$PRE_DEPLOY"; else hook pre_deploy "$SRC" "$PRE_DEPLOY"; fi
  say "fetching $REPO"
  git -C "$SRC" fetch -q --all --tags --force 2>&1 || die "git fetch failed"
  # `main` means the remote's main; `origin/main`, a tag or a commit are taken as they are.
  c=$(git -C "$SRC" rev-parse -q --verify "refs/remotes/origin/$REF^{commit}" 2>/dev/null) ||
    c=$(git -C "$SRC" rev-parse -q --verify "$REF^{commit}" 2>/dev/null) ||
    die "ref $REF not found in $REPO"
  rel=$P/releases/$REL
  [ -e "$rel" ] && die "release $REL exists already"
  mkdir -p "$P/releases" || die "cannot create $P/releases"
  say "checking out $REF ($(git -C "$SRC" rev-parse --short "$c")) into releases/$REL"
  git -C "$SRC" worktree add -q --detach "$rel" "$c" 2>&1 || die "git checkout into $rel failed"
  link "$REL"
  hook post_deploy "$rel" "$POST_DEPLOY"
  prune
  say "deployed $REF to $P/current"
}

do_revert() {
  cur=$(current)
  [ -n "$cur" ] || die "nothing deployed yet: $P/current is missing"
  older=$(releases | awk -v c="$cur" '$0 == c { exit } { print }')
  have=$(printf '%s' "$older" | grep -c .)
  [ "$have" -ge "$N" ] || die "cannot revert $N: $have release(s) before the current one ($cur)"
  to=$(printf '%s\n' "$older" | tail -n "$N" | head -n 1)
  hook pre_deploy "$P/current" "$PRE_DEPLOY"
  say "reverting $N release(s): $cur -> $to"
  link "$to"
  hook post_deploy "$P/releases/$to" "$POST_DEPLOY"
  say "reverted to $to ($(commit_of "$to"))"
}

do_curr() {
  cur=$(current)
  [ -n "$cur" ] || die "nothing deployed yet: $P/current is missing"
  printf '%s %s\n' "$(commit_of "$cur")" "$cur"
}

do_prev() {
  cur=$(current)
  [ -n "$cur" ] || die "nothing deployed yet: $P/current is missing"
  prev=$(releases | awk -v c="$cur" '$0 == c { exit } { p = $0 } END { print p }')
  [ -n "$prev" ] || die "no release before the current one ($cur)"
  printf '%s %s\n' "$(commit_of "$prev")" "$prev"
}

do_list() {
  cur=$(current)
  i=0
  releases | sort -r | while IFS= read -r r; do
    if [ "$r" = "$cur" ]; then mark='  current'; else mark=''; fi
    printf '%d\t%s\t%s%s\n' "$i" "$(commit_of "$r")" "$r" "$mark"
    i=$((i + 1))
  done
}

do_exec() {
  [ -e "$P/current" ] || die "nothing deployed yet: $P/current is missing"
  ( cd "$P/current" && "${SHELL:-/bin/sh}" -c "$CMD" ) 2>&1
  st=$?
  [ "$st" -eq 0 ] || die "command exited with $st" "$st"
}

main() {
  case $ACTION in
    setup) do_setup ;;
    update) do_update ;;
    revert) do_revert ;;
    curr) do_curr ;;
    prev) do_prev ;;
    list) do_list ;;
    exec) do_exec ;;
    *) die "unknown action $ACTION" ;;
  esac
}
