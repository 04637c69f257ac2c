#!/bin/sh
# rspamd 3.4 as Debian packages it (rspamd.service: rspamd -f as _rspamd, a main process forking
# a normal worker on localhost:11333, a controller on localhost:11334, an rspamd_proxy (milter)
# on localhost:11332 and an hs_helper compiling Hyperscan databases into /var/lib/rspamd; Lua
# plugins run in LuaJIT; logs in /var/log/rspamd/rspamd.log), run inside the pack's guest
# systemd. Debian's config keeps Bayes statistics and fuzzy hashes in redis but names no server:
# local.d files point both at the guest's redis-server on 127.0.0.1:6379. No network here: DNS
# lookups (RBLs, SURBL, SPF, DMARC) and map downloads fail, which rspamd tolerates.
#   setup: /etc/rspamd/local.d: redis.conf (servers 127.0.0.1), classifier-bayes.conf
#          (min_learns 3), worker-fuzzy.inc (the fuzzy storage worker on localhost:11335, count
#          1, sync 1s), fuzzy_check.conf (a rule "local" on 127.0.0.1:11335 with the list
#          LOCAL_FUZZY_DENIED, flag 11); redis-server started, then the unit; 5 spam-like and 5
#          ham-like messages learned (Learn-Type: bulk), each must succeed.
#   load:  for about 10 s: rspamc scans of GTUBE, a clean message, spam-like and ham-like ones
#          (over the normal worker), learn_spam/learn_ham of fresh messages and fuzzy_add (over
#          the controller), rspamc stat/counters, the controller's HTTP API (/ping, /stat,
#          /graph, /history, /actions, the web UI's /), rspamadm control stat over the control
#          socket; then a reload (SIGHUP: new workers) and a few more scans.
#   check: /ping on the controller and the normal worker answer "pong"; GTUBE gets action
#          "reject", a clean message "no action"; a fresh spam-like message gets BAYES_SPAM
#          (statistics read back from redis); a fresh message learned as ham succeeds and
#          learning it again says, within 5 s, that it is already learned (the learn cache in
#          redis); a fresh message added to the fuzzy storage (flag 11) is found again by a scan
#          (LOCAL_FUZZY_DENIED) within 10 s; /stat answers with a "scanned" count.
set -eu
gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
ping_ok() { [ "$(curl -s --max-time 5 "http://127.0.0.1:$1/ping" 2>/dev/null | tr -d '\r\n')" = pong ]; }
up() {
    i=0
    until ping_ok 11334 && ping_ok 11333; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "rspamd does not answer /ping on 11333 and 11334" >&2; return 1; }; sleep 0.2
    done
}
# msg FILE KIND ID: writes a message, Message-ID <ID@pack.test>; KIND is gtube, clean (a short
# personal note), spam or ham (fixed vocabularies, learned in setup) or random (words from a
# generator seeded by ID's digits, about 2 KB, never seen before).
msg() {
    case "$2" in
    gtube) subj="cheap offer"; body="Buy now! $gtube" ;;
    clean) subj="lunch tomorrow"; body="Hi Bob, shall we meet for lunch tomorrow at noon? The usual place. Alice" ;;
    spam) subj="cheap pills offer"; body="Buy cheap viagra pills online now, best casino bonus, win money fast, click here for the lottery prize, unsecured loans approved, limited offer, act now and get rich quick with our crypto investment" ;;
    ham) subj="project meeting notes"; body="Hi team, attached are the notes from the planning meeting on Tuesday. We agreed to review the quarterly budget, update the build scripts and schedule the release for next month. Please send comments to Alice before Friday. Thanks, Bob" ;;
    random) subj="notes"; body="" ;;
    esac
    {
        printf 'From: alice@pack.test\nTo: bob@pack.test\nSubject: %s %s\nDate: %s\nMessage-ID: <%s@pack.test>\n\n' \
            "$subj" "$3" "$(date -R)" "$3"
        case "$2" in
        spam | ham) for _l in 1 2 3; do echo "$body $3 line$_l"; done ;;
        random)
            seed=$(printf '%s' "$3" | tr -cd 0-9 | tail -c 9)
            awk -v seed="${seed:-1}" 'BEGIN { srand(seed); for (l = 0; l < 25; l++) { s = "";
                for (w = 0; w < 12; w++) { n = 3 + int(rand() * 6); t = "";
                    for (c = 0; c < n; c++) t = t sprintf("%c", 97 + int(rand() * 26)); s = s t " " }
                print s } }'
            ;;
        *) echo "$body" ;;
        esac
    } >"$1"
}
action() { rspamc "$1" | sed -n 's/^Action: //p'; }
case "${1:-}" in
setup)
    d=/etc/rspamd/local.d
    printf 'servers = "127.0.0.1";\n' >$d/redis.conf
    printf 'min_learns = 3;\n' >$d/classifier-bayes.conf
    printf 'count = 1;\nsync = 1s;\n' >$d/worker-fuzzy.inc
    cat >$d/fuzzy_check.conf <<'CONF'
