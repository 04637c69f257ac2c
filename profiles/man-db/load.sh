#!/bin/sh
# man-db 2.11 as Debian packages it: man-db.timer's daily oneshot job, man-db.service (as root
# `install -d` of /var/cache/man, then as user man a `find -delete` of old cat pages and
# `mandb --quiet`), run inside the pack's guest systemd (which masks the timer: each start of
# the unit is one run of the job). Its effect on disk: the index databases under
# /var/cache/man follow the manual pages installed.
#   setup: a manual page packcheck-N(1) in /usr/local/share/man/man1 and one packopt-N(1) in
#          /opt/man/man1 (software installed in /opt, which Debian's manpath.config maps to
#          /var/cache/man/opt), one run of the job.
#   load:  nothing: the job runs once per start.
#   check: the last run (apply checks that it succeeded; systemd unloads the unit right after,
#          so its Result= says nothing) indexed the pages written before it: whatis finds them
#          in /var/cache/man/local/index.db and /var/cache/man/opt/index.db; whatis ls(1)
#          answers from the system's database; then new pages for the next run.
set -eu
dir=/usr/local/share/man/man1
state=/var/lib/learner-pack-man-db
opt=/opt/man/man1
# New pages the next run must index.
page() {
    name=packcheck-$(date +%s%N)
    printf '.TH %s 1\n.SH NAME\n%s \\- learner pack marker\n.SH DESCRIPTION\nIndexed by man-db.service.\n' \
        "$(echo "$name" | tr a-z A-Z)" "$name" >"$dir/$name.1"
    echo "$name" >$state/expected
    name=packopt-$(date +%s%N)
    printf '.TH %s 1\n.SH NAME\n%s \\- learner pack marker in /opt\n.SH DESCRIPTION\nIndexed by man-db.service.\n' \
        "$(echo "$name" | tr a-z A-Z)" "$name" >"$opt/$name.1"
    echo "$name" >$state/expected-opt
}
case "${1:-}" in
setup)
    mkdir -p $dir $opt $state
    page
    systemctl start man-db.service
    ;;
load) ;;
check)
    name=$(cat $state/expected)
    whatis "$name" | grep -q "^$name (1) *- learner pack marker" || {
        echo "$name was not indexed by the last run: $(whatis "$name" 2>&1)" >&2; exit 1; }
    name=$(cat $state/expected-opt)
    whatis -M /opt/man "$name" | grep -q "^$name (1) *- learner pack marker in /opt" || {
        echo "$name in /opt/man was not indexed by the last run: $(whatis -M /opt/man "$name" 2>&1)" >&2; exit 1; }
    whatis ls | grep -q '^ls (1)'
    page
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
