# A patch series developed as commits in a git checkout and kept as
# git format-patch files in the repository: patches/qemu for build/qemu,
# patches/linux for build/linux.  Source it after lib.sh and set:
#
#   series_tree   the checkout (its tag "base" is where the series starts)
#   series_dir    the directory of *.patch files
#   series_label  what to call it in messages ("QEMU", "linux")
#   series_cmd    the command whose export/reset subcommands the user runs
#
# The checkout records in .git/memfault-series the hash of the patch files it
# was last synced with and the HEAD that produced; anything beyond that is
# local work, which series_sync refuses to throw away.

# Commits made by these scripts carry a project identity, not a person's.
export GIT_COMMITTER_NAME='qemu-memfault build' GIT_COMMITTER_EMAIL='build@qemu-memfault.invalid'

g() { git -C "$series_tree" "$@"; }

series_files() {   # prints the patch files, one per line
    local p
    for p in "$series_dir"/*.patch; do [ -e "$p" ] && printf '%s\n' "$p"; done
    true
}

series_hash() {
    local files
    mapfile -t files < <(series_files)
    cat "${files[@]}" /dev/null | sha256sum | cut -d' ' -f1
}

series_stamp() { printf '%s %s\n' "$(series_hash)" "$(g rev-parse HEAD)" > "$series_tree/.git/memfault-series"; }

# Commit everything in the checkout with the project identity as author too.
series_commit_all() {   # MESSAGE
    g add -A
    GIT_AUTHOR_NAME="$GIT_COMMITTER_NAME" GIT_AUTHOR_EMAIL="$GIT_COMMITTER_EMAIL" g commit -q -m "$1"
}

series_apply() {
    local files
    mapfile -t files < <(series_files)
    g reset -q --hard base
    if [ "${#files[@]}" -gt 0 ]; then
        step "$series_label: git am ${#files[@]} patches from ${series_dir#"$MF_ROOT"/}"
        g am -q --whitespace=nowarn "${files[@]}" ||
            { g am --abort || true; die "${series_dir#"$MF_ROOT"/} do not apply to $series_label's base"; }
    fi
    series_stamp
}

# Local work in the checkout that the patch files do not hold ("" if none).
series_unexported() {
    local recorded_head
    recorded_head=$(cut -d' ' -f2 "$series_tree/.git/memfault-series" 2>/dev/null || true)
    [ -n "$(g status --porcelain --untracked-files=no)" ] && { echo "uncommitted edits"; return; }
    [ "$(g rev-parse HEAD)" != "$recorded_head" ] && { echo "commits that were never exported"; return; }
    true
}

# Re-apply the patch files when they changed since the last sync.
series_sync() {
    local stamp="$series_tree/.git/memfault-series" why
    [ "$(cut -d' ' -f1 "$stamp" 2>/dev/null)" != "$(series_hash)" ] || return 0
    why=$(series_unexported)
    [ -z "$why" ] || [ ! -f "$stamp" ] ||
        die "${series_tree#"$MF_ROOT"/} has $why, and ${series_dir#"$MF_ROOT"/} changed: run '$series_cmd export' to keep the checkout's series, or '$series_cmd reset' to take ${series_dir#"$MF_ROOT"/}"
    series_apply
}

# series_sync, after (re)creating the checkout with the caller's create() when
# it lacks tag TAG: the upstream version it must be based on.  Refuses while the
# old checkout holds work that was never exported.
series_sync_version() {   # TAG
    local stamp="$series_tree/.git/memfault-series"
    if [ ! -d "$series_tree/.git" ] || ! g rev-parse -q --verify "$1" >/dev/null; then
        if [ -d "$series_tree/.git" ] && [ -f "$stamp" ] && [ -n "$(series_unexported)" ]; then
            die "${series_tree#"$MF_ROOT"/} has $(series_unexported) and is based on another $series_label version: export or drop them first"
        fi
        create
        rm -f "$stamp"
    fi
    series_sync
}

series_export() {
    [ -z "$(g status --porcelain --untracked-files=no)" ] ||
        die "${series_tree#"$MF_ROOT"/} has uncommitted edits: commit them first"
    mkdir -p "$series_dir"
    rm -f "$series_dir"/*.patch
    g format-patch -q --zero-commit --no-signature -o "$series_dir" base..HEAD
    series_stamp
    step "$series_label: exported $(series_files | wc -l) patches to ${series_dir#"$MF_ROOT"/}"
}