rule "local" {
  algorithm = "mumhash";
  servers = "127.0.0.1:11335";
  symbol = "LOCAL_FUZZY_UNKNOWN";
  mime_types = ["*"];
  max_score = 20.0;
  read_only = no;
  skip_unknown = yes;
  short_text_direct_hash = true;
  min_length = 64;
  fuzzy_map = {
    LOCAL_FUZZY_DENIED {
      max_score = 20.0;
      flag = 11;
    }
  }
}
CONF
    systemctl start redis-server.service
    i=0
    until [ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = PONG ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "redis-server does not answer" >&2; exit 1; }; sleep 0.2
    done
    systemctl start rspamd.service
    up
    t=$(mktemp -d)
    for n in 1 2 3 4 5; do
        for k in spam ham; do
            msg "$t/m" $k "setup-$k$n-$$"
            rspamc --header 'Learn-Type: bulk' "learn_$k" "$t/m" | grep -q 'success = true' ||
                { echo "rspamd did not learn setup message $k$n" >&2; exit 1; }
        done
    done
    rm -rf "$t"
    ;;
load)
    up
    t=$(mktemp -d)
    msg "$t/gtube" gtube "load-gtube-$$"; msg "$t/clean" clean "load-clean-$$"
    msg "$t/spam" spam "load-spam-$$"; msg "$t/ham" ham "load-ham-$$"
    n=0
    end=$(($(date +%s) + 9))
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1))
        rspamc "$t/gtube" "$t/clean" "$t/spam" "$t/ham" >/dev/null 2>&1 || true
        msg "$t/l1" random "load-ls-$$-$n"; msg "$t/l2" random "load-lh-$$-$n$n"
        rspamc learn_spam "$t/l1" >/dev/null 2>&1 || true
        rspamc learn_ham "$t/l2" >/dev/null 2>&1 || true
        [ $((n % 3)) -ne 0 ] || rspamc -f 11 -w 10 fuzzy_add "$t/l1" >/dev/null 2>&1 || true
        rspamc stat >/dev/null 2>&1 || true
        rspamc counters >/dev/null 2>&1 || true
        for p in ping stat 'graph?type=hourly' history actions ''; do
            curl -s --max-time 5 -o /dev/null "http://127.0.0.1:11334/$p" || true
        done
        rspamadm control stat >/dev/null 2>&1 || true
    done
    systemctl reload rspamd.service || true
    sleep 1
    up || true
    for n in 1 2 3; do rspamc "$t/gtube" "$t/clean" "$t/spam" >/dev/null 2>&1 || true; done
    rm -rf "$t"
    ;;
check)
    up
    t=$(mktemp -d)
    id=check-$$-$(date +%s%N)
    msg "$t/gtube" gtube "$id-gtube"; msg "$t/clean" clean "$id-clean"; msg "$t/spam" spam "$id-spam"
    msg "$t/learn" random "$id-1"; msg "$t/fuzzy" random "$id-2"
    a=$(action "$t/gtube")
    [ "$a" = reject ] || { echo "GTUBE got action '$a', not reject" >&2; exit 1; }
    a=$(action "$t/clean")
    [ "$a" = "no action" ] || { echo "a clean message got action '$a', not 'no action'" >&2; exit 1; }
    rspamc "$t/spam" | grep -q '^Symbol: BAYES_SPAM ' ||
        { echo "a spam-like message has no BAYES_SPAM: statistics not read back from redis" >&2; exit 1; }
    out=$(rspamc learn_ham "$t/learn")
    case "$out" in *'success = true'*) ;; *) echo "learn_ham failed: $out" >&2; exit 1 ;; esac
    i=0
    until out=$(rspamc learn_ham "$t/learn") && case "$out" in *'already learned'*) true ;; *) false ;; esac; do
        i=$((i + 1)); [ $i -lt 10 ] || { echo "learn_ham again did not say already learned: $out" >&2; exit 1; }; sleep 0.5
    done
    out=$(rspamc -f 11 -w 10 fuzzy_add "$t/fuzzy")
    case "$out" in *'success = true'*) ;; *) echo "fuzzy_add failed: $out" >&2; exit 1 ;; esac
    i=0
    until rspamc "$t/fuzzy" | grep -q '^Symbol: LOCAL_FUZZY_DENIED '; do
        i=$((i + 1)); [ $i -lt 20 ] || { echo "a fuzzy hash added is not found by a scan" >&2; exit 1; }; sleep 0.5
    done
    curl -s --max-time 5 http://127.0.0.1:11334/stat | grep -q '"scanned":' ||
        { echo "the controller's /stat has no scanned count" >&2; exit 1; }
    rm -rf "$t"
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
