#!/bin/sh
# Tomcat 10.1 as Debian packages it (OpenJDK 17, :8080, CATALINA_BASE /var/lib/tomcat10, its
# ROOT webapp, JSPs compiled by Jasper into /var/cache/tomcat10), run inside the pack's guest
# systemd.
#   setup: a JSP pack.jsp in the ROOT webapp (squares ?n=, counts hits in the application
#          scope, keeps a value in the session); the unit started.
#   load:  two JSPs written under new names (compiled by Jasper now, as on a fresh host or
#          after an upgrade), then pages, pack.jsp with and without a session cookie, a 404,
#          for about 5 s.
#   check: / is Debian's "It works" page; a JSP written just now under a new name is compiled
#          and answers (n=12 -> 144), then removed; pack.jsp keeps a session value across requests.
set -eu
url=http://127.0.0.1:8080
root=/var/lib/tomcat10/webapps/ROOT
up() {
    # A JVM is active well before it answers.
    i=0
    until curl -fsS -o /dev/null --max-time 2 "$url/"; do
        i=$((i + 1)); [ $i -lt 150 ] || { echo "tomcat does not answer on $url" >&2; return 1; }; sleep 0.3
    done
}
case "${1:-}" in
setup)
    cat >"$root/pack.jsp" <<'JSP'
<%@ page contentType="text/plain" %><%
    int n = Integer.parseInt(request.getParameter("n") == null ? "0" : request.getParameter("n"));
    Integer hits = (Integer) application.getAttribute("hits");
    hits = hits == null ? 1 : hits + 1;
    application.setAttribute("hits", hits);
    String v = request.getParameter("v");
    if (v != null) session.setAttribute("v", v);
%>square <%= n * n %>
hits <%= hits %>
session <%= session.getAttribute("v") %>
JSP
    chown tomcat:tomcat "$root/pack.jsp"
    systemctl start tomcat10.service
    up
    ;;
load)
    up
    for k in 1 2; do
        name=load-$(date +%s%N).jsp
        printf '<%%@ page contentType="text/plain" %%>loaded <%%= new java.util.Date() %%>\n' >"$root/$name"
        curl -s -o /dev/null --max-time 30 "$url/$name" || true
        rm -f "$root/$name"
    done
    jar=$(mktemp)
    end=$(($(date +%s) + 5))
    i=0
    while [ "$(date +%s)" -lt $end ]; do
        i=$((i + 1))
        curl -s -o /dev/null --max-time 2 "$url/" || true
        curl -s -o /dev/null --max-time 2 -c "$jar" -b "$jar" "$url/pack.jsp?n=$i&v=x$i" || true
        curl -s -o /dev/null --max-time 2 "$url/pack.jsp?n=$i" || true
        curl -s -o /dev/null --max-time 2 "$url/no-such-page" || true
    done
    rm -f "$jar"
    ;;
check)
    up
    curl -fsS --max-time 5 "$url/" | grep -q "It works"
    name=check-$(date +%s%N).jsp
    printf '<%%@ page contentType="text/plain" %%>checked <%%= Integer.parseInt(request.getParameter("n")) * 12 %%>\n' >"$root/$name"
    out=$(curl -fsS --max-time 60 "$url/$name?n=12") || { rm -f "$root/$name"; echo "$name did not answer" >&2; exit 1; }
    rm -f "$root/$name"
    echo "$out" | grep -q "checked 144" || { echo "$name answered: $out" >&2; exit 1; }
    jar=$(mktemp)
    curl -fsS --max-time 10 -c "$jar" -b "$jar" -o /dev/null "$url/pack.jsp?n=3&v=kept"
    out=$(curl -fsS --max-time 10 -c "$jar" -b "$jar" "$url/pack.jsp?n=4")
    rm -f "$jar"
    echo "$out" | grep -q "square 16" && echo "$out" | grep -q "session kept" || { echo "pack.jsp answered: $out" >&2; exit 1; }
    ;;
*) echo "usage: load.sh setup|load|check" >&2; exit 2 ;;
esac
